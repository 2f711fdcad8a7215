"""``import-blackbox`` with a real GnuPG key in a throwaway GNUPGHOME."""

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.vault.conftest import KeyPair, Vault, git, one_error_line

pytestmark = pytest.mark.skipif(shutil.which("gpg") is None,
                                reason="gpg is not installed (apt-get install gnupg)")
UID = "Blackbox Admin <admin@example.com>"


def _gpg(home: Path, *args: str) -> None:
    subprocess.run(["gpg", "--batch", "--yes", "--quiet", "--pinentry-mode", "loopback",
                    "--passphrase", "", *args], env={**os.environ, "GNUPGHOME": str(home)},
                   check=True, capture_output=True, timeout=120)


@pytest.fixture
def gnupg_home() -> Iterator[Path]:
    """A short path (the agent's socket must fit in 108 bytes) with one key pair."""
    home = Path(tempfile.mkdtemp(prefix="gpg", dir="/tmp"))
    home.chmod(0o700)
    try:
        _gpg(home, "--quick-gen-key", UID, "future-default", "default", "never")
        yield home
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env={**os.environ,
                       "GNUPGHOME": str(home)}, check=False, capture_output=True, timeout=30)
        shutil.rmtree(home, ignore_errors=True)


def _blackbox_repo(repo: Path, gnupg: Path, files: dict[str, bytes]) -> None:
    config = repo / ".blackbox"
    config.mkdir()
    (config / "blackbox-admins.txt").write_text("admin@example.com\n")
    (config / "blackbox-files.txt").write_text("".join(f"{name}\n" for name in files))
    for name, data in files.items():
        plain = repo / name
        plain.parent.mkdir(parents=True, exist_ok=True)
        plain.write_bytes(data)
        _gpg(gnupg, "--trust-model", "always", "--recipient", "admin@example.com",
             "--output", f"{plain}.gpg", "--encrypt", str(plain))
        plain.unlink()
    (repo / ".gitignore").write_text("".join(f"/{name}\n" for name in files))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "blackbox")


FILES = {
    "secrets/db.yaml": b"db:\n    password: from-blackbox\n",
    "certs/tls.key": b"-----BEGIN PRIVATE KEY-----\n\x00\x01binary\n",
}


def test_import_blackbox(repo: Path, vault: Vault, age_key: KeyPair, gnupg_home: Path) -> None:
    _blackbox_repo(repo, gnupg_home, FILES)
    assert vault("init", "--admin", age_key.public, "--name", "alice").returncode == 0
    result = vault("import-blackbox", str(repo), "--json", env={"GNUPGHOME": str(gnupg_home)})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert sorted(report["imported"]) == sorted(FILES)
    assert report["gpg_admins"] == ["admin@example.com"]
    for name, data in FILES.items():
        assert not (repo / f"{name}.gpg").exists()
        shown = vault("cat", str(repo / name), key=age_key)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.encode() == data
    assert "ENC[" in (repo / "secrets/db.yaml").read_text()
    assert (repo / "certs/tls.key.vault").is_file() and not (repo / "certs/tls.key").exists()
    ignored = (repo / ".gitignore").read_text().splitlines()
    assert "/secrets/db.yaml" not in ignored and "/certs/tls.key" in ignored
    assert not any(line.endswith(".gpg") for line in git(repo, "ls-files").stdout.split())
    deployed = vault("decrypt-all", key=age_key)
    assert deployed.returncode == 0
    assert (repo / "certs/tls.key").read_bytes() == FILES["certs/tls.key"]


def test_import_without_the_gpg_key_changes_nothing(repo: Path, vault: Vault, age_key: KeyPair,
                                                    gnupg_home: Path, tmp_path: Path) -> None:
    _blackbox_repo(repo, gnupg_home, FILES)
    assert vault("init", "--admin", age_key.public, "--name", "alice").returncode == 0
    empty = Path(tempfile.mkdtemp(prefix="gpg", dir="/tmp"))
    try:
        result = vault("import-blackbox", str(repo), env={"GNUPGHOME": str(empty)})
        assert "gpg" in one_error_line(result)
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env={**os.environ,
                       "GNUPGHOME": str(empty)}, check=False, capture_output=True, timeout=30)
        shutil.rmtree(empty, ignore_errors=True)
    assert all((repo / f"{name}.gpg").is_file() for name in FILES)
    assert (repo / ".vault" / "files").read_text().count("\n") == 1  # only the header


def test_not_a_blackbox_repository(repo: Path, vault: Vault, age_key: KeyPair) -> None:
    assert vault("init", "--admin", age_key.public, "--name", "alice").returncode == 0
    assert "not a blackbox repository" in one_error_line(vault("import-blackbox", str(repo)))


def test_a_second_run_skips_what_was_imported(repo: Path, vault: Vault, age_key: KeyPair,
                                              gnupg_home: Path) -> None:
    _blackbox_repo(repo, gnupg_home, FILES)
    assert vault("init", "--admin", age_key.public, "--name", "alice").returncode == 0
    env = {"GNUPGHOME": str(gnupg_home)}
    assert vault("import-blackbox", str(repo), env=env).returncode == 0
    again = vault("import-blackbox", str(repo), "--json", env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["imported"] == []

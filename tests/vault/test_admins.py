"""Admins through the CLI: adding re-wraps, removing re-keys and names what to rotate."""

import json
import re
from pathlib import Path

import pytest

from rampart.vault import load_identity, values
from rampart.vault.document import EncryptedFile, data_key_of
from rampart.vault.errors import IntegrityError
from tests.vault.conftest import KeyPair, Vault, make_age


def _setup(repo: Path, vault: Vault, admin: KeyPair) -> None:
    assert vault("init", "--admin", admin.public, "--name", "alice").returncode == 0
    (repo / "app.yaml").write_text("db:\n    password: hunter2\n")
    (repo / "deploy.pem").write_bytes(b"-----BEGIN KEY-----\nabc\n")
    result = vault("register", str(repo / "app.yaml"), str(repo / "deploy.pem"))
    assert result.returncode == 0, result.stderr


def _data_key_wrappers(text: str) -> list[str]:
    return re.findall(r"-----BEGIN AGE ENCRYPTED FILE-----[^-]+", text)


def test_added_admin_can_read(repo: Path, vault: Vault, age_key: KeyPair, keygen_key: KeyPair
                              ) -> None:
    _setup(repo, vault, age_key)
    assert "none of your keys" in vault("cat", str(repo / "app.yaml"), key=keygen_key).stderr
    added = vault("admins", "add", keygen_key.public, key=age_key)
    assert added.returncode == 0, added.stderr
    assert "bob@laptop" in added.stdout  # named after the SSH key's comment
    assert vault("cat", str(repo / "app.yaml"), key=keygen_key).stdout == (
        "db:\n    password: hunter2\n")
    listing = json.loads(vault("admins", "list", "--json").stdout)
    assert [a["name"] for a in listing] == ["alice", "bob@laptop"]
    assert keygen_key.public.split()[1] in (repo / ".sops.yaml").read_text()


def test_removed_admin_cannot_read_new_writes(repo: Path, vault: Vault, age_key: KeyPair,
                                              rsa_key: KeyPair) -> None:
    _setup(repo, vault, age_key)
    assert vault("admins", "add", str(Path(str(rsa_key.private) + ".pub")), "--name", "carol",
                 key=age_key).returncode == 0
    before = (repo / "app.yaml").read_text()
    assert vault("cat", str(repo / "app.yaml"), key=rsa_key).returncode == 0

    removed = vault("admins", "remove", "carol", "--json", key=age_key)
    assert removed.returncode == 0, removed.stderr
    report = json.loads(removed.stdout)
    assert {e["file"]: e["keys"] for e in report["rotate"]} == {
        "app.yaml": ["db.password"], "deploy.pem": []}
    assert "hunter2" not in removed.stdout

    after = (repo / "app.yaml").read_text()
    assert "carol" not in (repo / ".vault" / "admins").read_text()
    for name in ("app.yaml", "deploy.pem"):
        refused = vault("cat", str(repo / name), key=rsa_key)
        assert "none of your keys can open" in refused.stderr
    # carol still has the old file (git history) and so the old data key: it opens nothing new.
    old = repo / "old.yaml"
    old.write_text(before)
    old_key = data_key_of(EncryptedFile.read(old).metadata, load_identity(rsa_key.private).keys,
                          "old")
    new_value = EncryptedFile.read(repo / "app.yaml").tree["db"]["password"]
    with pytest.raises(IntegrityError):
        values.decrypt(new_value, old_key, "db:password:", "app.yaml")
    assert not set(_data_key_wrappers(before)) & set(_data_key_wrappers(after))
    assert vault("cat", str(repo / "app.yaml"), key=age_key).stdout == (
        "db:\n    password: hunter2\n")


def test_last_admin_and_unknown_admin_are_refused(repo: Path, vault: Vault, age_key: KeyPair
                                                  ) -> None:
    _setup(repo, vault, age_key)
    assert "last admin" in vault("admins", "remove", "alice", key=age_key).stderr
    assert "not an admin" in vault("admins", "remove", "nobody", key=age_key).stderr
    assert "not an age" in vault("admins", "add", "ssh-dss AAAA", "--name", "x",
                                 key=age_key).stderr


def test_status_flags_files_behind_the_admin_list(repo: Path, vault: Vault, age_key: KeyPair,
                                                  tmp_path: Path) -> None:
    _setup(repo, vault, age_key)
    assert vault("status").returncode == 0
    newcomer = make_age(tmp_path, "newcomer")
    admins = repo / ".vault" / "admins"
    admins.write_text(admins.read_text() + f"dave {newcomer.public}\n")  # edited by hand
    result = vault("status", "--json")
    assert result.returncode == 1
    assert {s["file"]: s["missing_admins"] for s in json.loads(result.stdout)} == {
        "app.yaml": ["dave"], "deploy.pem": ["dave"]}


def test_rekey_brings_files_to_the_admin_list(repo: Path, vault: Vault, age_key: KeyPair,
                                              ed_key: KeyPair, tmp_path: Path) -> None:
    _setup(repo, vault, age_key)
    assert vault("admins", "add", ed_key.public, "--name", "erin", key=age_key).returncode == 0
    newcomer = make_age(tmp_path, "newcomer")
    admins = repo / ".vault" / "admins"  # merged from a branch: erin out, frank in
    lines = [line for line in admins.read_text().splitlines() if not line.startswith("erin")]
    admins.write_text("\n".join([*lines, f"frank {newcomer.public}"]) + "\n")
    assert "run 'rampart vault rekey'" in vault("status").stdout

    result = vault("rekey", "--json", key=age_key)
    assert result.returncode == 0, result.stderr
    assert {e["file"] for e in json.loads(result.stdout)["rotate"]} == {"app.yaml", "deploy.pem"}
    assert vault("status").returncode == 0
    assert vault("cat", str(repo / "app.yaml"), key=newcomer).returncode == 0
    assert "none of your keys" in vault("cat", str(repo / "app.yaml"), key=ed_key).stderr


def test_a_damaged_file_stops_admin_changes_before_any_write(
    repo: Path, vault: Vault, age_key: KeyPair, ed_key: KeyPair
) -> None:
    _setup(repo, vault, age_key)
    blob = repo / "deploy.pem.vault"
    blob.write_text(blob.read_text()[:200])  # truncated
    tracked = [repo / "app.yaml", blob, repo / ".vault" / "admins", repo / ".sops.yaml"]
    before = {path: path.read_bytes() for path in tracked}
    for action in (("admins", "add", ed_key.public, "--name", "erin"), ("rekey",)):
        result = vault(*action, key=age_key)
        assert result.returncode == 2 and "deploy.pem.vault" in result.stderr
    assert {path: path.read_bytes() for path in tracked} == before

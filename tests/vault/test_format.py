"""Round trips through the sops format for every file kind and every key kind."""

from pathlib import Path

import pytest

from rampart.vault import formats, keys, values
from rampart.vault.document import EncryptedFile, render, seal
from rampart.vault.errors import KeyError_
from tests.vault.conftest import KeyPair

PLAIN = {
    "app.yaml": (
        "db:\n    password: hunter2\n    port: 5432\n    ratio: 0.25\n    tls: true\n"
        "    hosts:\n        - a.example\n        - b.example\n    empty: ''\n    none: null\n"
        "    note: |\n        line one\n        line two\n"
        "plain_unencrypted: visible\nwhen: 2024-01-01\nanswer: 'yes'\n"
    ),
    "app.json": (
        '{"token": "t0ken-for-the-api", "n": 3, "f": 1.5, "ok": false, "list": [1, {"k": "v"}]}'
    ),
    ".env": "API_KEY=abc123-api-key\n# a comment\nMULTI=one\\ntwo\nEMPTY=\n",
    "app.ini": "[database]\nuser = app\npassword = s3cret\n\n[api]\ntoken = xyz\n",
    "cert.p12": None,  # whole file: random bytes, not text
}
BLOB = bytes(range(256)) * 4


def _plain_tree(name: str) -> object:
    kind = formats.format_of(Path(name))
    if kind == "binary":
        return formats.parse_binary_plain(BLOB)
    text = PLAIN[name]
    assert text is not None
    tree, block = formats.PARSERS[kind](text, name)
    assert block is None
    return tree


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_round_trip_every_format_and_key(name: str, any_key: KeyPair, tmp_path: Path) -> None:
    kind = formats.format_of(Path(name))
    tree = _plain_tree(name)
    recipient = keys.Recipient.parse(any_key.public)
    encrypted, metadata = seal(tree, [recipient])
    path = tmp_path / (name + ".vault" if kind == "binary" else name)
    path.write_text(render(kind, encrypted, metadata))
    text = path.read_text()
    # Long enough that random base64 (the ciphertexts) never holds one by chance.
    secrets = ("hunter2", "abc123-api-key", "password = s3cret", "t0ken-for-the", "a comment")
    for secret in secrets:
        assert secret not in text
    assert "sops:" in text or "sops_" in text or '"sops"' in text or "[sops]" in text
    opened = EncryptedFile.read(path, kind).open(keys.load_identity(any_key.private).keys)
    assert opened.tree == tree
    if kind == "binary":
        assert formats.binary_bytes(opened.tree) == BLOB


def test_yaml_types_survive(age_key: KeyPair, tmp_path: Path) -> None:
    tree = _plain_tree("app.yaml")
    encrypted, metadata = seal(tree, [keys.Recipient.parse(age_key.public)])
    assert encrypted["plain_unencrypted"] == "visible"  # sops' _unencrypted suffix
    assert encrypted["db"]["none"] is None and encrypted["db"]["empty"] == ""
    assert encrypted["db"]["port"].endswith("type:int]")
    assert encrypted["db"]["tls"].endswith("type:bool]")
    path = tmp_path / "app.yaml"
    path.write_text(render("yaml", encrypted, metadata))
    plain = EncryptedFile.read(path).open(keys.load_identity(age_key.private).keys).tree
    assert plain["db"]["port"] == 5432 and plain["db"]["ratio"] == 0.25
    assert plain["db"]["tls"] is True and plain["answer"] == "yes"
    assert plain["when"] == "2024-01-01"  # dates stay text, as YAML 1.2 (sops) reads them
    assert plain["db"]["note"] == "line one\nline two\n"


def test_wrong_key_is_refused(age_key: KeyPair, ed_key: KeyPair, tmp_path: Path) -> None:
    encrypted, metadata = seal({"a": "b"}, [keys.Recipient.parse(age_key.public)])
    path = tmp_path / "a.yaml"
    path.write_text(render("yaml", encrypted, metadata))
    with pytest.raises(KeyError_, match="none of your keys"):
        EncryptedFile.read(path).open(keys.load_identity(ed_key.private).keys)


@pytest.mark.parametrize(
    ("number", "text"),
    [(1.0, "1"), (0.1, "0.1"), (1e20, "100000000000000000000"), (1.5e-7, "0.00000015"),
     (-2.5, "-2.5"), (float("inf"), "+Inf")],
)
def test_floats_are_written_as_go_writes_them(number: float, text: str) -> None:
    assert values.go_float(number) == text


def test_booleans_are_titlecase_in_the_mac() -> None:
    assert values.to_bytes(True) == b"True" and values.to_bytes(False) == b"False"


def test_value_path_is_authenticated(age_key: KeyPair) -> None:
    key = bytes(32)
    sealed = values.encrypt("secret", key, "db:password:")
    assert values.decrypt(sealed, key, "db:password:", "x") == "secret"
    with pytest.raises(Exception, match="does not verify"):
        values.decrypt(sealed, key, "db:user:", "x")

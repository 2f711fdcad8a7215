"""``rampart vault edit`` with a scripted $EDITOR (a real program, run without a shell)."""

import json
import sys
from pathlib import Path

import pytest

from tests.vault.conftest import KeyPair, Vault, one_error_line

# The editor: records where and how it was given the file, then applies an action.
EDITOR = """
import json, os, stat, sys
path = sys.argv[-1]
info = os.stat(path)
folder = os.stat(os.path.dirname(path))
with open(sys.argv[1], "w") as log:
    json.dump({"path": path, "mode": stat.S_IMODE(info.st_mode),
               "folder_mode": stat.S_IMODE(folder.st_mode),
               "text": open(path, encoding="utf-8", errors="replace").read()}, log)
action = sys.argv[2]
if action == "fail":
    sys.exit(3)
if action == "term":  # the session is closed under the editor
    import signal, time
    with open(path, "w") as out:
        out.write("TOKEN=half-typed\\n")
    os.kill(os.getppid(), signal.SIGTERM)
    time.sleep(30)
if action == "replace":
    with open(path, "w") as out:
        out.write(sys.argv[3].replace("\\\\n", "\\n"))
"""


@pytest.fixture
def editor(tmp_path: Path) -> tuple[Path, Path]:
    script = tmp_path / "my editor.py"  # a space: $EDITOR is split like a shell would
    script.write_text(EDITOR)
    return script, tmp_path / "editor-log.json"


def _editor_env(editor: tuple[Path, Path], *action: str) -> dict[str, str]:
    script, log = editor
    words = [sys.executable, str(script), str(log), *action]
    return {"EDITOR": " ".join(f"'{w}'" for w in words), "VISUAL": ""}


@pytest.fixture
def secrets(repo: Path, vault: Vault, age_key: KeyPair) -> Path:
    assert vault("init", "--admin", age_key.public, "--name", "alice").returncode == 0
    (repo / "app.env").write_text("TOKEN=old\nOTHER=kept\n")
    (repo / "notes.txt").write_text("whole file\n")
    assert vault("register", str(repo / "app.env"), str(repo / "notes.txt")).returncode == 0
    return repo


def test_edit_changes_a_value(secrets: Path, vault: Vault, age_key: KeyPair,
                              editor: tuple[Path, Path]) -> None:
    path = secrets / "app.env"
    result = vault("edit", str(path), key=age_key,
                   env=_editor_env(editor, "replace", "TOKEN=new\\nOTHER=kept\\n"))
    assert result.returncode == 0, result.stderr
    assert "encrypted and saved" in result.stdout
    seen = json.loads(editor[1].read_text())
    assert seen["text"] == "TOKEN=old\nOTHER=kept\n"
    assert seen["mode"] == 0o600 and seen["folder_mode"] == 0o700
    assert not Path(seen["path"]).exists() and not Path(seen["path"]).parent.exists()
    assert "TOKEN=new" not in path.read_text() and "TOKEN=ENC[" in path.read_text()
    assert vault("cat", str(path), key=age_key).stdout == "TOKEN=new\nOTHER=kept\n"


def test_edit_whole_file(secrets: Path, vault: Vault, age_key: KeyPair,
                         editor: tuple[Path, Path]) -> None:
    result = vault("edit", str(secrets / "notes.txt"), key=age_key,
                   env=_editor_env(editor, "replace", "rewritten\\n"))
    assert result.returncode == 0, result.stderr
    assert not (secrets / "notes.txt").exists()
    assert vault("cat", str(secrets / "notes.txt.vault"), key=age_key).stdout == "rewritten\n"


@pytest.mark.parametrize("action", ["fail", "keep"])
def test_failed_or_unchanged_edit_leaves_the_file(secrets: Path, vault: Vault, age_key: KeyPair,
                                                  editor: tuple[Path, Path], action: str) -> None:
    path = secrets / "app.env"
    before = path.read_bytes()
    result = vault("edit", str(path), key=age_key, env=_editor_env(editor, action))
    if action == "fail":
        assert "left unchanged" in one_error_line(result)
    else:
        assert result.returncode == 0 and "no change" in result.stdout
    assert path.read_bytes() == before
    seen = json.loads(editor[1].read_text())
    assert not Path(seen["path"]).parent.exists()


def test_edit_to_invalid_text_keeps_the_old_file(secrets: Path, vault: Vault, age_key: KeyPair,
                                                 editor: tuple[Path, Path]) -> None:
    path = secrets / "app.env"
    before = path.read_bytes()
    result = vault("edit", str(path), key=age_key,
                   env=_editor_env(editor, "replace", "no equals sign here\\n"))
    assert "not KEY=VALUE" in one_error_line(result)
    assert path.read_bytes() == before
    assert not Path(json.loads(editor[1].read_text())["path"]).parent.exists()


def test_missing_editor_is_one_line(secrets: Path, vault: Vault, age_key: KeyPair) -> None:
    before = (secrets / "app.env").read_bytes()
    result = vault("edit", str(secrets / "app.env"), key=age_key,
                   env={"EDITOR": "/nonexistent/editor --wait", "VISUAL": ""})
    assert "cannot run editor" in one_error_line(result)
    assert (secrets / "app.env").read_bytes() == before


def test_terminated_edit_shreds_the_plaintext(secrets: Path, vault: Vault, age_key: KeyPair,
                                              editor: tuple[Path, Path]) -> None:
    path = secrets / "app.env"
    before = path.read_bytes()
    result = vault("edit", str(path), key=age_key, env=_editor_env(editor, "term"))
    assert "interrupted by SIGTERM" in one_error_line(result)
    assert path.read_bytes() == before
    assert not Path(json.loads(editor[1].read_text())["path"]).parent.exists()

"""The configuration file: defaults without one, errors that name file and key."""

from pathlib import Path

import pytest

from rampart.config import DEFAULT_STATE_DIR, load_settings
from rampart.errors import ConfigError


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAMPART_CONFIG", raising=False)
    monkeypatch.delenv("RAMPART_STATE_DIR", raising=False)


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rampart.config.DEFAULT_CONFIG_PATH", tmp_path / "absent.toml")
    settings = load_settings()
    assert settings.state_dir == DEFAULT_STATE_DIR
    assert settings.ban.filter_dirs == ()


def test_a_valid_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "rampart.toml"
    path.write_text('state_dir = "/srv/rampart"\n[ban]\nfilter_dirs = ["/etc/rampart/filter.d"]\n')
    settings = load_settings(path)
    assert settings.state_dir == Path("/srv/rampart")
    assert settings.ban.filter_dirs == (Path("/etc/rampart/filter.d"),)


def test_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "rampart.toml"
    path.write_text("")
    monkeypatch.setenv("RAMPART_CONFIG", str(path))
    monkeypatch.setenv("RAMPART_STATE_DIR", str(tmp_path / "state"))
    assert load_settings().state_dir == tmp_path / "state"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[ban]\nfilter_dir = []\n", "ban.filter_dir"),  # a typo is an error, not ignored
        ("[ban]\nfilter_dirs = 3\n", "ban.filter_dirs"),
        ("state_dir = \n", "invalid TOML"),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "rampart.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    message = str(raised.value)
    assert str(path) in message and needle in message
    assert "\n" not in message


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_settings(tmp_path / "missing.toml")

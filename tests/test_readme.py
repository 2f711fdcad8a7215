"""The README's examples are real: its configuration and its mute file validate."""

import re
import tomllib
from pathlib import Path

from rampart.audit import read_mutes
from rampart.config import validate_settings

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", README.read_text(), re.DOTALL)


def test_the_readme_configuration_is_valid() -> None:
    configs = [block for block in blocks() if "[[mute]]" not in block]
    assert configs, "the README shows a configuration"
    for block in configs:
        settings = validate_settings(tomllib.loads(block), "README.md")
        assert settings.ban.jails, "it configures jails"


def test_the_readme_mute_file_is_valid(tmp_path: Path) -> None:
    mutes = [block for block in blocks() if "[[mute]]" in block]
    assert mutes, "the README shows a mute file"
    for block in mutes:
        path = tmp_path / "mute.toml"
        path.write_text(block)
        assert read_mutes(path)

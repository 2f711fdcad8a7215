"""The README's examples are real: its configuration validates."""

import re
import tomllib
from pathlib import Path

from rampart.config import validate_settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_configuration_is_valid() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(), re.DOTALL)
    assert blocks, "the README shows a configuration"
    for block in blocks:
        settings = validate_settings(tomllib.loads(block), "README.md")
        assert settings.ban.jails, "it configures jails"

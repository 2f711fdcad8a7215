"""Passwords and tokens for SMTP and webhooks: from the environment or a file, never the config."""

import os

from rampart.config import SecretSource
from rampart.errors import ConfigError


def read_secret(source: SecretSource, where: str) -> str | None:
    """The secret ``source`` names, or None when it names none; ConfigError (never the value)."""
    if source.password_env is not None:
        value = os.environ.get(source.password_env)
        if not value:
            raise ConfigError(f"{where}: environment variable {source.password_env} is not set")
        return value
    if source.password_file is not None:
        try:
            lines = source.password_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not UTF-8 text"
            raise ConfigError(f"{where}: cannot read {source.password_file}: {reason}") from None
        if not lines or not lines[0]:
            raise ConfigError(f"{where}: {source.password_file} is empty")
        return lines[0]
    return None

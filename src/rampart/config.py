"""The one configuration file, ``/etc/rampart/rampart.toml``, validated.

Every command works without a file, on the defaults below. A file that
exists is read strictly: an unknown key or a value of the wrong type is an
error that names the file and the key, so a typo never silently disables a
protection.
"""

import os
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rampart.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("/etc/rampart/rampart.toml")
DEFAULT_STATE_DIR = Path("/var/lib/rampart")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BanSettings(_Section):
    """Settings of the ban part that exist so far."""

    filter_dirs: tuple[Path, ...] = Field(
        default=(),
        description="Extra folders searched for filters before rampart's own and Fail2ban's.",
    )


class Settings(_Section):
    """The whole configuration file."""

    state_dir: Path = DEFAULT_STATE_DIR
    ban: BanSettings = BanSettings()


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The file to read: ``--config``, else ``$RAMPART_CONFIG``, else the default."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get("RAMPART_CONFIG")
    return Path(from_env) if from_env else DEFAULT_CONFIG_PATH


def load_settings(explicit: str | os.PathLike[str] | None = None) -> Settings:
    """Read and validate the configuration; defaults when no file exists.

    A file named explicitly (``--config`` or ``$RAMPART_CONFIG``) must exist.
    """
    path = config_path(explicit)
    named = bool(explicit) or "RAMPART_CONFIG" in os.environ
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if named:
            raise ConfigError(f"{path}: no such configuration file") from None
        return _with_env(Settings())
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    try:
        return _with_env(Settings.model_validate(data))
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise ConfigError(f"{path}: key {key}: {first['msg']}") from None


def _with_env(settings: Settings) -> Settings:
    state_dir = os.environ.get("RAMPART_STATE_DIR")
    return settings.model_copy(update={"state_dir": Path(state_dir)}) if state_dir else settings

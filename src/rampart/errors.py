"""The error every layer raises when a person has to act.

The message of a :class:`RampartError` is printed by the CLI as one line and
the process exits with status 2, so a message must say what went wrong, where
(file, key, line) and, when it is not obvious, what to do.
"""


class RampartError(Exception):
    """Base of every error meant for the operator, not for a traceback."""


class ConfigError(RampartError):
    """The configuration file is missing, unreadable or invalid."""


class UsageError(RampartError):
    """A command was given arguments it cannot work with."""

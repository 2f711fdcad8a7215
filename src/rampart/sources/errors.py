"""Errors of the sources layer."""

from rampart.errors import RampartError


class SourceError(RampartError):
    """A log source cannot be read (permissions, not a file, a failing program)."""

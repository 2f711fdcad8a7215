"""Values that sources hand to the detectors."""

from typing import NamedTuple


class LogLine(NamedTuple):
    """One line of a log, without its line ending.

    A NamedTuple rather than a dataclass: millions are made per run, and a
    tuple is several times cheaper to build while staying immutable and typed.
    """

    lineno: int
    """1-based position of the line in its source."""
    text: str
    """The line, decoded (invalid UTF-8 replaced), without CR/LF."""

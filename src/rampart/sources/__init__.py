"""Where log lines come from: files (followed or replayed whole) and journald."""

from rampart.sources.errors import SourceError
from rampart.sources.journal import JournalEntry, JournalSource
from rampart.sources.replay import ReadError, read_lines
from rampart.sources.tail import FileTail, TailPosition
from rampart.sources.types import LogLine

__all__ = [
    "FileTail",
    "JournalEntry",
    "JournalSource",
    "LogLine",
    "ReadError",
    "SourceError",
    "TailPosition",
    "read_lines",
]

"""Where log lines come from: files, journald, whole-file replay."""

from rampart.sources.types import LogLine
from rampart.sources.replay import read_lines, ReadError

__all__ = ["LogLine", "ReadError", "read_lines"]

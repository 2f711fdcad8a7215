"""Where log lines come from: files, journald, whole-file replay."""

from rampart.sources.replay import ReadError, read_lines
from rampart.sources.types import LogLine

__all__ = ["LogLine", "ReadError", "read_lines"]

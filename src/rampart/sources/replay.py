"""Whole-file replay: every line of a log file, for offline analysis.

Files are read in large binary blocks cut at line ends and decoded once per
block; that is several times faster than reading line by line and gives the
same lines: invalid UTF-8 becomes U+FFFD, trailing CR/LF are removed, and a
last line without a newline still counts.
"""

from collections.abc import Iterator
from pathlib import Path

from rampart.errors import RampartError
from rampart.sources.types import LogLine

BLOCK_SIZE = 1 << 20
#: A "line" longer than this (a binary file, /dev/zero) is cut into pieces of
#: this size rather than held in memory whole.
MAX_LINE = 16 << 20


class ReadError(RampartError):
    """A log file cannot be opened or read."""


def read_blocks(path: Path, block_size: int = BLOCK_SIZE) -> Iterator[str]:
    """The file's text in blocks that each end at a line end (except the last)."""
    try:
        with path.open("rb") as handle:
            rest = b""
            while True:
                data = handle.read(block_size)
                if not data:
                    break
                data = rest + data
                cut = data.rfind(b"\n") + 1
                if cut == 0 and len(data) < MAX_LINE:
                    rest = data
                    continue
                if cut == 0:
                    cut = len(data)
                rest = data[cut:]
                yield data[:cut].decode("utf-8", "replace")
            if rest:
                yield rest.decode("utf-8", "replace")
    except IsADirectoryError:
        raise ReadError(f"{path}: is a directory, not a log file") from None
    except FileNotFoundError:
        raise ReadError(f"{path}: no such file") from None
    except PermissionError:
        raise ReadError(f"{path}: permission denied (run as a user that can read it)") from None
    except OSError as error:
        raise ReadError(f"{path}: cannot read: {error.strerror}") from None


def split_block(block: str) -> list[str]:
    """Lines of a block, without line endings (all trailing CR/LF removed)."""
    lines = block.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if "\r" in block:
        lines = [line.rstrip("\r") for line in lines]
    return lines


def read_lines(path: Path) -> Iterator[LogLine]:
    """Every line of ``path`` with its 1-based number."""
    lineno = 0
    for block in read_blocks(path):
        for text in split_block(block):
            lineno += 1
            yield LogLine(lineno, text)

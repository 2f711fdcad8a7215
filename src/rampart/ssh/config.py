"""Edit sshd_config text the way a careful person would: one line at a time.

Comments, blank lines and the order of everything else are kept. sshd uses
the *first* value it reads for most keywords, and ``Match`` blocks run to the
end of the file, so :func:`set_option` only ever touches the global part
(before the first ``Match``): it replaces the first active occurrence of the
keyword, comments out later duplicates there (so a reader is not misled), or
inserts the keyword just before the first ``Match`` (or at the end) when it
is absent. Lines inside ``Match`` blocks are never edited.

``Include`` is read in place: Debian's ``Include /etc/ssh/sshd_config.d/*.conf``
is the first line of the file, so a value set in an included file wins over
the main file. This module does not edit included files (they belong to
packages and cloud-init); instead the caller checks the effective value
(``sshd -T``) after the edit and, if an include still wins, writes a drop-in
at :func:`dropin_path` (``00-rampart.conf``), which sorts before the others.
"""

import fnmatch
import re
from pathlib import Path

SSH_DIR = Path("/etc/ssh")  # where sshd resolves relative Include paths
DROPIN_NAME = "00-rampart.conf"
MARK = "# rampart:"

_KEYWORD = re.compile(r"^\s*([A-Za-z][A-Za-z0-9]*)(?:\s*=\s*|\s+|$)")


def keyword_of(line: str) -> str | None:
    """The keyword of an active line, lower case; None for comments and blanks."""
    if line.lstrip().startswith("#"):
        return None
    found = _KEYWORD.match(line)
    return found.group(1).lower() if found else None


def _value_of(line: str) -> str:
    found = _KEYWORD.match(line)
    return line[found.end() :].strip() if found else ""


def set_option(text: str, keyword: str, value: str) -> str:
    """``text`` with ``keyword value`` in force in the global part, as described above."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    wanted = keyword.lower()
    new_line = f"{keyword} {value}\n"
    found = False
    match_at: int | None = None
    for index, line in enumerate(lines):
        key = keyword_of(line)
        if key == "match":
            match_at = index
            break
        if key != wanted:
            continue
        if not found:
            indent = line[: len(line) - len(line.lstrip())]
            lines[index] = indent + new_line
            found = True
        else:
            lines[index] = f"{MARK} {line.lstrip()}"
    if not found:
        at = len(lines) if match_at is None else match_at
        lines.insert(at, new_line)
    return "".join(lines)


def include_patterns(text: str) -> list[str]:
    """The ``Include`` patterns of the global part, in order, as absolute globs."""
    patterns: list[str] = []
    for line in text.splitlines():
        key = keyword_of(line)
        if key == "match":
            break
        if key == "include":
            for word in _value_of(line).split():
                path = Path(word.strip('"'))
                patterns.append(str(path if path.is_absolute() else SSH_DIR / path))
    return patterns


def dropin_path(text: str) -> Path | None:
    """Where a drop-in that sorts first goes: ``00-rampart.conf`` in the first included directory.

    None when no ``Include`` pattern of the global part would read a file of that name.
    """
    for pattern in include_patterns(text):
        folder, name = Path(pattern).parent, Path(pattern).name
        if not any(mark in str(folder) for mark in "*?[") and fnmatch.fnmatch(DROPIN_NAME, name):
            return folder / DROPIN_NAME
    return None

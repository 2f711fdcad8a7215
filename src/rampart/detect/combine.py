"""All of a filter's failregexes as one regex, tried in one call.

Fail2ban tries each failregex in turn and keeps the first that matches; a
filter such as sshd has over twenty, so a line that matches none costs twenty
regex calls. When every failregex is anchored at the start of the text (they
almost always are) and the filter is single-line, "the first regex that
matches" is the same as "the first branch of ``(?:r0|r1|...)`` that matches
at position 0", which the regex engine finds in a single call. Capture names
are made unique per branch and mapped back, so callers see each regex's own
fields. Any filter this cannot express exactly keeps the one-by-one loop.
"""

import re
from collections.abc import Sequence
from typing import Any

from rampart.detect.regex import FilterRegex

try:  # The parser is private; without it nothing is combined, nothing breaks.
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    _sre_parse = None

_NAMED_GROUP = re.compile(r"(?<!\\)\(\?P<(\w+)>")
_NAMED_BACKREF = re.compile(r"(?<!\\)\(\?P=(\w+)\)")
_CONDITIONAL = re.compile(r"(?<!\\)\(\?\((\w+)\)")
_NUMBERED_REFERENCE = re.compile(r"(?<!\\)\\[1-9]|(?<!\\)\(\?\(\d+\)")


def anchored_at_start(pattern: str) -> bool:
    """True if ``pattern`` can only match at the start of the text."""
    if _sre_parse is None:
        return False
    try:
        parsed = _sre_parse.parse(pattern)
    except re.error:
        return False
    first = parsed[0] if len(parsed) else None
    return bool(first and str(first[0]) == "AT" and str(first[1]) == "AT_BEGINNING")


class CombinedRegex:
    """The first-matching failregex and its fields, from one regex call."""

    __slots__ = ("_branches", "pattern")

    def __init__(
        self, pattern: re.Pattern[str], branches: Sequence[tuple[tuple[str, ...], tuple[str, ...]]]
    ) -> None:
        self.pattern = pattern
        self._branches = tuple(branches)

    @property
    def branches(self) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
        """Per failregex: its capture names in the combined pattern, and as written."""
        return self._branches

    def first(self, text: str) -> tuple[int, dict[str, Any]] | None:
        """Index of the first failregex matching ``text`` and its raw named groups."""
        match = self.pattern.match(text)
        if match is None:
            return None
        index = int(match.lastgroup[2:])  # type: ignore[index]
        renamed, original = self._branches[index]
        if not renamed:
            return index, {}
        values = match.group(*renamed) if len(renamed) > 1 else (match.group(renamed[0]),)
        return index, dict(zip(original, values, strict=True))


def combine(regexes: Sequence[FilterRegex]) -> CombinedRegex | None:
    """One regex equivalent to trying ``regexes`` in order, or None if none can be built."""
    if len(regexes) < 2:
        return None
    parts: list[str] = []
    branches: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    for index, regex in enumerate(regexes):
        source = regex.pattern.pattern
        if regex.pattern.flags & (re.MULTILINE | re.IGNORECASE | re.DOTALL | re.VERBOSE):
            return None
        if not anchored_at_start(source) or _NUMBERED_REFERENCE.search(source):
            return None
        suffix = f"__{index}"
        renamed = _NAMED_GROUP.sub(rf"(?P<\1{suffix}>", source)
        renamed = _NAMED_BACKREF.sub(rf"(?P=\1{suffix})", renamed)
        renamed = _CONDITIONAL.sub(rf"(?(\1{suffix})", renamed)
        names = tuple(regex.pattern.groupindex)
        parts.append(f"(?P<_b{index}>{renamed})")
        branches.append((tuple(name + suffix for name in names), names))
    try:
        pattern = re.compile("|".join(parts))
    except re.error:
        return None
    expected = {f"_b{index}" for index in range(len(regexes))}
    expected.update(name for renamed, _ in branches for name in renamed)
    if set(pattern.groupindex) != expected:
        return None
    return CombinedRegex(pattern, branches)

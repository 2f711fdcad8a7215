"""One compiled filter regex, with the bookkeeping Fail2ban attaches to it.

Besides compiling the translated pattern, a :class:`FilterRegex` knows which
of its groups carry special meaning: ``alt_NAME`` groups that fill ``NAME``
when it is empty, ``tuple_NAME`` groups that collect into a tuple, and
``skiplinesN`` groups that mark buffered lines which are not part of a match.
"""

import re
from collections.abc import Sequence
from typing import Any

from rampart.detect.errors import FilterError
from rampart.detect.tags import group_name, translate

#: A buffered line split around its timestamp: (before, timestamp, after).
TimedLine = tuple[str, str, str]

_COMPLEMENTARY = re.compile(r"^(alt_|tuple_)(.*?)(?:_\d+)?$")
#: Groups that identify what failed; a failregex needs one (or a prefregex must have it).
FAILURE_ID_GROUPS = ("fid", "ip4", "ip6", "dns")


def join_lines(lines: Sequence[TimedLine]) -> str:
    """The text regexes search: each line without its timestamp, newline-ended."""
    return "\n".join([line[0] + line[2] for line in lines]) + "\n"


class FilterRegex:
    """A translated and compiled ``failregex``, ``ignoreregex`` or ``prefregex``."""

    __slots__ = ("alternates", "has_skiplines", "pattern", "source", "tuples")

    def __init__(self, source: str, *, multiline: bool = False, use_dns: str = "yes") -> None:
        translated = translate(source, use_dns=use_dns)
        if not translated.strip():
            raise FilterError("empty regex")
        try:
            self.pattern = re.compile(translated, re.MULTILINE if multiline else 0)
        except re.error as error:
            raise FilterError(f"cannot compile regex {source!r}: {error}") from None
        self.source = source
        alternates: list[tuple[str, str]] = []
        tuples: list[tuple[str, str]] = []
        for name in self.pattern.groupindex:
            found = _COMPLEMENTARY.match(name)
            if found and len(name) > len("alt_"):
                target = (name, group_name(found.group(2)))
                (alternates if found.group(1) == "alt_" else tuples).append(target)
        self.alternates = tuple(sorted(alternates))
        self.tuples = tuple(sorted(tuples))
        self.has_skiplines = "skiplines0" in self.pattern.groupindex

    @property
    def group_names(self) -> frozenset[str]:
        return frozenset(self.pattern.groupindex)

    def groups(self, match: re.Match[str]) -> dict[str, Any]:
        """The named groups of a match, with ``alt_`` and ``tuple_`` groups folded in."""
        return self.fold(match.groupdict())

    def fold(self, found: dict[str, Any]) -> dict[str, Any]:
        """Fill ``NAME`` from ``alt_NAME`` groups and collect ``tuple_NAME`` groups."""
        if not self.alternates and not self.tuples:
            return found
        for name, target in self.alternates:
            value = found.get(name)
            if value and not found.get(target):
                found[target] = value
        for name, target in self.tuples:
            value = found.get(name)
            current = found.get(target)
            found[target] = (*current, value) if isinstance(current, tuple) else (current, value)
        return found

    def split_lines(
        self, match: re.Match[str], lines: Sequence[TimedLine]
    ) -> tuple[list[TimedLine], list[TimedLine]]:
        """Which buffered lines the match used, and which it did not.

        Lines outside the match, and lines a ``<SKIPLINES>`` group swallowed,
        stay in the buffer for later matches.
        """
        if len(lines) <= 1:
            return list(lines), []
        text = match.string
        start = text.rfind("\n", 0, match.start() + 1) + 1
        end = text.find("\n", match.end() - 1)
        end = len(text) if end < 0 else end + 1
        first, last = text.count("\n", 0, start), text.count("\n", 0, end)
        matched = list(lines[first:last])
        unmatched = list(lines[:first])
        if self.has_skiplines:
            index = 0
            for skipped in self._skipped_lines(match):
                for offset, line in enumerate(matched[index:]):
                    if line[0] + line[2] == skipped:
                        unmatched.append(matched.pop(index + offset))
                        index += offset
                        break
        unmatched.extend(lines[last:])
        return matched, unmatched

    def _skipped_lines(self, match: re.Match[str]) -> list[str]:
        skipped = []
        number = 0
        while f"skiplines{number}" in self.pattern.groupindex:
            value = match.group(f"skiplines{number}")
            if value is not None:
                skipped.append(value)
            number += 1
        return "".join(skipped).splitlines()

"""A regex compiled once, with the cheapest test that can stand in for it.

Most decoder prematches and rule patterns are plain text (``Failed password``)
or anchored text (``^Accepted ``): those are answered by ``in`` or
``startswith`` without the regex engine. For the others, the literal
strings every match must contain (found by :mod:`rampart.detect.prefilter`,
the ban engine's prefilter) are looked for first, and a line holding none
of them never meets the regex. Each test is built once as a closure doing
only what its pattern needs: the engine calls millions of them.
"""

import re
from collections.abc import Callable

from rampart.detect.prefilter import required_substrings
from rampart.hids.spec import RuleLoadError

_SPECIAL = frozenset("\\.^$*+?{}[]|()")

Test = Callable[[str], bool]
Extract = Callable[[str], "dict[str, str | None] | None"]


class TextMatcher:
    """``search`` semantics of one pattern, as a fast ``test`` and a field ``extract``."""

    __slots__ = ("extract", "literal", "pattern", "prefix", "regex", "test")

    def __init__(self, pattern: str) -> None:
        """Compile ``pattern``; re.error when it is not a valid regex."""
        self.pattern = pattern
        self.regex = re.compile(pattern)
        special = _SPECIAL.intersection
        self.literal = pattern if pattern and not special(pattern) else None
        """The pattern when it is plain text (the engine tests it inline)."""
        plain_prefix = pattern.startswith("^") and len(pattern) > 1 and not special(pattern[1:])
        self.prefix = pattern[1:] if plain_prefix else None
        """The text after ``^`` when the pattern is nothing else."""
        self.test: Test = _tester(pattern, self.regex)
        self.extract: Extract = _extractor(self.regex)

    def matches(self, text: str) -> bool:
        return self.test(text)


def _needles(regex: re.Pattern[str]) -> tuple[str, ...]:
    needles = required_substrings(regex)
    if not needles or any(len(needle) < 3 for needle in needles):
        return ()
    return tuple(sorted(needles, key=len, reverse=True))


def _tester(pattern: str, regex: re.Pattern[str]) -> Test:
    if pattern and not _SPECIAL.intersection(pattern):
        literal = pattern
        return lambda text: literal in text
    if pattern.startswith("^") and len(pattern) > 1 and not _SPECIAL.intersection(pattern[1:]):
        prefix = pattern[1:]
        return lambda text: text.startswith(prefix)
    if pattern.startswith("^(?!") and pattern.endswith(")"):
        excluded = pattern[4:-1]
        if excluded and not _SPECIAL.intersection(excluded):
            return lambda text: not text.startswith(excluded)
    search = regex.search
    needles = _needles(regex)
    if len(needles) == 1:
        needle = needles[0]
        return lambda text: needle in text and search(text) is not None
    if needles:
        return lambda text: any(n in text for n in needles) and search(text) is not None
    return lambda text: search(text) is not None


def _extractor(regex: re.Pattern[str]) -> Extract:
    """Named groups of the first match (a group that took no part is None), or None."""
    search = regex.search
    needles = _needles(regex)
    if not needles:

        def extract_all(text: str) -> dict[str, str | None] | None:
            found = search(text)
            return None if found is None else found.groupdict()

        return extract_all
    if len(needles) == 1:
        needle = needles[0]

        def extract_one(text: str) -> dict[str, str | None] | None:
            if needle not in text:
                return None
            found = search(text)
            return None if found is None else found.groupdict()

        return extract_one

    def extract(text: str) -> dict[str, str | None] | None:
        if not any(needle in text for needle in needles):
            return None
        found = search(text)
        return None if found is None else found.groupdict()

    return extract


def compile_pattern(pattern: str, where: str, key: str) -> TextMatcher:
    """A TextMatcher for a rule file's ``key``; RuleLoadError naming ``where`` when invalid."""
    try:
        return TextMatcher(pattern)
    except re.error as error:
        raise RuleLoadError(f"{where}: {key}: bad regex {pattern!r}: {error}") from None


def optional_pattern(pattern: str | None, where: str, key: str) -> TextMatcher | None:
    return None if pattern is None else compile_pattern(pattern, where, key)

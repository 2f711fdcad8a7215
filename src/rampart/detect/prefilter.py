"""Skip, without matching, the lines that no failregex can match.

Most lines of a busy log (cron, sudo, sessions) cannot match any failregex
of a filter: each failregex needs some literal text (``Failed ``, ``Invalid
user``...) that those lines do not contain. This module reads, from the
parsed regexes, a small set of strings of which every match must contain at
least one; a block of log text is then searched for those strings with
``str.find`` (C speed) and only the lines that hold one are matched for real.

The set is derived conservatively: anything the analysis does not fully
understand (case-insensitive parts, classes, optional parts) contributes no
requirement, and a regex without any requirement disables the prefilter.
"""

import re
from collections.abc import Iterable, Sequence
from typing import Any

try:  # The parser is private; without it there is no prefilter, nothing breaks.
    from re import _constants as _sre_constants  # type: ignore[attr-defined]
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    _sre_parse = _sre_constants = None

#: Literal runs shorter than this are too common to be worth a search.
MIN_LITERAL = 3


def required_substrings(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Strings of which every match of ``pattern`` contains one, or None if unknown."""
    if _sre_parse is None or pattern.flags & re.IGNORECASE:
        return None
    try:
        parsed = _sre_parse.parse(pattern.pattern, pattern.flags)
    except re.error:
        return None
    return _sequence(list(parsed))


def filter_substrings(patterns: Sequence[re.Pattern[str]]) -> frozenset[str] | None:
    """The union for several regexes (a line is a candidate if any may match)."""
    union: set[str] = set()
    for pattern in patterns:
        required = required_substrings(pattern)
        if required is None:
            return None
        union |= required
    # A string containing another is redundant: the shorter one finds its lines too.
    return frozenset(s for s in union if not any(o != s and o in s for o in union))


def _better(
    current: frozenset[str] | None, candidate: frozenset[str] | None
) -> frozenset[str] | None:
    if not candidate or any(len(s) < MIN_LITERAL for s in candidate):
        return current
    if current is None:
        return candidate
    # Prefer the set whose shortest string is longest (rarer), then the smaller set.
    key = (min(map(len, candidate)), -len(candidate))
    return candidate if key > (min(map(len, current)), -len(current)) else current


def _sequence(items: Iterable[tuple[Any, Any]]) -> frozenset[str] | None:
    """Best requirement of a sequence: a run of fixed text, or one of its parts'.

    Consecutive parts that each match a few fixed strings (``a``, ``[aA]``,
    ``(?:llegal|nvalid)``, ``(?P<x>disconnect)``) are joined into one run of
    alternatives, so ``[iI](?:llegal|nvalid) user`` requires one of four
    strings such as ``Invalid user``, rarer than any of its pieces.
    """
    best: frozenset[str] | None = None
    run: frozenset[str] = frozenset([""])
    for op, value in items:
        name = str(op)
        fixed = _fixed_strings(name, value)
        if fixed is not None and len(run) * len(fixed) <= MAX_ALTERNATIVES:
            run = frozenset(a + b for a in run for b in fixed)
            continue
        best = _better(best, run)
        run = frozenset([""])
        best = _better(best, _item(name, value))
    return _better(best, run)


#: How many alternative spellings a run of fixed text may grow to.
MAX_ALTERNATIVES = 16


def _fixed_strings(name: str, value: Any) -> frozenset[str] | None:
    """All strings a part can match, if it matches only a few fixed ones."""
    if name == "LITERAL":
        return frozenset([chr(value)])
    if name == "IN" and all(str(op) == "LITERAL" for op, _ in value):
        return frozenset(chr(char) for _, char in value)
    if name == "SUBPATTERN":
        _group, add_flags, _del_flags, inner = value
        return None if add_flags & re.IGNORECASE else _fixed_sequence(list(inner))
    if name == "BRANCH":
        union: set[str] = set()
        for branch in value[1]:
            fixed = _fixed_sequence(list(branch))
            if fixed is None:
                return None
            union |= fixed
        return frozenset(union) if len(union) <= MAX_ALTERNATIVES else None
    return None


def _fixed_sequence(items: list[tuple[Any, Any]]) -> frozenset[str] | None:
    strings = frozenset([""])
    for op, value in items:
        fixed = _fixed_strings(str(op), value)
        if fixed is None or len(strings) * len(fixed) > MAX_ALTERNATIVES:
            return None
        strings = frozenset(a + b for a in strings for b in fixed)
    return strings


def _item(name: str, value: Any) -> frozenset[str] | None:
    if name == "SUBPATTERN":
        _group, add_flags, _del_flags, inner = value
        if add_flags & re.IGNORECASE:
            return None
        return _sequence(list(inner))
    if name == "ATOMIC_GROUP":
        return _sequence(list(value))
    if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        low, _high, inner = value
        return _sequence(list(inner)) if low >= 1 else None
    if name == "BRANCH":
        _unused, branches = value
        return _union(_sequence(list(branch)) for branch in branches)
    if name == "GROUPREF_EXISTS":
        _group, yes, no = value
        if no is None:
            return None
        return _union([_sequence(list(yes)), _sequence(list(no))])
    return None


def _union(sets: Iterable[frozenset[str] | None]) -> frozenset[str] | None:
    union: set[str] = set()
    for found in sets:
        if found is None:
            return None
        union |= found
    return frozenset(union)


#: Shortest string searched for in place of several needles (see :func:`fewer_needles`).
MIN_SHARED = 5
#: Relative costs, measured on CPython: one pass of ``str.find`` over a byte of
#: text, and the Python work for one occurrence found.
PASS_COST_PER_CHAR = 0.3e-9
OCCURRENCE_COST = 0.5e-6


def fewer_needles(needles: frozenset[str], sample: str) -> frozenset[str]:
    """A cheaper set of strings to search for: every needle contains one of them.

    Each string searched costs a full pass over the text, and each place it
    is found costs Python work. Twenty needles sharing ``onnect`` are cheaper
    as that one string, unless ``onnect`` is common in this log; ``sample``
    (the start of the log) tells. Lines holding a needle hold one of the
    chosen strings, so no candidate is lost either way.
    """
    options = set(needles)
    ordered = sorted(needles)
    for index, first in enumerate(ordered):
        for second in ordered[index + 1 :]:
            shared = _longest_common_substring(first, second)
            if len(shared) >= MIN_SHARED:
                options.add(shared)
    pass_cost = max(len(sample), 1) * PASS_COST_PER_CHAR
    cost = {option: pass_cost + sample.count(option) * OCCURRENCE_COST for option in options}
    uncovered = set(needles)
    chosen: set[str] = set()
    while uncovered:
        # Cheapest per needle newly covered (weighted set cover, greedy).
        best = min(
            (option for option in options if any(option in needle for needle in uncovered)),
            key=lambda option: (
                cost[option] / sum(option in needle for needle in uncovered),
                -len(option),
                option,
            ),
        )
        chosen.add(best)
        uncovered = {needle for needle in uncovered if best not in needle}
    # A chosen string that contains another chosen one finds no line the other misses.
    return frozenset(c for c in chosen if not any(o != c and o in c for o in chosen))


def _longest_common_substring(first: str, second: str) -> str:
    best_end, best_length = 0, 0
    previous = [0] * (len(second) + 1)
    for i in range(1, len(first) + 1):
        current = [0] * (len(second) + 1)
        for j in range(1, len(second) + 1):
            if first[i - 1] == second[j - 1]:
                current[j] = previous[j - 1] + 1
                if current[j] > best_length:
                    best_end, best_length = i, current[j]
        previous = current
    return first[best_end - best_length : best_end]


def candidate_line_starts(text: str, needles: frozenset[str]) -> list[int]:
    """Offsets of the starts of the lines of ``text`` holding any needle, in order.

    All places of all needles are collected first (``str.find`` scans fast;
    the loop does nothing else), then sorted and folded into lines.
    """
    places: list[int] = []
    append, find, rfind = places.append, text.find, text.rfind
    for needle in needles:
        place = find(needle)
        while place >= 0:
            append(place)
            place = find(needle, place + 1)
    places.sort()
    starts: list[int] = []
    line_end = -1
    for place in places:
        if place < line_end:
            continue  # another needle on a line already taken
        starts.append(rfind("\n", 0, place) + 1)
        line_end = find("\n", place)
        if line_end < 0:
            break
    return starts


def line_needles(
    failregex: Sequence[re.Pattern[str]],
    ignoreregex: Sequence[re.Pattern[str]],
    datepattern: str | None,
    *,
    include_ignore: bool,
) -> frozenset[str] | None:
    """Strings a raw line must hold to be worth matching, or None to match every line.

    Regexes see a line with its timestamp cut out, so text on both sides of
    the timestamp becomes adjacent; a needle could then be found in the cut
    line and not in the raw one. That cannot happen when timestamps are only
    searched at the start of a line (``{^LN-BEG}``: at most two non-word
    characters precede them) and no needle starts with a non-word character,
    so the prefilter is used only then, with leading non-word characters
    trimmed from the needles.
    """
    patterns = [p for p in datepattern.splitlines() if p.strip()] if datepattern else []
    if not patterns or not all(p.strip().startswith("{^LN-BEG}") for p in patterns):
        return None
    needles = filter_substrings([*failregex, *(ignoreregex if include_ignore else ())])
    if needles is None:
        return None
    trimmed = frozenset(_NON_WORD_PREFIX.sub("", needle) for needle in needles)
    if any(len(needle) < MIN_LITERAL for needle in trimmed):
        return None
    return trimmed


_NON_WORD_PREFIX = re.compile(r"^\W+")

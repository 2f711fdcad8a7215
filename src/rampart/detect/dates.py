"""Finding and converting the timestamp of a log line, the way Fail2ban does.

A jail bans on counts inside a time window, so a line must get the same time
(and the same cut-out date text) that Fail2ban would give it, or rampart and
Fail2ban would ban different hosts. That covers Fail2ban's default formats,
every ``datepattern`` feature, its template-ordering heuristics and its year
and time-zone guessing. This runs on every line, so the common case (the
format that matched the previous line, a timestamp seen a moment ago) is kept
to one regex search and one dictionary look-up.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

try:  # the regex parser, to bound how far a line-begin template can look
    from re import _constants as re_constants  # type: ignore[attr-defined]
    from re import _parser as re_parser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - other Python versions
    re_parser = re_constants = None

from rampart.detect.errors import DatePatternError
from rampart.detect.strptime import (
    INF,
    LINE_BEGIN,
    LINE_END,
    LN_BEG,
    PATTERN,
    TemplateSpec,
    default_specs,
    fields_to_epoch,
    fill_date,
    number_epoch,
    pattern_spec,
    spec_from_text,
    strip_bounds,
    zone_minutes,
)

__all__ = ["DateDetector"]

_ANCHORED = LINE_BEGIN | LINE_END
_FAR = 0x7FFFFFFF  # "no position yet", as large as Fail2ban's
_UNUSED_SECONDS = 300  # a template unused this long may be overtaken
_CACHE_LIMIT = 4096

_UNBOUNDED = 1 << 20


_SPACE_RUN = re.compile(r"\s\s")
# After this many look-ups the line-start cache must have answered a quarter
# of them, or it is dropped: when the start of each line differs (a syslog
# line reaches past its timestamp into host and program), it only costs.
_PREFIX_TRIAL = 4096


def _reach(regex: str) -> tuple[int, int, bool]:
    """How much text decides a search with this regex: (prefix, lookbehind, spaced).

    prefix (0 if unknown): for a regex that can only match at position 0, a
    search on ``line[:prefix]`` gives the same result as on ``line`` (the engine
    reads at most the widest match plus what lookaheads peek at, plus one
    character for ``$`` and ``\\b``). ``\\s*`` counts as at most one space; when
    ``spaced`` is set that holds only for a prefix without two spaces in a row.
    lookbehind: how far before its start position a search may read
    (``\\b`` and lookbehinds), plus one.
    """
    if re_parser is None:
        return 0, 0, False
    try:
        tree = re_parser.parse(regex)
    except (re.error, RecursionError):  # pragma: no cover - compiled fine before
        return 0, 0, False
    if tree.state.flags & re.MULTILINE:
        return 0, 0, False
    items = list(tree)
    ahead, behind = _assertion_widths(items)
    behind = behind + 1 if behind < _UNBOUNDED else 0
    if not items or items[0] != (re_constants.AT, re_constants.AT_BEGINNING):
        return 0, behind, False
    spaced = _cap_space_runs(tree)
    width = tree.getwidth()[1] + ahead
    return (width + 2 if width < _UNBOUNDED else 0), behind, spaced


def _cap_space_runs(tree: Any) -> bool:
    """Rewrite ``\\s*`` and ``\\s+`` in a parsed regex as at most one space; True if any."""
    capped = False
    tree.width = None  # the parser may have measured it already
    for position, (op, value) in enumerate(tree.data):
        if op is re_constants.MAX_REPEAT or op is re_constants.MIN_REPEAT:
            low, high, body = value
            space = [(re_constants.IN, [(re_constants.CATEGORY, re_constants.CATEGORY_SPACE)])]
            if high == re_constants.MAXREPEAT and low <= 1 and list(body) == space:
                tree.data[position] = (op, (low, 1, body))
                capped = True
            else:
                capped |= _cap_space_runs(body)
        elif op is re_constants.SUBPATTERN:
            capped |= _cap_space_runs(value[3])
        elif op is re_constants.BRANCH:
            capped |= any([_cap_space_runs(sub) for sub in value[1]])
        elif op is re_constants.GROUPREF_EXISTS:
            capped |= any([_cap_space_runs(sub) for sub in value[1:] if sub is not None])
    return capped


def _assertion_widths(items: Any) -> tuple[int, int]:
    """Summed widest text of every lookahead and of every lookbehind (each with a ``\\b``)."""
    ahead = behind = 0
    subs: list[Any] = []
    for op, value in items:
        if op in (re_constants.ASSERT, re_constants.ASSERT_NOT):
            if value[0] > 0:
                ahead += value[1].getwidth()[1]
            else:
                behind += value[1].getwidth()[1] + 1
            subs.append(value[1])
        elif op is re_constants.SUBPATTERN:
            subs.append(value[3])
        elif op in (re_constants.MAX_REPEAT, re_constants.MIN_REPEAT):
            subs.append(value[2])
        elif op is re_constants.BRANCH:
            subs += value[1]
        elif op is re_constants.GROUPREF_EXISTS:
            subs += [sub for sub in value[1:] if sub is not None]
        elif op in (re_constants.ATOMIC_GROUP, re_constants.POSSESSIVE_REPEAT):
            return _UNBOUNDED, _UNBOUNDED  # not produced by date patterns
    for sub in subs:
        sub_ahead, sub_behind = _assertion_widths(sub)
        ahead, behind = ahead + sub_ahead, behind + sub_behind
    return min(ahead, _UNBOUNDED), min(behind, _UNBOUNDED)


class _Template:
    """A template as one detector uses it: compiled search plus usage statistics."""

    __slots__ = (
        "anchored",
        "behind",
        "by_prefix",
        "by_window",
        "cache",
        "distance",
        "hits",
        "last_used",
        "minutes",
        "prefix",
        "prefix_hits",
        "prefix_lookups",
        "search",
        "spaced",
        "spec",
        "window_span",
    )

    def __init__(self, spec: TemplateSpec) -> None:
        self.spec = spec
        try:
            self.search = re.compile(spec.regex).search
        except re.error as exc:
            raise DatePatternError(f"date template {spec.name!r}: invalid regex ({exc})") from None
        self.anchored = bool(spec.flags & _ANCHORED)
        self.hits = 0
        self.last_used = 0.0
        self.distance = _FAR
        self.cache: dict[str, tuple[float | None, float, float]] = {}
        self.minutes: dict[tuple[str | None, ...], tuple[float, float, float]] = {}
        self.prefix, self.behind, self.spaced = _reach(spec.regex)
        # Results by the text that decides them: the line's start (line-begin
        # templates) or the date's place in the line (others, see find()).
        self.by_prefix: dict[str, tuple[int, int, float | None, float, float]] = {}
        self.prefix_lookups = self.prefix_hits = 0
        self.by_window: dict[str, tuple[int, int, float | None, float, float]] = {}
        self.window_span = (-1, -1)

    def give_up_prefix_cache(self) -> None:
        """Stop caching by line start if it rarely hits (see ``_PREFIX_TRIAL``)."""
        if self.prefix_hits * 4 < self.prefix_lookups:
            self.prefix = 0
            self.by_prefix.clear()

    @property
    def weight(self) -> float:
        return self.hits * self.spec.weight / max(1, self.distance)


class DateDetector:
    """Finds a line's date with Fail2ban's templates and converts it to epoch seconds."""

    def __init__(
        self,
        pattern: str | None = None,
        *,
        now: Callable[[], float] = time.time,
        default_tz: str | None = None,
    ) -> None:
        """pattern: a filter's ``datepattern`` (one entry per line); None for the defaults.

        default_tz: the jail's ``logtimezone`` (``UTC``, ``UTC+0200``, ``CET`` ...);
        None means local time as the TZ environment variable says.
        """
        self._now = now
        self._year = time.localtime().tm_year
        self._templates: list[_Template] = []
        self._names: set[str] = set()
        try:
            self._default_tz = None if default_tz is None else zone_minutes(default_tz)
        except ValueError as exc:
            raise DatePatternError(f"log time zone {default_tz!r}: {exc}") from None
        for entry in (pattern or "").split("\n"):
            if entry.strip():
                self._add_entry(entry.strip())
        if not self._templates:
            self._add_defaults()
        self._current: _Template | None = None
        self._current_index = _FAR
        # Where the last date was found (Fail2ban's "last position"): line and span.
        self._last_text = ""
        self._last_span = (1, _FAR)
        self._first_unused = 0
        self._single = len(self._templates) == 1

    @property
    def template_names(self) -> list[str]:
        """Names of the templates in their current order (Fail2ban's naming)."""
        return [template.spec.name for template in self._templates]

    def _append(self, spec: TemplateSpec, ignore_duplicate: bool = False) -> None:
        if spec.name in self._names:
            if ignore_duplicate:
                return
            raise DatePatternError(f"datepattern: template {spec.name!r} is given twice")
        self._names.add(spec.name)
        self._templates.append(_Template(spec))

    def _add_defaults(self, line_begin_only: bool = False, wrapper: str | None = None) -> None:
        ignore_duplicate = bool(self._templates)
        originals, full = default_specs(self._year)
        for spec in full if wrapper is None else originals:
            if line_begin_only and not spec.flags & LINE_BEGIN:
                continue
            if wrapper is not None:
                inner = strip_bounds(spec.pattern or spec.name)
                spec = spec_from_text(fill_date(wrapper, inner), self._year)
            self._append(spec, ignore_duplicate)

    def _add_entry(self, text: str) -> None:
        key = text if "%" in text else text.upper()
        if key == LN_BEG:
            self._add_defaults(line_begin_only=True)
        elif key == "{DEFAULT}":
            pass  # Fail2ban adds nothing here; the defaults follow only if nothing else is given
        elif "{DATE}" in key:
            self._add_defaults(wrapper=text)
        elif key == "{NONE}":
            self._append(pattern_spec("{UNB}^", self._year))
        else:
            self._append(spec_from_text(text, self._year, key))

    def find(self, line: str) -> tuple[int, int, float | None] | None:
        """(start, end, epoch) of the line's date, or None when no template matches.

        The span is the text Fail2ban cuts out (it may be empty); epoch is None
        when that text cannot be converted (or is empty).
        """
        current = self._current
        if current is None:
            return self._find_slowly(line, False)
        if not current.anchored:
            return self._find_in_place(line, current)
        if current.prefix:  # same start of line as before: same match, no regex needed
            known = current.by_prefix.get(line[: current.prefix])
            current.prefix_lookups += 1
            if known is None and current.prefix_lookups == _PREFIX_TRIAL:
                current.give_up_prefix_cache()
            if known is not None:
                start, end, epoch, valid_from, valid_until = known
                if (valid_until == INF and valid_from == -INF) or (
                    valid_from <= self._now() < valid_until
                ):
                    current.hits += 1
                    current.prefix_hits += 1
                    current.last_used = time.time()
                    return start, end, epoch
        found = current.search(line)
        if found is None:
            return self._find_slowly(line, True)
        current.hits += 1
        current.last_used = time.time()
        self._last_text = line
        self._last_span = found.span()
        return self._result(current, found)

    def _find_in_place(self, line: str, current: _Template) -> tuple[int, int, float | None] | None:
        """The last template, searched only where it matched before (if the edges agree)."""
        start, end = self._last_span
        if not _same_edges(line, self._last_text, start, end):
            return self._find_slowly(line, False)
        if current.behind and current.window_span == (start, end):
            # search(line, start, end) reads nothing outside this window
            known = current.by_window.get(line[max(0, start - current.behind) : end])
            if known is not None:
                group_start, group_end, epoch, valid_from, valid_until = known
                if (valid_until == INF and valid_from == -INF) or (
                    valid_from <= self._now() < valid_until
                ):
                    current.hits += 1
                    current.last_used = time.time()
                    self._last_text = line
                    return group_start, group_end, epoch
        found = current.search(line, start, end)
        if found is None or not (self._single or found.span() == (start, end)):
            return self._find_slowly(line, False)
        current.hits += 1
        current.last_used = time.time()
        self._last_text = line
        self._last_span = found.span()
        result = self._result(current, found)
        if current.behind and found.span() == (start, end) and result[0] != result[1]:
            if current.window_span != (start, end) or len(current.by_window) >= _CACHE_LIMIT:
                current.by_window.clear()
                current.window_span = (start, end)
            entry = current.cache[found.group()]
            current.by_window[line[max(0, start - current.behind) : end]] = (
                result[0],
                result[1],
                *entry,
            )
        return result

    def _find_slowly(self, line: str, current_failed: bool) -> tuple[int, int, float | None] | None:
        """Fail2ban's full template search; ``current_failed``: the anchored last one missed."""
        found = self._match(line, current_failed)
        return None if found is None else self._result(*found)

    def _result(self, template: _Template, found: re.Match[str]) -> tuple[int, int, float | None]:
        """Span and epoch of a match, converting only text not seen (for this `now`) before."""
        start, end = found.span(1)
        if start == end:
            return start, end, None
        text = found.group()
        entry = template.cache.get(text)
        if entry is None or not (
            (entry[2] == INF and entry[1] == -INF) or entry[1] <= self._now() < entry[2]
        ):
            entry = self._convert(template, found)
            if len(template.cache) >= _CACHE_LIMIT:
                template.cache.clear()
            template.cache[text] = entry
        if template.prefix:
            prefix = found.string[: template.prefix]
            if not (template.spaced and _SPACE_RUN.search(prefix)):
                if len(template.by_prefix) >= _CACHE_LIMIT:
                    template.by_prefix.clear()
                template.by_prefix[prefix] = (start, end, *entry)
        return start, end, entry[0]

    def _convert(
        self, template: _Template, found: re.Match[str]
    ) -> tuple[float | None, float, float]:
        """Epoch of a match and the window of `now` in which it holds."""
        spec = template.spec
        if spec.kind == PATTERN:
            return self._convert_fields(template, found.groupdict())
        return number_epoch(spec, found), -INF, INF

    def _convert_fields(
        self, template: _Template, fields: dict[str, str | None]
    ) -> tuple[float | None, float, float]:
        """:func:`fields_to_epoch`, computed once per minute rather than once per second.

        Within one minute the epoch grows one for one with the seconds (time
        zones change on whole minutes), so the minute's epoch at second 0,
        checked against second 59, gives every second of it. Year guessing may
        depend on the seconds; the window of `now` kept is the one in which
        both ends of the minute agree.
        """
        now = self._now()
        seconds = fields.get("S")
        if seconds is None or len(seconds) != 2 or not seconds.isdigit() or seconds >= "60":
            return fields_to_epoch(fields, self._default_tz, now)
        key = tuple(value for name, value in fields.items() if name != "S")
        known = template.minutes.get(key)
        if known is not None and known[1] <= now < known[2]:
            return known[0] + int(seconds), known[1], known[2]
        first = fields_to_epoch({**fields, "S": "00"}, self._default_tz, now)
        last = fields_to_epoch({**fields, "S": "59"}, self._default_tz, now)
        if first[0] is None or last[0] != first[0] + 59:
            return fields_to_epoch(fields, self._default_tz, now)
        minute = (first[0], max(first[1], last[1]), min(first[2], last[2]))
        if len(template.minutes) >= _CACHE_LIMIT:
            template.minutes.clear()
        template.minutes[key] = minute
        if not minute[1] <= now < minute[2]:
            return fields_to_epoch(fields, self._default_tz, now)
        return minute[0] + int(seconds), minute[1], minute[2]

    def _match(self, line: str, current_failed: bool) -> tuple[_Template, re.Match[str]] | None:
        """Pick the template for ``line`` exactly as Fail2ban's ``matchTime`` does."""
        templates = self._templates
        count = len(templates)
        last_start, last_end = self._last_span
        if self._current is not None:
            self._current.distance = last_start
        best: tuple[re.Match[str], int, int, int] | None = None
        best_start = _FAR
        skip = _FAR
        match: re.Match[str] | None = None
        index = self._current_index
        if index < count:
            template = templates[index]
            if template.anchored:
                match = None if current_failed else template.search(line)
                skip = index
            elif _same_edges(line, self._last_text, last_start, last_end):
                match = template.search(line, last_start, last_end)
            else:
                match = template.search(line)
                skip = index
            if match is not None:
                start, end = match.span()
                if not (count == 1 or template.anchored or (start, end) == (last_start, last_end)):
                    best, best_start, match = (match, start, end, index), start, None
        if match is None:
            for index, template in enumerate(templates):
                if index == skip:
                    continue
                match = template.search(line)
                if match is None:
                    continue
                start, end = match.span()
                if index + 1 >= count or template.anchored:
                    break
                if start > template.distance or start > last_start:
                    # maybe a date-like text inside the message: keep looking
                    if start < best_start:
                        best, best_start = (match, start, end, index), start
                    match = None
                    continue
                break
            if match is None and best is not None:
                match, start, end, index = best
        if match is None:
            return None
        template = templates[index]
        template.hits += 1
        template.last_used = time.time()
        template.distance = start
        if self._first_unused == index:
            self._first_unused += 1
        self._last_text = line
        self._last_span = (start, end)
        if index and index != self._current_index:
            index = self._reorder(index)
        self._current_index = index
        self._current = template
        return template, match

    def _reorder(self, index: int) -> int:
        """Move a template that keeps winning towards the front, as Fail2ban does."""
        templates = self._templates
        template = templates[index]
        stale = template.last_used - _UNUSED_SECONDS
        weight = template.weight
        target = self._first_unused if self._first_unused < index else index // 2

        def may_overtake(position: int) -> bool:
            other = templates[position]
            return weight > other.weight or stale > other.last_used

        if not may_overtake(target):
            if target == index - 1:
                return index
            target = index - 1
            if not may_overtake(target):
                return index
        del templates[index]
        templates.insert(target, template)
        while self._first_unused < len(templates) and templates[self._first_unused].hits:
            self._first_unused += 1
        return target


def _same_edges(line: str, text: str, start: int, end: int) -> bool:
    """Whether ``line`` still frames ``start:end`` the way ``text`` did (Fail2ban's test).

    Outside each edge the character must be the same; failing that, the character
    just inside may be the same if it is not alphanumeric.
    """
    inside = text[start : start + 1]
    if line[start - 1 : start] != text[start - 1 : start] and not (
        line[start : start + 1] == inside and not inside.isalnum()
    ):
        return False
    last = text[end - 1] if text else ""
    return line[end : end + 1] == text[end : end + 1] or (
        line[end - 1 : end] == last and not last.isalnum()
    )

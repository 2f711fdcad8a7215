"""Turn log lines into failures, as Fail2ban's filter does.

A :class:`Filter` is the compiled, immutable form of a filter file. A
:class:`LineMatcher` runs one filter over one stream of lines and holds the
little state that matching needs: the multi-line buffer (``maxlines``), the
last timestamp seen (for lines without one) and the connection tracker
(``<F-MLFID>``) that joins the lines of one SSH connection.

Matching follows Fail2ban step by step: find and cut out the timestamp, drop
lines an ``ignoreregex`` matches, match ``prefregex`` and narrow the line to
its ``<F-CONTENT>``, then try each ``failregex`` in order and take the first
that matches.
"""

import enum
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from rampart.detect.address import canonical_address
from rampart.detect.combine import CombinedRegex, combine
from rampart.detect.dates import DateDetector
from rampart.detect.errors import FilterError
from rampart.detect.filterconf import FilterSpec
from rampart.detect.prefilter import line_needles
from rampart.detect.regex import FAILURE_ID_GROUPS, FilterRegex, TimedLine, join_lines

#: Lines of one connection are joined for this long (seconds), at most this many connections.
CONNECTION_MEMORY_SECONDS = 300.0
CONNECTION_MEMORY_SIZE = 100
#: A line without a timestamp borrows the previous line's if that is this recent.
LAST_DATE_REUSE_SECONDS = 60.0


class Outcome(enum.Enum):
    """What a line amounted to, as ``fail2ban-regex`` counts lines."""

    MATCHED = "matched"
    IGNORED = "ignored"
    MISSED = "missed"


class Failure(NamedTuple):
    """One failure a filter found: who (``fid``), when, and the captured fields."""

    lineno: int
    fid: str
    time: float | None
    regex_index: int
    fields: dict[str, Any]

    @property
    def host(self) -> str:
        """The address to act on: a separate ``ip`` capture when the id is not one."""
        address = self.fields.get("ip")
        return address if isinstance(address, str) else self.fid

    @property
    def user(self) -> str | None:
        user = self.fields.get("user")
        return user if isinstance(user, str) else None

    def record(self) -> dict[str, Any]:
        """The failure as ``rampart ban test --json`` prints it (a stable contract)."""
        return {
            "lineno": self.lineno,
            "host": self.host,
            "time": self.time,
            "user": self.user,
            "id": self.fid,
            "regex": self.regex_index + 1,
        }


class Filter:
    """A filter file compiled: its regexes, date detection settings and limits."""

    def __init__(self, spec: FilterSpec, *, use_dns: str = "yes") -> None:
        self.spec = spec
        self.max_lines = max(1, spec.maxlines)
        multiline = self.max_lines > 1
        where = f"{spec.path}"

        def compile_all(option: str, sources: Sequence[str]) -> tuple[FilterRegex, ...]:
            compiled = []
            for source in sources:
                try:
                    compiled.append(FilterRegex(source, multiline=multiline, use_dns=use_dns))
                except FilterError as error:
                    raise FilterError(f"{where}: {option}: {error}") from None
            return tuple(compiled)

        prefregex = compile_all("prefregex", [spec.prefregex] if spec.prefregex else [])
        self.prefregex: FilterRegex | None = prefregex[0] if prefregex else None
        self.failregex = compile_all("failregex", spec.failregex)
        self.ignoreregex = compile_all("ignoreregex", spec.ignoreregex)
        if not self.failregex:
            raise FilterError(f"{where}: no failregex defined")
        self.combined: CombinedRegex | None = None if multiline else combine(self.failregex)
        #: Strings a raw line must contain to be matched at all (None: match every line).
        self.needles = (
            None
            if multiline
            else line_needles(
                [regex.pattern for regex in self.failregex],
                [regex.pattern for regex in self.ignoreregex],
                spec.datepattern,
                include_ignore=ignore_first(len(self.ignoreregex), len(self.failregex)),
            )
        )
        prefix_groups = self.prefregex.group_names if self.prefregex else frozenset()
        for regex in self.failregex:
            if not (regex.group_names | prefix_groups) & {*FAILURE_ID_GROUPS, "mlfid"}:
                raise FilterError(
                    f"{where}: failregex {regex.source!r} captures no host or id "
                    "(use <HOST>, <ADDR>, <F-ID> ...)"
                )
        self.detector()  # an invalid datepattern is an error now, not at the first line

    def detector(
        self, *, now: Callable[[], float] = time.time, default_tz: str | None = None
    ) -> DateDetector:
        """A date detector set up as this filter's ``datepattern`` asks."""
        try:
            return DateDetector(self.spec.datepattern, now=now, default_tz=default_tz)
        except FilterError as error:
            raise FilterError(f"{self.spec.path}: datepattern: {error}") from None


class LineMatcher:
    """Runs one :class:`Filter` over one stream of lines, keeping the stream's state."""

    def __init__(
        self,
        compiled: Filter,
        *,
        now: Callable[[], float] = time.time,
        default_tz: str | None = None,
        check_find_time: bool = False,
    ) -> None:
        self.filter = compiled
        self._now = now
        self._dates = compiled.detector(now=now, default_tz=default_tz)
        self._check_find_time = check_find_time
        self._buffer: list[TimedLine] = []
        self._original: list[TimedLine] = []
        self._last_date: float | None = None
        self._last_time_text = ""
        self._connections: OrderedDict[str, tuple[dict[str, Any], float]] = OrderedDict()
        self._ignore_first = ignore_first(len(compiled.ignoreregex), len(compiled.failregex))
        #: Set by a scanner that skipped lines unmatched since the last one it
        #: passed in: those lines, newest first, for the timestamp they carry.
        self.skipped_lines: Callable[[], Iterable[str]] | None = None

    def process(self, lineno: int, line: str) -> tuple[Outcome, list[Failure]]:
        """Match one line (without its line ending); return what it amounted to."""
        timed, date, dateless = self._cut_timestamp(line)
        return self._find_failures(lineno, timed, date, dateless)

    def process_dated(
        self, lineno: int, line: str, time_text: str, date: float
    ) -> tuple[Outcome, list[Failure]]:
        """Match a line whose time the source already knows (journald).

        The line carries no timestamp to find; ``time_text`` is how the time
        reads, kept for later lines that have none.
        """
        self._last_date, self._last_time_text = date, time_text
        return self._find_failures(lineno, ("", time_text, line), date, False)

    def _cut_timestamp(self, line: str) -> tuple[TimedLine, float | None, bool]:
        found = self._dates.find(line)
        date: float | None = None
        timed: TimedLine = ("", "", line)
        if found is not None:
            start, end, epoch = found
            text = line[start:end]
            timed = (line[:start], text, line[end:])
            if text:
                if epoch is not None:
                    date, self._last_date, self._last_time_text = epoch, epoch, text
            elif self._recent_last_date():
                timed, date = ("", self._last_time_text, line), self._last_date
            else:
                date = self._now()
        if date is not None:
            return timed, date, False
        if self._recent_last_date():
            return ("", self._last_time_text, line), self._last_date, True
        return timed, None, True

    def _recent_last_date(self) -> bool:
        if self.skipped_lines is not None:
            self._catch_up_date(self.skipped_lines())
            self.skipped_lines = None
        last = self._last_date
        return last is not None and last > self._now() - LAST_DATE_REUSE_SECONDS

    def _catch_up_date(self, newest_first: Iterable[str]) -> None:
        """Take the timestamp of the newest skipped line that had one, as Fail2ban would have."""
        for line in newest_first:
            found = self._dates.find(line)
            if found is not None and found[2] is not None and found[1] > found[0]:
                self._last_date, self._last_time_text = found[2], line[found[0] : found[1]]
                return

    def _find_failures(
        self, lineno: int, timed: TimedLine, date: float | None, dateless: bool
    ) -> tuple[Outcome, list[Failure]]:
        compiled = self.filter
        if compiled.max_lines > 1:
            self._buffer.append(timed)
            self._buffer = self._buffer[-compiled.max_lines :]
            text = join_lines(self._buffer)
        else:
            self._buffer = [timed]
            text = timed[0] + timed[2] + "\n"
        self._original = self._buffer
        if self._ignore_first and self._ignored(text, None):
            return Outcome.IGNORED, []
        prefix_fields: dict[str, Any] = {}
        if compiled.prefregex is not None:
            prefix = compiled.prefregex.pattern.search(text)
            if prefix is None:
                return Outcome.MISSED, []
            prefix_fields = compiled.prefregex.groups(prefix)
            content = prefix_fields.pop("content", None)
            if content:
                # Failregexes see only the content, as one line.
                self._buffer, text = [("", "", content)], content + "\n"
        found = self._first_failregex(text)
        if found is None:
            return Outcome.MISSED, []
        index, fields, matched, unmatched = found
        if compiled.ignoreregex and self._ignored(text, matched):
            if compiled.max_lines > 1:
                self._buffer = unmatched
            return Outcome.IGNORED, []
        if dateless and date is None and self._check_find_time:
            return Outcome.MISSED, []
        self._buffer = unmatched
        if prefix_fields:
            fields = {**prefix_fields, **fields}
        connection = fields.get("mlfid")
        if connection is not None:
            fields = self._merge_connection(connection, fields, matched)
            if fields.get("nofail"):
                return Outcome.IGNORED, []
        else:
            fields["matches"] = [*fields.get("matches", ()), *matched]
        failure = self._failure(lineno, index, date, fields, connection)
        if failure is None:
            return Outcome.MISSED, []
        if fields.get("nofail"):
            return Outcome.IGNORED, []
        return Outcome.MATCHED, [failure]

    def _first_failregex(
        self, text: str
    ) -> tuple[int, dict[str, Any], list[TimedLine], list[TimedLine]] | None:
        """The first failregex that matches, its fields, and the buffer split by it."""
        compiled = self.filter
        if compiled.combined is not None:
            found = compiled.combined.first(text)
            if found is None:
                return None
            index, fields = found
            return index, compiled.failregex[index].fold(fields), list(self._original), []
        for index, regex in enumerate(compiled.failregex):
            match = regex.pattern.search(text)
            if match is not None:
                matched, unmatched = regex.split_lines(match, self._original)
                return index, regex.groups(match), matched, unmatched
        return None
        return Outcome.MISSED, []

    def _ignored(self, text: str, matched: list[TimedLine] | None) -> bool:
        """Does an ignoreregex match (in a multi-line buffer: the matched lines only)?"""
        if matched is not None and self.filter.max_lines > 1:
            text = join_lines(matched)
        return any(regex.pattern.search(text) for regex in self.filter.ignoreregex)

    def _failure(
        self,
        lineno: int,
        index: int,
        date: float | None,
        fields: dict[str, Any],
        connection: str | None,
    ) -> Failure | None:
        fid = fields.get("fid")
        address = fields.get("ip4")
        family: int | None = socket.AF_INET
        if address is None:
            address, family = fields.get("ip6"), socket.AF_INET6
        if address is None:
            address, family = fields.get("dns"), None
            if address is None:
                if fid is None and connection is None:
                    raise FilterError(f"{self.filter.spec.path}: no host or id in match")
                address = fid
        if address is None:
            # A connection line that names no one yet: wait for the line that does.
            fields["mlfpending"] = 1
            return None
        cidr = fields.get("cidr")
        prefix = int(cidr) if cidr else None
        if family is None:
            canonical = address
        else:
            canonical = canonical_address(address, family if prefix is None else None, prefix)
        if fid is None or fid == address:
            fid = canonical
        else:
            fields["ip"] = canonical
        if connection is not None:
            # The connection tracker keeps updating its dict; a failure is a value.
            fields = dict(fields)
            if "users" in fields:
                fields["users"] = frozenset(fields["users"])
            if "matches" in fields:
                fields["matches"] = tuple(fields["matches"])
        return Failure(lineno, fid, date, index, fields)

    def _merge_connection(
        self, connection: str, fields: dict[str, Any], matched: list[TimedLine]
    ) -> dict[str, Any]:
        """Join this line's fields with earlier lines of the same connection.

        A connection that logs in (``<F-MLFGAINED>``) clears its pending
        failures; one that ends (``<F-MLFFORGET>``) is forgotten; a line marked
        ``<F-NOFAIL>`` counts only if the connection failed before or tried
        several user names.
        """
        known = self._remembered(connection)
        nofail = gained = forget = previous_nofail = False
        if fields.get("mlfgained"):
            nofail = gained = True
            if not fields.get("nofail"):
                fields["nofail"] = fields["mlfgained"]
        elif fields.get("nofail"):
            nofail = True
        if fields.pop("mlfforget", None):
            forget = True
        users: set[str] | None = None
        if known is not None:
            users = _add_user(known, fields.get("user"))
            if known.pop("nofail", None):
                previous_nofail = True
            if known.pop("mlfgained", None):
                previous_nofail = True
            if gained:
                known.pop("mlfpending", None)
            if not previous_nofail and not known.get("mlfpending", 0):
                known.pop("matches", None)
            known.update((key, value) for key, value in fields.items() if value is not None)
            fields = known
            if forget:
                self._connections.pop(connection, None)
        elif not forget:
            users = _add_user(fields, fields.get("user"))
            self._remember(connection, fields)
        if fields.pop("mlfpending", 0) or (users and len(users) > 1):
            fields.pop("nofail", None)
            fields.pop("mlfgained", None)
            nofail = gained = False
        if not nofail:
            lines = fields.pop("nofail-matches", [])
            lines += fields.get("matches", [])
            if not gained:
                lines += matched
            fields["matches"] = lines
        elif not forget:
            fields["nofail-matches"] = fields.get("nofail-matches", []) + matched
        return fields

    def _remembered(self, connection: str) -> dict[str, Any] | None:
        entry = self._connections.get(connection)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            del self._connections[connection]
            return None
        return entry[0]

    def _remember(self, connection: str, fields: dict[str, Any]) -> None:
        now = time.monotonic()
        cache = self._connections
        if len(cache) >= CONNECTION_MEMORY_SIZE:
            while cache:
                _, (_, expires) = cache.popitem(last=False)
                if expires > now and len(cache) < CONNECTION_MEMORY_SIZE:
                    break
        cache[connection] = (fields, now + CONNECTION_MEMORY_SECONDS)


def ignore_first(ignoreregexes: int, failregexes: int) -> bool:
    """Few ignoreregexes against many failregexes: Fail2ban tests them first, once."""
    return ignoreregexes > 0 and ignoreregexes < failregexes - 2


def _add_user(fields: dict[str, Any], user: str | None) -> set[str] | None:
    users: set[str] | None = fields.get("users")
    if user:
        if not users:
            users = fields["users"] = set()
        users.add(user)
    return users

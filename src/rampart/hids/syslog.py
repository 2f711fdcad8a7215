"""Pre-decoding: the date, host and program of a log line (ossec-logtest's phase 1).

Three shapes are recognised, each by one regex:

* Debian's rsyslog file format and ``journalctl`` short output:
  ``Nov 25 23:15:20 web1 sshd[812]: message`` (the year is not written: the
  latest one that does not put the line in the future);
* ISO-8601 (rsyslog's ``RSYSLOG_FileFormat``, ``journalctl -o short-iso``):
  ``2026-11-25T23:15:20.123456+00:00 web1 sshd[812]: message``;
* journald entries as :mod:`rampart.sources.journal` renders them, without a
  date (``web1 sshd[812]: message``), when the caller says the line is one.

Anything else (an nginx access log, dpkg.log, PostgreSQL's log) is kept
whole as the message, with no program: decoders without a program see it.
"""

import re
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_PROGRAM = r"(?P<program>[^\s\[\]:]{1,64})(?:\[(?P<pid>\d{1,10})\])?: ?"
_RFC3164 = re.compile(
    r"(?P<mon>[A-Z][a-z]{2}) (?P<day>[ \d]?\d) (?P<hms>\d\d:\d\d:\d\d)(?:\.\d{1,9})? "
    r"(?P<host>\S{1,255}) (?:" + _PROGRAM + r")?"
)
_ISO = re.compile(
    r"(?P<stamp>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?) "
    r"(?P<host>\S{1,255}) (?:" + _PROGRAM + r")?"
)
#: Dates of logs that are not syslog: dpkg.log, PostgreSQL, nginx's error log, Python logging.
_LOCAL_DATE = re.compile(
    r"(\d{4})[-/](\d\d)[-/](\d\d)[ T](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?( UTC)?"
)
#: The common/combined access log date: ``[25/Nov/2026:10:00:00 +0000]``.
_CLF_DATE = re.compile(
    r"\[(\d\d)/([A-Z][a-z]{2})/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)\]"
)
_DATELESS = re.compile(r"(?:(?P<host>[^\s\[\]:]{1,255}) )?" + _PROGRAM)
#: A year is guessed for rsyslog dates: a line more than this far in the future is last year's.
_FUTURE_SLACK = 86400.0


class Header(NamedTuple):
    """What pre-decoding found; ``message`` is the rest, which decoders and rules see.

    A NamedTuple: one is made per line, and a tuple is the cheapest immutable value.
    """

    time: float | None
    host: str
    program: str
    pid: str
    message: str


class SyslogParser:
    """Parses line headers; remembers the epoch of each minute seen (one mktime per minute)."""

    def __init__(self) -> None:
        self._minutes: dict[str, float] = {}

    def parse(self, line: str, *, journal: bool = False) -> Header:
        """The header of ``line``; ``journal``: a journald entry's text (no date in it)."""
        first = line[:1]
        if first.isalpha():
            found = _RFC3164.match(line)
            if found is not None:
                # The hot path, written out: one groups() call, the minute looked up.
                _mon, _day, hms, host, program, pid = found.groups()
                base = self._minutes.get(line[: found.end(3) - 3])
                if base is None:
                    base = self._minute(found)
                if base is not None:
                    stamp = base + int(hms[6:8])
                    if program is None:
                        return Header(stamp, host, "", "", line[found.end(4) + 1 :])
                    return Header(stamp, host, program, pid or "", line[found.end() :])
        elif first.isdigit():
            found = _ISO.match(line)
            if found is not None:
                return _header(found, line, _iso_time(found["stamp"]))
        if journal:
            found = _DATELESS.match(line)
            if found is not None:
                return _header(found, line, None)
        return Header(_raw_time(line), "", "", "", line)

    def heads(self, lines: Sequence[str], limit: int) -> Iterator[tuple[float | None, str, str]]:
        """``(time, program, message)`` of each line cut at ``limit`` characters, as ``parse``.

        The replay loop's path: the rsyslog case is written out here, with no
        Header and no call per line; any other shape goes through ``parse``.
        """
        match, minutes, parse = _RFC3164.match, self._minutes, self.parse
        for line in lines:
            if len(line) > limit:
                line = line[:limit]
            found = match(line)  # fails at once on a line that starts with no capital
            if found is not None:
                end = found.end(3)
                base = minutes.get(line[: end - 3])
                if base is None:
                    base = self._minute(found)
                if base is not None:
                    program = found.group(5)
                    if program is None:
                        yield base + int(line[end - 2 : end]), "", line[found.end(4) + 1 :]
                    else:
                        yield base + int(line[end - 2 : end]), program, line[found.end() :]
                    continue
            header = parse(line)
            yield header.time, header.program, header.message

    def _minute(self, found: re.Match[str]) -> float | None:
        """Epoch of the minute of an rsyslog date (remembered), None if it is no date."""
        mon, day, hms = found.group("mon", "day", "hms")
        month = _MONTHS.get(mon)
        if month is None:
            return None
        base = _minute_epoch(month, int(day), int(hms[:2]), int(hms[3:5]))
        if base is None:
            return None
        if len(self._minutes) > 4096:
            self._minutes.clear()
        self._minutes[found.string[: found.end("hms") - 3]] = base
        return base


def _header(found: re.Match[str], line: str, stamp: float | None) -> Header:
    host, program, pid = found.group("host", "program", "pid")
    if program is None:
        return Header(stamp, host or "", "", "", line[found.end("host") + 1 :])
    return Header(stamp, host or "", program, pid or "", line[found.end() :])


def _minute_epoch(month: int, day: int, hour: int, minute: int) -> float | None:
    """Local epoch of that minute in the latest year that is not in the future."""
    now = time.time()
    year = time.localtime(now).tm_year
    for candidate in (year, year - 1):
        try:
            epoch = time.mktime((candidate, month, day, hour, minute, 0, 0, 0, -1))
        except (OverflowError, ValueError):
            return None
        if epoch <= now + _FUTURE_SLACK:
            return epoch
    return epoch


def _iso_time(stamp: str) -> float | None:
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return time.mktime(moment.timetuple()) + moment.microsecond / 1e6
    return moment.timestamp()


def _raw_time(line: str) -> float | None:
    """The date of a line that is not syslog, if it has a known one near its start."""
    if line[:1].isdigit():
        found = _LOCAL_DATE.match(line)
        if found is not None:
            year, month, day, hour, minute, second, fraction, utc = found.groups()
            parts = (int(year), int(month), int(day), int(hour), int(minute), int(second))
            try:
                if utc:
                    epoch = datetime(*parts, tzinfo=UTC).timestamp()
                else:
                    epoch = time.mktime((*parts, 0, 0, -1))
            except (OverflowError, ValueError):
                return None
            return epoch + (float("0." + fraction) if fraction else 0.0)
    found = _CLF_DATE.search(line, 0, 160)
    if found is None:
        return None
    day, mon, year, hour, minute, second, sign, zone_h, zone_m = found.groups()
    month = _MONTHS.get(mon)
    if month is None:
        return None
    offset = (int(zone_h) * 3600 + int(zone_m) * 60) * (-1 if sign == "-" else 1)
    try:
        moment = datetime(
            int(year), month, int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
    except ValueError:
        return None
    return moment.timestamp() - offset

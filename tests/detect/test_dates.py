"""DateDetector: Fail2ban's date templates, conversion rules and template choice.

The crafted tests pin each format family and datepattern feature; the oracle
test runs every line of Fail2ban's sample logs through Fail2ban's own
DateDetector and through rampart's, with Fail2ban's test clock and zone, and
requires the same cut-out span and the same epoch for every line.
"""

import calendar
import importlib
import json
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rampart.detect.dates import DateDetector
from rampart.detect.errors import DatePatternError

FAIL2BAN_LIB = "/usr/lib/python3/dist-packages"
FILTER_DIR = Path("/etc/fail2ban")
SAMPLES_DIR = Path(FAIL2BAN_LIB) / "fail2ban/tests/files/logs"
TEST_NOW = 1124013600.0  # 2005-08-14 12:00:00 CEST, Fail2ban's own test clock
TEST_TZ = "CET-01CEST-02,M3.5.0,M10.5.0"
_FILTER_OPTIONS = re.compile(r"^#+ ?filterOptions:(.+)$")


def _set_tz(value: str | None) -> None:
    if value is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = value
    time.tzset()


@pytest.fixture
def zone() -> Iterator[Callable[[str], None]]:
    """Lets a test pick the local time zone; the previous one comes back afterwards."""
    saved = os.environ.get("TZ")
    yield _set_tz
    _set_tz(saved)


@pytest.fixture
def cet(zone: Callable[[str], None]) -> None:
    zone(TEST_TZ)


def utc(*fields: int) -> float:
    return float(calendar.timegm((*fields, 0, 0, 0)))


def fixed(epoch: float) -> Callable[[], float]:
    return lambda: epoch


def date_of(detector: DateDetector, line: str) -> tuple[str, float | None] | None:
    found = detector.find(line)
    if found is None:
        return None
    start, end, epoch = found
    return line[start:end], epoch


# -- default templates -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "text", "epoch"),
    [
        (
            "2005-01-23T21:59:59.981746 host x",
            "2005-01-23T21:59:59.981746",
            utc(2005, 1, 23, 20, 59, 59),
        ),
        ("2005-01-23 21:59:59 x", "2005-01-23 21:59:59", utc(2005, 1, 23, 20, 59, 59)),
        ("2005/01/23 21:59:59 x", "2005/01/23 21:59:59", utc(2005, 1, 23, 20, 59, 59)),
        ("2005.01.23 21:59:59 x", "2005.01.23 21:59:59", utc(2005, 1, 23, 20, 59, 59)),
        ("2005-01-23T21:59:59Z x", "2005-01-23T21:59:59Z", utc(2005, 1, 23, 21, 59, 59)),
        ("2005-01-23T21:59:59+0300 x", "2005-01-23T21:59:59+0300", utc(2005, 1, 23, 18, 59, 59)),
        ("2005-01-23T21:59:59 -05:30 x", "2005-01-23T21:59:59 -05:30", utc(2005, 1, 24, 3, 29, 59)),
        (
            "Sun Jan 23 21:59:59.011 2005 x",
            "Sun Jan 23 21:59:59.011 2005",
            utc(2005, 1, 23, 20, 59, 59),
        ),
        ("Sun Jan 23 2005 21:59:59 x", "Sun Jan 23 2005 21:59:59", utc(2005, 1, 23, 20, 59, 59)),
        ("23/01/2005 21:59:59 x", "23/01/2005 21:59:59", utc(2005, 1, 23, 20, 59, 59)),
        ("23/01/05 21:59:59 x", "23/01/05 21:59:59", utc(2005, 1, 23, 20, 59, 59)),
        (
            "[31/Oct/2004:09:22:55 -0000] x",
            "31/Oct/2004:09:22:55 -0000",
            utc(2004, 10, 31, 9, 22, 55),
        ),
        ("26-Jul-2005 15:20:52.252 x", "26-Jul-2005 15:20:52.252", utc(2005, 7, 26, 13, 20, 52)),
        ("05/20/2005:01:57:39 x", "05/20/2005:01:57:39", utc(2005, 5, 19, 23, 57, 39)),
        ("01-27-2005 16:22:44.252 x", "01-27-2005 16:22:44.252", utc(2005, 1, 27, 15, 22, 44)),
        ("050322 11:46:11 mysqld", "050322 11:46:11", utc(2005, 3, 22, 10, 46, 11)),
        ("Jul 26, 2005 3:20:52 PM x", "Jul 26, 2005 3:20:52 PM", utc(2005, 7, 26, 13, 20, 52)),
        ("20050123T215959 x", "20050123T215959", utc(2005, 1, 23, 20, 59, 59)),
        ("PDT Apr 16 21:05:29 x", "PDT Apr 16 21:05:29", utc(2005, 4, 17, 4, 5, 29)),
        ("1106513999 x", "1106513999", 1106513999.0),
        ("@4000000041f4104f00000000 x", "@4000000041f4104f00000000", float(0x41F4104F)),
    ],
)
def test_default_formats(cet: None, line: str, text: str, epoch: float) -> None:
    detector = DateDetector(now=fixed(TEST_NOW))
    assert date_of(detector, line) == (text, epoch)


def test_syslog_without_year_takes_this_year(cet: None) -> None:
    detector = DateDetector(now=fixed(TEST_NOW))
    line = "Aug 14 11:59:59 web1 sshd[1234]: Failed password for root from 192.0.2.5"
    assert date_of(detector, line) == ("Aug 14 11:59:59", utc(2005, 8, 14, 9, 59, 59))


def test_epoch_keeps_fractions_and_pattern_fields_drop_them(cet: None) -> None:
    detector = DateDetector("EPOCH", now=fixed(TEST_NOW))
    assert date_of(detector, "1106513999.123456 x") == ("1106513999.123456", 1106513999.123456)
    iso = DateDetector(now=fixed(TEST_NOW))
    assert date_of(iso, "2005-01-23 21:59:59.750 x") == (
        "2005-01-23 21:59:59.750",
        utc(2005, 1, 23, 20, 59, 59),
    )


def test_no_date(cet: None) -> None:
    assert DateDetector(now=fixed(TEST_NOW)).find("no date in this line at all") is None


# -- year inference ----------------------------------------------------------------------


def test_year_inference_across_new_year(zone: Callable[[str], None]) -> None:
    zone("UTC")
    clock = [utc(2026, 1, 1, 0, 30, 0)]
    detector = DateDetector(now=lambda: clock[0])
    # Written just before midnight on New Year's Eve, read just after it: last year.
    assert date_of(detector, "Dec 31 23:59:58 h x") == (
        "Dec 31 23:59:58",
        utc(2025, 12, 31, 23, 59, 58),
    )
    # A date up to one day ahead stays in this year (clock skew is tolerated) ...
    assert date_of(detector, "Jan  1 23:00:00 h x")[1] == utc(2026, 1, 1, 23, 0, 0)  # type: ignore[index]
    # ... but further ahead moves back a year.
    assert date_of(detector, "Jan  2 01:00:00 h x")[1] == utc(2025, 1, 2, 1, 0, 0)  # type: ignore[index]
    # The cache follows the clock: the same text, later, is this year's date.
    clock[0] = utc(2026, 12, 31, 0, 0, 0)
    assert date_of(detector, "Dec 31 23:59:58 h x")[1] == utc(2026, 12, 31, 23, 59, 58)  # type: ignore[index]
    assert date_of(detector, "Jan  2 01:00:00 h x")[1] == utc(2026, 1, 2, 1, 0, 0)  # type: ignore[index]


def test_time_only_takes_today_or_yesterday(zone: Callable[[str], None]) -> None:
    zone("UTC")
    detector = DateDetector(now=fixed(utc(2026, 3, 10, 12, 0, 0)))
    assert date_of(detector, "11:00:00 x") == ("11:00:00", utc(2026, 3, 10, 11, 0, 0))
    assert date_of(detector, "13:00:00 x") == ("13:00:00", utc(2026, 3, 9, 13, 0, 0))


def test_two_digit_years_are_this_century(cet: None) -> None:
    detector = DateDetector("^%d/%m/%y %H:%M:%S", now=fixed(TEST_NOW))
    assert date_of(detector, "23/01/99 21:59:59 x") == (
        "23/01/99 21:59:59",
        utc(2099, 1, 23, 20, 59, 59),
    )


# -- time zones --------------------------------------------------------------------------


def test_tz_environment_variable_is_honoured(zone: Callable[[str], None]) -> None:
    line = "2005-08-14 12:00:00 x"
    zone("UTC")
    assert date_of(DateDetector(), line)[1] == utc(2005, 8, 14, 12, 0, 0)  # type: ignore[index]
    zone("EST+05EDT,M4.1.0,M10.5.0")
    assert date_of(DateDetector(), line)[1] == utc(2005, 8, 14, 16, 0, 0)  # type: ignore[index]


def test_log_time_zone(cet: None) -> None:
    detector = DateDetector(default_tz="UTC+0200", now=fixed(TEST_NOW))
    assert date_of(detector, "2005-08-14 12:00:00 x")[1] == utc(2005, 8, 14, 10, 0, 0)  # type: ignore[index]
    # An explicit zone in the line wins over the log time zone.
    assert date_of(detector, "2005-08-14 12:00:00 GMT x")[1] == utc(2005, 8, 14, 12, 0, 0)  # type: ignore[index]
    with pytest.raises(DatePatternError):
        DateDetector(default_tz="Mars/Olympus")


def test_zone_fields(cet: None) -> None:
    offset = DateDetector("^%Y-%m-%d %H:%M:%S %z", now=fixed(TEST_NOW))
    assert date_of(offset, "2005-08-14 12:00:00 +01:30 x")[1] == utc(2005, 8, 14, 10, 30, 0)  # type: ignore[index]
    named = DateDetector("^%Y-%m-%d %H:%M:%S %Z", now=fixed(TEST_NOW))
    assert date_of(named, "2005-08-14 12:00:00 EST x")[1] == utc(2005, 8, 14, 17, 0, 0)  # type: ignore[index]
    extended = DateDetector("^%Y-%m-%d %H:%M:%S %Exz", now=fixed(TEST_NOW))
    assert date_of(extended, "2005-08-14 12:00:00 CET+0100 x")[1] == utc(2005, 8, 14, 10, 0, 0)  # type: ignore[index]
    # A zone-looking word Fail2ban does not know: found, but not convertible.
    assert date_of(named, "2005-08-14 12:00:00 ABCD x") == ("2005-08-14 12:00:00 ABCD", None)


# -- datepattern features ----------------------------------------------------------------


def test_line_begin_prefix(cet: None) -> None:
    detector = DateDetector("{^LN-BEG}%Y-%m-%d %H:%M:%S", now=fixed(TEST_NOW))
    assert date_of(detector, "[2005-08-14 12:00:00] x") == ("2005-08-14 12:00:00", TEST_NOW)
    assert detector.find("host 2005-08-14 12:00:00 x") is None


def test_line_begin_defaults_only(cet: None) -> None:
    detector = DateDetector("{^LN-BEG}", now=fixed(TEST_NOW))
    assert all(name.startswith(("{^LN-BEG}", "^")) for name in detector.template_names)
    assert detector.find("web-1 Aug 14 12:00:00 x") is None
    assert date_of(detector, "Aug 14 12:00:00 x") == ("Aug 14 12:00:00", TEST_NOW)


def test_epoch_patterns(cet: None) -> None:
    assert date_of(DateDetector("EPOCH"), "[1124013600] x") == ("1124013600", TEST_NOW)
    audit = "type=USER_AUTH msg=audit(1124013600.123:58): pid=1"
    assert date_of(DateDetector("EPOCH"), audit) == ("1124013600.123", TEST_NOW + 0.123)
    assert DateDetector("^EPOCH").find("x 1124013600") is None
    long_epoch = DateDetector("LEPOCH")
    assert date_of(long_epoch, "1124013600123 x") == ("1124013600123", TEST_NOW + 0.123)
    assert date_of(long_epoch, "1124013600123456 x") == ("1124013600123456", TEST_NOW + 0.123456)
    custom = DateDetector(r"ts={EPOCH};")
    assert date_of(custom, "a ts=1124013600; b") == ("ts=1124013600;", TEST_NOW)


def test_tai64n(cet: None) -> None:
    assert date_of(DateDetector("TAI64N"), "@4000000042ff16201c9e4bf4 x") == (
        "@4000000042ff16201c9e4bf4",
        TEST_NOW,
    )


def test_none_pattern_gives_an_empty_span() -> None:
    assert DateDetector("{NONE}").find("any line") == (0, 0, None)


def test_custom_groups_and_star_bounds(cet: None) -> None:
    detector = DateDetector(r"^t=(?P<Y>\d{4})(?P<m>\d\d)(?P<d>\d\d)T%H%M%S")
    assert date_of(detector, "t=20050814T120000 x") == ("t=20050814T120000", TEST_NOW)
    # Word bounds: a date glued to letters is not a date unless ** disables the bound.
    assert DateDetector("%Y-%m-%d %H:%M:%S").find("x2005-08-14 12:00:00") is None
    unbound = DateDetector("**%Y-%m-%d %H:%M:%S")
    assert date_of(unbound, "x2005-08-14 12:00:00") == ("2005-08-14 12:00:00", TEST_NOW)


def test_date_placeholder_wraps_the_defaults(cet: None) -> None:
    detector = DateDetector(r"^[^\[]*\[({DATE})", now=fixed(TEST_NOW))
    assert date_of(detector, "web1 app [2005-08-14 12:00:00] x 2001-01-01 00:00:00") == (
        "2005-08-14 12:00:00",
        TEST_NOW,
    )


def test_several_patterns_one_per_line(cet: None) -> None:
    detector = DateDetector("^%Y-%m-%d %H:%M:%S\n^%d.%m.%Y %H:%M", now=fixed(TEST_NOW))
    assert date_of(detector, "2005-08-14 12:00:00 x")[1] == TEST_NOW  # type: ignore[index]
    assert date_of(detector, "14.08.2005 12:00 x")[1] == TEST_NOW  # type: ignore[index]


@pytest.mark.parametrize("pattern", ["%Y-%m-%d %Q", "%Y (unclosed", "%Y\n%Y"])
def test_invalid_patterns(pattern: str) -> None:
    with pytest.raises(DatePatternError):
        DateDetector(pattern)


def test_a_moving_date_does_not_steal_the_template(cet: None) -> None:
    detector = DateDetector(now=fixed(TEST_NOW))
    assert date_of(detector, "host [14/Aug/2005:12:00:00 +0200] GET /")[1] == TEST_NOW  # type: ignore[index]
    # Same template at a different place: Fail2ban searches again and keeps the leftmost.
    line = "other-host-name [14/Aug/2005:12:00:01 +0200] GET /?d=2005-01-01 00:00:00"
    assert date_of(detector, line) == ("14/Aug/2005:12:00:01 +0200", TEST_NOW + 1)


def test_cached_results_match_fresh_ones(cet: None) -> None:
    """Repeated line starts and date places are answered from caches; answers must not change."""
    lines = [
        "2005-08-14 12:00:00 +0300 a",
        "2005-08-14 12:00:00  +0300 b",  # two spaces: the zone still belongs to the date
        "2005-08-14 12:00:00 +0300 c",
        "2005-08-14 12:00:00   x",
        "Aug 14 12:00:00 host1 sshd[1]: a",
        "Aug 14 12:00:00 host1 sshd[1]: b",
        "1.2.3.4 - - [14/Aug/2005:12:00:00 +0200] a",
        "5.6.7.8 - - [14/Aug/2005:12:00:00 +0200] b",
        "5.6.7.8 - - [14/Aug/2005:12:00:00 +0200] b",
    ]
    cached = DateDetector(now=fixed(TEST_NOW))
    for line in lines * 3:
        assert cached.find(line) == DateDetector(now=fixed(TEST_NOW)).find(line), line


# -- oracle: Fail2ban's own detector on Fail2ban's sample logs ---------------------------


def _fail2ban() -> Any:
    """Fail2ban's modules, imported at test time; skip when it is not installed."""
    if not SAMPLES_DIR.is_dir():
        pytest.skip("Fail2ban is not installed (apt-get install fail2ban)")
    if FAIL2BAN_LIB not in sys.path:
        sys.path.append(FAIL2BAN_LIB)
    try:
        with warnings.catch_warnings():  # Fail2ban imports modules Python 3.11 deprecates
            warnings.simplefilter("ignore", DeprecationWarning)
            reader = importlib.import_module("fail2ban.client.filterreader").FilterReader
            fail2ban_filter = importlib.import_module("fail2ban.server.filter").Filter
            my_time = importlib.import_module("fail2ban.server.mytime").MyTime
    except ImportError as exc:  # pragma: no cover - depends on the host
        pytest.skip(f"cannot import Fail2ban: {exc}")
    return reader, fail2ban_filter, my_time


def _datepattern(reader: Any, name: str, options: dict[str, Any]) -> str | None:
    """The filter's datepattern as Fail2ban's own FilterReader resolves it."""
    if not (FILTER_DIR / "filter.d" / f"{name}.conf").is_file():
        return None
    filter_conf = reader(name, "jail", dict(options), basedir=str(FILTER_DIR))
    filter_conf.read()
    filter_conf.getOptions({})
    for command in filter_conf.convert():
        if command[2] == "datepattern":
            return str(command[3])
    return None


def _sample_patterns(reader: Any, path: Path) -> set[str | None]:
    """Datepatterns of the file's filter: plain, and under each filterOptions block."""
    name = path.name
    patterns = {_datepattern(reader, name, {})}
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        found = _FILTER_OPTIONS.match(raw)
        if not found:
            continue
        blocks = json.loads(found.group(1))
        for options in blocks if isinstance(blocks, list) else [blocks]:
            options = {k: v for k, v in options.items() if not k.startswith("test.")}
            patterns.add(_datepattern(reader, name, options))
    return patterns


def _sample_lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    return [
        line.rstrip("\r") for line in text.split("\n") if line.strip() and not line.startswith("#")
    ]


def test_same_dates_as_fail2ban_on_its_sample_logs(cet: None) -> None:
    reader, fail2ban_filter, my_time = _fail2ban()
    my_time.setTime(TEST_NOW)
    disagreements: list[str] = []
    checked = 0

    def compare(label: str, pattern: str | None, lines: list[str]) -> None:
        nonlocal checked
        theirs = fail2ban_filter(None)
        if pattern is not None:
            theirs.setDatePattern(pattern)
        ours = DateDetector(pattern, now=my_time.time)
        for number, line in enumerate(lines, 1):
            expected = _fail2ban_date(theirs.dateDetector, line)
            got = ours.find(line)
            checked += 1
            if got != expected:
                disagreements.append(
                    f"{label}:{number} [{pattern!r}] {line!r}: fail2ban {expected}, rampart {got}"
                )

    try:
        every_line: list[str] = []
        for path in sorted(p for p in SAMPLES_DIR.rglob("*") if p.is_file()):
            lines = _sample_lines(path)
            every_line += lines
            for pattern in _sample_patterns(reader, path) | {None}:
                compare(path.name, pattern, lines)
        # All formats mixed in one stream exercises the template re-ordering; a
        # clock half a year later exercises moving dates without a year back.
        compare("all", None, every_line)
        my_time.setTime(TEST_NOW + 180 * 86400)
        compare("all-later", None, every_line)
    finally:
        my_time.setTime(None)
    print(f"{checked} lines compared with Fail2ban")
    assert checked > 4000
    assert disagreements == []


def _fail2ban_date(detector: Any, line: str) -> tuple[int, int, float | None] | None:
    """What Fail2ban's processLine takes from a line: the span and getTime's epoch."""
    match, template = detector.matchTime(line)
    if match is None:
        return None
    start, end = match.start(1), match.end(1)
    if start == end:
        return start, end, None
    try:
        converted = detector.getTime(line[start:end], (match, template))
    except Exception:  # Fail2ban itself fails on some texts (unknown zone name)
        converted = None
    return start, end, None if converted is None else converted[0]

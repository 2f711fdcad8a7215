"""Fail2ban's date templates as text, and turning a match into epoch seconds.

This holds what Fail2ban knows about formats: the %-field regexes (the
standard library's ``_strptime`` table, so locale names and ``%c %x %X`` are
what Fail2ban sees, with Fail2ban's tighter replacements on top), its default
templates and how a ``datepattern`` entry becomes a bounded regex, and its
conversion rules, quirks included: a missing year is this year unless that
puts the date more than a day ahead of now, a missing day is today unless
that is in the future, two-digit years are always 20xx, ``%f`` does not reach
the result. ``dates.py`` does the searching and caching.
"""

from __future__ import annotations

import calendar
import datetime
import functools
import importlib
import math
import re
import time
from dataclasses import dataclass, replace
from typing import Any

from rampart.detect.errors import DatePatternError

_std_strptime: Any = importlib.import_module("_strptime")

INF = math.inf
LINE_BEGIN, LINE_END, WORD_BEGIN, WORD_END = 8, 4, 2, 1
PATTERN, EPOCH, TAI64N = 0, 1, 2  # how a template's match becomes a time
LN_BEG = "{^LN-BEG}"

# Zone abbreviations Fail2ban knows, as a fixed offset in hours (no DST switch).
_ZONE_HOURS: dict[float, str] = {
    -12: "Y",
    -11: "X NUT SST",
    -10: "W CKT HAST HST TAHT TKT",
    -9: "V AKST GAMT GIT HADT HNY",
    -8: "U AKDT CIST HAY HNP PST PT",
    -7: "T HAP HNR MST PDT",
    -6: "S CST EAST GALT HAR HNC MDT",
    -5: "R CDT COT EASST ECT EST ET HAC HNE PET",
    -4: "Q AST BOT CLT COST EDT FKT GYT HAE HNA PYT",
    -3: "P ADT ART BRT CLST FKST GFT HAA PMST PYST SRT UYT WGT",
    -2: "O BRST FNT PMDT UYST WGST",
    -1: "N AZOT CVT EGT",
    0: "Z EGST GMT UTC WET WT",
    1: "A CET DFT WAT WEDT WEST",
    2: "B CAT CEDT CEST EET SAST WAST",
    3: "C EAT EEDT EEST IDT MSK",
    4: "D AMT AZT GET GST KUYT MSD MUT RET SAMT SCT",
    5: "E AMST AQTT AZST HMT MAWT MVT PKT TFT TJT TMT UZT YEKT",
    6: "F ALMT BIOT BTT IOT KGT NOVT OMST YEKST",
    7: "G CXT DAVT HOVT ICT KRAT NOVST OMSST THA WIB",
    8: "H ACT AWST BDT BNT CAST HKT IRKT KRAST MYT PHT SGT ULAT WITA WST",
    9: "I AWDT IRKST JST KST PWT TLT WDT WIT YAKT",
    10: "K AEST ChST PGT VLAT YAKST YAPT",
    11: "L AEDT LHDT MAGT NCT PONT SBT VLAST VUT",
    12: "M ANAST ANAT FJT GILT MAGST MHT NZST PETST PETT TVT WFT",
    13: "FJST NZDT",
    11.5: "NFT",
    10.5: "ACDT LHST",
    9.5: "ACST",
    6.5: "CCT MMT",
    5.75: "NPT",
    5.5: "SLT",
    4.5: "AFT IRDT",
    3.5: "IRST",
    -2.5: "HAT NDT",
    -3.5: "HNT NST NT",
    -4.5: "HLV VET",
    -9.5: "MART MIT",
}
ZONE_MINUTES: dict[str, int] = {
    name: int(hours * 60) for hours, names in _ZONE_HOURS.items() for name in names.split()
}

_ABBR = r"[A-Z](?:[A-Z]{2,4})?"
_ZONE_TEXT = re.compile(rf"({_ABBR})?([+-][01]\d(?::?\d{{2}})?)?$")

# Readable stand-ins for the fields, used to name a template (names decide duplicates).
_FIELD_TITLES = {
    "a": "DAY", "A": "DAYNAME", "b": "MON", "B": "MONTH", "d": "Day", "H": "24hour",
    "I": "12hour", "j": "Yearday", "m": "Month", "M": "Minute", "p": "AMPM", "S": "Second",
    "U": "Yearweek", "w": "Weekday", "W": "Yearweek", "y": "Year2", "Y": "Year", "%": "%",
    "z": "Zone offset", "f": "Microseconds", "Z": "Zone name",
}  # fmt: skip


def zone_minutes(text: str) -> int:
    """Offset east of UTC in minutes for ``UTC``, ``+0200``, ``CET+01:00``, ``EST`` ...

    Raises ValueError for anything Fail2ban would not accept.
    """
    found = _ZONE_TEXT.match(text)
    if found is None:
        raise ValueError(f"unknown or unsupported time zone: {text!r}")
    abbr, offset = found.groups()
    base = ZONE_MINUTES.get(abbr, 0) if abbr else 0
    if abbr and abbr not in ZONE_MINUTES:
        raise ValueError(f"unknown time zone abbreviation: {abbr!r}")
    if not offset:
        return base
    if len(offset) <= 3:
        return base + int(offset) * 60
    sign = -1 if offset[0] == "-" else 1
    minutes = offset[4:6] if offset[3] == ":" else offset[3:5]
    return base + sign * (int(offset[1:3]) * 60 + int(minutes))


def _century_prefixes(year: int) -> str:
    """Regex for the first three digits of the years %ExY accepts: 2000 to ``year`` + 3."""
    prefixes = sorted({str(y)[:3] for y in range(2000, year + 4)})
    if len(prefixes) == 1:
        return prefixes[0]
    if all(p[:2] == prefixes[0][:2] for p in prefixes):
        return prefixes[0][:2] + "[" + "".join(p[2] for p in prefixes) + "]"
    return "(?:" + "|".join(prefixes) + ")"


@functools.cache
def field_table(year: int) -> tuple[dict[str, str], dict[str, str], re.Pattern[str]]:
    """Regex per field, title per field, and the regex that finds fields in a pattern.

    Built once per process year; ``year`` bounds what %ExY accepts, as in Fail2ban.
    """
    regexes: dict[str, str] = dict(_std_strptime.TimeRE())
    regexes.update(
        k=r" ?(?P<H>[0-2]?\d)",
        l=r" ?(?P<I>1?\d)",
        Z=r"(?P<Z>Z|[A-Z]{3,5})",
        z=r"(?P<z>Z|UTC|GMT|[+-][01]\d(?::?\d{2})?)",
        ExZ=rf"(?P<Z>{_ABBR})",
        Exz=rf"(?P<z>(?:{_ABBR})?[+-][01]\d(?::?\d{{2}})?|{_ABBR})",
        d=r"(?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1])",
        m=r"(?P<m>0?[1-9]|1[0-2])",
        Y=r"(?P<Y>\d{4})",
        H=r"(?P<H>[0-1]?\d|2[0-3])",
        M=r"(?P<M>[0-5]?\d)",
        S=r"(?P<S>[0-5]?\d|6[0-1])",
        Exd=r"(?P<d>[1-2]\d|0[1-9]|3[0-1])",
        Exm=r"(?P<m>0[1-9]|1[0-2])",
        ExH=r"(?P<H>[0-1]\d|2[0-3])",
        Exk=r" ?(?P<H>[0-1]?\d|2[0-3])",
        Exl=r" ?(?P<I>1[0-2]|\d)",
        ExM=r"(?P<M>[0-5]\d)",
        ExS=r"(?P<S>[0-5]\d|6[0-1])",
        ExY=rf"(?P<Y>{_century_prefixes(year)}\d)",
        Exy=r"(?P<y>\d{2})",
    )
    titles: dict[str, str] = {}
    for key in regexes:
        title = _FIELD_TITLES.get(key)
        if title is None and key.startswith("Ex") and key[2:] in _FIELD_TITLES:
            title = "Ex" + _FIELD_TITLES[key[2:]]
        titles[key] = title if title is not None else "%" + key
    long_keys = "|".join(k for k in regexes if len(k) > 1)
    short_keys = "".join(re.escape(k) for k in regexes if len(k) == 1)
    finder = re.compile(rf"%(%|{long_keys}|[{short_keys}])")
    return regexes, titles, finder


@functools.cache
def _locale() -> Any:
    """Month, weekday and AM/PM names of the process locale, as strptime knows them."""
    return _std_strptime.LocaleTime()


def fields_to_epoch(
    fields: dict[str, str | None], default_tz: int | None, now: float
) -> tuple[float | None, float, float]:
    """Epoch seconds for the named groups of a date match, as Fail2ban computes them.

    Returns ``(epoch, valid_from, valid_until)``: the result stays the same for
    every ``now`` in that window, so callers can cache it. ``epoch`` is None
    when Fail2ban could not convert the text (or would fail with an exception).
    """
    turning_points: list[float] = []
    try:
        epoch: float | None = _convert(fields, default_tz, now, turning_points)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        epoch = None
    if not turning_points:
        return epoch, -INF, INF
    return (epoch, *_validity(turning_points, now))


def _convert(
    fields: dict[str, str | None],
    default_tz: int | None,
    now: float,
    turning_points: list[float],
) -> float | None:
    """Fail2ban's conversion; records the local times at which `now` would change it."""
    locale = _locale()
    year = month = day = tzoffset = weekday = julian = week = None
    week_starts_monday = False
    hour = minute = second = 0
    for key, value in fields.items():
        if value is None:
            continue
        if key == "y":
            year = int(value)
            if year <= 2000:
                year += 2000
        elif key == "Y":
            year = int(value)
        elif key == "m":
            month = int(value)
        elif key == "B":
            month = locale.f_month.index(value.lower())
        elif key == "b":
            month = locale.a_month.index(value.lower())
        elif key == "d":
            day = int(value)
        elif key == "H":
            hour = int(value)
        elif key == "I":
            hour = _twelve_hour(int(value), fields.get("p", ""), locale.am_pm)
        elif key == "M":
            minute = int(value)
        elif key == "S":
            second = int(value)
        elif key == "A":
            weekday = locale.f_weekday.index(value.lower())
        elif key == "a":
            weekday = locale.a_weekday.index(value.lower())
        elif key == "w":
            weekday = (int(value) - 1) % 7
        elif key == "j":
            julian = int(value)
        elif key in ("U", "W"):
            week = int(value)
            week_starts_monday = key == "W"
        elif key in ("z", "Z"):
            tzoffset = 0 if value in ("Z", "UTC", "GMT") else zone_minutes(value)
    current: datetime.datetime | None = None
    assume_year = year is None
    if year is None:
        current = datetime.datetime.fromtimestamp(now)
        year = current.year
        turning_points += [_year_start(year), _year_start(year + 1)]
    if month is None or day is None:
        if julian is None and week is not None and weekday is not None:
            julian = _std_strptime._calc_julian_from_U_or_W(year, week, weekday, week_starts_monday)
        if julian is not None:
            first = datetime.datetime(year, 1, 1).toordinal()
            found = datetime.datetime.fromordinal(julian - 1 + first)
            year, month, day = found.year, found.month, found.day
    assume_today = month is None and day is None
    if month is None and day is None:
        current = current or datetime.datetime.fromtimestamp(now)
        month, day = current.month, current.day
        midnight = datetime.datetime(current.year, current.month, current.day)
        turning_points += [_local_epoch(midnight), _local_epoch(midnight) + _DAY]
    if month is None or day is None:
        return None  # only one of month and day: Fail2ban fails here too
    result = datetime.datetime(year, month, day, hour, minute, second)
    if tzoffset is None:
        tzoffset = default_tz
    if tzoffset is not None:
        result -= datetime.timedelta(minutes=tzoffset)
    if assume_today:
        current = current or datetime.datetime.fromtimestamp(now)
        turning_points.append(_local_epoch(result))
        if result > current:
            result -= datetime.timedelta(days=1)
    replaced = False
    if assume_year:
        current = current or datetime.datetime.fromtimestamp(now)
        if result > current + datetime.timedelta(days=1):
            turning_points.append(_local_epoch(result) - _DAY)
            result = result.replace(year=year - 1, month=month, day=day)
            replaced = True
    if tzoffset is not None:
        epoch = float(calendar.timegm(result.utctimetuple()))
    else:
        epoch = time.mktime(result.timetuple())
    if assume_year and not replaced:  # the same local time, so one conversion serves both
        local = epoch if tzoffset is None else _local_epoch(result)
        turning_points.append(local - _DAY)
    return epoch


_DAY = 86400.0


def _local_epoch(moment: datetime.datetime) -> float:
    """Epoch of a naive local time (mktime; a DST gap or fold moves it an hour)."""
    return time.mktime(moment.timetuple())


@functools.lru_cache(maxsize=8)
def _year_start(year: int) -> float:
    return _local_epoch(datetime.datetime(year, 1, 1))


def _twelve_hour(hour: int, marker: str | None, am_pm: list[str]) -> int:
    """24-hour value of a 12-hour clock reading; no marker counts as AM."""
    if marker is None:
        raise ValueError("optional AM/PM marker missing")  # Fail2ban fails here too
    marker = marker.lower()
    if marker in ("", am_pm[0]):
        return 0 if hour == 12 else hour
    if marker == am_pm[1] and hour != 12:
        return hour + 12
    return hour


# Local wall time and epoch drift apart around DST and zone changes by an hour or
# two, and a turning point estimated as "epoch minus one day" can be off by as
# much again; a window kept this far from each estimate is safe.
_SLACK = 6 * 3600.0


def _validity(turning_points: list[float], now: float) -> tuple[float, float]:
    """The window of `now` values around ``now`` that cross none of the turning points."""
    start, end = -INF, INF
    for at in turning_points:
        if at <= now:
            start = max(start, at + _SLACK)
        else:
            end = min(end, at - _SLACK)
    if not start <= now < end:  # `now` is too close to a turning point to tell its side
        return INF, -INF
    return start, end


# Fail2ban's default formats, in its order (later ones are tried later).
DEFAULT_PATTERNS = (
    r"%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\s*%z)?",  # ISO 8601
    r"(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",  # syslog / asctime
    r"(?:%a )?%b %d %ExY %k:%M:%S(?:\.%f)?",
    r"%d(?P<_sep>[-/])%m(?P=_sep)(?:%ExY|%Exy) %k:%M:%S",
    r"%d(?P<_sep>[-/])%b(?P=_sep)%ExY[ :]?%H:%M:%S(?:\.%f)?(?: %z)?",  # Apache
    r"%m/%d/%ExY:%H:%M:%S",  # cPanel
    r"%m-%d-%ExY %k:%M:%S(?:\.%f)?",
    r"EPOCH",
    r"{^LN-BEG}%H:%M:%S",
    r"^<%m/%d/%Exy@%H:%M:%S>",
    r"%Exy%Exm%Exd  ?%H:%M:%S",  # MySQL
    r"%b %d, %ExY %I:%M:%S %p",  # Tomcat
    r"^%b-%d-%Exy %k:%M:%S",  # ASSP
    r"%ExY%Exm%Exd(?:T|  ?)%ExH%ExM%ExS(?:[.,]%f)?(?:\s*%z)?",
    r"(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",  # monit
    r"(?:%z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    r"TAI64N",
)

# How Fail2ban decides which word and line bounds a date regex gets.
_INLINE_FLAGS = re.compile(r"\(\?[a-z]+\)")
_NO_WORD_BEGIN = re.compile(r"^\(*(?:\(\?\w+\))?(?:\^|\(*\*\*|\((?:\?:)?\^)")
_NO_WORD_END = re.compile(r"(?<!\\)(?:\$\)?|\\b|\\s|\*\*\)*)$")
_PLAIN_GROUP = re.compile(r"(?<!\(\?)(?<!\\)\((?!\?)")
_WHOLE = re.compile(r"^((?:\(\?\w+\))?\^?(?:\(\?\w+\))?)(.*?)(\$?)$")
_STARTS_AT_LINE = re.compile(r"^(?:\(\?\w+\))?(?:\^|\((?:\?:)?\^(?!\|))")
_ENDS_AT_LINE = re.compile(r"(?<![\\|])(?:\$\)?)$")
_STARS = re.compile(r"^\(*(?:\(\?\w+\))?\(*\*\*|(?<!\\)\*\*\)*$")
_NAME_FIELD = re.compile(r"(?<!%)%[aAbBpc]")
_EPOCH_FIELD = re.compile(r"(?<!\\)\{L?EPOCH\}", re.IGNORECASE)
_DATE_FIELD = re.compile(r"(?<!\\)\{DATE\}", re.IGNORECASE)
_WORD_BEGIN_GROUP = re.compile(r"^\((?:\?:)?\^\|\\b\|\\W\)")
_WORD_END_GROUP = re.compile(r"\(\?=\\b\|\\W\|\$\)$")
_EPOCH_DIGITS = r"\d{10,11}\b(?:\.\d{3,6})?"
_LONG_EPOCH_DIGITS = r"\d{10,11}(?:\d{3}(?:\.\d{1,6}|\d{3})?)?"


@dataclass(frozen=True)
class TemplateSpec:
    """A compiled-to-text date template: what to search and how to convert."""

    name: str
    regex: str
    flags: int
    kind: int = PATTERN
    pattern: str | None = None  # the datepattern text, for {DATE} and {^LN-BEG} copies
    group: int = 1  # group holding an epoch number
    long_epoch: bool = False
    weight: float = 1.0


def _bound(regex: str, word_begin: bool | str, word_end: bool, name: str) -> tuple[str, int, str]:
    """Add Fail2ban's word or line bounds to ``regex``; return it, its flags and name.

    ``word_begin`` "start" anchors at line begin (up to two non-word characters
    may precede the date); ``**`` at either end of the regex disables a bound.
    """
    regex = regex.strip()
    inline = _INLINE_FLAGS.search(regex)
    if inline:
        regex = regex[: inline.start()] + regex[inline.end() :]
    bound_begin = bool(word_begin) and not _NO_WORD_BEGIN.search(regex)
    bound_end = word_end and not _NO_WORD_END.search(regex)
    if not _PLAIN_GROUP.search(regex):
        regex = _WHOLE.sub(r"\1(\2)\3", regex)
    flags = 0
    if bound_begin and word_begin == "start":
        flags |= LINE_BEGIN
        regex = r"^(?:\W{0,2})?" + regex
        name = name if name.startswith(LN_BEG) else LN_BEG + name
    elif bound_begin:
        flags |= WORD_BEGIN
        regex = r"(?=^|\b|\W)" + regex
    if bound_end:
        flags |= WORD_END
        regex += r"(?=\b|\W|$)"
    if _STARTS_AT_LINE.search(regex):
        flags |= LINE_BEGIN
    if _ENDS_AT_LINE.search(regex):
        flags |= LINE_END
    regex = _STARS.sub(lambda found: found.group().replace("**", ""), regex)
    return (inline.group() + regex if inline else regex), flags, name


def pattern_spec(pattern: str, year: int) -> TemplateSpec:
    """A template from a datepattern with %-fields (or a plain regex)."""
    text, word_end = pattern, True
    word_begin: bool | str = True
    if text.startswith("{UNB}"):
        text, word_begin, word_end = text[5:], False, False
    if word_begin and text.startswith(LN_BEG):
        text, word_begin = text[len(LN_BEG) :], "start"
    regexes, titles, finder = field_table(year)
    template = finder.sub(r"%(\1)s", text)
    try:
        name = template % titles
        regex = template % regexes
    except (KeyError, ValueError, TypeError) as exc:
        raise DatePatternError(
            f"datepattern {pattern!r}: invalid format or unescaped % ({exc})"
        ) from None
    if _NAME_FIELD.search(text):
        regex = "(?iu)" + regex
    regex, flags, name = _bound(regex, word_begin, word_end, name)
    return TemplateSpec(name, regex, flags, pattern=pattern)


def _epoch_spec(line_begin: bool, long_epoch: bool, pattern: str | None = None) -> TemplateSpec:
    """A template for seconds (or ms/µs with LEPOCH) since the epoch."""
    digits = _LONG_EPOCH_DIGITS if long_epoch else _EPOCH_DIGITS
    name = pattern or ("LongEpoch" if long_epoch else "Epoch")
    if pattern:
        wrapped = "(" + _EPOCH_FIELD.sub(lambda _: f"({digits})", pattern) + ")"
        regex, flags, name = _bound(wrapped, True, True, name)
        return TemplateSpec(name, regex, flags, EPOCH, group=2, long_epoch=long_epoch)
    if line_begin:
        core = rf"((?P<square>(?<=^\[))?{digits})(?(square)(?=\]))"
        regex, flags, name = _bound(core, "start", True, name)
    else:  # at line begin, inside [..] at line begin, or in SELinux "audit(...:n)"
        core = (
            r"((?:^|(?P<square>(?<=^\[))|(?P<selinux>(?<=\baudit\()))" + digits + ")"
            r"(?:(?(selinux)(?=:\d+\)))|(?(square)(?=\])))"
        )
        regex, flags, name = _bound(core, False, True, name)
    return TemplateSpec(name, regex, flags, EPOCH, long_epoch=long_epoch)


def spec_from_text(text: str, year: int, key: str | None = None) -> TemplateSpec:
    """The template for one datepattern entry (EPOCH, TAI64N or %-pattern)."""
    if key is None:
        key = text if "%" in text else text.upper()
    if "EPOCH" in key:
        if _EPOCH_FIELD.search(text):
            return _epoch_spec(False, "LEPOCH" in key, text)
        if key in ("EPOCH", LN_BEG + "EPOCH", "^EPOCH"):
            return _epoch_spec(key != "EPOCH", False)
        if key in ("LEPOCH", LN_BEG + "LEPOCH", "^LEPOCH"):
            return _epoch_spec(key != "LEPOCH", True)
    if key in ("TAI64N", LN_BEG + "TAI64N", "^TAI64N"):
        regex, flags, name = _bound("@[0-9a-f]{24}", key != "TAI64N" and "start", True, "TAI64N")
        return TemplateSpec(name, regex, flags, TAI64N)
    return pattern_spec(text, year)


def default_specs(year: int) -> tuple[list[TemplateSpec], list[TemplateSpec]]:
    """Fail2ban's default list: line-begin copies (weight 100) first, then the originals."""
    originals = [spec_from_text(text, year) for text in DEFAULT_PATTERNS]
    anchored = []
    for spec in originals:
        if spec.name.startswith((LN_BEG, "^")):
            continue
        copy = spec_from_text(LN_BEG + (spec.pattern or spec.name), year)
        if copy.name != spec.name:
            anchored.append(replace(copy, weight=100.0))
    return originals, anchored + originals


def strip_bounds(text: str) -> str:
    """A default template's text without its own bounds, to put inside a {DATE} wrapper."""
    text = text.removeprefix("{UNB}").removeprefix(LN_BEG)
    return _WORD_END_GROUP.sub("", _WORD_BEGIN_GROUP.sub("", text))


def fill_date(wrapper: str, inner: str) -> str:
    """``wrapper`` with every {DATE} replaced by ``inner`` (taken literally)."""
    return _DATE_FIELD.sub(lambda _: inner, wrapper)


def number_epoch(spec: TemplateSpec, found: re.Match[str]) -> float:
    """Epoch of an EPOCH/LEPOCH or TAI64N match."""
    if spec.kind == TAI64N:
        return float(int(found.group(1)[2:17], 16))
    value = found.group(spec.group)
    if spec.long_epoch and len(value) >= 13:
        divisor = 1_000_000 if len(value) >= 16 and "." not in value else 1000
        return float(value) / divisor
    return float(value)

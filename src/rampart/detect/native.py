"""The native scanner: the per-line loop of ``rampart ban test`` in C.

In CPython the Python work around each line (slices, calls, dicts) costs
more than the regexes themselves. ``_native.c`` runs the whole loop over a
file instead: needles, the syslog timestamp, the prefregex and failregexes
(PCRE2 with JIT) and the connection (MLFID) bookkeeping. This module decides
whether a filter can go there, translates its regexes to PCRE2 syntax, and
turns the core's totals back into Python values.

The pure-Python matcher stays the reference. The native path is used only
for what it does exactly the same way: single-line filters whose
timestamps are searched at line start only, regexes whose PCRE2 meaning is
Python's on printable ASCII, and capture names it knows. Line by line, the
core gives up (``Unsupported``) on a candidate line it cannot treat the same
way (a non-ASCII or control byte, no leading ``Mon dd HH:MM:SS``), and the
caller then scans the file with the Python matcher.
"""

import importlib
import os
import re
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from rampart.detect.address import canonical_address
from rampart.detect.dates import DateDetector
from rampart.detect.matcher import Failure, Filter, ignore_first
from rampart.detect.prefilter import MIN_LITERAL
from rampart.detect.regex import FilterRegex

_native: ModuleType | None
LOAD_ERROR: str | None = None
try:
    _native = importlib.import_module("rampart.detect._native")
except ModuleNotFoundError:
    _native = None
    LOAD_ERROR = "not built (no C compiler or Python headers when rampart was installed)"
except ImportError as error:  # built, but libpcre2-8.so.0 is missing
    _native = None
    LOAD_ERROR = str(error)

#: Set to ``0`` to always use the Python matcher.
ENV_SWITCH = "RAMPART_NATIVE"
#: Capture names whose meaning the core does not implement.
_UNSUPPORTED_NAMES = frozenset({"fid", "cidr", "ip", "users", "matches", "mlfpending"})
_SPECIALS = ("mlfid", "user", "ip4", "ip6", "dns", "nofail", "mlfforget", "mlfgained")
_ALLOWED_FLAGS = re.UNICODE | re.IGNORECASE | re.DOTALL
_FAMILIES = {4: socket.AF_INET, 6: socket.AF_INET6, 0: None}
_ADDRESS_FIELD = {4: "ip4", 6: "ip6", 0: "dns"}
_LN_BEG = "{^LN-BEG}"


def available() -> bool:
    """True if the native core is built, loads, and is not switched off."""
    return _native is not None and os.environ.get(ENV_SWITCH, "1") != "0"


class NotNative(Exception):
    """This filter or this file is for the Python matcher; the message says why."""


@dataclass(frozen=True)
class NativeResult:
    """The totals of one native scan, in the shape ``ScanReport`` wants."""

    lines: int
    matched: int
    ignored: int
    hosts: dict[str, int]
    regex_hits: dict[int, int]
    raw_failures: list[tuple[int, str, int, float, str | None, int]] | None

    def failures(self) -> Iterator[Failure]:
        """The failures in log order, made one at a time (there may be millions)."""
        for item in self.raw_failures or ():
            yield _failure(*item)


# ---- regex translation -------------------------------------------------------

#: Escapes that mean the same in PCRE2 as in Python's ``re``; ``\Z`` is PCRE2's ``\z``.
_SAME_ESCAPES = frozenset("dDwWsSbBAntrf")


def pcre_pattern(pattern: "re.Pattern[str]") -> str:
    """``pattern`` in PCRE2 syntax with the same meaning on printable ASCII text.

    Only constructs known to behave alike are let through; anything else
    (non-ASCII text, ``\\v``, numbered escapes, POSIX classes, multi-line or
    verbose flags) raises :class:`NotNative`.
    """
    if pattern.flags & ~_ALLOWED_FLAGS:
        raise NotNative("a regex flag PCRE2 reads differently")
    source = pattern.pattern
    if not source.isascii():
        raise NotNative("a regex with non-ASCII text")
    out: list[str] = []
    index, in_class, class_start = 0, False, 0
    while index < len(source):
        char = source[index]
        if char == "\\":
            if index + 1 >= len(source):
                raise NotNative("a regex ending in a backslash")
            escaped = source[index + 1]
            if escaped == "Z" and not in_class:
                out.append("\\z")
            elif escaped in _SAME_ESCAPES or not escaped.isalnum():
                out.append(source[index : index + 2])
            else:
                raise NotNative(f"the escape \\{escaped}")
            index += 2
            continue
        if in_class:
            if char == "[" and source[index + 1 : index + 2] in (":", ".", "="):
                raise NotNative("a POSIX class")
            if char == "]" and index > class_start:
                in_class = False
            out.append(char)
            index += 1
            continue
        if char == "[":
            in_class = True
            class_start = index + 1
            if source[class_start : class_start + 1] == "^":
                class_start += 1
            out.append(char)
            index += 1
            continue
        if char == "{" and re.match(r"\{,\d+\}", source[index:]):
            out.append("{0")  # Python's {,n}; PCRE2 10.42 reads it as text
            index += 1
            continue
        out.append(char)
        index += 1
    return "".join(out)


# ---- the core's configuration --------------------------------------------------


class _Fields:
    """Field names to numbers, shared by every regex of the filter."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def id(self, name: str) -> int:
        if name in _UNSUPPORTED_NAMES or name.startswith(("tuple_", "skiplines")):
            raise NotNative(f"the capture {name!r}")
        if name not in self.names:
            self.names.append(name)
        return self.names.index(name)

    def groups(self, named: Sequence[tuple[str, str]]) -> list[tuple[bytes, int]]:
        """(group name in the compiled pattern, field number) pairs."""
        return [(group.encode(), self.id(name)) for group, name in named]

    def alternates(self, regex: FilterRegex) -> list[tuple[int, int]]:
        return [(self.id(name), self.id(target)) for name, target in regex.alternates]


def _regex_spec(
    fields: _Fields, regex: FilterRegex, named: Sequence[tuple[str, str]], *, own: bool
) -> tuple[bytes | None, None, list[tuple[bytes, int]], list[tuple[int, int]]]:
    pattern = pcre_pattern(regex.pattern).encode() if own else None
    return pattern, None, fields.groups(named), fields.alternates(regex)


@dataclass(frozen=True)
class CorePlan:
    """The core's arguments for one filter, and the names of its field numbers."""

    arguments: dict[str, Any]
    fields: tuple[str, ...]


def check_dates(compiled: Filter) -> None:
    """The core cuts syslog timestamps at line start only: ``datepattern = {^LN-BEG}``."""
    entries = [e.strip() for e in (compiled.spec.datepattern or "").splitlines() if e.strip()]
    if [entry.upper() for entry in entries] != [_LN_BEG]:
        raise NotNative("a datepattern other than {^LN-BEG}")


def core_plan(compiled: Filter) -> CorePlan:
    """Everything the core needs about the regexes of ``compiled``, or :class:`NotNative`."""
    if compiled.max_lines != 1:
        raise NotNative("a multi-line filter")
    fields = _Fields()
    prefregex = None
    if compiled.prefregex is not None:
        names = [name for name in compiled.prefregex.pattern.groupindex if name != "content"]
        if any(target == "content" for _, target in compiled.prefregex.alternates):
            raise NotNative("an alternate content group")
        spec = _regex_spec(fields, compiled.prefregex, [(n, n) for n in names], own=True)
        has_content = "content" in compiled.prefregex.pattern.groupindex
        prefregex = (spec, b"content" if has_content else None)
    combined = compiled.combined
    failregex: list[tuple[bytes | None, bytes | None, list[tuple[bytes, int]], Any]] = []
    for index, regex in enumerate(compiled.failregex):
        if combined is not None:
            renamed, original = combined.branches[index]
            _, _, groups, alternates = _regex_spec(
                fields, regex, list(zip(renamed, original, strict=True)), own=False
            )
            failregex.append((None, f"_b{index}".encode(), groups, alternates))
        else:
            names = list(regex.pattern.groupindex)
            failregex.append(_regex_spec(fields, regex, [(n, n) for n in names], own=True))
    for name in _SPECIALS:
        fields.id(name)  # so every special has a number
    needles = sorted(compiled.needles or ())
    if not all(needle.isascii() and len(needle) >= MIN_LITERAL for needle in needles):
        needles = []  # every line is a candidate: slower, same result
    arguments = {
        "nfields": len(fields.names),
        "specials": tuple(fields.names.index(name) for name in _SPECIALS),
        "prefregex": prefregex,
        "combined": pcre_pattern(combined.pattern).encode() if combined is not None else None,
        "failregex": failregex,
        "ignoreregex": [pcre_pattern(regex.pattern).encode() for regex in compiled.ignoreregex],
        "ignore_first": ignore_first(len(compiled.ignoreregex), len(compiled.failregex)),
        "needles": [needle.encode() for needle in needles],
    }
    return CorePlan(arguments, tuple(fields.names))


def span_epochs(detector: DateDetector) -> Callable[[str, str, int], float | None]:
    """Epoch of ``first`` (``Mon dd HH:MM:SS``) as the Python detector converts it.

    The core asks once per hour (or minute) and adds the seconds itself, so
    the answer is None unless ``last``, ``span`` seconds later, converts to
    exactly ``span`` more: a time zone change or a year guess in between
    would show as a jump.
    """

    def epoch(first: str, last: str, span: int) -> float | None:
        found = detector.find(first)
        later = detector.find(last)
        if found is None or later is None or found[2] is None or later[2] is None:
            return None
        if found[:2] != (0, len(first)) or later[:2] != (0, len(last)):
            return None
        if later[2] != found[2] + span:
            return None
        return float(found[2])

    return epoch


def scan_file_native(
    compiled: Filter,
    path: Path,
    *,
    want_failures: bool,
    now: Callable[[], float],
    default_tz: str | None,
    skip_comments: bool,
) -> NativeResult:
    """Scan ``path`` with the native core, or raise :class:`NotNative` saying why not."""
    if _native is None:
        raise NotNative(f"native core unavailable: {LOAD_ERROR}")
    if not available():
        raise NotNative(f"{ENV_SWITCH}=0")
    check_dates(compiled)
    plan = core_plan(compiled)
    minute = span_epochs(compiled.detector(now=now, default_tz=default_tz))
    try:
        core = _native.Core(
            **plan.arguments,
            skip_comments=skip_comments,
            minute=minute,
            want_failures=want_failures,
        )
        with path.open("rb") as handle:
            core.scan_fd(handle.fileno())
    except _native.Unsupported as error:
        raise NotNative(str(error)) from None
    except OSError as error:  # the Python reader reports it properly
        raise NotNative(f"cannot read: {error.strerror}") from None
    lines, matched, ignored, counted, hits, raw = core.result()
    hosts: dict[str, int] = {}
    for address, family, count in counted:
        host = _canonical(address, family)
        hosts[host] = hosts.get(host, 0) + count
    regex_hits = {index: count for index, count in enumerate(hits) if count}
    return NativeResult(lines, matched, ignored, hosts, regex_hits, raw)


def _canonical(address: str, family: int) -> str:
    kind = _FAMILIES[family]
    return address if kind is None else canonical_address(address, kind)


def _failure(
    lineno: int, address: str, family: int, epoch: float, user: str | None, index: int
) -> Failure:
    fields: dict[str, Any] = {_ADDRESS_FIELD[family]: address, "user": user}
    return Failure(lineno, _canonical(address, family), epoch, index, fields)

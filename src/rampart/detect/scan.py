"""Run a filter over a whole log, as ``fail2ban-regex`` does, and count.

This is the engine behind ``rampart ban test``: it feeds every line of a
file (or one given line) through a :class:`LineMatcher`, hands each failure
to a callback and keeps the counts the summary prints.
"""

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rampart.detect.matcher import Failure, Filter, LineMatcher, Outcome
from rampart.detect.native import NativeResult, NotNative, scan_file_native
from rampart.detect.prefilter import candidate_line_starts, fewer_needles
from rampart.sources.replay import read_blocks, read_lines, split_block
from rampart.sources.types import LogLine

#: How much of a log's start is read to choose the strings to search for.
SAMPLE_CHARS = 1 << 20


@dataclass
class ScanReport:
    """What a scan found: line counts, failures per host and per regex."""

    lines: int = 0
    matched: int = 0
    ignored: int = 0
    missed: int = 0
    failures: int = 0
    hosts: Counter[str] = field(default_factory=Counter)
    regex_hits: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0
    #: Which matcher ran: "native" (the C core) or "python"; why not native, if not.
    engine: str = "python"
    fallback_reason: str | None = None

    def count(self, outcome: Outcome, failures: list[Failure]) -> None:
        if outcome is Outcome.MATCHED:
            self.matched += 1
        elif outcome is Outcome.IGNORED:
            self.ignored += 1
        for failure in failures:
            self.hosts[failure.host] += 1
            self.regex_hits[failure.regex_index] += 1


def scan_lines(
    compiled: Filter,
    lines: Iterable[LogLine],
    *,
    on_failure: Callable[[Failure], object] | None = None,
    now: Callable[[], float] = time.time,
    default_tz: str | None = None,
    skip_comments: bool = True,
) -> ScanReport:
    """Match every line.

    ``skip_comments`` passes over ``#`` and empty lines, as fail2ban-regex does.
    """
    started = time.perf_counter()
    matcher = LineMatcher(compiled, now=now, default_tz=default_tz)
    report = ScanReport()
    for lineno, text in lines:
        report.lines += 1
        if skip_comments and (not text or text[0] == "#"):
            continue
        outcome, failures = matcher.process(lineno, text)
        report.count(outcome, failures)
        if on_failure is not None:
            for failure in failures:
                on_failure(failure)
    return _finish(report, started)


def scan_file(
    compiled: Filter,
    path: Path,
    *,
    on_failure: Callable[[Failure], object] | None = None,
    now: Callable[[], float] = time.time,
    default_tz: str | None = None,
    skip_comments: bool = True,
    native: bool | None = None,
) -> ScanReport:
    """:func:`scan_lines` over a file, skipping lines the filter's needles rule out.

    The result is the same as matching every line (see :mod:`prefilter`);
    only the lines that hold a needle are split out of the block and matched.
    ``native``: None uses the C core when it can give the same result (see
    :mod:`rampart.detect.native`), True insists on it (``NotNative`` if it
    cannot), False never uses it.
    """
    reason = None
    if native is not False:
        started = time.perf_counter()
        try:
            result = scan_file_native(
                compiled,
                path,
                want_failures=on_failure is not None,
                now=now,
                default_tz=default_tz,
                skip_comments=skip_comments,
            )
        except NotNative as error:
            if native:
                raise
            reason = str(error)
        else:
            return _from_native(result, on_failure, started)
    report = _scan_file_python(compiled, path, on_failure, now, default_tz, skip_comments)
    report.fallback_reason = reason
    return report


def _from_native(
    result: NativeResult, on_failure: Callable[[Failure], object] | None, started: float
) -> ScanReport:
    if on_failure is not None:
        for failure in result.failures():
            on_failure(failure)
    report = ScanReport(
        lines=result.lines,
        matched=result.matched,
        ignored=result.ignored,
        hosts=Counter(result.hosts),
        regex_hits=Counter(result.regex_hits),
        engine="native",
    )
    return _finish(report, started)


def _scan_file_python(
    compiled: Filter,
    path: Path,
    on_failure: Callable[[Failure], object] | None,
    now: Callable[[], float],
    default_tz: str | None,
    skip_comments: bool,
) -> ScanReport:
    needles = compiled.needles
    if needles is None:
        return scan_lines(
            compiled,
            read_lines(path),
            on_failure=on_failure,
            now=now,
            default_tz=default_tz,
            skip_comments=skip_comments,
        )
    started = time.perf_counter()
    matcher = LineMatcher(compiled, now=now, default_tz=default_tz)
    report = ScanReport()
    base = 0  # lines in earlier blocks
    searched: frozenset[str] | None = None
    skipped: list[str] = []  # text not matched since the last line that was
    for block in read_blocks(path):
        if searched is None:
            searched = fewer_needles(needles, block[:SAMPLE_CHARS])
        lineno, position, resume = base + 1, 0, 0  # ``position``: start of line ``lineno``
        for start in candidate_line_starts(block, searched):
            lineno += block.count("\n", position, start)
            position = start
            end = block.find("\n", start)
            text = block[start:end] if end >= 0 else block[start:]
            if text.endswith("\r"):
                text = text.rstrip("\r")
            if skip_comments and (not text or text[0] == "#"):
                continue
            if resume < start:
                skipped.append(block[resume:start])
            matcher.skipped_lines = _newest_first(skipped, skip_comments) if skipped else None
            skipped = []
            resume = end + 1 if end >= 0 else len(block)
            outcome, failures = matcher.process(lineno, text)
            report.count(outcome, failures)
            if on_failure is not None:
                for failure in failures:
                    on_failure(failure)
        if resume < len(block):
            skipped.append(block[resume:])
            # Only the newest dated line is ever wanted: a block or two of text
            # is plenty, and a log with no candidate must not pile up in memory.
            del skipped[:-2]
        base += block.count("\n") + (0 if block.endswith("\n") else 1)
    report.lines = base
    return _finish(report, started)


def _newest_first(regions: list[str], skip_comments: bool) -> Callable[[], Iterable[str]]:
    """The lines of ``regions`` (in log order), newest first, split only if asked for."""

    def lines() -> Iterable[str]:
        for line in reversed(split_block("".join(regions))):
            if not (skip_comments and (not line or line[0] == "#")):
                yield line

    return lines


def _finish(report: ScanReport, started: float) -> ScanReport:
    report.missed = report.lines - report.matched - report.ignored
    report.failures = sum(report.hosts.values())
    report.seconds = time.perf_counter() - started
    return report


def scan_log(
    compiled: Filter,
    log: str,
    *,
    on_failure: Callable[[Failure], object] | None = None,
    now: Callable[[], float] = time.time,
    default_tz: str | None = None,
    native: bool | None = None,
) -> ScanReport:
    """Scan ``log`` as fail2ban-regex takes it: a file's path, or one log line.

    Text that looks like a path (no spaces, a slash or a ``.log`` ending) is a
    path even when the file is missing, so a typo is an error rather than a
    one-line log without a match.
    """
    path = Path(log)
    if path.is_file() or looks_like_path(log):
        return scan_file(
            compiled, path, on_failure=on_failure, now=now, default_tz=default_tz, native=native
        )
    line = LogLine(1, log.rstrip("\r\n"))
    return scan_lines(compiled, [line], on_failure=on_failure, now=now, default_tz=default_tz)


def looks_like_path(text: str) -> bool:
    """True for text meant as a file name rather than as a log line."""
    return not any(char.isspace() for char in text) and ("/" in text or text.endswith(".log"))

"""Run a filter over a whole log, as ``fail2ban-regex`` does, and count.

This is the engine behind ``rampart ban test``: it feeds every line of a
file (or one given line) through a :class:`LineMatcher`, hands each failure
to a callback and keeps the counts the summary prints.
"""

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from rampart.detect.matcher import Failure, Filter, LineMatcher, Outcome
from rampart.sources.types import LogLine


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


def scan_lines(
    compiled: Filter,
    lines: Iterable[LogLine],
    *,
    on_failure: Callable[[Failure], None] | None = None,
    now: Callable[[], float] = time.time,
    default_tz: str | None = None,
    skip_comments: bool = True,
) -> ScanReport:
    """Match every line; ``skip_comments`` passes over ``#`` and empty lines as fail2ban-regex does."""
    started = time.perf_counter()
    matcher = LineMatcher(compiled, now=now, default_tz=default_tz)
    report = ScanReport()
    hosts, regex_hits = report.hosts, report.regex_hits
    counts = {Outcome.MATCHED: 0, Outcome.IGNORED: 0, Outcome.MISSED: 0}
    for lineno, text in lines:
        report.lines += 1
        if skip_comments and (not text or text[0] == "#"):
            continue
        outcome, failures = matcher.process(lineno, text)
        counts[outcome] += 1
        for failure in failures:
            hosts[failure.host] += 1
            regex_hits[failure.regex_index] += 1
            if on_failure is not None:
                on_failure(failure)
    report.matched = counts[Outcome.MATCHED]
    report.ignored = counts[Outcome.IGNORED]
    report.missed = counts[Outcome.MISSED]
    report.failures = sum(hosts.values())
    report.seconds = time.perf_counter() - started
    return report

"""Conformance: every annotated sample in Fail2ban's own test corpus.

Fail2ban ships, for each filter, a log of real lines annotated with
``# failJSON:`` comments that say whether the next line is a failure and
with which host, time and user. This module runs every one of them through
rampart's engine with Fail2ban's own filters, read from where the Debian
``fail2ban`` package installs them (they are GPL and never copied here), with
the time zone and "now" that Fail2ban's ``samplestestcase.py`` uses.
"""

import datetime
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rampart.detect import Filter, FilterSpec, LineMatcher, load_filter
from rampart.detect.address import canonical_address

FILTER_DIR = Path("/etc/fail2ban/filter.d")
SAMPLES_DIR = Path("/usr/lib/python3/dist-packages/fail2ban/tests/files/logs")
# Fail2ban's test clock: 2005-08-14 12:00:00 CEST (the zone: conftest's fail2ban_clock).
TEST_NOW = 1124013600.0
TEST_NOW_TEXT = datetime.datetime.fromtimestamp(TEST_NOW, datetime.UTC).strftime(
    "%Y-%m-%dT%H:%M:%S"
)

#: Samples rampart knowingly disagrees with: (filter, file, line) -> why.
KNOWN_DIFFERENCES: dict[tuple[str, str, int], str] = {}

_DIRECTIVE = re.compile(r"^#+ ?(failJSON|(?:file|filter)Options|addFILE):(.+)$")
# The only conditions the corpus writes: name == 'x', opts.get('k') != 'v' ...
_CONDITION = re.compile(r"^\s*(name|opts\.get\('([\w.-]+)'\))\s*(==|!=)\s*'([^']*)'\s*$")


def holds(condition: str, name: str, options: dict[str, Any]) -> bool:
    """Evaluate an annotation's condition without ``eval`` (a test must not run data)."""
    parsed = _CONDITION.match(condition)
    if parsed is None:
        raise ValueError(f"unsupported condition in Fail2ban's corpus: {condition!r}")
    subject, option, operator, value = parsed.groups()
    actual = name if subject == "name" else options.get(option)
    return (actual == value) if operator == "==" else (actual != value)


pytestmark = pytest.mark.skipif(
    not SAMPLES_DIR.is_dir() or not FILTER_DIR.is_dir(),
    reason="Fail2ban's filters and sample logs are not installed (apt-get install fail2ban)",
)


@dataclass
class Sample:
    """One line to match, with what Fail2ban's annotation expects of it."""

    file: str
    lineno: int
    line: str
    expected: dict[str, Any]
    matchers: list[tuple[str, LineMatcher, dict[str, Any]]] = field(default_factory=list)


def sample_filters() -> list[str]:
    if not FILTER_DIR.is_dir():
        return []
    return sorted(
        path.stem
        for path in FILTER_DIR.glob("*.conf")
        if path.name != "common.conf" and (SAMPLES_DIR / path.stem).is_file()
    )


def _matcher(name: str, options: dict[str, str], cache: dict[str, LineMatcher]) -> LineMatcher:
    key = name + (str(options) if options else "")
    if key not in cache:
        spec: FilterSpec = load_filter(name, (FILTER_DIR,), options=options)
        cache[key] = LineMatcher(Filter(spec), now=lambda: TEST_NOW)
    return cache[key]


def walk_samples(name: str) -> Iterator[Sample]:
    """Fail2ban's sample files for ``name`` as its own test reads them."""
    files = [name]
    cache: dict[str, LineMatcher] = {}
    current: list[tuple[str, LineMatcher, dict[str, Any]]] = []
    common: dict[str, Any] = {}
    index = 0
    while index < len(files):
        file = files[index]
        index += 1
        lines = (SAMPLES_DIR / file).read_text("utf-8", "replace").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        skip_block = False
        position = 0
        while position < len(lines):
            line = lines[position].rstrip("\r\n")
            position += 1
            directive = _DIRECTIVE.match(line)
            expected: dict[str, Any] = {}
            if directive:
                kind, payload = directive.group(1), json.loads(directive.group(2))
                if kind == "fileOptions":
                    common = payload
                    continue
                if kind == "filterOptions":
                    current, skip_block = [], False
                    for options in payload if isinstance(payload, list) else [payload]:
                        options = {**common, **options}
                        condition = options.get("test.condition")
                        if condition:
                            skip_block = not holds(condition, name, {})
                        if not skip_block:
                            plain = {k: v for k, v in options.items() if not k.startswith("test.")}
                            current.append((name, _matcher(name, plain, cache), options))
                    continue
                if kind == "addFILE":
                    files.append(payload)
                    continue
                expected = payload
                if position >= len(lines):
                    break
                line = lines[position].rstrip("\r\n")
                position += 1
            elif skip_block or line.startswith("#") or not line.strip():
                continue
            if skip_block:
                continue
            if not current:
                current = [(name, _matcher(name, {}, cache), {})]
            yield Sample(file, position, line, expected, list(current))


def check(sample: Sample, name: str, matcher: LineMatcher, options: dict[str, Any]) -> str | None:
    """Why the sample disagrees with the annotation, or None when it agrees."""
    expected = sample.expected
    constraint = expected.get("constraint")
    if constraint and not holds(constraint, name, options):
        return None
    if options.get("logtype") == "journal":
        line = options.get("test.prefix-line", "") + sample.line
        _, failures = matcher.process_dated(sample.lineno, line, TEST_NOW_TEXT, TEST_NOW)
    else:
        _, failures = matcher.process(sample.lineno, sample.line)
    if not failures:
        return "not matched" if expected.get("match", False) else None
    if not expected.get("match", False):
        return f"matched (regex {failures[0].regex_index}) but should not"
    failure = failures[0]
    for key, want in expected.items():
        if key in ("time", "match", "desc", "constraint"):
            continue
        got: Any = failure.fields.get(key)
        if got is None and key == "host":
            got = failure.fid
        if got is None and key == "attempts":
            got = len(failure.fields.get("matches", []))
        if isinstance(got, (set, frozenset, list, dict, tuple)):
            if sorted(got) != sorted(want):
                return f"{key}: got {sorted(got)!r}, want {sorted(want)!r}"
        elif key == "host" and canonical_address(str(got)) == canonical_address(str(want)):
            continue  # one address, two spellings (2001:DB8::1): Fail2ban compares parsed
        elif got != want:
            return f"{key}: got {got!r}, want {want!r}"
    if "time" in expected:
        text = expected["time"]
        fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in text else "%Y-%m-%dT%H:%M:%S"
        local = datetime.datetime.strptime(text, fmt)
        want_time = time.mktime(local.timetuple()) + local.microsecond / 1e6
        if failure.time != want_time:
            return f"time: got {failure.time!r}, want {want_time!r} ({text})"
    return None


@pytest.mark.parametrize("name", sample_filters())
def test_filter_agrees_with_fail2ban_samples(name: str, fail2ban_clock: None) -> None:
    problems = []
    checked = 0
    for sample in walk_samples(name):
        for filter_name, matcher, options in sample.matchers:
            why = check(sample, filter_name, matcher, options)
            checked += 1
            if why is None:
                continue
            known = KNOWN_DIFFERENCES.get((name, sample.file, sample.lineno))
            if known is None:
                problems.append(
                    f"{sample.file}:{sample.lineno} {options or ''}: {why}\n    {sample.line}"
                )
    assert checked > 0
    assert not problems, f"{len(problems)} of {checked} samples disagree:\n" + "\n".join(problems)


def test_corpus_is_complete(fail2ban_clock: None) -> None:
    """The whole corpus is reached: 89 filters, over 1,040 annotated lines.

    Fail2ban's package holds 1,047 ``failJSON`` lines for its own filters; the
    few not counted here sit in blocks its own test skips too (``test.condition``).
    """
    names = sample_filters()
    annotated = sum(1 for name in names for sample in walk_samples(name) if sample.expected)
    assert len(names) >= 89
    assert annotated >= 1040

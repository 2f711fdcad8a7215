"""rampart's own filters (``rules/filter.d``) against their annotated sample logs.

Each filter ``rules/filter.d/NAME.conf`` has a sample log
``rules/samples/NAME.log`` written for rampart. Before each sample line a
comment says what the filter must make of it::

    # expect: {"match": true, "host": "203.0.113.5", "time": "2026-11-25T13:54:01", "user": "bob"}
    # expect: {"match": false}

``time`` is a local time with ``TZ=UTC``; ``user`` is optional (``null``: no
user captured); ``injected`` names an address planted in client-chosen text
that must never be captured. A line ``# options: {"mode": "aggressive"}``
applies filter options to the samples after it, up to the next such line.
Lines of one options block run through one matcher, in order, so that
connection tracking (``<F-MLFID>``) sees them as a log would.
"""

import datetime
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rampart.detect import Filter, LineMatcher, load_filter, scan_log
from rampart.detect.address import canonical_address
from tests.conftest import run_rampart

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "rules" / "filter.d"
SAMPLES_DIR = ROOT / "rules" / "samples"
SHARED_FILES = {"rampart-common.conf"}
# 2026-11-26 00:00:00 UTC, shortly after the samples (2026-11-25): dates
# written without a year fall in 2026.
NOW = 1795651200.0

_DIRECTIVE = re.compile(r"^#\s*(expect|options):\s*(\{.*\})\s*$")


@pytest.fixture
def utc_clock() -> Iterator[None]:
    """Local time is UTC, so the samples' times read the same everywhere."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()


@dataclass(frozen=True)
class Sample:
    """One annotated log line and the filter options it runs with."""

    lineno: int
    line: str
    expected: dict[str, Any]
    options: dict[str, str]


def own_filters() -> list[str]:
    return sorted(path.stem for path in RULES_DIR.glob("*.conf") if path.name not in SHARED_FILES)


def read_samples(name: str) -> list[Sample]:
    """The annotated lines of ``rules/samples/NAME.log``; every log line must be annotated."""
    path = SAMPLES_DIR / f"{name}.log"
    samples: list[Sample] = []
    options: dict[str, str] = {}
    expected: dict[str, Any] | None = None
    for lineno, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        directive = _DIRECTIVE.match(line)
        if directive:
            payload = json.loads(directive.group(2))
            if directive.group(1) == "options":
                options = {str(key): str(value) for key, value in payload.items()}
            else:
                assert expected is None, f"{path}:{lineno}: two expect lines in a row"
                expected = payload
            continue
        if not line.strip() or line.startswith("#"):
            continue
        assert expected is not None, f"{path}:{lineno}: log line without '# expect:'"
        samples.append(Sample(lineno, line, expected, options))
        expected = None
    assert expected is None, f"{path}: '# expect:' at the end of the file"
    return samples


def compile_filter(name: str, options: dict[str, str]) -> Filter:
    return Filter(load_filter(name, (RULES_DIR,), options=options))


def local_epoch(text: str) -> float:
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in text else "%Y-%m-%dT%H:%M:%S"
    local = datetime.datetime.strptime(text, fmt)
    return time.mktime(local.timetuple()) + local.microsecond / 1e6


def same_host(got: str, want: str) -> bool:
    return canonical_address(got) == canonical_address(want)


def check(sample: Sample, matcher: LineMatcher) -> str | None:
    """Why the engine's result disagrees with the annotation, or None."""
    expected = sample.expected
    _, failures = matcher.process(sample.lineno, sample.line)
    injected = expected.get("injected")
    if injected and any(same_host(failure.host, injected) for failure in failures):
        return f"captured the injected address {injected}"
    if not expected.get("match", False):
        if failures:
            return f"matched (regex {failures[0].regex_index + 1}) but should not"
        return None
    if not failures:
        return "not matched"
    failure = failures[0]
    if "host" in expected and not same_host(failure.host, expected["host"]):
        return f"host: got {failure.host!r}, want {expected['host']!r}"
    if "user" in expected and failure.user != expected["user"]:
        return f"user: got {failure.user!r}, want {expected['user']!r}"
    if "time" in expected and failure.time != local_epoch(expected["time"]):
        return f"time: got {failure.time!r}, want {local_epoch(expected['time'])!r}"
    return None


def first_failregex(compiled: Filter, line: str) -> int | None:
    """Which failregex a line reaches first (also for <F-NOFAIL> and address-less lines)."""
    found = compiled.detector(now=lambda: NOW).find(line)
    text = (line if found is None else line[: found[0]] + line[found[1] :]) + "\n"
    if compiled.prefregex is not None:
        prefix = compiled.prefregex.pattern.search(text)
        if prefix is None:
            return None
        text = prefix.group("content") + "\n"
    for index, regex in enumerate(compiled.failregex):
        if regex.pattern.search(text):
            return index
    return None


def test_every_filter_has_a_sample_log() -> None:
    names = own_filters()
    assert {"sshd", "nginx-basic-auth", "nginx-probes", "nginx-flood"} <= set(names)
    for name in names:
        assert (SAMPLES_DIR / f"{name}.log").is_file(), f"no rules/samples/{name}.log"


@pytest.mark.parametrize("name", own_filters())
def test_filter_agrees_with_its_samples(name: str, utc_clock: None) -> None:
    matchers: dict[str, LineMatcher] = {}
    problems = []
    samples = read_samples(name)
    for sample in samples:
        key = json.dumps(sample.options, sort_keys=True)
        if key not in matchers:
            matchers[key] = LineMatcher(compile_filter(name, sample.options), now=lambda: NOW)
        why = check(sample, matchers[key])
        if why is not None:
            problems.append(
                f"{name}.log:{sample.lineno} {sample.options or ''}: {why}\n    {sample.line}"
            )
    assert samples
    assert any(sample.expected.get("match") for sample in samples)
    assert any(not sample.expected.get("match") for sample in samples)
    assert not problems, f"{len(problems)} of {len(samples)} samples disagree:\n" + "\n".join(
        problems
    )


@pytest.mark.parametrize("name", own_filters())
def test_every_failregex_has_a_sample(name: str, utc_clock: None) -> None:
    """Each failregex, in each options block, is the first to match some sample."""
    samples = read_samples(name)
    blocks: dict[str, tuple[Filter, set[int]]] = {}
    for sample in samples:
        key = json.dumps(sample.options, sort_keys=True)
        if key not in blocks:
            blocks[key] = (compile_filter(name, sample.options), set())
        compiled, hits = blocks[key]
        index = first_failregex(compiled, sample.line)
        if index is not None:
            hits.add(index)
    reached = {
        compiled.failregex[index].source for compiled, hits in blocks.values() for index in hits
    }
    missing = [
        regex.source
        for compiled, _ in blocks.values()
        for regex in compiled.failregex
        if regex.source not in reached
    ]
    assert not missing, "failregexes no sample reaches:\n" + "\n".join(sorted(set(missing)))


@pytest.mark.parametrize("name", own_filters())
def test_samples_include_address_injection(name: str) -> None:
    """Each sample log tries to plant an address in text the client controls."""
    injected = [sample for sample in read_samples(name) if sample.expected.get("injected")]
    assert injected, f"rules/samples/{name}.log has no sample with an 'injected' address"
    for sample in injected:
        assert sample.expected["injected"] in sample.line
        assert sample.expected.get("host") != sample.expected["injected"]


def test_cli_uses_rampart_own_sshd_filter(utc_clock: None) -> None:
    """``rampart ban test LOG sshd`` finds rules/filter.d/sshd.conf before Fail2ban's."""
    log = SAMPLES_DIR / "sshd.log"
    env = {"TZ": "UTC"}
    result = run_rampart(["ban", "test", str(log), "sshd", "--json", "--now", str(NOW)], env=env)
    assert result.returncode == 0, result.stderr
    got = [json.loads(line) for line in result.stdout.splitlines()]
    want: list[dict[str, Any]] = []
    scan_log(
        compile_filter("sshd", {}),
        str(log),
        now=lambda: NOW,
        on_failure=lambda failure: want.append(failure.record()),
    )
    assert got == want
    assert {"host": "203.0.113.5", "user": "x from 10.9.9.9 port 22 ssh2"} in [
        {"host": record["host"], "user": record["user"]} for record in got
    ]
    assert all(record["host"] != "10.9.9.9" for record in got)
    summary = run_rampart(["ban", "test", str(log), "sshd", "--now", str(NOW)], env=env)
    assert summary.returncode == 0, summary.stderr
    assert f"({RULES_DIR / 'sshd.conf'})" in summary.stdout

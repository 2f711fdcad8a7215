"""The prefilter only skips lines that could not have matched.

Unit checks of the needle analysis, then the property that matters: a scan
with the prefilter finds exactly the failures of a scan that matches every
line, over Fail2ban's sample logs and over a mixed auth.log.
"""

import random
import re
from pathlib import Path

import pytest

from rampart.detect import Filter, load_filter, scan_file, scan_lines
from rampart.detect.prefilter import candidate_line_starts, line_needles, required_substrings
from rampart.sources import read_lines
from tests.conftest import needs_fail2ban
from tests.detect.test_fail2ban_samples import FILTER_DIR, SAMPLES_DIR, TEST_NOW, sample_filters


@pytest.mark.parametrize(
    ("regex", "needles"),
    [
        (r"^Failed password for \S+ from", {"Failed password for "}),
        (
            r"^[iI](?:llegal|nvalid) user (?P<user>.*?) from",
            {"Illegal user ", "illegal user ", "Invalid user ", "invalid user "},
        ),
        (r"^Received (?P<x>disconnect) from", {"Received disconnect from"}),
        (r"^(?:abc)?xyz", {"xyz"}),
        (r"^a|b", None),  # one branch has nothing long enough
        (r"(?i)failed password", None),  # case-insensitive: unknown
        (r"^(?:foo|\d+) bar baz", {" bar baz"}),
    ],
)
def test_required_substrings(regex: str, needles: set[str] | None) -> None:
    found = required_substrings(re.compile(regex))
    assert (set(found) if found is not None else None) == needles


def test_needles_need_line_start_timestamps() -> None:
    pattern = [re.compile(r"^\[\] login failed from (?P<ip4>\S+)")]
    # Timestamps anywhere: "[" + date + "]" becomes "[]" only after the cut.
    assert line_needles(pattern, [], None, include_ignore=False) is None
    needles = line_needles(pattern, [], "{^LN-BEG}", include_ignore=False)
    assert needles == {"login failed from "}


def test_candidate_line_starts() -> None:
    text = "a x\nneedle one\nb\nc needle\nneedle needle\n"
    starts = candidate_line_starts(text, frozenset(["needle"]))
    assert [text[s : text.index("\n", s)] for s in starts] == [
        "needle one",
        "c needle",
        "needle needle",
    ]


def _failures(compiled: Filter, path: Path, *, prefilter: bool) -> list[tuple[object, ...]]:
    found: list[tuple[object, ...]] = []

    def keep(failure: object) -> None:
        found.append((failure.lineno, failure.fid, failure.time, failure.user))  # type: ignore[attr-defined]

    if prefilter:
        report = scan_file(compiled, path, on_failure=keep, now=lambda: TEST_NOW)
    else:
        report = scan_lines(compiled, read_lines(path), on_failure=keep, now=lambda: TEST_NOW)
    found.append(("counts", report.lines, report.matched, report.ignored, report.missed))
    return found


def prefiltered_filters() -> list[str]:
    """Fail2ban's filters (with samples) for which rampart uses a prefilter."""
    return [
        name
        for name in sample_filters()
        if Filter(load_filter(name, (FILTER_DIR,))).needles is not None
    ]


@needs_fail2ban
def test_most_line_start_filters_get_a_prefilter() -> None:
    assert len(prefiltered_filters()) >= 50


@needs_fail2ban
@pytest.mark.parametrize("name", prefiltered_filters())
def test_prefilter_changes_nothing_on_fail2ban_samples(name: str) -> None:
    compiled = Filter(load_filter(name, (FILTER_DIR,)))
    path = SAMPLES_DIR / name
    assert _failures(compiled, path, prefilter=True) == _failures(compiled, path, prefilter=False)


def _mixed_auth_log(path: Path, lines: int) -> None:
    rng = random.Random(7)
    templates = [
        "sshd[{pid}]: Failed password for invalid user {user} from {ip} port {port} ssh2",
        "sshd[{pid}]: Invalid user {user} from {ip} port {port}",
        "sshd[{pid}]: Connection closed by authenticating user root {ip} port {port} [preauth]",
        "sshd[{pid}]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
        "tty=ssh ruser= rhost={ip}  user=root",
        "sshd[{pid}]: Accepted publickey for deploy from {ip} port {port} ssh2",
        "CRON[{pid}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
        "sudo:   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/true",
        "systemd-logind[1]: New session {pid} of user deploy.",
    ]
    out = []
    for second in range(lines):
        stamp = f"Nov 25 {10 + second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
        ip = f"198.51.100.{rng.randrange(1, 30)}"
        text = rng.choice(templates).format(
            pid=rng.randrange(100, 120),
            user=rng.choice(["admin", "test", "oracle"]),
            ip=ip,
            port=rng.randrange(1024, 65535),
        )
        out.append(f"{stamp} web1 {text}" if rng.random() > 0.02 else text)  # a few dateless
    path.write_text("\n".join(out) + "\n")


@needs_fail2ban
def test_prefilter_changes_nothing_on_a_mixed_auth_log(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    _mixed_auth_log(log, 5000)
    compiled = Filter(load_filter("sshd", (FILTER_DIR,)))
    assert compiled.needles is not None
    with_prefilter = _failures(compiled, log, prefilter=True)
    assert with_prefilter == _failures(compiled, log, prefilter=False)
    assert len(with_prefilter) > 1000


@needs_fail2ban
def test_a_dateless_failure_borrows_the_date_of_a_skipped_line(
    tmp_path: Path, fail2ban_clock: None
) -> None:
    """Fail2ban gives a line without a timestamp the previous line's, if recent."""
    log = tmp_path / "auth.log"
    log.write_text(
        "2026-11-25 10:00:00 web1 CRON[7]: session opened for user root\n"
        "# 2026-11-25 10:00:30 a comment fail2ban-regex does not read\n"
        "2026-11-25 10:00:05 web1 CRON[7]: session closed for user root\n"
        "web1 sshd[9]: Invalid user admin from 192.0.2.5 port 4000\n"
    )
    compiled = Filter(load_filter("sshd", (FILTER_DIR,)))
    assert compiled.needles is not None
    noise_time = 1795597205.0  # 2026-11-25 10:00:05 CET
    found: list[float | None] = []

    def keep(failure: object) -> None:
        found.append(failure.time)  # type: ignore[attr-defined]

    scan_file(compiled, log, on_failure=keep, now=lambda: noise_time + 10)
    scan_lines(compiled, read_lines(log), on_failure=keep, now=lambda: noise_time + 10)
    assert found == [noise_time, noise_time]

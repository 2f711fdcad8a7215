"""Pre-decoding: rsyslog, ISO-8601 and journald lines; other logs kept whole; any bytes."""

import time
from datetime import UTC, datetime

import pytest

from rampart.hids.engine import MAX_LINE, LogEngine
from rampart.hids.ruleset import load_ruleset
from rampart.hids.syslog import SyslogParser


def test_rsyslog_line() -> None:
    header = SyslogParser().parse("Nov  5 09:08:07 web1 sshd[812]: Accepted publickey for a")
    assert (header.host, header.program, header.pid) == ("web1", "sshd", "812")
    assert header.message == "Accepted publickey for a"
    assert header.time is not None
    moment = time.localtime(header.time)
    assert (moment.tm_mon, moment.tm_mday, moment.tm_hour, moment.tm_min, moment.tm_sec) == (
        11,
        5,
        9,
        8,
        7,
    )
    assert header.time <= time.time() + 86400  # the year is never in the future


def test_iso_line_with_zone() -> None:
    header = SyslogParser().parse("2026-11-25T23:15:20.500000+01:00 db1 postgres[9]: LOG:  x")
    assert header.time == datetime(2026, 11, 25, 22, 15, 20, 500000, tzinfo=UTC).timestamp()
    assert (header.host, header.program, header.message) == ("db1", "postgres", "LOG:  x")


def test_program_without_pid_and_kernel() -> None:
    parser = SyslogParser()
    sudo = parser.parse("Nov 16 00:05:00 web1 sudo:    alice : TTY=pts/0 ; PWD=/ ; USER=root")
    assert (sudo.program, sudo.pid) == ("sudo", "")
    assert sudo.message.startswith("   alice : TTY")
    kernel = parser.parse("Nov 16 00:05:00 web1 kernel: [ 1.5] device eth0 entered promiscuous")
    assert kernel.program == "kernel" and kernel.message.startswith("[ 1.5]")


def test_journald_entry_text_only_when_asked() -> None:
    parser = SyslogParser()
    entry = parser.parse("web1 sshd[4]: Failed password for x", journal=True)
    assert (entry.time, entry.host, entry.program, entry.pid) == (None, "web1", "sshd", "4")
    plain = parser.parse("web1 sshd[4]: Failed password for x")
    assert plain.program == "" and plain.message == "web1 sshd[4]: Failed password for x"


def test_other_logs_are_kept_whole_with_their_date() -> None:
    parser = SyslogParser()
    access = parser.parse('192.0.2.1 - - [16/Nov/2026:12:00:00 +0100] "GET / HTTP/1.1" 200 5')
    assert access.program == "" and access.message.startswith("192.0.2.1 - -")
    assert access.time == datetime(2026, 11, 16, 11, 0, 0, tzinfo=UTC).timestamp()
    dpkg = parser.parse("2026-11-16 12:00:00 install nginx:amd64 <none> 1.22.1-9")
    assert dpkg.time is not None and dpkg.message.startswith("2026-11-16 12:00:00 install")
    assert parser.parse("no date here").time is None


@pytest.mark.parametrize(
    "line",
    [
        "",
        "\x00\x00\x00",
        "Nov 16 00:00:05 web1 sshd[1]: Failed password for \x00 from 203.0.113.5 port 1 ssh2",
        "Nov 16 00:00:05 web1 sshd[1]: Failed password for \ufffd\ufffd from \ufffd port 1 ssh2",
        "Feb 30 25:61:61 web1 sshd[1]: impossible date",
        "Xyz 16 00:00:05 web1 sshd[1]: unknown month",
        "9999-99-99T99:99:99 web1 x[1]: bad ISO date",
        "[" * 5000 + "]" * 5000,
        "Nov 16 00:00:05 web1 sshd[1]: " + "Failed password for " * 60000,
        '192.0.2.1 - - [16/Nov/2026:12:00:00 +0000] "GET /' + "%27" * 300_000 + ' HTTP/1.1" 200 5',
    ],
)
def test_no_line_stops_the_engine(line: str) -> None:
    engine = LogEngine(load_ruleset())
    verdict = engine.analyse(line, "fuzz")
    assert verdict.header.message is not None
    after = engine.analyse(
        "Nov 16 00:00:05 web1 sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2"
    )
    assert after.rule is not None and after.rule.id == 1106


def test_a_megabyte_line_is_cut_not_held() -> None:
    line = "Nov 16 00:00:05 web1 sshd[1]: Invalid user " + "a" * (1 << 20) + " from 192.0.2.9"
    verdict = LogEngine(load_ruleset()).analyse(line, "big")
    assert len(verdict.header.message) < MAX_LINE

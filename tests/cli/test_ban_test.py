"""``rampart ban test``: the fail2ban-regex counterpart, end to end."""

import json
from pathlib import Path

import pytest

from tests.conftest import needs_fail2ban, run_rampart

pytestmark = needs_fail2ban

ATTACK = [
    "Nov 25 13:54:01 web1 sshd[101]: Invalid user admin from 203.0.113.5 port 40022",
    "Nov 25 13:54:02 web1 CRON[7]: pam_unix(cron:session): session opened for user root(uid=0)",
    "Nov 25 13:54:03 web1 sshd[101]: Failed password for invalid user admin from 203.0.113.5"
    " port 40022 ssh2",
    "Nov 25 13:54:04 web1 sshd[102]: Failed password for root from 2001:DB8::0:7 port 50000 ssh2",
    "Nov 25 13:54:05 web1 sshd[103]: Accepted publickey for deploy from 192.0.2.10 port 51000"
    " ssh2: ED25519 SHA256:x",
]
# These tests are about Fail2ban compatibility: use Fail2ban's filters by name,
# ahead of rampart's own (rules/filter.d), which ship their own sample tests.
FAIL2BAN = ["--filter-dir", "/etc/fail2ban/filter.d"]
# 2026-11-26 00:00:00 UTC: dates without a year fall in 2026.
NOW = "1795651200"


def write_log(tmp_path: Path, lines: list[str], name: str = "auth.log") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def json_failures(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_json_gives_one_object_per_failure(tmp_path: Path) -> None:
    log = write_log(tmp_path, ATTACK)
    result = run_rampart(
        ["ban", "test", *FAIL2BAN, "--json", "--now", NOW, str(log), "sshd"], env={"TZ": "UTC"}
    )
    assert result.returncode == 0, result.stderr
    failures = json_failures(result.stdout)
    assert [(f["lineno"], f["host"], f["user"]) for f in failures] == [
        (1, "203.0.113.5", "admin"),
        (3, "203.0.113.5", "admin"),
        (4, "2001:db8::7", "root"),
    ]
    assert failures[0]["time"] == 1795614841.0  # 2026-11-25 13:54:01 UTC


def test_tz_environment_is_honoured(tmp_path: Path) -> None:
    log = write_log(tmp_path, ATTACK[:1])
    result = run_rampart(
        ["ban", "test", *FAIL2BAN, "--json", "--now", NOW, str(log), "sshd"], env={"TZ": "CET-1"}
    )
    assert json_failures(result.stdout)[0]["time"] == 1795614841.0 - 3600


def test_now_decides_the_year_of_dates_without_one(tmp_path: Path) -> None:
    log = write_log(tmp_path, ATTACK[:1])
    # "Now" in January 2027: a November date without a year is from 2026.
    result = run_rampart(
        ["ban", "test", *FAIL2BAN, "--json", "--now", "1800000000", str(log), "sshd"],
        env={"TZ": "UTC"},
    )
    assert json_failures(result.stdout)[0]["time"] == 1795614841.0


def test_summary_counts_lines_like_fail2ban_regex(tmp_path: Path) -> None:
    log = write_log(tmp_path, ATTACK)
    result = run_rampart(["ban", "test", *FAIL2BAN, str(log), "sshd"])
    assert result.returncode == 0, result.stderr
    assert "Lines: 5 lines" in result.stdout
    assert "3 matched" in result.stdout
    assert "Failures: 3 from 2 hosts" in result.stdout
    assert "203.0.113.5" in result.stdout


def test_a_single_line_instead_of_a_file() -> None:
    result = run_rampart(["ban", "test", *FAIL2BAN, "--json", ATTACK[2], "sshd"])
    assert result.returncode == 0, result.stderr
    [failure] = json_failures(result.stdout)
    assert failure["lineno"] == 1 and failure["host"] == "203.0.113.5"


def test_filter_options_select_a_mode(tmp_path: Path) -> None:
    line = "Nov 25 13:54:01 web1 sshd[9]: Did not receive identification string from 198.51.100.9"
    normal = run_rampart(["ban", "test", *FAIL2BAN, "--json", line, "sshd"])
    aggressive = run_rampart(["ban", "test", *FAIL2BAN, "--json", line, "sshd[mode=aggressive]"])
    assert json_failures(normal.stdout) == []
    assert json_failures(aggressive.stdout)[0]["host"] == "198.51.100.9"


def test_a_filter_given_by_path(tmp_path: Path) -> None:
    conf = tmp_path / "probe.conf"
    conf.write_text("[Definition]\nfailregex = ^probe from <HOST>$\n")
    result = run_rampart(["ban", "test", *FAIL2BAN, "--json", "probe from 192.0.2.1", str(conf)])
    assert json_failures(result.stdout)[0]["host"] == "192.0.2.1"


@pytest.mark.parametrize(
    ("content", "expected_hosts"),
    [
        (b"", []),
        (b"\xff\xfe garbage \xc3\x28\n" + ATTACK[0].encode() + b"\n", ["203.0.113.5"]),
        (b"Nov 25 13:54:00 web1 app: a \x00 NUL\n" + ATTACK[0].encode() + b"\n", ["203.0.113.5"]),
        ("\r\n".join(ATTACK).encode() + b"\r\n", ["203.0.113.5", "203.0.113.5", "2001:db8::7"]),
        (b"x" * 1_000_000 + b"\n" + ATTACK[0].encode(), ["203.0.113.5"]),
        (b"\x00" * (20 << 20) + b"\n" + ATTACK[0].encode(), ["203.0.113.5"]),
    ],
    ids=["empty", "invalid-utf8", "nul-byte", "crlf", "one-megabyte-line", "binary-20mb"],
)
def test_awkward_logs_give_results_not_tracebacks(
    tmp_path: Path, content: bytes, expected_hosts: list[str]
) -> None:
    log = tmp_path / "awkward.log"
    log.write_bytes(content)
    result = run_rampart(["ban", "test", *FAIL2BAN, "--json", str(log), "sshd"])
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert [f["host"] for f in json_failures(result.stdout)] == expected_hosts


def _one_line_error(result: object, *needles: str) -> None:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == 2, stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    for needle in needles:
        assert needle in stderr


def test_missing_log_is_a_one_line_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.log"
    _one_line_error(run_rampart(["ban", "test", *FAIL2BAN, str(missing), "sshd"]), str(missing))


def test_directory_as_log_is_a_one_line_error(tmp_path: Path) -> None:
    _one_line_error(run_rampart(["ban", "test", *FAIL2BAN, f"{tmp_path}/", "sshd"]), str(tmp_path))


def test_unknown_filter_is_a_one_line_error(tmp_path: Path) -> None:
    log = write_log(tmp_path, ATTACK)
    _one_line_error(
        run_rampart(["ban", "test", *FAIL2BAN, str(log), "no-such-filter"]), "no-such-filter"
    )


def test_broken_regex_names_the_filter_file(tmp_path: Path) -> None:
    conf = tmp_path / "broken.conf"
    conf.write_text("[Definition]\nfailregex = ^broken (unclosed <HOST>\n")
    _one_line_error(run_rampart(["ban", "test", *FAIL2BAN, "a line", str(conf)]), str(conf))


def test_unknown_include_names_the_filter_file(tmp_path: Path) -> None:
    conf = tmp_path / "includes.conf"
    conf.write_text(
        "[INCLUDES]\nbefore = missing-common.conf\n[Definition]\nfailregex = ^x <HOST>\n"
    )
    _one_line_error(
        run_rampart(["ban", "test", *FAIL2BAN, "a line", str(conf)]), "missing-common.conf"
    )


def test_malformed_filter_options_are_a_one_line_error() -> None:
    _one_line_error(
        run_rampart(["ban", "test", *FAIL2BAN, "a line", "sshd[mode=aggressive"]), "sshd"
    )

"""JournalSource against a stand-in ``journalctl`` (journald may not run in CI).

The stand-in is a script first on PATH that records the argv it got and
prints journal entries in the format ``journalctl -o json`` writes.
"""

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rampart.sources import SourceError
from rampart.sources.journal import JournalEntry, JournalSource, format_entry, parse_entry

CURSOR = "s=6f0b1c;i=1a2b;b=9e8d7c;m=3e8;t=60a1b2c3d4e5f;x=7a6b5c4d"

FAKE = """#!{python}
import json, os, sys, time
with open(os.environ["FAKE_ARGV"], "w") as out:
    json.dump(sys.argv[1:], out)
sys.stdout.write(open(os.environ["FAKE_OUTPUT"]).read())
sys.stdout.flush()
sys.stderr.write(os.environ.get("FAKE_STDERR", ""))
if os.environ.get("FAKE_HANG"):
    time.sleep(60)
sys.exit(int(os.environ.get("FAKE_STATUS", "0")))
"""


def entry(number: int, **fields: Any) -> dict[str, Any]:
    """An entry as journalctl -o json prints it: every value a string."""
    base = {
        "__CURSOR": f"s=6f0b1c;i={number:x};b=9e8d7c;m=3e8;t=60a1b2c3d4e5f;x=7a6b5c4d",
        "__REALTIME_TIMESTAMP": str(1700000000_000000 + number * 1_500_000),
        "__MONOTONIC_TIMESTAMP": "12345678",
        "_BOOT_ID": "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b",
        "_HOSTNAME": "web1",
        "_TRANSPORT": "syslog",
        "PRIORITY": "6",
        "SYSLOG_FACILITY": "4",
        "SYSLOG_IDENTIFIER": "sshd",
        "_PID": "4242",
        "_COMM": "sshd",
        "_SYSTEMD_UNIT": "ssh.service",
        "MESSAGE": f"Failed password for root from 192.0.2.{number} port 22 ssh2",
    }
    base.update(fields)
    return base


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fake journalctl first on PATH; yields the file its output is read from."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "journalctl"
    script.write_text(FAKE.format(python=sys.executable))
    script.chmod(0o755)
    output = tmp_path / "output.json"
    output.write_text("")
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_ARGV", str(tmp_path / "argv.json"))
    monkeypatch.setenv("FAKE_OUTPUT", str(output))
    yield output


def received(output: Path) -> list[str]:
    argv: list[str] = json.loads((output.parent / "argv.json").read_text())
    return argv


def write_entries(output: Path, *entries: dict[str, Any]) -> None:
    output.write_text("".join(json.dumps(item) + "\n" for item in entries))


def test_reads_entries_and_keeps_the_last_cursor(fake: Path) -> None:
    write_entries(fake, entry(1), entry(2, MESSAGE="Invalid user admin from 192.0.2.9"))
    source = JournalSource(
        ["_SYSTEMD_UNIT=ssh.service", "+", "SYSLOG_IDENTIFIER=sshd"], cursor=CURSOR, follow=False
    )
    with source:
        got = list(source.entries(timeout=30))
    assert got == [
        JournalEntry(
            "web1 sshd[4242]: Failed password for root from 192.0.2.1 port 22 ssh2",
            1700000001.5,
            entry(1)["__CURSOR"],
        ),
        JournalEntry(
            "web1 sshd[4242]: Invalid user admin from 192.0.2.9", 1700000003.0, entry(2)["__CURSOR"]
        ),
    ]
    assert source.cursor == entry(2)["__CURSOR"]
    assert received(fake) == [
        "--output=json", "--all", "--no-pager", "--quiet", f"--after-cursor={CURSOR}",
        "_SYSTEMD_UNIT=ssh.service", "+", "SYSLOG_IDENTIFIER=sshd",
    ]  # fmt: skip


def test_a_restart_continues_after_the_kept_cursor(fake: Path) -> None:
    write_entries(fake, entry(7))
    with JournalSource(follow=False) as first:
        list(first.entries(timeout=30))
    assert "--lines=0" in received(fake)
    write_entries(fake)
    with JournalSource(cursor=first.cursor, follow=False) as again:
        assert list(again.entries(timeout=30)) == []
    assert f"--after-cursor={entry(7)['__CURSOR']}" in received(fake)


def test_since_and_follow(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_HANG", "1")
    write_entries(fake, entry(3))
    with JournalSource(["_SYSTEMD_UNIT=ssh.service"], since=1700000000.25) as source:
        got = source.read(timeout=30)
        assert [item.cursor for item in got] == [entry(3)["__CURSOR"]]
        assert source.read(timeout=0.01) == []
    assert received(fake)[-3:] == ["--follow", "--since=@1700000000.250000",
                                   "_SYSTEMD_UNIT=ssh.service"]  # fmt: skip


def test_message_as_a_byte_array(fake: Path) -> None:
    raw = list("bad byte \xff end\nsecond line".encode("latin-1"))
    write_entries(fake, entry(4, MESSAGE=raw, SYSLOG_PID="77"))
    with JournalSource(follow=False) as source:
        (got,) = source.entries(timeout=30)
    assert got.text == "web1 sshd[77]: bad byte \ufffd end\\nsecond line"


@pytest.mark.parametrize(
    "match",
    ["_SYSTEMD_UNIT=ssh.service; rm -rf /", "--output=cat", "unit=ssh", "_PID=", "A=b c", "A=\n"],
)
def test_a_bad_match_is_refused_in_one_line(match: str) -> None:
    with pytest.raises(SourceError) as caught:
        JournalSource([match])
    assert "\n" not in str(caught.value)
    assert "FIELD=VALUE" in str(caught.value)


def test_a_bad_cursor_is_refused() -> None:
    with pytest.raises(SourceError, match="not a journald cursor"):
        JournalSource(cursor="--since=yesterday x")


def test_journalctl_failing_is_one_line(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_STATUS", "1")
    monkeypatch.setenv("FAKE_STDERR", "Failed to seek to cursor: Invalid argument\n")
    with (
        JournalSource(cursor=CURSOR, follow=False) as source,
        pytest.raises(
            SourceError, match=r"^journalctl: Failed to seek to cursor: Invalid argument$"
        ),
    ):
        list(source.entries(timeout=30))


def test_missing_journalctl(tmp_path: Path) -> None:
    with (
        JournalSource(journalctl=str(tmp_path / "journalctl")) as source,
        pytest.raises(SourceError, match="program not found"),
    ):
        source.read()


def test_format_follows_fail2ban() -> None:
    assert format_entry({"MESSAGE": "only a message"}) == "only a message"
    assert format_entry({"_COMM": "cron", "_PID": "0x10", "MESSAGE": "m"}) == "cron[16]: m"
    assert format_entry({"SYSLOG_IDENTIFIER": "app", "SYSLOG_PID": "abc", "MESSAGE": "m"}) == (
        "app[abc]: m"
    )
    kernel = {"SYSLOG_IDENTIFIER": "kernel", "_SOURCE_MONOTONIC_TIMESTAMP": "1500000",
              "MESSAGE": "oops", "_HOSTNAME": "h"}  # fmt: skip
    assert format_entry(kernel) == "h kernel: [    1.500000] oops"
    assert format_entry({"MESSAGE": ["two", "values"]}) == "two values"


def test_source_timestamp_is_preferred() -> None:
    line = json.dumps(entry(1, _SOURCE_REALTIME_TIMESTAMP="1600000000250000")).encode()
    assert parse_entry(line).time == 1600000000.25
    with pytest.raises(SourceError, match="not a JSON"):
        parse_entry(b"[1, 2]")

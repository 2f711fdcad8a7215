"""FileTail on real files: appends, partial lines, rotations, restarts, wait().

Every test writes, then calls read() itself; only the wait() tests involve
time, with timeouts far above what they need.
"""

import os
import threading
from pathlib import Path

import pytest

from rampart.sources import FileTail, SourceError, TailPosition
from rampart.sources.types import LogLine


def append(path: Path, data: str | bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)


def texts(lines: list[LogLine]) -> list[str]:
    return [line.text for line in lines]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "auth.log"


def test_plain_append(log: Path) -> None:
    append(log, "one\ntwo\n")
    with FileTail(log) as tail:
        assert tail.read() == [LogLine(1, "one"), LogLine(2, "two")]
        assert tail.read() == []
        append(log, "three\n")
        assert tail.read() == [LogLine(3, "three")]


def test_partial_line_waits_until_complete(log: Path) -> None:
    append(log, "first\nsec")
    with FileTail(log) as tail:
        assert texts(tail.read()) == ["first"]
        append(log, "ond")
        assert tail.read() == []
        append(log, "\nthird\n")
        assert tail.read() == [LogLine(2, "second"), LogLine(3, "third")]


def test_rename_rotation_keeps_lines_written_to_the_old_file(log: Path) -> None:
    append(log, "a\n")
    with FileTail(log) as tail:
        assert texts(tail.read()) == ["a"]
        append(log, "b\n")  # after our read, before the rename
        log.rename(log.with_name("auth.log.1"))
        append(log.with_name("auth.log.1"), "c\n")  # writer not yet reopened
        append(log, "d\n")
        assert texts(tail.read()) == ["b", "c", "d"]
        assert tail.position.inode == os.stat(log).st_ino


def test_old_file_is_drained_until_the_writer_moves_on(log: Path) -> None:
    old = log.with_name("auth.log.1")
    append(log, "a\n")
    with FileTail(log) as tail:
        tail.read()
        log.rename(old)
        log.touch()  # logrotate's "create" before the daemon reopens
        assert tail.read() == []
        append(old, "late\npart")
        assert texts(tail.read()) == ["late"]
        append(old, "ial\n")
        append(log, "new\n")
        assert texts(tail.read()) == ["partial", "new"]
        append(log, "newer\n")
        assert texts(tail.read()) == ["newer"]  # old file now closed
        append(old, "ignored\n")
        assert tail.read() == []


def test_rotation_with_the_file_missing_for_a_while(log: Path) -> None:
    old = log.with_name("auth.log.1")
    append(log, "a\n")
    with FileTail(log) as tail:
        tail.read()
        log.rename(old)
        append(old, "b\n")
        assert texts(tail.read()) == ["b"]
        append(log, "c\n")
        assert tail.read() == [LogLine(1, "c")]


def test_copytruncate_reads_from_the_start(log: Path) -> None:
    append(log, "old line one\nold line two\n")
    with FileTail(log) as tail:
        tail.read()
        with log.open("r+b") as handle:
            handle.truncate(0)
        append(log, "new\n")
        assert tail.read() == [LogLine(1, "new")]


def test_copytruncate_lines_not_yet_read_are_taken_from_the_copy(log: Path) -> None:
    append(log, "a\nb\n")
    with FileTail(log) as tail:
        assert texts(tail.read()) == ["a", "b"]
        append(log, "c\nd\n")  # written, not yet read, when logrotate copies and truncates
        log.with_name(log.name + ".1").write_bytes(log.read_bytes())
        log.write_bytes(b"")
        append(log, "e\n")
        assert texts(tail.read()) == ["c", "d", "e"]


def test_copytruncate_rewritten_past_our_offset(log: Path) -> None:
    append(log, "short\n")
    with FileTail(log) as tail:
        tail.read()
        with log.open("r+b") as handle:
            handle.truncate(0)
        append(log, "a longer first line\n")
        assert texts(tail.read()) == ["a longer first line"]


def test_restart_from_saved_position(log: Path) -> None:
    append(log, "one\ntwo\nthr")
    tail = FileTail(log)
    assert texts(tail.read()) == ["one", "two"]
    saved = tail.position
    tail.close()
    append(log, "ee\nfour\n")
    with FileTail(log, saved) as again:
        assert again.read() == [LogLine(3, "three"), LogLine(4, "four")]


def test_restart_after_rotation_while_down_reads_the_old_remainder(log: Path) -> None:
    append(log, "one\n")
    with FileTail(log) as tail:
        tail.read()
        saved = tail.position
    append(log, "two\n")
    log.rename(log.with_name("auth.log.1"))
    append(log, "three\n")
    with FileTail(log, saved) as again:
        assert texts(again.read()) == ["two", "three"]
        assert again.read() == []


def test_restart_after_the_old_file_is_gone_reads_the_new_file_once(log: Path) -> None:
    append(log, "one\n")
    with FileTail(log) as tail:
        tail.read()
        saved = tail.position
    log.unlink()
    append(log, "fresh\n")
    with FileTail(log, saved) as again:
        assert texts(again.read()) == ["fresh"]


def test_restart_does_not_trust_a_reused_inode(log: Path) -> None:
    append(log, "one\n")
    inode = os.stat(log).st_ino
    stale = TailPosition(inode, os.stat(log).st_dev, 4, "0" * 32, 1)
    with FileTail(log, stale) as tail:
        assert tail.read() == [LogLine(1, "one")]


def test_missing_file_is_waited_for(log: Path) -> None:
    with FileTail(log) as tail:
        assert tail.read() == []
        assert tail.position.offset == 0
        append(log, "hello\n")
        assert texts(tail.read()) == ["hello"]


def test_from_end_skips_what_is_there(log: Path) -> None:
    append(log, "old\nstill old\npart")
    with FileTail(log, from_end=True) as tail:
        append(log, "ial\n")
        assert texts(tail.read()) == ["partial"]


def test_invalid_utf8_and_crlf(log: Path) -> None:
    append(log, b"caf\xe9 bad\r\nok\r\r\n")
    with FileTail(log) as tail:
        assert texts(tail.read()) == ["caf\ufffd bad", "ok"]


def test_a_one_megabyte_line(log: Path) -> None:
    big = "x" * (1 << 20)
    append(log, big[:1000])
    with FileTail(log) as tail:
        assert tail.read() == []
        append(log, big[1000:] + "\nafter\n")
        assert texts(tail.read()) == [big, "after"]


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a regular file"):
        FileTail(tmp_path)


def test_wait_returns_at_once_when_data_is_there(log: Path) -> None:
    append(log, "x\n")
    with FileTail(log) as tail:
        assert tail.wait(30)
        tail.read()
        assert not tail.wait(0.05)


@pytest.mark.parametrize("use_inotify", [True, False])
def test_wait_wakes_on_a_write(log: Path, use_inotify: bool) -> None:
    append(log, "x\n")
    with FileTail(log, poll_interval=0.02, use_inotify=use_inotify) as tail:
        tail.read()
        timer = threading.Timer(0.05, append, (log, "y\n"))
        timer.start()
        try:
            assert tail.wait(30)
        finally:
            timer.join()
        assert texts(tail.read()) == ["y"]


def test_wait_wakes_when_a_missing_file_appears(log: Path) -> None:
    with FileTail(log) as tail:
        timer = threading.Timer(0.05, append, (log, "born\n"))
        timer.start()
        try:
            assert tail.wait(30)
        finally:
            timer.join()
        assert texts(tail.read()) == ["born"]

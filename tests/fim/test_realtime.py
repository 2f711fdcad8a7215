"""Real-time: real inotify events become FIM events within moments, once per new state."""

import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from rampart.config import FimSettings
from rampart.fim import BaselineError, Fim, RealtimeMonitor
from rampart.fim.realtime import RealtimeError
from rampart.hids import Event

WAIT = 10.0  # a bound for a hung test, not a timing measured


@pytest.fixture
def watched(tmp_path: Path) -> tuple[Path, FimSettings, Path]:
    root = tmp_path / "tree"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "app.conf").write_text("port = 80\n")
    (root / "etc" / "keep").write_text("x\n")
    settings = FimSettings(
        paths=(str(root),),
        diff_paths=(f"{root}/etc/*",),
        exclude=("*.swp",),
        dpkg_info=tmp_path / "no-dpkg",
        nice=0,
        ionice="none",
    )
    state = tmp_path / "state"
    Fim(settings, state).init()
    return root, settings, state


def started(settings: FimSettings, state: Path) -> tuple[RealtimeMonitor, "queue.Queue[Event]"]:
    events: queue.Queue[Event] = queue.Queue()
    monitor = RealtimeMonitor(settings, state, events.put, settle=0.05)
    monitor.start()
    return monitor, events


def next_event(events: "queue.Queue[Event]") -> Event:
    return events.get(timeout=WAIT)


def test_changes_are_reported_as_they_happen(watched: tuple[Path, FimSettings, Path]) -> None:
    root, settings, state = watched
    monitor, events = started(settings, state)
    try:
        assert monitor.watched_directories == 2
        (root / "etc" / "app.conf").write_text("port = 8080\n")
        event = next_event(events)
        assert (event.rule_id, event.level, event.location) == (550, 7, str(root / "etc/app.conf"))
        assert "hash" in event.fields["changed"]
        assert "+port = 8080" in event.detail
        (root / "etc" / "keep").unlink()
        event = next_event(events)
        assert (event.rule_id, event.location) == (553, str(root / "etc" / "keep"))
        (root / "etc" / "editor.swp").write_text("excluded")
        (root / "etc" / "new").write_text("added")
        event = next_event(events)
        assert (event.rule_id, event.location) == (554, str(root / "etc" / "new"))
    finally:
        monitor.stop()
    assert events.empty(), "the excluded file made no event"


def test_new_directories_are_watched(watched: tuple[Path, FimSettings, Path]) -> None:
    root, settings, state = watched
    monitor, events = started(settings, state)
    try:
        (root / "etc" / "cron.d").mkdir()
        first = next_event(events)
        assert (first.rule_id, first.location) == (554, str(root / "etc" / "cron.d"))
        (root / "etc" / "cron.d" / "job").write_text("* * * * * root sh\n")
        event = next_event(events)
        assert (event.rule_id, event.location) == (554, str(root / "etc" / "cron.d" / "job"))
    finally:
        monitor.stop()


def test_the_same_state_is_reported_once(watched: tuple[Path, FimSettings, Path]) -> None:
    root, settings, state = watched
    monitor, events = started(settings, state)
    conf = root / "etc" / "app.conf"
    try:
        conf.write_text("port = 1\n")
        assert next_event(events).rule_id == 550
        os.utime(conf, ns=(conf.stat().st_atime_ns, conf.stat().st_mtime_ns))  # same state
        conf.write_text("port = 2\n")  # a new state: reported again
        event = next_event(events)
        assert "+port = 2" in event.detail
    finally:
        monitor.stop()


def test_no_baseline_is_one_clear_error(tmp_path: Path) -> None:
    settings = FimSettings(paths=(str(tmp_path),))
    monitor = RealtimeMonitor(settings, tmp_path / "state", lambda event: None)
    with pytest.raises(BaselineError, match="no baseline yet"):
        monitor.start()


def test_a_baseline_of_another_algorithm_is_refused(
    watched: tuple[Path, FimSettings, Path],
) -> None:
    _root, settings, state = watched
    other = settings.model_copy(update={"hash": "blake3"})
    with pytest.raises(RealtimeError, match="update --full"):
        RealtimeMonitor(other, state, lambda event: None).start()


def test_the_watch_command(tmp_path: Path) -> None:
    """``rampart fim watch --json`` as a child process: ready, one JSON line per change, SIGTERM."""
    root = tmp_path / "tree"
    root.mkdir()
    (root / "motd").write_text("hello\n")
    config = tmp_path / "rampart.toml"
    config.write_text(f'[fim]\npaths = ["{root}"]\nnice = 0\nionice = "none"\n')
    env = {**os.environ, "RAMPART_CONFIG": str(config), "RAMPART_STATE_DIR": str(tmp_path / "s")}
    command = [sys.executable, "-m", "rampart.cli.main", "fim"]
    subprocess.run([*command, "init"], env=env, check=True, capture_output=True, timeout=60)
    with subprocess.Popen(
        [*command, "watch", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stderr is not None and child.stdout is not None
        try:
            assert "watching 1 directories" in child.stderr.readline()
            (root / "motd").write_text("owned\n")
            ready, _, _ = select.select([child.stdout], [], [], WAIT)
            assert ready, "no event"
            event = json.loads(child.stdout.readline())
            assert (event["rule_id"], event["location"]) == (550, str(root / "motd"))
            child.send_signal(signal.SIGTERM)
            assert child.wait(timeout=WAIT) == 0
        finally:
            if child.poll() is None:
                child.kill()


def test_a_file_written_without_pause_is_still_checked(
    watched: tuple[Path, FimSettings, Path],
) -> None:
    """Events that never stop (a busy file) do not postpone the check for ever."""
    root, settings, state = watched
    events: queue.Queue[Event] = queue.Queue()
    monitor = RealtimeMonitor(settings, state, events.put, settle=1.0)
    monitor.start()
    stop = threading.Event()

    def keep_writing() -> None:
        number = 0
        while not stop.is_set():
            number += 1
            (root / "etc" / "app.conf").write_text(f"port = {number}\n")
            stop.wait(0.05)  # far less than the quiet period the watcher waits for

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        assert next_event(events).rule_id == 550
    finally:
        stop.set()
        writer.join()
        monitor.stop()

"""The log rules inside ``rampart watch``: a real followed file, events to ``on_event``."""

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rampart.ban.guard import Guard
from rampart.config import validate_settings
from rampart.daemon import Watcher, state_paths
from rampart.firewall import make_backend
from rampart.hids import Event
from rampart.hids.ruleset import SHIPPED_RULES_DIR
from rampart.hids.runner import LogRules
from rampart.store import BanStore

FAILED = (
    "Nov 16 00:00:{:02d} web1 sshd[7]: Failed password for root from 203.0.113.{} port 4 ssh2\n"
)


def wait_until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


class Running:
    """A Watcher with only HIDS logs, running in a thread, its events collected."""

    def __init__(self, tmp_path: Path, log: Path, rules: Path) -> None:
        settings = validate_settings(
            {
                "state_dir": str(tmp_path / "state"),
                "ban": {"jails": {}, "backend": "log"},
                "hids": {"logs": [str(log)], "rules_dirs": [str(rules)]},
            }
        )
        self.store = BanStore(state_paths(settings)[0])
        guard = Guard(protect_ssh_sessions=False)
        self.watcher = Watcher(
            settings, backend=make_backend("log"), store=self.store, guard=guard, use_inotify=False
        )
        self.events: list[Event] = []
        assert self.watcher.hids is not None
        self.watcher.hids.on_event = self.events.append
        self.watcher.start()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.watcher.run, args=(self._stop,))
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.store.close()


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(SHIPPED_RULES_DIR, folder)
    return folder


def test_events_from_a_followed_file_and_no_double_count(tmp_path: Path, rules: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text(FAILED.format(1, 1) + FAILED.format(2, 2))
    running = Running(tmp_path, log, rules)
    try:
        wait_until(lambda: len(running.events) == 2)
        with log.open("a") as out:
            out.write(FAILED.format(3, 3))
        wait_until(lambda: len(running.events) == 3)
    finally:
        running.stop()
    assert [e.rule_id for e in running.events] == [1106] * 3
    assert running.events[2].fields["srcip"] == "203.0.113.3"
    assert running.events[2].location == str(log)
    # A restart continues after the saved position: only the new line is read.
    with log.open("a") as out:
        out.write(FAILED.format(4, 4))
    again = Running(tmp_path, log, rules)
    try:
        wait_until(lambda: len(again.events) >= 1)
        time.sleep(0.3)
    finally:
        again.stop()
    assert [e.fields["srcip"] for e in again.events] == ["203.0.113.4"]


def test_a_bad_reload_keeps_the_last_good_rules(
    tmp_path: Path, rules: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    running = Running(tmp_path, log, rules)
    try:
        (rules / "99-broken.yaml").write_text("rules:\n  - id: 100000\n    level: 99\n")
        with caplog.at_level(logging.ERROR, logger="rampart.hids"):
            running.watcher.reload_requested.set()
            wait_until(lambda: "rules not reloaded" in caplog.text)
        with log.open("a") as out:
            out.write(FAILED.format(5, 5))
        wait_until(lambda: len(running.events) == 1)
    finally:
        running.stop()
    assert running.events[0].rule_id == 1106
    errors = [r for r in caplog.records if "rules not reloaded" in r.getMessage()]
    assert len(errors) == 1 and "99-broken.yaml: rule 100000" in errors[0].getMessage()


def test_reload_takes_new_rules(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "a.yaml").write_text(
        "rules:\n  - id: 100000\n    level: 4\n    match: 'alpha'\n    description: a\n"
    )
    seen: list[Event] = []
    runner = LogRules([folder], on_event=seen.append)
    runner.feed(["alpha", "beta"], "test")
    (folder / "b.yaml").write_text(
        "rules:\n  - id: 100001\n    level: 4\n    match: 'beta'\n    description: b\n"
    )
    assert runner.reload()
    runner.feed(["alpha", "beta"], "test")
    assert [e.rule_id for e in seen] == [100000, 100000, 100001]
    assert runner.lines == 4 and runner.events == 3


def test_default_handler_logs_one_json_line(caplog: pytest.LogCaptureFixture) -> None:
    runner = LogRules()
    with caplog.at_level(logging.WARNING, logger="rampart.hids"):
        runner.feed([FAILED.format(9, 9).rstrip("\n")], "/var/log/auth.log")
    (record,) = caplog.records
    message = record.getMessage()
    assert message.startswith("hids alert: {") and '"rule_id": 1106' in message
    # rampart's own log may be watched too: its alert lines do not raise alerts again.
    seen: list[Event] = []
    runner.on_event = seen.append
    runner.feed([f"Nov 16 00:00:10 web1 rampart[9]: WARNING {message}"], "journal")
    assert seen == []


def test_config_refuses_a_relative_log() -> None:
    from rampart.errors import ConfigError

    with pytest.raises(ConfigError, match=r"hids\.logs"):
        validate_settings({"hids": {"logs": ["auth.log"]}})


def test_rampart_watch_process_alerts_and_reloads_on_sighup(tmp_path: Path) -> None:
    """The real command: a HIDS log followed, an event logged as JSON, SIGHUP reloads."""
    log = tmp_path / "auth.log"
    log.touch()
    config = tmp_path / "rampart.toml"
    config.write_text(
        f'state_dir = "{tmp_path / "state"}"\n[ban]\nbackend = "log"\njails = {{}}\n'
        f'[hids]\nlogs = ["{log}"]\n'
    )
    errors = tmp_path / "stderr.txt"
    env = {**os.environ, "RAMPART_CONFIG": str(config)}
    env.pop("RAMPART_STATE_DIR", None)
    with errors.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "rampart.cli.main", "watch"], stderr=sink, env=env
        )
    try:
        wait_until(lambda: "ready" in errors.read_text())
        with log.open("a") as out:
            out.write(FAILED.format(1, 1))
        wait_until(lambda: '"rule_id": 1106' in errors.read_text())
        process.send_signal(signal.SIGHUP)
        wait_until(lambda: "rules reloaded" in errors.read_text())
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode == 0, errors.read_text()

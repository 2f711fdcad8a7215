"""``rampart watch`` end to end for HIDS alerts: stored, posted to a webhook, answered.

The daemon runs for real (a Watcher over a followed file, the log-only ban
backend); the webhook is a real HTTP server, the exec response a real script.
"""

import json
import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rampart.ban.guard import Guard
from rampart.config import Settings, validate_settings
from rampart.daemon import Watcher, WatchError, state_paths
from rampart.firewall import make_backend
from rampart.hids.ruleset import SHIPPED_RULES_DIR
from rampart.notify.store import AlertStore
from rampart.store import BanStore
from tests.notify.conftest import Receiver
from tests.watching import Running, wait_until

ROOT_FAILED = (
    "Nov 16 00:00:{:02d} web1 sshd[7]: Failed password for root from 203.0.113.{} port 4 ssh2\n"
)
LOCAL_RULES = """\
rules:
  - id: 100001
    level: 8
    if_sid: 1106
    srcip: 198.51.100.0/24
    description: 'sshd: root guessed from the partner network $(srcip)'
    response: block
"""


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(SHIPPED_RULES_DIR, folder)
    (folder / "90-local.yaml").write_text(LOCAL_RULES)
    return folder


@pytest.fixture
def script(tmp_path: Path) -> Path:
    """A program that appends its arguments, one call a line, to ``calls``."""
    program = tmp_path / "record"
    program.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "calls"}\n')
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return program


def settings_for(tmp_path: Path, log: Path, rules: Path, alerts: dict[str, Any]) -> Settings:
    return validate_settings(
        {
            "state_dir": str(tmp_path / "state"),
            "ban": {"jails": {}, "backend": "log"},
            "hids": {"logs": [str(log)], "rules_dirs": [str(rules)]},
            "alerts": alerts,
        }
    )


def alerts_config(receiver: Receiver, script: Path) -> dict[str, Any]:
    return {
        "min_level": 3,
        "webhooks": [{"name": "ops", "url": receiver.url, "format": "json", "min_level": 6}],
        "responses": {
            "record": {
                "type": "exec",
                "program": str(script),
                "args": ["{srcip}", "{rule_id}"],
                "rules": [1106],
            },
            "block": {"type": "ban", "duration": "1h"},
        },
    }


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for one in started:
        one.stop()


def test_alerts_are_stored_posted_and_answered(
    tmp_path: Path, rules: Path, script: Path, receiver: Receiver, running: list[Running]
) -> None:
    log = tmp_path / "auth.log"
    log.write_text(ROOT_FAILED.format(1, 7) + "Nov 16 00:00:02 web1 sshd[8]: Failed password "
                   "for root from 198.51.100.9 port 5 ssh2\n")  # fmt: skip
    settings = settings_for(tmp_path, log, rules, alerts_config(receiver, script))
    running.append(Running(settings))
    calls = tmp_path / "calls"
    wait_until(lambda: len(receiver.posts) == 2, timeout=20)  # the delivery thread's round
    wait_until(calls.exists)
    running[0].stop()
    running.clear()

    posted = sorted((body["alert"]["rule_id"], body["alert"]["fields"]["srcip"])
                    for body, _ in receiver.posts)  # fmt: skip
    assert posted == [(1106, "203.0.113.7"), (100001, "198.51.100.9")]
    # The exec response is selected by rule id (1106) only: the first line ran it.
    assert calls.read_text().splitlines() == ["203.0.113.7 1106"]
    # The local rule names the ban response: its source is banned through the ban engine.
    with BanStore(state_paths(settings)[0]) as store:
        banned = {str(ban.target) for ban in store.active(time.time())}
    assert banned == {"198.51.100.9/32"}
    with AlertStore.in_state_dir(settings.state_dir) as alerts:
        stored = [alert.event.rule_id for alert in alerts.alerts()]
    assert sorted(stored) == [1106, 100001]
    lines = (settings.state_dir / "alerts.json").read_text().splitlines()
    assert sorted(json.loads(line)["rule_id"] for line in lines) == [1106, 100001]


def test_a_webhook_that_is_down_gets_the_alert_after_a_restart(
    tmp_path: Path, rules: Path, script: Path, receiver: Receiver, running: list[Running]
) -> None:
    log = tmp_path / "auth.log"
    log.write_text(ROOT_FAILED.format(1, 7))
    receiver.status = 503
    config = alerts_config(receiver, script) | {"retry_min": 1}  # a short backoff
    settings = settings_for(tmp_path, log, rules, config)
    running.append(Running(settings))
    wait_until(lambda: (settings.state_dir / "alerts.json").exists())
    running[0].stop()
    running.clear()
    assert receiver.posts == []
    receiver.status = 200
    running.append(Running(settings))  # nothing new in the log: the queued alert goes out
    wait_until(lambda: len(receiver.posts) == 1, timeout=20)
    assert receiver.posts[0][0]["alert"]["fields"]["srcip"] == "203.0.113.7"


def test_dry_run_runs_no_response(
    tmp_path: Path, rules: Path, script: Path, receiver: Receiver, running: list[Running]
) -> None:
    log = tmp_path / "auth.log"
    log.write_text(ROOT_FAILED.format(1, 7))
    settings = settings_for(tmp_path, log, rules, alerts_config(receiver, script))
    running.append(Running(settings, respond=False))
    wait_until(lambda: len(receiver.posts) == 1, timeout=20)
    assert not (tmp_path / "calls").exists()


def test_a_rule_naming_an_undefined_response_stops_the_start(
    tmp_path: Path, rules: Path, receiver: Receiver, script: Path
) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    config = alerts_config(receiver, script)
    del config["responses"]["block"]
    settings = settings_for(tmp_path, log, rules, config)
    with pytest.raises(WatchError, match=r"\['block'\]"):
        Watcher(settings, backend=make_backend("log"), store=BanStore(tmp_path / "b.db"),
                guard=Guard(protect_ssh_sessions=False))  # fmt: skip


def test_the_periodic_rootkit_check_stores_its_findings(
    tmp_path: Path, rules: Path, receiver: Receiver, script: Path, running: list[Running]
) -> None:
    """A set-user-ID file planted in /var/tmp is found by the daemon's own rootcheck round."""
    planted = Path("/var/tmp") / f"rampart-test-suid-{tmp_path.name}"
    planted.write_bytes(b"#!/bin/sh\n")
    planted.chmod(0o4755)
    try:
        log = tmp_path / "auth.log"
        log.write_text("")
        settings = settings_for(tmp_path, log, rules, alerts_config(receiver, script))
        settings = settings.model_copy(
            update={"hids": settings.hids.model_copy(update={"rootcheck_interval": 0.1})}
        )
        running.append(Running(settings))

        def found() -> bool:
            with AlertStore.in_state_dir(settings.state_dir) as alerts:
                return any(
                    a.event.rule_id == 515 and a.event.log == str(planted) for a in alerts.alerts()
                )

        wait_until(found, timeout=120)
    finally:
        planted.unlink()


def test_a_detector_that_fails_does_not_stop_the_daemon(
    tmp_path: Path,
    rules: Path,
    receiver: Receiver,
    script: Path,
    running: list[Running],
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    settings = settings_for(tmp_path, log, rules, alerts_config(receiver, script))
    running.append(Running(settings))

    def broken() -> list[Any]:
        raise ValueError("a bug in a detector")

    running[0].watcher._spawn_periodic("broken", 0.01, 0.01, broken)
    wait_until(lambda: "broken failed: ValueError: a bug in a detector" in caplog.text)
    with log.open("a") as out:
        out.write(ROOT_FAILED.format(1, 7))
    wait_until(lambda: len(receiver.posts) == 1, timeout=20)  # still reading, still alerting

"""The ban daemon end to end on real files, with the dry-run (log-only) firewall.

Real packets through nftables are in ``tests/test_watch_netns.py``; here the
daemon's own logic is checked against real log files, a real SQLite store
and real rotations: counting, ignoreip, restarts, restores and increments.
"""

import datetime
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rampart.ban import Ban, parse_target
from rampart.ban.guard import Guard
from rampart.config import Settings, validate_settings
from rampart.daemon import Watcher, state_paths
from rampart.firewall import make_backend
from rampart.store import BanStore
from tests.conftest import needs_fail2ban

ATTACKER, OTHER = "203.0.113.5", "198.51.100.23"


def failure_line(address: str, pid: int, user: str = "admin", when: float | None = None) -> str:
    stamp = datetime.datetime.fromtimestamp(time.time() if when is None else when)
    return (
        f"{stamp:%b} {stamp.day:2d} {stamp:%H:%M:%S} web1 sshd[{pid}]: "
        f"Failed password for invalid user {user} from {address} port {40000 + pid} ssh2\n"
    )


def append(path: Path, *lines: str) -> None:
    with path.open("a") as log:
        log.write("".join(lines))


def wait_until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


class Running:
    """A Watcher running in a thread, stopped (and its store closed) by ``stop()``."""

    def __init__(self, settings: Settings) -> None:
        self.store = BanStore(state_paths(settings)[0])
        self.backend = make_backend("log")
        guard = Guard(protect_ssh_sessions=False)
        self.watcher = Watcher(settings, backend=self.backend, store=self.store, guard=guard)
        self.restored = self.watcher.start()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.watcher.run, args=(self._stop,))
        self._thread.start()

    def banned(self) -> set[str]:
        return {ban.target.with_prefixlen for ban in self.store.active(time.time())}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.store.close()


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "auth.log"
    path.touch()
    return path


def settings_for(tmp_path: Path, log: Path, **jail: Any) -> Settings:
    sshd = {"filter": "sshd", "source": "file", "logpath": [str(log)], "maxretry": 3, **jail}
    return validate_settings(
        {"state_dir": str(tmp_path / "state"), "ban": {"backend": "log", "jails": {"sshd": sshd}}}
    )


@pytest.fixture
def start(tmp_path: Path, log: Path) -> Iterator[Callable[..., Running]]:
    running: list[Running] = []

    def starter(**jail: Any) -> Running:
        daemon = Running(settings_for(tmp_path, log, **jail))
        running.append(daemon)
        return daemon

    yield starter
    for daemon in running:
        daemon.stop()


def test_maxretry_failures_ban_and_fewer_do_not(start: Callable[..., Running], log: Path) -> None:
    daemon = start()
    append(log, failure_line(ATTACKER, 1), failure_line(ATTACKER, 2), failure_line(OTHER, 3))
    append(log, failure_line(OTHER, 4))
    time.sleep(0.5)
    assert daemon.banned() == set()
    append(log, failure_line(ATTACKER, 5))
    wait_until(lambda: daemon.banned() == {f"{ATTACKER}/32"})
    held = daemon.backend.listed()
    assert held["sshd"] == {parse_target(ATTACKER)}


def test_ipv6_is_banned_by_its_prefix(start: Callable[..., Running], log: Path) -> None:
    daemon = start(maxretry=2)
    append(log, failure_line("2001:db8:1:2::10", 1), failure_line("2001:db8:1:2::99", 2))
    wait_until(lambda: daemon.banned() == {"2001:db8:1:2::/64"})


def test_ignoreip_is_never_banned(start: Callable[..., Running], log: Path) -> None:
    daemon = start(maxretry=1, ignoreip=["203.0.113.0/24"])
    append(log, *(failure_line(ATTACKER, pid) for pid in range(1, 6)))
    append(log, failure_line(OTHER, 9))
    wait_until(lambda: daemon.banned() == {f"{OTHER}/32"})
    assert f"{ATTACKER}/32" not in daemon.banned()


def test_old_failures_outside_findtime_do_not_count(
    start: Callable[..., Running], log: Path
) -> None:
    long_ago = time.time() - 3600
    append(log, *(failure_line(ATTACKER, pid, when=long_ago) for pid in range(1, 6)))
    daemon = start(maxretry=2, findtime="10m")
    append(log, failure_line(OTHER, 10), failure_line(OTHER, 11))
    wait_until(lambda: daemon.banned() == {f"{OTHER}/32"})
    assert daemon.banned() == {f"{OTHER}/32"}


def test_restart_reads_no_line_twice_and_skips_none(tmp_path: Path, log: Path) -> None:
    settings = settings_for(tmp_path, log)
    first = Running(settings)
    append(log, failure_line(ATTACKER, 1), failure_line(ATTACKER, 2))
    wait_until(lambda: first.watcher.jails["sshd"].failures == 2)
    first.stop()
    append(log, failure_line(OTHER, 3))  # written while the daemon is down
    second = Running(settings)
    try:
        wait_until(lambda: second.watcher.jails["sshd"].failures == 1)
        time.sleep(0.3)
        assert second.watcher.jails["sshd"].failures == 1, "lines before the restart came again"
    finally:
        second.stop()


@pytest.mark.parametrize("how", ["rename", "copytruncate"])
def test_rotation_in_the_middle_of_an_attack_loses_no_failure(
    start: Callable[..., Running], log: Path, how: str
) -> None:
    daemon = start(maxretry=4)
    append(log, failure_line(ATTACKER, 1), failure_line(ATTACKER, 2))
    wait_until(lambda: daemon.watcher.jails["sshd"].failures == 2)
    if how == "rename":
        append(log, failure_line(ATTACKER, 3))
        log.rename(log.with_name("auth.log.1"))
        log.touch()
    else:
        rotated = log.with_name("auth.log.1")
        append(log, failure_line(ATTACKER, 3))
        rotated.write_bytes(log.read_bytes())
        with log.open("r+") as truncated:
            truncated.truncate(0)
    append(log, failure_line(ATTACKER, 4))
    wait_until(lambda: daemon.banned() == {f"{ATTACKER}/32"})
    assert daemon.watcher.jails["sshd"].failures == 4


def test_stored_bans_are_restored_and_expired_ones_dropped(tmp_path: Path, log: Path) -> None:
    settings = settings_for(tmp_path, log)
    now = time.time()
    with BanStore(state_paths(settings)[0]) as store:
        store.add(Ban(parse_target(ATTACKER), "sshd", now - 10, now + 3600))
        store.add(Ban(parse_target("2001:db8::/64"), "gone-jail", now - 10, None))
        store.add(Ban(parse_target(OTHER), "sshd", now - 100, now - 1))
    daemon = Running(settings)
    try:
        assert daemon.restored == 2
        held = daemon.backend.listed()
        assert held["sshd"] == {parse_target(ATTACKER)}
        assert held["manual"] == {parse_target("2001:db8::/64")}, "a removed jail's ban stays"
        assert daemon.store.expired(time.time()) == []
    finally:
        daemon.stop()


def test_repeat_offenders_are_banned_longer(start: Callable[..., Running], log: Path) -> None:
    daemon = start(maxretry=1, bantime=60, increment={"enabled": True, "factor": 1})
    append(log, failure_line(ATTACKER, 1))
    wait_until(lambda: daemon.banned() == {f"{ATTACKER}/32"})
    first = daemon.store.get(parse_target(ATTACKER))
    assert first is not None and first.expires_at is not None
    assert first.expires_at - first.banned_at == pytest.approx(60)
    append(log, failure_line(ATTACKER, 2))
    wait_until(lambda: daemon.store.times_banned(parse_target(ATTACKER)) == 2)
    second = daemon.store.get(parse_target(ATTACKER))
    assert second is not None and second.expires_at is not None
    assert second.expires_at - second.banned_at == pytest.approx(120)


INJECTED = "Failed password for invalid user x from 10.9.9.9 port 22 ssh2 from 203.0.113.5"


@pytest.mark.parametrize(
    "filter_ref", ["sshd", pytest.param("/etc/fail2ban/filter.d/sshd.conf", marks=needs_fail2ban)]
)
def test_an_address_injected_in_a_user_name_is_never_banned(
    start: Callable[..., Running], log: Path, filter_ref: str
) -> None:
    daemon = start(maxretry=1, filter=filter_ref)
    stamp = datetime.datetime.now()
    prefix = f"{stamp:%b} {stamp.day:2d} {stamp:%H:%M:%S} web1 sshd[77]: "
    # The user name is "x from 10.9.9.9 port 22 ssh2": the real peer is 203.0.113.5.
    append(log, prefix + INJECTED + " port 5555 ssh2\n", failure_line(OTHER, 78))
    wait_until(lambda: f"{OTHER}/32" in daemon.banned())
    assert "10.9.9.9/32" not in daemon.banned()


def test_status_file_reports_the_jails(start: Callable[..., Running], log: Path) -> None:
    daemon = start()
    append(log, failure_line(ATTACKER, 1))
    status_file = state_paths(daemon.watcher.settings)[2]
    wait_until(lambda: status_file.exists() and '"failures": 1' in status_file.read_text())
    assert os.stat(status_file.parent).st_mode & 0o777 == 0o700


def test_an_ended_ban_is_lifted_in_its_own_jail_only(tmp_path: Path, log: Path) -> None:
    settings = settings_for(tmp_path, log)
    daemon = Running(settings)
    try:
        now = time.time()
        target = parse_target(ATTACKER)
        ending = Ban(target, "sshd", now - 100, now + 0.2)
        lasting = Ban(target, "manual", now - 100, now + 3600)
        for ban in (ending, lasting):
            daemon.store.add(ban)
        daemon.backend.ban([ending, lasting], now)
        time.sleep(0.3)
        daemon.watcher.expire()
        assert daemon.store.get(target, "sshd") is None
        assert daemon.backend.listed()["manual"] == {target}, "another jail's ban stays"
    finally:
        daemon.stop()


def test_a_log_only_jail_never_reaches_the_kernel_not_even_after_a_restart(
    tmp_path: Path, log: Path
) -> None:
    settings = settings_for(tmp_path, log, maxretry=1, action="log")
    first = Running(settings)
    append(log, failure_line(ATTACKER, 1))
    wait_until(lambda: first.banned() == {f"{ATTACKER}/32"})
    assert first.backend.listed()["sshd"] == set()
    first.stop()
    second = Running(settings)
    try:
        assert second.restored == 0
        assert second.backend.listed()["sshd"] == set()
    finally:
        second.stop()


# A stand-in journalctl (journald does not run in CI): prints the entries of a
# JSON-lines file as ``journalctl -o json`` does, after --after-cursor if given,
# then, with --follow, waits like the real one.
FAKE_JOURNALCTL = """#!{python}
import json, os, sys, time
entries = [json.loads(line) for line in open(os.environ["FAKE_JOURNAL"])]
after = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--after-cursor=")), None)
if after is not None:
    cursors = [e["__CURSOR"] for e in entries]
    entries = entries[cursors.index(after) + 1:]
for entry in entries:
    sys.stdout.write(json.dumps(entry) + "\\n")
sys.stdout.flush()
if "--follow" in sys.argv:
    time.sleep(3600)
"""


def journal_entry(number: int, address: str) -> dict[str, str]:
    return {
        "__CURSOR": f"s=ab;i={number:x};b=cd;m=1;t=2;x=3",
        "__REALTIME_TIMESTAMP": str(int(time.time() * 1e6)),
        "_HOSTNAME": "web1",
        "SYSLOG_IDENTIFIER": "sshd",
        "_PID": str(1000 + number),
        "_COMM": "sshd",
        "_SYSTEMD_UNIT": "ssh.service",
        "MESSAGE": f"Failed password for invalid user admin from {address} port 4{number} ssh2",
    }


def test_journal_source_bans_and_a_restart_continues_after_the_cursor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "journalctl"
    fake.write_text(FAKE_JOURNALCTL.format(python=sys.executable))
    fake.chmod(0o755)
    journal = tmp_path / "journal.jsonl"
    journal.write_text("".join(json.dumps(journal_entry(n, ATTACKER)) + "\n" for n in (1, 2)))
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_JOURNAL", str(journal))
    settings = validate_settings(
        {
            "state_dir": str(tmp_path / "state"),
            "ban": {"backend": "log", "jails": {"sshd": {"source": "journal", "maxretry": 3}}},
        }
    )
    first = Running(settings)
    wait_until(lambda: first.watcher.jails["sshd"].failures == 2)
    assert first.watcher.jails["sshd"].sources == ["journal:sshd"]
    first.stop()
    with journal.open("a") as more:
        more.write(json.dumps(journal_entry(3, ATTACKER)) + "\n")
    second = Running(settings)
    try:
        wait_until(lambda: second.watcher.jails["sshd"].failures == 1)
        time.sleep(0.3)
        assert second.watcher.jails["sshd"].failures == 1, "entries before the cursor came again"
    finally:
        second.stop()

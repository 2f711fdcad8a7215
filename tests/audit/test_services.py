"""BAN-001, HIDS-001 and SVC-001 over a state directory, a built /proc and unit trees."""

import functools
import os
import time
from pathlib import Path

import pytest

from rampart.audit import Facts, Status, Unavailable, run_audit
from rampart.audit.checks.services import (
    NoBanning,
    NoHostIntrusionDetection,
    ServiceWithoutUser,
)
from rampart.audit.collectors.network import (
    collect_processes,
    collect_rampart_status,
    collect_systemd_units,
)


def fake_proc(root: Path, *commands: tuple[str, ...]) -> Path:
    """A /proc holding one process per command line (comm: the program's base name)."""
    root.mkdir(parents=True)
    for pid, argv in enumerate(commands, 100):
        directory = root / str(pid)
        directory.mkdir()
        (directory / "comm").write_text(Path(argv[0]).name[:15] + "\n")
        (directory / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
        (directory / "status").write_text("Uid:\t0\t0\t0\t0\n")
    return root


def ban_findings(tmp_path: Path, *commands: tuple[str, ...]) -> list[tuple[Status, str]]:
    proc = fake_proc(tmp_path / "proc", ("/usr/sbin/sshd", "-D"), *commands)
    facts = Facts(
        {
            "processes": lambda: collect_processes(proc=proc),
            "rampart_status": lambda: collect_rampart_status(state_dir=tmp_path / "state"),
        }
    )
    return [(f.status, f.evidence) for f in run_audit(facts, [NoBanning()]).findings]


def test_a_fresh_status_file_means_rampart_watch_is_banning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "status.json").write_text('{"pid": 4242, "time": 0, "jails": {}}')
    monkeypatch.setenv("RAMPART_STATE_DIR", str(state))
    monkeypatch.setenv("RAMPART_CONFIG", str(tmp_path / "rampart.toml"))
    (tmp_path / "rampart.toml").write_text("")
    status = collect_rampart_status()  # the state directory from the settings
    assert status.fresh and status.pid == 4242
    facts = Facts({"processes": lambda: [], "rampart_status": lambda: status})
    [finding] = run_audit(facts, [NoBanning()]).findings
    assert finding.status is Status.PASS
    assert finding.evidence.startswith(f"rampart watch is running: {state / 'status.json'}")


def test_a_stale_status_file_and_no_banning_process_fail(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "status.json").write_text("{}")
    old = time.time() - 600
    os.utime(state / "status.json", (old, old))
    [(status, evidence)] = ban_findings(tmp_path)
    assert status is Status.FAIL
    assert "no rampart watch or fail2ban-server among 1 processes" in evidence
    assert "last written 600 s ago" in evidence


def test_banning_processes(tmp_path: Path) -> None:
    watch = ban_findings(tmp_path / "a", ("/usr/bin/python3", "-m", "rampart.cli.main", "watch"))
    assert watch == [(Status.PASS, "rampart watch is running (pid 101)")]
    [(status, evidence)] = ban_findings(
        tmp_path / "b", ("/usr/bin/python3", "/usr/bin/fail2ban-server", "-xf", "start")
    )
    assert status is Status.PASS
    assert "sshd jail is assumed, not verified" in evidence
    # rampart doing something else is not banning; the missing status file is said.
    [(status, evidence)] = ban_findings(tmp_path / "c", ("/usr/local/bin/rampart", "audit"))
    assert status is Status.FAIL and "status.json is missing" in evidence


def test_real_processes_are_read() -> None:
    processes = collect_processes()
    me = next(p for p in processes if p.pid == os.getpid())
    assert me.uid == os.getuid() and me.cmdline and me.comm


def test_host_intrusion_detection(tmp_path: Path) -> None:
    running = fake_proc(tmp_path / "yes", ("/var/ossec/bin/wazuh-agentd",))
    missing = fake_proc(tmp_path / "no", ("/usr/sbin/cron", "-f"))
    found = {}
    for name, proc in (("running", running), ("missing", missing)):
        facts = Facts({"processes": functools.partial(collect_processes, proc=proc)})
        [found[name]] = run_audit(facts, [NoHostIntrusionDetection()]).findings
    assert found["running"].status is Status.PASS
    assert found["running"].evidence == "running: wazuh-agentd (pid 100)"
    assert found["missing"].status is Status.FAIL


def unit_tree(root: Path) -> tuple[Path, Path]:
    """/etc/systemd/system and /lib/systemd/system with enabled, disabled and masked units."""
    etc, lib = root / "etc", root / "lib"
    wants = etc / "multi-user.target.wants"
    wants.mkdir(parents=True)
    lib.mkdir()
    units = {
        "app.service": "[Service]\nExecStart=/srv/app/run\n",
        "web.service": "[Service]\nUser=www-data\nExecStart=/usr/sbin/web\n",
        "dyn.service": "[Service]\nDynamicUser=yes\nExecStart=/usr/bin/dyn\n",
        "ssh.service": "[Service]\nExecStart=/usr/sbin/sshd -D\n",
        "wrapper.service": "[Service]\nType=oneshot\nExecStart=/bin/true\n",
        "dropin.service": "[Service]\nExecStart=/usr/bin/dropin\n",
        "reset.service": "[Service]\nUser=svc\nExecStart=/usr/bin/reset\n",
        "worker@.service": "[Service]\nExecStart=/usr/bin/worker %i\n",
        "masked.service": "[Service]\nExecStart=/usr/bin/masked\n",
        "disabled.service": "[Service]\nExecStart=/usr/bin/disabled\n",
        "systemd-timesyncd.service": "[Service]\nUser=systemd-timesync\nExecStart=/x\n",
        "cron.service": "[Service]\nExecStart=/usr/sbin/cron -f\n",
    }
    for name, text in units.items():
        (lib / name).write_text(text)
    for name in ("app", "web", "dyn", "ssh", "wrapper", "dropin", "reset", "worker@1", "masked"):
        target = f"{name.split('@')[0]}@.service" if "@" in name else f"{name}.service"
        (wants / f"{name}.service").symlink_to(lib / target)
    (etc / "sysinit.target.wants").mkdir()
    (etc / "sysinit.target.wants" / "cron.service").symlink_to(lib / "cron.service")
    (etc / "masked.service").symlink_to("/dev/null")
    (etc / "dropin.service.d").mkdir()
    (etc / "dropin.service.d" / "user.conf").write_text("[Service]\nUser=dropin\n")
    (etc / "reset.service.d").mkdir()
    (etc / "reset.service.d" / "root.conf").write_text("[Service]\nUser=\n")
    return etc, lib


def test_enabled_services_without_user(tmp_path: Path) -> None:
    etc, lib = unit_tree(tmp_path)
    units = {u.name: u for u in collect_systemd_units(etc=etc, lib=[lib])}
    assert set(units) == {
        "app.service", "web.service", "dyn.service", "ssh.service", "wrapper.service",
        "dropin.service", "reset.service", "worker@1.service", "cron.service",
    }  # fmt: skip
    assert units["dropin.service"].user == "dropin"
    assert units["worker@1.service"].path == lib / "worker@.service"
    facts = Facts({"systemd_units": lambda: list(units.values())})
    findings = run_audit(facts, [ServiceWithoutUser()]).findings
    assert {f.resource: f.status for f in findings} == {
        "app.service": Status.FAIL,
        "reset.service": Status.FAIL,
        "worker@1.service": Status.FAIL,
    }
    assert "enabled by multi-user.target.wants" in findings[0].evidence


def test_no_enabled_service_to_blame_passes(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    facts = Facts({"systemd_units": lambda: collect_systemd_units(etc=tmp_path / "etc", lib=[])})
    assert [f.status for f in run_audit(facts, [ServiceWithoutUser()]).findings] == [Status.PASS]


def test_no_systemd_directory_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="is this a systemd host"):
        collect_systemd_units(etc=tmp_path / "none", lib=[])

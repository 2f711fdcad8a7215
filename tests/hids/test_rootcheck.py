"""``rampart rootcheck``: the bad cases built for real (a fake root, real processes and sockets,
a promiscuous veth in a network namespace)."""

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rampart.hids import rootcheck_live
from tests.conftest import run_rampart
from tests.netns import require


def _file(path: Path, mode: int = 0o644, text: str = "x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)


@pytest.fixture
def compromised(tmp_path: Path) -> Path:
    """A root with one of every file finding, and look-alikes that are fine."""
    root = tmp_path / "root"
    _file(root / "lib64/libkeyutils.so.1.9")  # Ebury
    (root / "dev/.lib").mkdir(parents=True)  # Lion worm's folder
    _file(root / "etc/ld.so.preload", text="/usr/lib/libfoo.so\n")
    _file(root / "dev/sniff.log")  # a regular file in /dev
    _file(root / "dev/.udev")  # allowed: udev's
    _file(root / "dev/shm/session")  # allowed: shared memory is a tmpfs for files
    _file(root / "tmp/.x/rootshell", 0o4755)
    _file(root / "var/tmp/groupshell", 0o2755)
    _file(root / "tmp/plain", 0o755)
    _file(root / "usr/bin/ls", 0o757)  # anyone can replace it
    (root / "etc/cron.d").mkdir(parents=True)
    os.chmod(root / "etc/cron.d", 0o777)  # noqa: S103 (the bad case: anyone adds cron jobs)
    (root / "etc/spool").mkdir()
    os.chmod(root / "etc/spool", 0o1777)  # noqa: S103 (sticky: fine)
    (root / "usr/bin/link").symlink_to("ls")  # links are always 0777: fine
    _file(root / "usr/sbin/sshd", 0o755)
    return root


def test_every_file_check_finds_its_case_and_nothing_else(
    compromised: Path, tmp_path: Path
) -> None:
    env = {"RAMPART_STATE_DIR": str(tmp_path / "state"), "RAMPART_CONFIG": str(tmp_path / "none")}
    (tmp_path / "none").write_text("")
    result = run_rampart(["rootcheck", "--root", str(compromised), "--json", "--publish"], env=env)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["checks"] == ["files", "dev", "suid", "writable"]
    found = {(f["rule_id"], f["level"], f["log"]) for f in report["findings"]}
    assert found == {
        (510, 12, "/lib64/libkeyutils.so.1.9"),
        (510, 12, "/dev/.lib"),
        (517, 6, "/etc/ld.so.preload: /usr/lib/libfoo.so"),
        (514, 7, "/dev/sniff.log"),
        (515, 10, "/tmp/.x/rootshell"),
        (515, 10, "/var/tmp/groupshell"),
        (516, 7, "/usr/bin/ls"),
        (516, 7, "/etc/cron.d"),
    }
    assert all(f["location"] == "rootcheck" for f in report["findings"])
    listed = run_rampart(["alerts", "list", "--json", "--min-level", "10"], env=env)
    stored = [json.loads(line) for line in listed.stdout.splitlines()]
    assert sorted(a["rule_id"] for a in stored) == [510, 510, 515, 515]


def test_a_clean_root_passes_and_fail_on_sets_the_bar(compromised: Path, tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    _file(clean / "usr/bin/ls", 0o755)
    _file(clean / "tmp/file")
    result = run_rampart(["rootcheck", "--root", str(clean)])
    assert result.returncode == 0, result.stderr
    assert "0 finding(s) from 4 check(s)" in result.stdout
    only_dev = run_rampart(["rootcheck", "--root", str(compromised), "--checks", "dev"])
    assert only_dev.returncode == 1
    assert "level  7  rule 514  Regular file in /dev: /dev/sniff.log" in only_dev.stdout
    high_bar = ["rootcheck", "--root", str(compromised), "--checks", "dev", "--fail-on", "8"]
    assert run_rampart(high_bar).returncode == 0


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--checks", "processes"], "--root: only the file checks"),
        (["--checks", "nope"], "unknown check 'nope'"),
        (["--fail-on", "16"], "a level is 0-15"),
        (["--indicators", "{bad}"], "rootkit entry 1 (x): paths must be absolute"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, args: list[str], said: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rootkit]]\nname = "x"\npaths = ["relative/path"]\n')
    args = [str(bad) if arg == "{bad}" else arg for arg in args]
    result = run_rampart(["rootcheck", "--root", str(tmp_path), *args])
    assert result.returncode == 2
    assert said in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.fixture
def child() -> Iterator[int]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process.pid
    process.kill()
    process.wait()


def test_a_process_missing_from_the_listing_is_found(child: int) -> None:
    pids, tasks = rootcheck_live.listed_pids()
    assert child in pids
    candidates = range(1, rootcheck_live.pid_max() + 1)
    alive = rootcheck_live.answers_signals
    hidden = rootcheck_live.unlisted_pids((pids | tasks) - {child}, alive, candidates)
    assert child in hidden  # what a rootkit that hides it from readdir would cause
    assert rootcheck_live.hidden_pids() == []  # this host, as it is


def test_a_port_missing_from_proc_net_is_found() -> None:
    with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        udp.bind(("127.0.0.1", 0))
        tcp_port, udp_port = tcp.getsockname()[1], udp.getsockname()[1]
        for protocol, port in (("tcp", tcp_port), ("udp", udp_port)):
            listed = rootcheck_live.listed_ports(protocol)
            assert port in listed

            def taken(number: int, protocol: str = protocol) -> bool:
                return rootcheck_live.port_taken(protocol, number)

            assert rootcheck_live.unlisted_ports(listed - {port}, taken, [port]) == [port]
            assert rootcheck_live.unlisted_ports(listed, taken, [port]) == []
    assert not rootcheck_live.port_taken("tcp", tcp_port)  # closed: free again


def test_promiscuous_interface_and_no_hidden_port_in_a_namespace() -> None:
    require("ip")
    ns = f"rprc{os.getpid()}"
    ip = ["ip", "-n", ns, "link"]
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run([*ip, "add", "sniff0", "type", "veth", "peer", "name", "quiet0"], check=True)
        subprocess.run([*ip, "set", "sniff0", "promisc", "on"], check=True)
        subprocess.run([*ip, "add", "br9", "type", "bridge"], check=True)
        subprocess.run([*ip, "set", "quiet0", "master", "br9"], check=True)  # kernel's promisc
        for name in ("sniff0", "quiet0", "br9"):
            subprocess.run([*ip, "set", name, "up"], check=True)
        command = [sys.executable, "-m", "rampart.cli.main", "rootcheck", "--json"]
        result = subprocess.run(
            ["ip", "netns", "exec", ns, *command, "--checks", "promisc,ports"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        subprocess.run(["ip", "netns", "delete", ns], check=False)
    assert result.returncode == 1, result.stderr
    findings = json.loads(result.stdout)["findings"]
    assert [(f["rule_id"], f["log"]) for f in findings] == [(513, "sniff0")]

"""Benchmark the ban daemon: ``rampart watch`` against ``fail2ban-server``.

Why: ``rampart watch`` replaces Fail2ban's server, so it must ban at least as
well on the same log. Three measurements, each run on both daemons in turn:

1. **Line to kernel** (``--latency``): a failure line is appended to the log
   the daemon follows; how long until the address is an element of an
   nftables set? One ban per line (maxretry 1, a new address every line),
   lines paced (``--pace-ms``) so latency is measured, not queueing. The
   kernel side is watched with ``nft monitor`` in the daemon's namespace;
   each ``add element`` line is timestamped as it arrives.
2. **Restore on start** (``--restore``): the daemon starts with bans stored
   (rampart 100,000, Fail2ban 5,000: it takes a new ``nft`` process per ban);
   how long from starting it until every one is in the kernel? Counted by a
   netlink listener in the namespace (the events ``nft monitor`` prints,
   without its formatting, which lags seconds behind 100,000 events).
3. **Memory** (``--memory``): 1,000,000 failure lines from distinct
   addresses, maxretry 1,000,000 so nothing is banned and every address is
   tracked; peak RSS (VmHWM) once the daemon has read them all.

Each daemon runs in a network namespace of its own (``ip netns``), so the
host's firewall is never touched and the two never see each other's sets.
Everything this script starts is stopped and every namespace deleted at the
end, also on Ctrl-C or failure. The addresses (RFC 2544 198.18.0.0/15, RFC
6598 100.64.0.0/10 and RFC 3849 2001:db8::/32) are only text in a log.

Run: ``.venv/bin/python bench/bench_watch.py [--latency] [--restore] [--memory]``
(default: all three; ``--fail2ban-only``/``--rampart-only``; ``--help``).
Needs root, ``ip``, ``nft``, the ``fail2ban`` Debian package (the script
installs ``python3-pyinotify`` if missing: Fail2ban's fastest file backend).
``RAMPART_BIN`` overrides the rampart command (split like a shell would).
Results: a table on stdout and ``bench/out/bench_watch.json``. Exit status:
0 measured, 1 a daemon failed (crashed, missed bans, timed out), 2 a tool is
missing.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import math
import operator
import os
import platform
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
WORK = OUT / "watch"
F2B_ETC = Path("/etc/fail2ban")
NS_PREFIX = "rbw"  # namespaces are rbw<pid>-<role><n>; a dead pid marks a stale one
JAIL = "sshd"
HOSTNAME = "web1"
USERS = ("admin", "test", "oracle", "ubuntu", "user", "guest", "postgres", "git", "pi", "ftp")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
V4_RANGES = (ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("100.64.0.0/10"))
V6_BASE = int(ipaddress.IPv6Address("2001:db8::"))
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
READY = re.compile(rb"\bready\b", re.IGNORECASE)  # rampart's line once restored and reading
IDLE_GIVE_UP = 15.0  # memory: idle this long with failures missing = it will not read more

GOAL_P99_MS = 50.0
GOAL_RATIO = 20.0
GOAL_RESTORE_S = 2.0
GOAL_RESTORE_BANS = 100_000


class BenchError(Exception):
    """A tool is missing or cannot run; the message says what to do (exit 2)."""


class DaemonFailed(Exception):
    """A daemon crashed, did not start or did not finish (exit 1)."""


# --------------------------------------------------------------------------- processes


def run(
    argv: list[str], *, timeout: float = 60.0, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a short command (no shell), its output captured; a failure names it."""
    try:
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise BenchError(f"{argv[0]}: not found") from None
    except subprocess.TimeoutExpired:
        raise DaemonFailed(f"{shlex.join(argv)}: no answer within {timeout:g} s") from None
    if check and result.returncode != 0:
        said = (result.stderr or result.stdout).strip().splitlines()
        raise DaemonFailed(
            f"{shlex.join(argv)}: exit {result.returncode}" + (f": {said[-1]}" if said else "")
        )
    return result


class Lab:
    """The namespaces and processes of this run, all torn down by :meth:`close`."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []
        self._netns: list[str] = []
        self._count = 0

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def netns(self, role: str) -> str:
        """A fresh network namespace with loopback up (an empty firewall)."""
        self._count += 1
        name = f"{NS_PREFIX}{os.getpid()}-{role}{self._count}"
        run(["ip", "netns", "add", name])
        self._netns.append(name)
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        return name

    def spawn(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start a long-lived process in its own process group (so its children stop too)."""
        try:
            proc = subprocess.Popen(
                argv, start_new_session=True, stdin=subprocess.DEVNULL, **kwargs
            )
        except FileNotFoundError:
            raise BenchError(f"{argv[0]}: not found") from None
        self._procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM its group, wait, then SIGKILL; return its exit status."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        # Children left behind by the group leader (nft started by Fail2ban).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc in self._procs:
            self._procs.remove(proc)
        return proc.returncode

    def drop_netns(self, name: str) -> None:
        """Kill what still runs inside ``name`` (only this run's processes) and delete it."""
        _delete_netns(name)
        if name in self._netns:
            self._netns.remove(name)

    def close(self) -> None:
        for proc in reversed(list(self._procs)):
            with contextlib.suppress(Exception):
                self.stop(proc, timeout=10)
        for name in reversed(list(self._netns)):
            with contextlib.suppress(Exception):
                self.drop_netns(name)


def _delete_netns(name: str) -> None:
    pids = subprocess.run(
        ["ip", "netns", "pids", name], capture_output=True, text=True, check=False
    ).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def remove_stale_netns() -> None:
    """Delete namespaces left by an earlier run of this script that was killed."""
    listing = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=False
    ).stdout
    for line in listing.splitlines():
        words = line.split()
        m = re.fullmatch(rf"{NS_PREFIX}(\d+)-\w+", words[0]) if words else None
        if m is None or int(m.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(1)), 0)
            continue  # its run is still going
        except ProcessLookupError:
            pass
        print(f"removing stale namespace {words[0]} (from a run that was killed)", flush=True)
        _delete_netns(words[0])


def proc_status(pid: int) -> dict[str, int]:
    """VmHWM, VmRSS (KiB) of ``pid``; empty once it is gone."""
    out: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(value.split()[0])
    return out


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` (all its threads), None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- input


def addresses(count: int, start: int = 0, v6_every: int = 4) -> list[str]:
    """``count`` distinct addresses: every ``v6_every``-th IPv6 (each in its own /64).

    The same ``start`` gives the same list, so both daemons get the same addresses.
    """
    out = []
    for i in range(start, start + count):
        if v6_every and i % v6_every == v6_every - 1:
            j = i // v6_every
            out.append(str(ipaddress.IPv6Address(V6_BASE + (j << 64) + 1 + j % 0xFFFF)))
        else:
            k = i - (i // v6_every if v6_every else 0)
            for net in V4_RANGES:
                if k < net.num_addresses - 2:
                    out.append(str(net.network_address + 1 + k))
                    break
                k -= net.num_addresses - 2
            else:
                raise ValueError("out of IPv4 addresses")
    return out


def syslog_stamp(when: float) -> str:
    """rsyslog's traditional file format, local time: ``Nov 25 13:54:01``."""
    t = time.localtime(when)
    return f"{MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"


def failure_line(addr: str, i: int, stamp: str) -> str:
    """One OpenSSH 9.2 failed password for an invalid user, as Debian 12 logs it."""
    return (
        f"{stamp} {HOSTNAME} sshd[{10000 + i % 50000}]: Failed password for invalid user "
        f"{USERS[i % len(USERS)]} from {addr} port {1024 + (i * 7919) % 64000} ssh2\n"
    )


class LogFile:
    """The log a daemon follows: appended with one write() per chunk (no buffering)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.unlink(missing_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)

    def append(self, text: str) -> float:
        """Append ``text``; return the monotonic time taken just before the write."""
        data = text.encode()
        began = time.monotonic()
        os.write(self._fd, data)
        return began

    def close(self) -> None:
        os.close(self._fd)


# --------------------------------------------------------------------------- kernel watchers


class NftMonitor:
    """``nft monitor`` in a namespace; every element of an ``add element`` line, timestamped."""

    def __init__(self, lab: Lab, ns: str) -> None:
        self.ns = ns
        self.first: dict[str, float] = {}  # element text -> first arrival (monotonic)
        self.added = 0
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.proc = lab.spawn(
            ["ip", "netns", "exec", ns, "nft", "monitor"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        threading.Thread(target=self._read, daemon=True).start()
        # Prove it listens before anything is measured: a table it must report
        # (made again until it does: it may not have subscribed yet).
        deadline = time.monotonic() + 10
        nft = ["ip", "netns", "exec", ns, "nft"]
        while True:
            run([*nft, "add", "table", "inet", "rbw_sentinel"])
            seen = self.wait(lambda: any("rbw_sentinel" in s for s in self.lines), 0.2)
            run([*nft, "delete", "table", "inet", "rbw_sentinel"])
            if seen:
                break
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise DaemonFailed(f"nft monitor in {ns} printed nothing")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            now = time.monotonic()
            line = raw.decode(errors="replace")
            with self._cond:
                if line.startswith("add element "):
                    inner = line[line.find("{") + 1 : line.rfind("}")]
                    for part in inner.split(","):
                        words = part.split()
                        if words:
                            self.first.setdefault(words[0], now)
                            self.added += 1
                elif not line.startswith("#") and len(self.lines) < 1000:
                    self.lines.append(line)
                self._cond.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)


# A netlink listener run inside the namespace (``python -c``): it joins the
# nftables multicast group, keeps the set of elements in TABLE (adds minus
# deletes; interval ends are not elements) and prints "<monotonic> <count>"
# after each burst of events. "lost" means the socket overflowed.
_PROBE = r"""
import errno, socket, struct, sys, time
table = sys.argv[1].encode() + b"\0"
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
try:
    s.setsockopt(socket.SOL_SOCKET, 33, 1 << 29)  # SO_RCVBUFFORCE (root)
except OSError:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 26)
s.bind((0, 0))
s.setsockopt(270, 1, 7)  # SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, NFNLGRP_NFTABLES
NEW, DEL = (10 << 8) | 12, (10 << 8) | 14  # NFT_MSG_NEWSETELEM / DELSETELEM

def attrs(buf, i=0):
    while i + 4 <= len(buf):
        size, kind = struct.unpack_from("=HH", buf, i)
        if size < 4:
            return
        yield kind & 0x7FFF, buf[i + 4:i + size]
        i += (size + 3) & ~3

keys = set()

def parse(data):  # apply one datagram's element events; True if the count changed
    changed = False
    i = 0
    while i + 16 <= len(data):
        size, kind = struct.unpack_from("=IH", data, i)
        if size < 16:
            break
        if kind in (NEW, DEL):
            top = dict((k, v) for k, v in attrs(data[i + 20:i + size]) if k in (1, 2))
            if top.get(1) == table:
                for k, v in attrs(data[i + 20:i + size]):
                    if k != 3:
                        continue
                    for _, elem in attrs(v):
                        flags, key = 0, b""
                        for k3, v3 in attrs(elem):
                            if k3 == 3:
                                flags = struct.unpack(">I", v3)[0]
                            elif k3 == 1:
                                key = v3
                        if flags & 1:  # NFT_SET_ELEM_INTERVAL_END
                            continue
                        item = (top.get(2), key)
                        if kind == NEW:
                            keys.add(item)
                        else:
                            keys.discard(item)
                        changed = True
        i += (size + 3) & ~3
    return changed

print("ready", flush=True)
while True:
    # Drain the socket first, stamping each datagram as it is received, then
    # parse: parsing 100,000 events takes Python about a second, and stamping
    # after it would add that to the measurement.
    pending = []
    flags = 0
    while True:
        try:
            data = s.recv(1 << 20, flags)
        except BlockingIOError:
            break
        except OSError as e:
            if e.errno != errno.ENOBUFS:
                raise
            print("lost", flush=True)
            continue
        pending.append((time.monotonic(), data))
        flags = socket.MSG_DONTWAIT
    lines = []
    for when, data in pending:
        if parse(data):
            lines.append(f"{when:.6f} {len(keys)}\n")
    if lines:
        sys.stdout.write("".join(lines))
        sys.stdout.flush()
"""


class SetProbe:
    """How many elements the sets of one table hold, as the kernel reports changes."""

    def __init__(self, lab: Lab, ns: str, table: str) -> None:
        self.count = 0
        self.reached: dict[int, float] = {}
        self.lost = False
        self._cond = threading.Condition()
        self.proc = lab.spawn(
            ["ip", "netns", "exec", ns, sys.executable, "-I", "-c", _PROBE, table],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != b"ready":
            raise DaemonFailed(f"netlink listener in {ns} did not start")
        self._targets: list[int] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            words = raw.split()
            with self._cond:
                if words == [b"lost"]:
                    self.lost = True
                elif len(words) == 2:
                    when, self.count = float(words[0]), int(words[1])
                    for target in self._targets:
                        if self.count >= target:
                            self.reached.setdefault(target, when)
                self._cond.notify_all()

    def wait_count(
        self, target: int, timeout: float, alive: Callable[[], bool] = lambda: True
    ) -> float | None:
        """Monotonic time the sets first held ``target`` elements; None on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._targets.append(target)
            while target not in self.reached:
                left = deadline - time.monotonic()
                if left <= 0 or not alive():
                    return None
                self._cond.wait(min(left, 0.5))
            return self.reached[target]


def nft_elements(ns: str, table: str) -> int:
    """Elements in all sets of ``inet table``, from ``nft -j list table`` (0 if none)."""
    result = run(
        ["ip", "netns", "exec", ns, "nft", "-j", "list", "table", "inet", table],
        check=False,
        timeout=300,
    )
    if result.returncode != 0:
        return 0
    return sum(
        len(item["set"].get("elem", []))
        for item in json.loads(result.stdout)["nftables"]
        if "set" in item
    )


# --------------------------------------------------------------------------- daemons


@dataclass
class Daemon:
    """One daemon under test, started in a namespace; knows when it is ready."""

    tool: str
    ns: str
    proc: subprocess.Popen[bytes]
    started: float
    ready_at: float | None = None
    log: Path | None = None
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None


class Fail2ban:
    """``fail2ban-server -f`` with a configuration made for the run under WORK."""

    name = "fail2ban"
    table = "f2b-table"

    def __init__(self) -> None:
        exe = shutil.which("fail2ban-server")
        client = shutil.which("fail2ban-client")
        if exe is None or client is None or not (F2B_ETC / "jail.conf").is_file():
            raise BenchError("fail2ban-server not found: apt-get install fail2ban")
        self.exe, self.client = exe, client
        self.version = run([exe, "-V"]).stdout.strip()
        self.backend = self._backend(exe)

    @staticmethod
    def _backend(exe: str) -> str:
        """pyinotify (installing python3-pyinotify if need be), else polling."""
        shebang = Path(exe).read_text(errors="replace").splitlines()[0]
        python = shebang[2:].split()[0] if shebang.startswith("#!") else "/usr/bin/python3"
        probe = [python, "-c", "import pyinotify"]
        if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
            return "pyinotify"
        print("installing python3-pyinotify (Fail2ban's fastest file backend)...", flush=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "python3-pyinotify"],
            capture_output=True,
            check=False,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
            return "pyinotify"
        print(
            "warning: python3-pyinotify unavailable; Fail2ban uses the polling backend", flush=True
        )
        return "polling"

    def configure(self, work: Path, log: Path, maxretry: int) -> Path:
        """A config dir: Debian's stock files (linked) plus a fail2ban.local and jail.local.

        One jail, sshd, with Debian's filter and the nftables-multiport action,
        as an operator would configure it; only paths, backend and counts differ.
        """
        conf = work / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        for name in (
            "action.d",
            "filter.d",
            "fail2ban.conf",
            "jail.conf",
            "paths-common.conf",
            "paths-debian.conf",
        ):
            link = conf / name
            if not link.is_symlink():
                link.symlink_to(F2B_ETC / name)
        (conf / "fail2ban.local").write_text(
            "[Definition]\n"
            "loglevel = INFO\n"
            f"logtarget = {work / 'fail2ban.log'}\n"
            f"socket = {work / 'fail2ban.sock'}\n"
            f"pidfile = {work / 'fail2ban.pid'}\n"
            f"dbfile = {work / 'fail2ban.sqlite3'}\n"
            "dbpurgeage = 2d\n"
        )
        (conf / "jail.local").write_text(
            "[DEFAULT]\n"
            "banaction = nftables-multiport\n"
            "banaction_allports = nftables-allports\n"
            "ignoreself = false\n"
            "\n"
            f"[{JAIL}]\n"
            "enabled = true\n"
            "filter = sshd\n"
            "port = ssh\n"
            f"logpath = {log}\n"
            f"backend = {self.backend}\n"
            f"maxretry = {maxretry}\n"
            "findtime = 1d\n"
            "bantime = 1d\n"
        )
        return conf

    def start(
        self, lab: Lab, ns: str, work: Path, log: Path, maxretry: int, wait: bool = True
    ) -> Daemon:
        conf = self.configure(work, log, maxretry)
        flog = work / "fail2ban.log"
        offset = flog.stat().st_size if flog.exists() else 0
        out = (work / "fail2ban.stdout").open("ab")
        began = time.monotonic()
        proc = lab.spawn(
            [
                "ip",
                "netns",
                "exec",
                ns,
                self.exe,
                "-f",
                "-x",
                "-c",
                str(conf),
                "-s",
                str(work / "fail2ban.sock"),
                "-p",
                str(work / "fail2ban.pid"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        daemon = Daemon(self.name, ns, proc, began, log=flog)
        daemon.state["work"] = work
        daemon.state["log_offset"] = offset
        if wait:
            self.wait_ready(daemon)
        return daemon

    def wait_ready(self, daemon: Daemon, timeout: float = START_TIMEOUT) -> float:
        """When its log says the jail started (polled every 10 ms)."""
        assert daemon.log is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not daemon.alive():
                raise DaemonFailed(
                    f"fail2ban-server exited with {daemon.proc.returncode}; "
                    f"see {daemon.log} and {daemon.log.parent}/fail2ban.stdout"
                )
            with contextlib.suppress(OSError), daemon.log.open("rb") as fh:
                fh.seek(daemon.state["log_offset"])
                if f"Jail '{JAIL}' started".encode() in fh.read():
                    daemon.ready_at = time.monotonic()
                    return daemon.ready_at
            time.sleep(0.01)
        raise DaemonFailed(f"fail2ban-server not ready within {timeout:g} s; see {daemon.log}")

    def ctl(self, daemon: Daemon, *words: str, timeout: float = 120.0) -> str:
        sock = str(daemon.state["work"] / "fail2ban.sock")
        return run([self.client, "-s", sock, *words], timeout=timeout).stdout

    def counts(self, daemon: Daemon) -> dict[str, int]:
        """Failures seen and addresses tracked by the jail (fail2ban-client status)."""
        text = self.ctl(daemon, "status", JAIL)
        out = {}
        for key, label in (
            ("failures", "Total failed"),
            ("tracked", "Currently failed"),
            ("bans", "Total banned"),
        ):
            found = re.search(label + r":\s*(\d+)", text)
            if found:
                out[key] = int(found.group(1))
        return out

    def stored_bans(self, work: Path) -> int:
        with contextlib.closing(sqlite3.connect(work / "fail2ban.sqlite3")) as db:
            return int(
                db.execute("SELECT count(*) FROM bips WHERE jail = ?", (JAIL,)).fetchone()[0]
            )


class Rampart:
    """``rampart --config FILE watch`` with its state in a directory under WORK."""

    name = "rampart"
    table = "rampart"

    def __init__(self) -> None:
        override = os.environ.get("RAMPART_BIN")
        self.argv = shlex.split(override) if override else [str(ROOT / ".venv" / "bin" / "rampart")]
        exe = self.argv[0]
        if not (shutil.which(exe) or (Path(exe).is_file() and os.access(exe, os.X_OK))):
            raise BenchError(
                f"rampart not found at {exe}: .venv/bin/pip install -e . (or set RAMPART_BIN)"
            )
        probe = subprocess.run(
            [*self.argv, "watch", "--help"], capture_output=True, check=False, timeout=60
        )
        if probe.returncode != 0:
            raise BenchError("rampart watch not available yet")
        self.version = run([*self.argv, "--version"], check=False).stdout.strip()

    def configure(self, work: Path, log: Path, maxretry: int) -> Path:
        work.mkdir(parents=True, exist_ok=True)
        path = work / "rampart.toml"
        path.write_text(
            "[ban]\n"
            'backend = "nftables"\n'
            "protect_ssh_sessions = false\n"
            "\n"
            f"[ban.jails.{JAIL}]\n"
            'filter = "sshd"\n'
            'source = "file"\n'
            f"logpath = [{json.dumps(str(log))}]\n"
            f"maxretry = {maxretry}\n"
            'findtime = "1d"\n'
            'bantime = "1d"\n'
            'port = "ssh"\n'
            "ignoreself = false\n"
            "ipv6_prefix = 128\n"
        )
        return path

    def start(
        self, lab: Lab, ns: str, work: Path, log: Path, maxretry: int, wait: bool = True
    ) -> Daemon:
        config = self.configure(work, log, maxretry)
        env = {**os.environ, "RAMPART_STATE_DIR": str(work / "state")}
        began = time.monotonic()
        proc = lab.spawn(
            ["ip", "netns", "exec", ns, *self.argv, "--config", str(config), "watch"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        daemon = Daemon(self.name, ns, proc, began, log=work / "rampart.stderr")
        ready = threading.Event()
        daemon.state["ready"] = ready
        daemon.state["state_dir"] = work / "state"
        threading.Thread(target=self._drain, args=(daemon, ready), daemon=True).start()
        if wait:
            self.wait_ready(daemon)
        return daemon

    def counts(self, daemon: Daemon) -> dict[str, int]:
        """Failures seen, addresses tracked (and forgotten) by the jail: status.json."""
        path = daemon.state["state_dir"] / "status.json"
        try:
            jail = json.loads(path.read_text())["jails"][JAIL]
        except (OSError, ValueError, KeyError, TypeError):
            return {}
        return {
            k: jail[k]
            for k in ("failures", "tracked", "forgotten", "bans")
            if isinstance(jail.get(k), int)
        }

    @staticmethod
    def _drain(daemon: Daemon, ready: threading.Event) -> None:
        """Copy its stderr to a file; note when a line says "ready"."""
        assert daemon.proc.stderr is not None and daemon.log is not None
        with daemon.log.open("ab") as out:
            for line in daemon.proc.stderr:
                if not ready.is_set() and READY.search(line):
                    daemon.ready_at = time.monotonic()
                    ready.set()
                out.write(line)
                out.flush()

    def wait_ready(self, daemon: Daemon, timeout: float = START_TIMEOUT) -> float:
        ready: threading.Event = daemon.state["ready"]
        deadline = time.monotonic() + timeout
        while not ready.wait(0.05):
            if not daemon.alive():
                raise DaemonFailed(
                    f"rampart watch exited with {daemon.proc.returncode} "
                    f"before 'ready'; {tail(daemon.log)}"
                )
            if time.monotonic() > deadline:
                raise DaemonFailed(
                    f"rampart watch printed no 'ready' within {timeout:g} s; {tail(daemon.log)}"
                )
        assert daemon.ready_at is not None
        return daemon.ready_at


Tool = Fail2ban | Rampart


def tail(path: Path | None, lines: int = 8) -> str:
    if path is None or not path.exists():
        return "no output"
    text = path.read_text(errors="replace").strip().splitlines()[-lines:]
    return f"last lines of {path}:" + "".join(f"\n    {line}" for line in text)


def stop_daemon(lab: Lab, daemon: Daemon) -> dict[str, Any]:
    """Stop it; report its exit and whether it had died on its own before."""
    died = daemon.proc.poll()
    code = lab.stop(daemon.proc)
    return {"exit_code": code, "died_before_stop": died is not None}


# --------------------------------------------------------------------------- statistics


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile (a value that was measured, never interpolated)."""
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    s = sorted(values)
    return {
        "p50_ms": percentile(s, 50),
        "p90_ms": percentile(s, 90),
        "p99_ms": percentile(s, 99),
        "max_ms": s[-1],
        "min_ms": s[0],
        "mean_ms": sum(s) / len(s),
    }


def element_key(text: str) -> str:
    """An element as ``nft monitor`` prints it, normalised (``2001:db8::1`` or a network)."""
    try:
        if "/" in text:
            net = ipaddress.ip_network(text, strict=False)
            return (
                str(net.network_address)
                if net.prefixlen == net.max_prefixlen
                else net.with_prefixlen
            )
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


# --------------------------------------------------------------------------- 1. latency


def bench_latency(lab: Lab, tool: Tool, args: argparse.Namespace) -> dict[str, Any]:
    work = WORK / f"latency-{tool.name}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ns = lab.netns(f"{tool.name[:3]}lat")
    monitor = NftMonitor(lab, ns)
    log = LogFile(work / "auth.log")
    daemon = tool.start(lab, ns, work, log.path, maxretry=1)
    result: dict[str, Any] = {
        "tool": tool.name,
        "kernel_watch": "nft monitor",
        "start_to_ready_s": (daemon.ready_at or 0) - daemon.started,
    }
    try:
        # Warm-up: the first ban of each family creates tables/sets (Fail2ban does it
        # on demand); timed but kept out of the statistics.
        warm = addresses(2, start=3_000_000, v6_every=2)
        first: list[float] = []
        for i, addr in enumerate(warm):
            t0 = log.append(failure_line(addr, i, syslog_stamp(time.time())))
            if not monitor.wait(partial(operator.contains, monitor.first, addr), 30):
                raise DaemonFailed(
                    f"{tool.name}: warm-up ban of {addr} never reached the "
                    f"kernel; {tail(daemon.log)}"
                )
            first.append((monitor.first[addr] - t0) * 1000)
        result["warmup_ms"] = dict(zip(("ipv4", "ipv6"), first, strict=True))

        addrs = addresses(args.bans, start=0)
        wrote: dict[str, float] = {}
        pace = args.pace_ms / 1000
        t_start = time.monotonic()
        for i, addr in enumerate(addrs):
            delay = t_start + i * pace - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            wrote[addr] = log.append(failure_line(addr, i, syslog_stamp(time.time())))
            if i % 200 == 199 and not daemon.alive():
                raise DaemonFailed(f"{tool.name} died during the run; {tail(daemon.log)}")
        written_in = time.monotonic() - t_start

        # Wait for the stragglers: until all arrived, or nothing new for 10 s.
        def seen() -> int:
            return sum(1 for a in addrs if a in monitor.first)

        last, last_change = -1, time.monotonic()
        while True:
            n = seen()
            if n == len(addrs):
                break
            if n != last:
                last, last_change = n, time.monotonic()
            if time.monotonic() - last_change > 10 or not daemon.alive():
                break
            monitor.wait(lambda: False, 0.2)
        arrived = {element_key(k): v for k, v in list(monitor.first.items())}
        lat_v4: list[float] = []
        lat_v6: list[float] = []
        ordered: list[float] = []  # in the order the lines were written
        missing: list[str] = []
        for addr in addrs:
            when = arrived.get(element_key(addr))
            if when is None and ":" in addr:  # banned by its /64 after all?
                when = arrived.get(ipaddress.ip_network(f"{addr}/64", strict=False).with_prefixlen)
            if when is None:
                missing.append(addr)
                continue
            ms = (when - wrote[addr]) * 1000
            (lat_v6 if ":" in addr else lat_v4).append(ms)
            ordered.append(ms)
        tenth = max(1, len(ordered) // 10)
        result.update(
            {
                "bans": len(addrs),
                "arrived": len(addrs) - len(missing),
                "missing_first": missing[:10],
                "pace_ms": args.pace_ms,
                "lines_written_in_s": written_in,
                "all": summarize(lat_v4 + lat_v6),
                "ipv4": summarize(lat_v4),
                "ipv6": summarize(lat_v6),
                # Queueing shows as latency that grows over the run.
                "p50_first_tenth_ms": summarize(ordered[:tenth]).get("p50_ms"),
                "p50_last_tenth_ms": summarize(ordered[-tenth:]).get("p50_ms"),
                "elements_added_total": monitor.added,
                "elements_in_kernel_at_end": nft_elements(ns, tool.table),
            }
        )
    finally:
        log.close()
        result.update(stop_daemon(lab, daemon))
        lab.stop(monitor.proc)
        lab.drop_netns(ns)
    return result


# --------------------------------------------------------------------------- 2. restore


def fill_fail2ban(lab: Lab, tool: Fail2ban, work: Path, log: Path, addrs: list[str]) -> float:
    """Ban ``addrs`` through fail2ban-client (Fail2ban's own way), then stop it."""
    ns = lab.netns("f2bfill")
    try:
        daemon = tool.start(lab, ns, work, log, maxretry=1)
        began = time.monotonic()
        for i in range(0, len(addrs), 500):
            tool.ctl(daemon, "set", JAIL, "banip", *addrs[i : i + 500], timeout=600)
        # banip returns once queued in the DB; wait until the actions have run.
        deadline = time.monotonic() + 900
        while nft_elements(ns, tool.table) < len(addrs):
            if time.monotonic() > deadline or not daemon.alive():
                raise DaemonFailed(
                    f"fail2ban: banning {len(addrs)} through fail2ban-client did not finish"
                )
            time.sleep(1)
        took = time.monotonic() - began
        stop_daemon(lab, daemon)
    finally:
        lab.drop_netns(ns)
    return took


def fill_rampart(work: Path, addrs: list[str]) -> float:
    """Store ``addrs`` as active bans with rampart's own library (not timed)."""
    sys.path.insert(0, str(ROOT / "src"))
    try:
        from rampart.ban import Ban, parse_target
        from rampart.store import BanStore
    except ImportError as exc:
        raise BenchError(
            f"cannot import rampart's store ({exc}): run with .venv/bin/python"
        ) from None
    state = work / "state"
    shutil.rmtree(state, ignore_errors=True)
    now = time.time()
    began = time.monotonic()
    # banned_at grows along the list: the oldest ban first, as restored.
    bans = [
        Ban(
            target=parse_target(a),
            jail=JAIL,
            banned_at=now - len(addrs) + i,
            expires_at=now + 86400,
        )
        for i, a in enumerate(addrs)
    ]
    with BanStore(state / "bans.sqlite3") as store:
        bulk = next(
            (
                getattr(store, n)
                for n in ("add_many", "add_all", "extend", "bulk_add")
                if callable(getattr(store, n, None))
            ),
            None,
        )
        if bulk is not None:
            bulk(bans)
        else:
            for ban in bans:
                store.add(ban)
        stored = len(store.active(time.time()))
    if stored != len(addrs):
        raise DaemonFailed(f"rampart store holds {stored} active bans, not {len(addrs)}")
    return time.monotonic() - began


def bench_restore(lab: Lab, tool: Tool, args: argparse.Namespace) -> dict[str, Any]:
    count = args.f2b_restore_bans if isinstance(tool, Fail2ban) else args.restore_bans
    work = WORK / f"restore-{tool.name}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log = LogFile(work / "auth.log")
    log.close()
    addrs = addresses(count, start=0)
    print(f"  {tool.name}: storing {count:,} bans...", flush=True)
    if isinstance(tool, Fail2ban):
        fill_s = fill_fail2ban(lab, tool, work, log.path, addrs)
        stored = tool.stored_bans(work)
        how = "fail2ban-client set sshd banip (500 per call), then stopped"
    else:
        fill_s = fill_rampart(work, addrs)
        stored = count
        how = "BanStore (rampart's library)"
    result: dict[str, Any] = {
        "tool": tool.name,
        "stored_bans": stored,
        "fill": how,
        "fill_s": fill_s,
        "kernel_watch": "netlink listener (NFNLGRP_NFTABLES) in the netns",
    }
    if stored != count:
        raise DaemonFailed(f"{tool.name}: {stored} bans stored, expected {count}")

    # A fresh namespace, as after a reboot: the kernel holds nothing.
    ns = lab.netns(f"{tool.name[:3]}rst")
    try:
        probe = SetProbe(lab, ns, tool.table)
        daemon = tool.start(lab, ns, work, log.path, maxretry=1, wait=False)
        tool.wait_ready(daemon, timeout=args.restore_timeout)
        done = probe.wait_count(count, args.restore_timeout, daemon.alive)
        result.update(
            {
                "start_to_ready_s": (daemon.ready_at or 0) - daemon.started,
                "start_to_all_in_kernel_s": None if done is None else done - daemon.started,
                "in_kernel_when_done": probe.count,
                "events_lost": probe.lost,
            }
        )
        if done is None:
            result["error"] = (
                f"only {probe.count:,} of {count:,} in the kernel after "
                f"{args.restore_timeout:g} s" + ("" if daemon.alive() else " (daemon died)")
            )
        result["elements_listed_after"] = nft_elements(ns, tool.table)
        result.update(stop_daemon(lab, daemon))
        lab.stop(probe.proc)
    finally:
        lab.drop_netns(ns)
    if not isinstance(tool, Fail2ban):
        # The listener itself costs a batch time: the kernel writes one event per
        # element it adds. rampart adds all in one `nft -f` and prints "ready" only
        # after nft returned (the kernel committed), so it is timed again without
        # the listener, to "ready", and the kernel's set is then counted.
        ns = lab.netns(f"{tool.name[:3]}rs2")
        try:
            daemon = tool.start(lab, ns, work, log.path, maxretry=1, wait=False)
            tool.wait_ready(daemon, timeout=args.restore_timeout)
            listed = nft_elements(ns, tool.table)
            result["without_listener"] = {
                "start_to_ready_s": (daemon.ready_at or 0) - daemon.started,
                "elements_listed_after_ready": listed,
            }
            stop_daemon(lab, daemon)
        finally:
            lab.drop_netns(ns)
    return result


# --------------------------------------------------------------------------- 3. memory


def bench_memory(lab: Lab, tool: Tool, args: argparse.Namespace) -> dict[str, Any]:
    n = args.memory_addresses
    work = WORK / f"memory-{tool.name}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ns = lab.netns(f"{tool.name[:3]}mem")
    log = LogFile(work / "auth.log")
    daemon = tool.start(lab, ns, work, log.path, maxretry=max(n, 2))
    pid = daemon.pid
    rss_ready = proc_status(pid)
    result: dict[str, Any] = {
        "tool": tool.name,
        "addresses": n,
        "rss_ready_mib": rss_ready.get("VmRSS", 0) / 1024,
    }
    try:
        addrs = addresses(n, start=0)
        began = time.monotonic()
        chunk = 5000
        for i in range(0, n, chunk):
            stamp = syslog_stamp(time.time())
            log.append(
                "".join(failure_line(a, i + j, stamp) for j, a in enumerate(addrs[i : i + chunk]))
            )
        written = time.monotonic()
        del addrs
        result["write_s"] = written - began
        # Read = its own count says every failure was seen (fail2ban-client status;
        # rampart's status.json), asked once it has gone quiet (under 10 % of a core
        # over 2 s: a daemon never idles completely); or quiet for IDLE_GIVE_UP s
        # whatever the count; capped at --memory-timeout. "read in" ends at the
        # last 0.25 s in which it used over 20 % of a core.
        deadline = began + args.memory_timeout
        samples: list[tuple[float, float]] = [(time.monotonic(), cpu_seconds(pid) or 0.0)]
        timeline: list[tuple[float, float, float, int]] = []
        cheap_counts = isinstance(tool, Rampart)  # a file; Fail2ban's costs a client run
        peak, busy_until, quiet_since = 0, written, None
        finished = False
        counts: dict[str, int] = {}
        while time.monotonic() < deadline and daemon.alive():
            time.sleep(0.25)
            now, cpu = time.monotonic(), cpu_seconds(pid) or samples[-1][1]
            st = proc_status(pid)
            peak = max(peak, st.get("VmHWM", 0))
            if cpu - samples[-1][1] > 0.2 * (now - samples[-1][0]):
                busy_until = now
            samples.append((now, cpu))
            if len(samples) % 4 == 0:
                seen = tool.counts(daemon).get("failures", -1) if cheap_counts else -1
                timeline.append(
                    (
                        round(now - began, 2),
                        round(st.get("VmRSS", 0) / 1024, 1),
                        round(cpu, 2),
                        seen,
                    )
                )
            window = [c for t, c in samples if now - t <= 2.0]
            quiet = now - written >= 2.0 and cpu - window[0] < 0.2
            if not quiet:
                quiet_since = None
                continue
            quiet_since = quiet_since or now
            counts = tool.counts(daemon)
            if counts.get("failures", n) >= n or now - quiet_since >= IDLE_GIVE_UP:
                finished = True
                break
        status = proc_status(pid)
        if daemon.alive():
            counts = tool.counts(daemon)
        result.update(
            {
                "finished": finished,
                "died": not daemon.alive(),
                "seconds_to_idle": (busy_until - began) if finished else None,
                "cpu_s": cpu_seconds(pid),
                "peak_rss_mib": max(peak, status.get("VmHWM", 0)) / 1024,
                "rss_end_mib": status.get("VmRSS", 0) / 1024,
                "counts": counts,
                "timeline_s_rss_mib_cpu_s_failures": timeline,
            }
        )
        result["elements_in_kernel"] = nft_elements(ns, tool.table)
    finally:
        log.close()
        result.update(stop_daemon(lab, daemon))
        lab.drop_netns(ns)
        if not args.keep:
            log.path.unlink(missing_ok=True)
            (work / "fail2ban.log").unlink(missing_ok=True)
    return result


# --------------------------------------------------------------------------- report


def fmt(value: float | None, spec: str = ".1f", none: str = "-") -> str:
    return none if value is None else format(value, spec)


def report_latency(rows: list[dict[str, Any]]) -> dict[str, Any]:
    print("\n1. line to kernel (appended line -> element in the nftables set, nft monitor)")
    print(
        f"{'tool':<10} {'arrived':>11} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'v4 p99':>8} {'v6 p99':>8} {'1st ban ms':>11}"
    )
    for r in rows:
        if "error" in r:
            print(f"{r['tool']:<10} failed: {r['error']}")
            continue
        a = r["all"]
        print(
            f"{r['tool']:<10} {r['arrived']:>5,}/{r['bans']:<5,} {fmt(a.get('p50_ms')):>8} "
            f"{fmt(a.get('p90_ms')):>8} {fmt(a.get('p99_ms')):>8} {fmt(a.get('max_ms')):>8} "
            f"{fmt(r['ipv4'].get('p99_ms')):>8} {fmt(r['ipv6'].get('p99_ms')):>8} "
            f"{fmt(r['warmup_ms'].get('ipv4'), '.0f'):>11}"
        )
    by = {r["tool"]: r for r in rows if "error" not in r}
    out: dict[str, Any] = {}
    if "fail2ban" in by and "rampart" in by and by["rampart"]["all"]:
        f, r = by["fail2ban"]["all"], by["rampart"]["all"]
        out = {"p50_ratio": f["p50_ms"] / r["p50_ms"], "p99_ratio": f["p99_ms"] / r["p99_ms"]}
        complete = by["rampart"]["arrived"] == by["rampart"]["bans"]
        met = r["p99_ms"] <= GOAL_P99_MS and out["p99_ratio"] >= GOAL_RATIO and complete
        out["goal_met"] = met
        print(
            f"fail2ban/rampart: p50 x{out['p50_ratio']:.1f}, p99 x{out['p99_ratio']:.1f} "
            f"lower with rampart; goal p99 <= {GOAL_P99_MS:g} ms and >= {GOAL_RATIO:g}x "
            f"lower: {'met' if met else 'NOT met'}"
        )
    return out


def report_restore(rows: list[dict[str, Any]]) -> dict[str, Any]:
    print("\n2. restore on start (process start -> every stored ban in the kernel)")
    print(f"{'tool':<10} {'stored':>9} {'ready s':>9} {'all in s':>9} {'bans/s':>9} {'listed':>9}")
    out: dict[str, Any] = {}
    for r in rows:
        if "stored_bans" not in r:
            print(f"{r['tool']:<10} failed: {r.get('error')}")
            continue
        done = r.get("start_to_all_in_kernel_s")
        rate = r["stored_bans"] / done if done else None
        print(
            f"{r['tool']:<10} {r['stored_bans']:>9,} {fmt(r.get('start_to_ready_s'), '.2f'):>9}"
            f" {fmt(done, '.2f'):>9} {fmt(rate, ',.0f'):>9} "
            f"{r.get('elements_listed_after', 0):>9,}"
            + (f"  ({r['error']})" if r.get("error") else "")
        )
        quiet = r.get("without_listener")
        if quiet:
            print(
                f"{r['tool']:<10} {r['stored_bans']:>9,} "
                f"{fmt(quiet['start_to_ready_s'], '.2f'):>9} {'':>9} {'':>9} "
                f"{quiet['elements_listed_after_ready']:>9,}  (no listener: nft returned)"
            )
            if quiet["elements_listed_after_ready"] >= r["stored_bans"]:
                done = min(done, quiet["start_to_ready_s"]) if done else quiet["start_to_ready_s"]
        if r["tool"] == "rampart" and done is not None and r["stored_bans"] >= GOAL_RESTORE_BANS:
            out["rampart_goal_met"] = done < GOAL_RESTORE_S
            print(
                f"rampart: {r['stored_bans']:,} in {done:.2f} s; goal under "
                f"{GOAL_RESTORE_S:g} s: {'met' if done < GOAL_RESTORE_S else 'NOT met'}"
            )
    rates = {
        r["tool"]: r["stored_bans"] / r["start_to_all_in_kernel_s"]
        for r in rows
        if r.get("start_to_all_in_kernel_s")
    }
    if len(rates) == 2:
        out["rate_ratio"] = rates["rampart"] / rates["fail2ban"]
        print(f"rampart/fail2ban: x{out['rate_ratio']:.0f} bans restored per second")
    return out


def report_memory(rows: list[dict[str, Any]]) -> dict[str, Any]:
    print("\n3. memory tracking failures from distinct addresses (maxretry = addresses)")
    print(
        f"{'tool':<10} {'addresses':>10} {'failures':>10} {'tracked':>10} {'read in s':>10} "
        f"{'cpu s':>8} {'RSS ready':>10} {'peak RSS':>10} {'RSS end':>10}  (MiB)"
    )
    for r in rows:
        if "peak_rss_mib" not in r:
            print(f"{r['tool']:<10} failed: {r.get('error')}")
            continue
        counts = r.get("counts", {})
        note = "" if r["finished"] else "  (not finished: cap reached or died)"
        if counts.get("forgotten"):
            note += f"  forgot {counts['forgotten']:,}"
        print(
            f"{r['tool']:<10} {r['addresses']:>10,} {fmt(counts.get('failures'), ','):>10} "
            f"{fmt(counts.get('tracked'), ','):>10} {fmt(r['seconds_to_idle']):>10} "
            f"{fmt(r['cpu_s']):>8} {r['rss_ready_mib']:>10.1f} {r['peak_rss_mib']:>10.1f} "
            f"{r['rss_end_mib']:>10.1f}{note}"
        )
    by = {r["tool"]: r for r in rows if "peak_rss_mib" in r}
    out: dict[str, Any] = {}
    if len(by) == 2:
        out["peak_rss_ratio"] = by["rampart"]["peak_rss_mib"] / by["fail2ban"]["peak_rss_mib"]
        print(f"rampart/fail2ban: peak RSS x{out['peak_rss_ratio']:.2f} (lower is better)")
    return out


def write_json(path: Path, data: object) -> None:
    """Write atomically: a reader never sees half a result."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


@contextlib.contextmanager
def signals_as_exit() -> Iterator[None]:
    """SIGTERM and SIGHUP end the run like Ctrl-C does: cleanup runs."""

    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--latency", action="store_true", help="1. line to kernel")
    parser.add_argument("--restore", action="store_true", help="2. restore on start")
    parser.add_argument("--memory", action="store_true", help="3. memory, many addresses")
    parser.add_argument("--bans", type=int, default=1000, help="latency: bans (default 1000)")
    parser.add_argument(
        "--pace-ms",
        type=float,
        default=40.0,
        help="latency: ms between two appended lines (default 40)",
    )
    parser.add_argument(
        "--restore-bans",
        type=int,
        default=100_000,
        help="restore: bans stored for rampart (default 100000)",
    )
    parser.add_argument(
        "--f2b-restore-bans",
        type=int,
        default=5_000,
        help="restore: bans stored for Fail2ban (default 5000)",
    )
    parser.add_argument(
        "--restore-timeout",
        type=float,
        default=600.0,
        help="restore: give up after this many seconds (default 600)",
    )
    parser.add_argument(
        "--memory-addresses",
        type=int,
        default=1_000_000,
        help="memory: distinct addresses (default 1000000)",
    )
    parser.add_argument(
        "--memory-timeout",
        type=float,
        default=600.0,
        help="memory: give up reading after this many seconds (default 600)",
    )
    parser.add_argument("--fail2ban-only", action="store_true", help="the anchor alone")
    parser.add_argument("--rampart-only", action="store_true", help="rampart alone")
    parser.add_argument(
        "--keep", action="store_true", help="keep the big logs of the memory run in bench/out/watch"
    )
    args = parser.parse_args(argv)
    if args.fail2ban_only and args.rampart_only:
        parser.error("--fail2ban-only and --rampart-only exclude each other")
    if min(args.bans, args.restore_bans, args.f2b_restore_bans, args.memory_addresses) < 1:
        parser.error("counts must be at least 1")
    phases = [p for p in ("latency", "restore", "memory") if getattr(args, p)] or [
        "latency",
        "restore",
        "memory",
    ]

    if os.geteuid() != 0:
        print("bench_watch: needs root (network namespaces, nftables)", file=sys.stderr)
        return 2
    for prog, pkg in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(prog) is None:
            print(f"bench_watch: {prog} not found: apt-get install {pkg}", file=sys.stderr)
            return 2
    tools: list[Tool] = []
    notes: list[str] = []
    try:
        if not args.rampart_only:
            tools.append(Fail2ban())
        if not args.fail2ban_only:
            try:
                tools.append(Rampart())
            except BenchError as exc:
                if args.rampart_only:
                    raise
                print(str(exc), flush=True)
                notes.append(str(exc))
    except BenchError as exc:
        print(f"bench_watch: {exc}", file=sys.stderr)
        return 2
    if not tools:
        print("bench_watch: no tool to run", file=sys.stderr)
        return 2

    OUT.mkdir(exist_ok=True)
    WORK.mkdir(exist_ok=True)
    load = os.getloadavg()[0]
    if load > 0.5:
        print(
            f"warning: load average {load:.2f} before the runs; other work on this machine "
            "adds latency",
            flush=True,
        )
    remove_stale_netns()
    results: dict[str, list[dict[str, Any]]] = {p: [] for p in phases}
    failed = False
    bench = {"latency": bench_latency, "restore": bench_restore, "memory": bench_memory}
    with signals_as_exit(), Lab() as lab:
        try:
            for phase in phases:
                for tool in tools:
                    print(f"{phase}: {tool.name}...", flush=True)
                    began = time.monotonic()
                    try:
                        row = bench[phase](lab, tool, args)
                    except DaemonFailed as exc:
                        failed = True
                        print(f"  {tool.name}: FAILED: {exc}", flush=True)
                        row = {"tool": tool.name, "error": str(exc)}
                    if (
                        row.get("error")
                        or row.get("died_before_stop")
                        or row.get("arrived", 0) < row.get("bans", 0)
                    ):
                        failed = True
                    row["phase_wall_s"] = time.monotonic() - began
                    results[phase].append(row)
        except BenchError as exc:
            print(f"bench_watch: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("\ninterrupted: stopping daemons and removing namespaces", file=sys.stderr)
            return 130

    summary: dict[str, Any] = {}
    if "latency" in results:
        summary["latency"] = report_latency(results["latency"])
    if "restore" in results:
        summary["restore"] = report_restore(results["restore"])
    if "memory" in results:
        summary["memory"] = report_memory(results["memory"])
    for note in notes:
        print(note)

    data = {
        "benchmark": "watch",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load,
        },
        "versions": {t.name: t.version for t in tools},
        "fail2ban_backend": next((t.backend for t in tools if isinstance(t, Fail2ban)), None),
        "settings": {k: v for k, v in vars(args).items()},
        "goals": {
            "latency_p99_ms": GOAL_P99_MS,
            "latency_ratio": GOAL_RATIO,
            "restore_s": GOAL_RESTORE_S,
            "restore_bans": GOAL_RESTORE_BANS,
        },
        "results": results,
        "summary": summary,
        "notes": notes,
    }
    write_json(OUT / "bench_watch.json", data)
    print(f"result: {(OUT / 'bench_watch.json').relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

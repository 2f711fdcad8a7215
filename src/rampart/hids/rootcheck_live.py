"""Rootkit checks of the running kernel: hidden processes, hidden ports, sniffing interfaces.

A kernel rootkit hides its processes and sockets from /proc, but it rarely
hides them from every system call too. So the kernel is asked twice, by two
routes, and the answers compared (the method of OSSEC's rootcheck and
chkrootkit's chkproc): a pid that answers ``kill(pid, 0)`` but is not in
/proc, a port that ``bind()`` finds taken but /proc/net does not list.

Every difference is checked a second time before it is reported, so a
process or connection that merely started or ended during the scan is not a
finding. The port scan binds each free port for a moment (no listen, no
packet): a service starting at that very microsecond could fail to bind.
"""

import errno
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from rampart.errors import RampartError
from rampart.hids.event import Event

EventMaker = Callable[..., Event]
PROC = Path("/proc")
SYS_NET = Path("/sys/class/net")
IFF_PROMISC = 0x100
DEFAULT_PID_MAX = 4_194_304


# --- processes ---------------------------------------------------------------


def listed_pids(proc: Path = PROC) -> tuple[set[int], set[int]]:
    """Processes in /proc, and every thread id under their ``task`` folders."""
    try:
        pids = {int(name) for name in os.listdir(proc) if name.isdigit()}
    except OSError as error:
        raise RampartError(f"{proc}: cannot list processes: {error.strerror}") from None
    tasks: set[int] = set()
    for pid in pids:
        try:
            tasks.update(
                int(name) for name in os.listdir(proc / str(pid) / "task") if name.isdigit()
            )
        except OSError:
            continue
    return pids, tasks


def answers_signals(pid: int) -> bool:
    """Whether a process or thread ``pid`` exists, asked of kill(2) (no signal is sent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pid_max(proc: Path = PROC) -> int:
    try:
        return int((proc / "sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        return DEFAULT_PID_MAX


def unlisted_pids(
    listed: set[int], alive: Callable[[int], bool], candidates: Iterable[int]
) -> list[int]:
    """The ``candidates`` that ``alive`` says exist but that are not ``listed``."""
    return [pid for pid in candidates if pid not in listed and alive(pid)]


def hidden_pids(proc: Path = PROC, alive: Callable[[int], bool] = answers_signals) -> list[int]:
    """Pids alive but missing from /proc, confirmed by a second look."""
    pids, tasks = listed_pids(proc)
    first = unlisted_pids(pids | tasks, alive, range(1, pid_max(proc) + 1))
    if not first:
        return []
    pids, tasks = listed_pids(proc)  # a process born during the scan is listed by now
    return unlisted_pids(pids | tasks, alive, first)


def hidden_process_events(event: EventMaker) -> Iterator[Event]:
    """Rule 511."""
    for pid in hidden_pids():
        reachable = os.path.exists(PROC / str(pid))
        yield event(
            511,
            12,
            "Process hidden from /proc (kernel rootkit)",
            f"pid {pid}",
            f"kill({pid}, 0) answers but /proc does not list it"
            + ("; /proc/<pid> still opens by name" if reachable else ""),
        )


# --- ports -------------------------------------------------------------------


def listed_ports(protocol: str, proc_net: Path = PROC / "net") -> set[int]:
    """Local ports of every socket /proc/net lists for ``tcp`` or ``udp`` (IPv4 and IPv6)."""
    ports: set[int] = set()
    for name in (protocol, protocol + "6"):
        try:
            lines = (proc_net / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 1 and ":" in fields[1]:
                try:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
                except ValueError:
                    continue
    return ports


def port_taken(protocol: str, port: int) -> bool:
    """Whether binding ``port`` (any address, IPv4 or IPv6) fails because it is in use."""
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    for family, address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):  # noqa: S104
        try:
            probe = socket.socket(family, kind)
        except OSError:
            continue  # no IPv6 on this host
        try:
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            probe.bind((address, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return True
        finally:
            probe.close()
    return False


def unlisted_ports(
    listed: set[int], taken: Callable[[int], bool], candidates: Iterable[int]
) -> list[int]:
    """The ``candidates`` not ``listed`` that ``taken`` finds in use."""
    return [port for port in candidates if port not in listed and taken(port)]


def hidden_ports(protocol: str, proc_net: Path = PROC / "net") -> list[int]:
    """Ports in use but missing from /proc/net, confirmed by a second look."""

    def taken(port: int) -> bool:
        return port_taken(protocol, port)

    first = unlisted_ports(listed_ports(protocol, proc_net), taken, range(1, 65536))
    if not first:
        return []
    return unlisted_ports(listed_ports(protocol, proc_net), taken, first)


def hidden_port_events(event: EventMaker) -> Iterator[Event]:
    """Rule 512."""
    for protocol in ("tcp", "udp"):
        for port in hidden_ports(protocol):
            yield event(
                512,
                12,
                "Port in use but hidden from /proc/net (kernel rootkit)",
                f"{protocol}/{port}",
                f"bind() finds {protocol} port {port} taken; /proc/net/{protocol} lists no socket",
            )


# --- interfaces --------------------------------------------------------------


def promiscuous_interfaces(sys_net: Path = SYS_NET) -> list[str]:
    """Interfaces put in promiscuous mode, leaving out bridge and bond ports (the kernel's)."""
    found = []
    try:
        names = sorted(os.listdir(sys_net))
    except OSError:
        return []
    for name in names:
        folder = sys_net / name
        try:
            flags = int((folder / "flags").read_text().strip(), 16)
        except (OSError, ValueError):
            continue
        if flags & IFF_PROMISC and not (folder / "master").exists():
            found.append(name)
    return found


def promiscuous_events(event: EventMaker) -> Iterator[Event]:
    """Rule 513."""
    for name in promiscuous_interfaces():
        yield event(
            513,
            8,
            "Network interface in promiscuous mode (a sniffer may be running)",
            name,
            f"{name} receives every frame on its link; 'ip -d link show {name}' shows who",
        )

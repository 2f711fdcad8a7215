"""``rampart ssh move-port NEW`` and ``rampart ssh confirm``: move sshd to another port safely.

Two steps, so that the operator proves a new connection works before the old
port goes away:

1. :func:`move_port` adds ``Port NEW`` beside the Port lines in force (sshd
   then listens on both), checks the file with ``sshd -t`` and the effective
   ports with ``sshd -T``, opens NEW in ``table inet rampart_fw`` (only when
   that table is loaded), reloads sshd (SIGHUP to its ``PidFile`` pid) and
   checks that a real connection gets the ``SSH-2.0-`` banner on NEW *and* on
   the old port(s); then it records the move in ``STATE_DIR/ssh-move.json``.
2. :func:`confirm` comments out the old Port lines, reloads, checks the
   banner on NEW and deletes the record.

On any failure the previous file is written back, sshd reloaded again and the
firewall table put back as it was; one :class:`MoveError` says what failed.

The firewall: editing the operator's ``rampart.toml`` is risky, so
:func:`move_port` applies the ``[firewall]`` policy it is given *plus* one
allow entry for NEW (the same :func:`rampart.firewall.apply.apply`, lockout
guard included), and records NEW in the state directory
(:func:`rampart.firewall.apply.remember_ssh_port`), which every later
``rampart firewall plan | apply`` adds to the policy
(:func:`~rampart.firewall.apply.effective_policy`). Rampart never adds the
old port, so :func:`confirm` has nothing to take out of the firewall; if
``[firewall]`` allows it, the operator is told to remove it there.
"""

import contextlib
import json
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from rampart.config import FirewallService, FirewallSettings
from rampart.errors import RampartError
from rampart.files import write_atomically
from rampart.firewall.apply import apply as apply_policy
from rampart.firewall.apply import live_table, remember_ssh_port
from rampart.firewall.interface import netns_prefix
from rampart.firewall.policy import replace_batch
from rampart.ssh.config import MARK, keyword_of
from rampart.ssh.harden import _pid_of, _sshd, banner, effective, reload
from rampart.system import CommandError, run

PENDING = "ssh-move.json"

_BANNER_SCRIPT = (
    "import sys\n"
    "from rampart.ssh.harden import banner\n"
    "print(banner((sys.argv[1], int(sys.argv[2])), float(sys.argv[3])))\n"
)


class MoveError(RampartError):
    """The port move was refused, or failed and was rolled back."""


@dataclass(frozen=True)
class Move:
    """A move waiting for :func:`confirm`: what was in force before, and the new port."""

    config_path: Path
    old_ports: tuple[int, ...]
    new_port: int
    netns: str | None
    snippet: str


def _ports(values: dict[str, list[str]]) -> set[int]:
    return {int(value) for value in values.get("port", []) if value.isdigit()}


def add_port(text: str, port: int, old_ports: tuple[int, ...]) -> str:
    """``text`` with ``Port port`` after the last global Port line.

    Without any Port line sshd uses 22 only while no Port is given, so then
    the old ports are written out too (before the first ``Match`` or at the end).
    """
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    last: int | None = None
    match_at: int | None = None
    for index, line in enumerate(lines):
        key = keyword_of(line)
        if key == "match":
            match_at = index
            break
        if key == "port":
            last = index
    if last is not None:
        lines.insert(last + 1, f"Port {port}\n")
    else:
        at = len(lines) if match_at is None else match_at
        lines[at:at] = [f"Port {p}\n" for p in (*old_ports, port)]
    return "".join(lines)


def remove_ports(text: str, ports: tuple[int, ...]) -> str:
    """``text`` with the global ``Port`` lines for ``ports`` commented out."""
    wanted = {str(p) for p in ports}
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        key = keyword_of(line)
        if key == "match":
            break
        if key == "port" and line.split()[1:2] and line.split()[1] in wanted:
            lines[index] = f"{MARK} {line.lstrip()}"
    return "".join(lines)


def in_use(port: int, netns: str | None = None) -> bool:
    """Does anything listen on TCP ``port`` (in ``netns``)?"""
    result = run([*netns_prefix(netns), "ss", "-Hltn", f"sport = :{port}"], check=False)
    return bool(result.stdout.strip())


def check_banner(address: tuple[str, int], timeout: float, netns: str | None = None) -> str:
    """The SSH banner on ``address``, seen from inside ``netns`` (default: here)."""
    if netns is None:
        return banner(address, timeout)
    argv = [*netns_prefix(netns), sys.executable, "-c", _BANNER_SCRIPT]
    try:
        result = run([*argv, address[0], str(address[1]), str(timeout)], timeout=timeout + 10)
    except CommandError as error:
        raise MoveError(f"no SSH banner on {address[0]} port {address[1]}: {error}") from None
    return result.stdout.strip()


def snippet(host: str, port: int) -> str:
    """The ``~/.ssh/config`` lines for the workstation."""
    return f"Host {host}\n  HostName {host}\n  Port {port}\n"


def _pidfile(values: dict[str, list[str]]) -> Path | None:
    value = (values.get("pidfile") or [""])[0]
    return Path(value) if value and value != "none" else None


def _write(path: Path, text: str, mode: int) -> None:
    write_atomically(path, lambda out: out.write(text), mode=mode)


def with_port(policy: FirewallSettings, port: int) -> FirewallSettings:
    """``policy`` plus an allow entry for TCP ``port`` from anywhere."""
    extra = FirewallService.model_validate({"port": port})
    return policy.model_copy(update={"allow": (*policy.allow, extra)})


def move_port(
    new: int,
    *,
    config_path: Path,
    state_dir: Path,
    firewall: FirewallSettings | None = None,
    netns: str | None = None,
    sshd: str = "sshd",
    pid: int | None = None,
    check_host: str = "127.0.0.1",
    host: str | None = None,
    timeout: float = 10.0,
) -> Move:
    """Make sshd listen on ``new`` as well as its old port(s); see the module."""
    config_path = Path(config_path)
    pending = state_dir / PENDING
    if pending.exists():
        raise MoveError(f"a port move waits for 'rampart ssh confirm' ({pending})")
    if not 1 <= new <= 65535:
        raise MoveError(f"port {new}: not between 1 and 65535")
    try:
        old_text = config_path.read_text(encoding="utf-8")
    except OSError as error:
        raise MoveError(f"{config_path}: cannot read: {error.strerror}") from None
    try:
        values = effective(sshd, config_path, timeout)
    except CommandError as error:
        raise MoveError(f"{config_path}: sshd -T fails: {error}") from None
    old_ports = tuple(sorted(_ports(values))) or (22,)
    if new in old_ports:
        raise MoveError(f"sshd already listens on port {new}: nothing to move")
    if in_use(new, netns):
        raise MoveError(f"port {new} is in use by another listener; pick another")
    pidfile = _pidfile(values)
    running = _pid_of(pid, pidfile)
    mode = config_path.stat().st_mode & 0o7777
    new_text = add_port(old_text, new, old_ports)
    table = live_table(netns) if firewall is not None else ""
    reloaded = opened = False
    try:
        _write(config_path, new_text, mode)
        run([_sshd(sshd), "-t", "-f", str(config_path)], timeout=timeout)
        now = _ports(effective(sshd, config_path, timeout))
        if now != {*old_ports, new}:
            raise MoveError(f"sshd would listen on {sorted(now)}, not {[*old_ports, new]}")
        if firewall is not None and table:
            opened = True
            apply_policy(with_port(firewall, new), state_dir, netns=netns)
        reloaded = True
        reload(running, pidfile, timeout)
        for port in (new, *old_ports):
            check_banner((check_host, port), timeout, netns)
        move = Move(config_path, old_ports, new, netns, snippet(host or socket.gethostname(), new))
        record = {"config": str(config_path), "old_ports": list(old_ports), "new_port": new}
        write_atomically(pending, lambda out: json.dump({**record, "netns": netns}, out))
        remember_ssh_port(state_dir, new)  # every later firewall apply keeps it open
    except (RampartError, OSError) as error:
        _write(config_path, old_text, mode)
        if reloaded:
            with contextlib.suppress(RampartError):
                reload(running, pidfile, timeout)
        if opened:
            with contextlib.suppress(RampartError):
                run([*netns_prefix(netns), "nft", "-f", "-"], input_text=replace_batch(table))
        raise MoveError(
            f"{config_path}: {error}; the previous configuration was restored"
            + (" and sshd reloaded" if reloaded else "")
            + (f" and port {new} closed again" if opened else "")
        ) from None
    return move


def pending_move(state_dir: Path) -> Move:
    """The move waiting for confirmation."""
    path = state_dir / PENDING
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return Move(
            Path(info["config"]),
            tuple(int(p) for p in info["old_ports"]),
            int(info["new_port"]),
            info.get("netns"),
            "",
        )
    except FileNotFoundError:
        raise MoveError(
            "nothing to confirm: no port move waits (see 'rampart ssh move-port')"
        ) from (None)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise MoveError(f"{path}: unreadable ({error})") from None


def confirm(
    state_dir: Path,
    *,
    sshd: str = "sshd",
    pid: int | None = None,
    check_host: str = "127.0.0.1",
    timeout: float = 10.0,
) -> Move:
    """Drop the old port(s) from sshd after a move; put them back on any failure."""
    move = pending_move(state_dir)
    config_path = move.config_path
    try:
        old_text = config_path.read_text(encoding="utf-8")
        values = effective(sshd, config_path, timeout)
    except (OSError, CommandError) as error:
        raise MoveError(f"{config_path}: {error}") from None
    pidfile = _pidfile(values)
    running = _pid_of(pid, pidfile)
    mode = config_path.stat().st_mode & 0o7777
    reloaded = False
    try:
        _write(config_path, remove_ports(old_text, move.old_ports), mode)
        run([_sshd(sshd), "-t", "-f", str(config_path)], timeout=timeout)
        now = _ports(effective(sshd, config_path, timeout))
        if now != {move.new_port}:
            raise MoveError(
                f"sshd would listen on {sorted(now)}, not only {move.new_port}"
                " (is a Port set in an included file?)"
            )
        reloaded = True
        reload(running, pidfile, timeout)
        check_banner((check_host, move.new_port), timeout, move.netns)
    except (RampartError, OSError) as error:
        _write(config_path, old_text, mode)
        if reloaded:
            with contextlib.suppress(RampartError):
                reload(running, pidfile, timeout)
        raise MoveError(
            f"{config_path}: {error}; the old port(s) were put back"
            + (" and sshd reloaded" if reloaded else "")
        ) from None
    (state_dir / PENDING).unlink(missing_ok=True)
    return move

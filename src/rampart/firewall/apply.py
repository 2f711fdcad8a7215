"""Show, apply, confirm and roll back the ``[firewall]`` policy.

:func:`apply` saves what ``table inet rampart_fw`` holds now (in the state
directory), refuses a policy that would shut out an open SSH session (unless
forced), and loads the new table in one batch. With ``confirm_within`` it
starts a detached process (its own session, no terminal) that restores the
saved table after that many seconds unless :func:`confirm` removed the token
file first; the rollback thus happens even when the applying process, its
terminal or its SSH session dies. Token claims are renames, so a confirm and
a rollback racing each other cannot both win.

Run as ``python -m rampart.firewall.apply rollback-after SECONDS TOKEN_FILE``
it is that rollback process. The token's ``backend`` says what to restore:
the nftables table (the default) or, for ``"iptables"``, rampart's chains as
:mod:`rampart.firewall.policy_iptables` saved them.
"""

import contextlib
import difflib
import ipaddress
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rampart.ban.guard import Address, established_peers, sshd_ports
from rampart.config import FirewallService, FirewallSettings
from rampart.files import write_atomically
from rampart.firewall.interface import FirewallError, netns_prefix
from rampart.firewall.policy import FAMILY_TABLE, allows, compile_policy, replace_batch, table_text
from rampart.system import CommandError, run

NFT_TIMEOUT = 60.0
PENDING = "pending.json"
SAVED = "previous.nft"


@dataclass(frozen=True)
class Plan:
    """What applying would do: the batch, the table as it is, and the difference."""

    text: str
    live_text: str
    diff: str


SSH_PORT = "ssh-port.json"
"""rampart's own addition to the policy: the port ``rampart ssh move-port`` moved sshd to."""


def remember_ssh_port(state_dir: Path, port: int) -> None:
    """Keep ``port`` open in every later apply (``rampart ssh move-port`` calls this)."""
    path = firewall_dir(state_dir) / SSH_PORT
    write_atomically(path, lambda out: json.dump({"port": int(port)}, out))


def effective_policy(policy: FirewallSettings, state_dir: Path) -> FirewallSettings:
    """``policy`` plus the SSH port rampart moved sshd to, if the policy does not open it.

    Without this, the next ``rampart firewall apply`` from ``rampart.toml``
    would close the port sshd now listens on.
    """
    try:
        port = int(json.loads((state_dir / "firewall" / SSH_PORT).read_text())["port"])
    except FileNotFoundError:
        return policy
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise FirewallError(f"{state_dir / 'firewall' / SSH_PORT}: unreadable ({error})") from None
    if not 1 <= port <= 65535 or any(
        service.protocol == "tcp"
        and not service.sources
        and not service.interface
        and service.port[0] <= port <= service.port[1]
        for service in policy.allow
    ):
        return policy
    extra = FirewallService.model_validate({"port": port})
    return policy.model_copy(update={"allow": (*policy.allow, extra)})


def firewall_dir(state_dir: Path) -> Path:
    path = state_dir / "firewall"
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise FirewallError(f"{path}: cannot create: {error.strerror}") from None
    return path


def _nft(args: Sequence[str], netns: str | None, input_text: str | None = None) -> str:
    try:
        return run(
            [*netns_prefix(netns), "nft", *args], input_text=input_text, timeout=NFT_TIMEOUT
        ).stdout
    except CommandError as error:
        raise FirewallError(str(error)) from None


def live_table(netns: str | None = None) -> str:
    """``nft list table inet rampart_fw``, or "" when the table does not exist."""
    result = run(
        [*netns_prefix(netns), "nft", "list", "table", *FAMILY_TABLE.split()],
        timeout=NFT_TIMEOUT,
        check=False,
    )
    if result.returncode == 0:
        return result.stdout
    if "No such file or directory" in result.stderr:
        return ""
    said = result.stderr.strip().splitlines()
    raise FirewallError(f"nft: {said[-1] if said else 'cannot list ' + FAMILY_TABLE}")


def plan(policy: FirewallSettings, netns: str | None = None) -> Plan:
    """The batch for ``policy`` and a unified diff from the live table to it."""
    live = live_table(netns)
    diff = difflib.unified_diff(
        live.splitlines(keepends=True),
        table_text(policy).splitlines(keepends=True),
        fromfile=f"{FAMILY_TABLE} (live)",
        tofile=f"{FAMILY_TABLE} (policy)",
    )
    return Plan(compile_policy(policy), live, "".join(diff))


def ssh_sessions(netns: str | None = None) -> set[tuple[Address, int]]:
    """(client address, server port) of this SSH session and of established sshd connections."""
    sessions: set[tuple[Address, int]] = set()
    parts = os.environ.get("SSH_CONNECTION", "").split()
    if len(parts) == 4 and parts[3].isdigit():
        with contextlib.suppress(ValueError):
            sessions.add((_plain(ipaddress.ip_address(parts[0])), int(parts[3])))
    ports = sshd_ports()
    if netns is None:
        peers = established_peers(ports)
    else:  # that namespace's connection table, read from inside it
        with tempfile.TemporaryDirectory() as copy:
            for name in ("tcp", "tcp6"):
                text = run([*netns_prefix(netns), "cat", f"/proc/net/{name}"], check=False).stdout
                (Path(copy) / name).write_text(text)
            peers = established_peers(ports, proc_net=Path(copy))
    # The guard's table does not say which sshd port each peer used: check them all.
    sessions.update((peer, port) for peer in peers for port in ports)
    return sessions


def _plain(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _interface_to(address: Address, netns: str | None) -> str | None:
    result = run([*netns_prefix(netns), "ip", "-o", "route", "get", str(address)], check=False)
    found = re.search(r"\bdev (\S+)", result.stdout)
    return found.group(1) if found else None


def lockout(policy: FirewallSettings, netns: str | None = None) -> str | None:
    """Why ``policy`` would shut out an open SSH session, or None."""
    for address, port in sorted(ssh_sessions(netns), key=str):
        if not allows(policy, address, port, _interface_to(address, netns)):
            return (
                f"the policy drops the SSH session from {address} to port {port}:"
                " allow that port (and source) or use --force"
            )
    return None


def apply(
    policy: FirewallSettings,
    state_dir: Path,
    *,
    confirm_within: float | None = None,
    force: bool = False,
    netns: str | None = None,
) -> Plan:
    """Load ``policy``; with ``confirm_within``, roll back unless confirmed in time."""
    directory, token = pending_check(state_dir, confirm_within)
    if not force:
        refusal = lockout(policy, netns)
        if refusal is not None:
            raise FirewallError(refusal)
    current = plan(policy, netns)
    saved = directory / SAVED
    write_atomically(saved, lambda out: out.write(current.live_text))
    _nft(["-c", "-f", "-"], netns, current.text)  # check first: a refusal changes nothing
    if confirm_within is not None:
        info = {"netns": netns, "saved": str(saved), "pid": None}
        write_atomically(token, lambda out: json.dump(info, out))
    try:
        _nft(["-f", "-"], netns, current.text)
    except FirewallError:
        token.unlink(missing_ok=True)
        raise
    if confirm_within is not None:
        start_rollback(token, confirm_within)
    return current


def pending_check(state_dir: Path, confirm_within: float | None) -> tuple[Path, Path]:
    """The firewall state directory and token path; refuses while a change waits."""
    if confirm_within is not None and not 0 < confirm_within <= 86400:
        raise FirewallError("--confirm-within must be between 0 and 86400 seconds")
    directory = firewall_dir(state_dir)
    token = directory / PENDING
    if token.exists():
        raise FirewallError(
            f"a firewall change waits for confirmation ({token}):"
            " 'rampart firewall confirm' it or wait for its rollback"
        )
    return directory, token


def start_rollback(token: Path, confirm_within: float) -> None:
    """Start the detached process that rolls back after ``confirm_within`` s unless confirmed."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rampart.firewall.apply",
            "rollback-after",
            f"{confirm_within:g}",
            str(token),
        ],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    (token.parent / "rollback.pid").write_text(f"{process.pid}\n")
    # Detached on purpose: never waited for (init adopts it if this process ends
    # first); this tells Popen so, which would otherwise warn that it still runs.
    process.returncode = 0


def confirm(state_dir: Path) -> None:
    """Keep the applied policy: remove the token, so the waiting rollback does nothing."""
    directory = firewall_dir(state_dir)
    try:
        (directory / PENDING).unlink()
    except FileNotFoundError:
        raise FirewallError(
            "nothing to confirm: no change is waiting (or it was rolled back already)"
        ) from None
    pid_file = directory / "rollback.pid"
    with contextlib.suppress(OSError, ValueError):
        pid = int(pid_file.read_text())
        pid_file.unlink()
        if _is_rollback(pid):
            os.kill(pid, signal.SIGTERM)


def _is_rollback(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"rampart.firewall.apply" in command and b"rollback-after" in command


def rollback(token: Path) -> bool:
    """Restore the saved table if ``token`` is still there; True if it rolled back."""
    claimed = token.with_name(token.name + ".rolling")
    try:
        os.rename(token, claimed)
    except FileNotFoundError:
        return False  # confirmed
    try:
        info = json.loads(claimed.read_text())
        if info.get("backend") == "iptables":
            from rampart.firewall.policy_iptables import restore_state

            restore_state(Path(info["saved"]), info["netns"])
        else:
            saved = Path(info["saved"]).read_text()
            _nft(["-f", "-"], info["netns"], replace_batch(saved))
    finally:
        claimed.unlink(missing_ok=True)
    return True


def main(argv: Sequence[str]) -> int:
    if len(argv) != 3 or argv[0] != "rollback-after":
        print(
            "usage: python -m rampart.firewall.apply rollback-after SECONDS TOKEN", file=sys.stderr
        )
        return 2
    time.sleep(float(argv[1]))
    rollback(Path(argv[2]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""``rampart ssh harden``: key-only, no root, few tries; validated, verified, or rolled back.

The steps, each of which must pass or everything is put back as it was:

1. plan: read the effective configuration (``sshd -T``), keep the settings
   of :data:`HARDENED` that differ, edit the main file (:mod:`rampart.ssh.config`)
   and, when an ``Include`` still wins for a keyword, add a drop-in
   (``00-rampart.conf``) that sorts first;
2. refuse to turn off password logins when no account has an
   ``authorized_keys`` file (unless forced): that would lock everyone out;
3. back up the main file (``sshd_config.rampart-bak``), write the new files
   atomically, check them with ``sshd -t`` and the effective values again;
4. reload the running sshd (SIGHUP to the pid in its ``PidFile``) and check
   that a real connection to its port gets the ``SSH-2.0-`` banner.

On any failure the old files are restored, sshd is reloaded again, and one
:class:`HardenError` says what failed.
"""

import contextlib
import difflib
import os
import pwd
import shutil
import signal
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rampart.errors import RampartError
from rampart.files import write_atomically
from rampart.ssh.config import dropin_path, set_option
from rampart.system import CommandError, run

HARDENED: tuple[tuple[str, str], ...] = (
    ("PermitRootLogin", "no"),
    ("PasswordAuthentication", "no"),
    ("KbdInteractiveAuthentication", "no"),
    ("PermitEmptyPasswords", "no"),
    ("MaxAuthTries", "3"),
    ("LoginGraceTime", "30"),
    ("X11Forwarding", "no"),
)
PASSWORD_KEYS = frozenset({"passwordauthentication", "kbdinteractiveauthentication"})
NO_LOGIN_SHELLS = frozenset({"/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false"})
_SBIN_PATH = "/usr/sbin:/sbin"


class HardenError(RampartError):
    """Hardening was refused, or failed and was rolled back."""


@dataclass(frozen=True)
class Change:
    keyword: str
    old: str
    new: str

    def __str__(self) -> str:
        return f"{self.keyword} {self.old} -> {self.new}"


@dataclass(frozen=True)
class HardenPlan:
    config_path: Path
    old_text: str
    new_text: str
    changes: tuple[Change, ...]
    dropin: Path | None
    dropin_old: str | None  # None: the drop-in does not exist yet
    dropin_text: str | None

    def diff(self) -> str:
        """What would change, as a unified diff of each file."""
        parts = difflib.unified_diff(
            self.old_text.splitlines(keepends=True),
            self.new_text.splitlines(keepends=True),
            str(self.config_path),
            str(self.config_path),
        )
        out = "".join(parts)
        if self.dropin is not None and self.dropin_text is not None:
            out += "".join(
                difflib.unified_diff(
                    (self.dropin_old or "").splitlines(keepends=True),
                    self.dropin_text.splitlines(keepends=True),
                    str(self.dropin),
                    str(self.dropin),
                )
            )
        return out


def _sshd(sshd: str) -> str:
    program = shutil.which(sshd, path=f"{os.environ.get('PATH', '')}:{_SBIN_PATH}")
    if program is None:
        raise HardenError(f"{sshd}: not installed (apt-get install openssh-server)")
    return program


def effective(sshd: str, config_path: Path, timeout: float = 10.0) -> dict[str, list[str]]:
    """``sshd -T -f CONFIG``: keyword (lower case) -> values."""
    result = run([_sshd(sshd), "-T", "-f", str(config_path)], timeout=timeout)
    values: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            values.setdefault(key.lower(), []).append(value.strip())
    return values


def _first(values: dict[str, list[str]], keyword: str) -> str:
    return (values.get(keyword.lower()) or [""])[0]


def login_homes() -> list[Path]:
    """/root and the home of every account with a login shell."""
    homes = [Path("/root")]
    for entry in pwd.getpwall():
        if entry.pw_shell and entry.pw_shell not in NO_LOGIN_SHELLS and entry.pw_dir:
            homes.append(Path(entry.pw_dir))
    return homes


def accounts_with_keys(homes: Iterable[Path]) -> list[Path]:
    """The non-empty ``~/.ssh/authorized_keys`` (or ``authorized_keys2``) files under ``homes``."""
    found = []
    for home in dict.fromkeys(homes):
        for name in ("authorized_keys", "authorized_keys2"):
            path = home / ".ssh" / name
            with contextlib.suppress(OSError):
                if path.is_file() and path.stat().st_size > 0:
                    found.append(path)
    return found


def plan(
    config_path: Path,
    *,
    sshd: str = "sshd",
    settings: Sequence[tuple[str, str]] = HARDENED,
    timeout: float = 10.0,
) -> HardenPlan:
    """What harden would change; writes nothing but a scratch copy it removes."""
    try:
        old_text = config_path.read_text(encoding="utf-8")
    except OSError as error:
        raise HardenError(f"{config_path}: cannot read: {error.strerror}") from None
    before = effective(sshd, config_path, timeout)
    changes = tuple(
        Change(key, _first(before, key), value)
        for key, value in settings
        if _first(before, key).lower() != value.lower()
    )
    new_text = old_text
    for change in changes:
        new_text = set_option(new_text, change.keyword, change.new)
    dropin = dropin_text = dropin_old = None
    if changes:
        scratch = config_path.with_name(f".{config_path.name}.rampart-check")
        try:
            write_atomically(scratch, lambda out: out.write(new_text))
            after = effective(sshd, scratch, timeout)
        except CommandError as error:
            raise HardenError(
                f"{config_path}: the hardened file would not load ({error}); nothing was changed"
            ) from None
        finally:
            scratch.unlink(missing_ok=True)
        losing = [c for c in changes if _first(after, c.keyword).lower() != c.new.lower()]
        if losing:
            dropin = dropin_path(new_text)
            if dropin is None:
                names = ", ".join(c.keyword for c in losing)
                raise HardenError(f"{config_path}: cannot make {names} take effect (no Include)")
            with contextlib.suppress(FileNotFoundError):
                dropin_old = dropin.read_text(encoding="utf-8")
            text = dropin_old or _DROPIN_HEADER
            for change in losing:
                text = set_option(text, change.keyword, change.new)
            dropin_text = text
    return HardenPlan(config_path, old_text, new_text, changes, dropin, dropin_old, dropin_text)


_DROPIN_HEADER = (
    "# Written by rampart ssh harden. It sorts first so that it wins over other\n"
    "# drop-ins, which set the same keywords to weaker values.\n"
)


def _pid_of(pid: int | None, pidfile: Path | None) -> int:
    if pid is not None:
        return pid
    path = pidfile or Path("/run/sshd.pid")
    try:
        return int(path.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        raise HardenError(f"{path}: no sshd pid to reload (is the ssh service running?)") from None


def _mtime(path: Path | None) -> int | None:
    if path is None:
        return None
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def reload(pid: int, pidfile: Path | None, timeout: float) -> None:
    """SIGHUP sshd and wait until it has re-read its configuration.

    sshd re-executes itself on SIGHUP and rewrites its pid file once it
    listens again; that rewrite is the signal that the new configuration is
    in force (without a pid file, a short pause instead).
    """
    before = _mtime(pidfile)
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise HardenError(f"sshd (pid {pid}) is not running") from None
    except PermissionError:
        raise HardenError(f"sshd (pid {pid}): not allowed to signal it (run as root)") from None
    if before is None:
        time.sleep(0.5)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _mtime(pidfile) not in (None, before):
            return
        time.sleep(0.05)
    raise HardenError(f"sshd (pid {pid}) did not come back within {timeout:g} s of the reload")


def banner(address: tuple[str, int], timeout: float) -> str:
    """The SSH banner a fresh connection to ``address`` gets, retried until ``timeout``."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            left = max(0.1, deadline - time.monotonic())
            with socket.create_connection(address, timeout=left) as c:
                got = c.makefile("rb").readline(256).decode("ascii", "replace").strip()
            if got.startswith("SSH-2.0-"):
                return got
            last = f"answered {got!r}, not an SSH banner"
        except OSError as error:
            last = error.strerror or str(error)
        time.sleep(0.1)
    raise HardenError(f"no SSH banner on {address[0]} port {address[1]}: {last}")


def _check_address(values: dict[str, list[str]]) -> tuple[str, int]:
    port = int(_first(values, "port") or "22")
    for listen in values.get("listenaddress", []):
        host, _, _ = listen.rpartition(":")
        host = host.strip("[]")
        if host in ("0.0.0.0", ""):  # noqa: S104 (read, not bound: check on loopback)
            return ("127.0.0.1", port)
        if host == "::":
            return ("::1", port)
        return (host, port)
    return ("127.0.0.1", port)


def _write(path: Path, text: str, mode: int) -> None:
    write_atomically(path, lambda out: out.write(text), mode=mode)


def harden(
    config_path: Path,
    *,
    sshd: str = "sshd",
    pid: int | None = None,
    check_address: tuple[str, int] | None = None,
    timeout: float = 10.0,
    force: bool = False,
    dry_run: bool = False,
    homes: Iterable[Path] | None = None,
    settings: Sequence[tuple[str, str]] = HARDENED,
) -> HardenPlan:
    """Apply :data:`HARDENED` to ``config_path`` safely (see the module); the plan carried out.

    ``homes`` are where ``.ssh/authorized_keys`` is looked for (default: /root
    and every account with a login shell); ``check_address`` defaults to the
    port (and listen address) sshd reports; ``pid`` to its ``PidFile``.
    """
    config_path = Path(config_path)
    chosen = plan(config_path, sshd=sshd, settings=settings, timeout=timeout)
    closing = [c for c in chosen.changes if c.keyword.lower() in PASSWORD_KEYS]
    if closing and not force and not accounts_with_keys(login_homes() if homes is None else homes):
        raise HardenError(
            "refusing to turn off password logins: no account has an ~/.ssh/authorized_keys "
            "file, so nobody could log in afterwards (add a key, or use --force)"
        )
    if dry_run or not chosen.changes:
        return chosen
    values = effective(sshd, config_path, timeout)
    pidfile_value = _first(values, "pidfile")
    pidfile = Path(pidfile_value) if pidfile_value and pidfile_value != "none" else None
    running = _pid_of(pid, pidfile)
    address = check_address or _check_address(values)
    mode = config_path.stat().st_mode & 0o7777
    backup = config_path.with_name(f"{config_path.name}.rampart-bak")
    shutil.copy2(config_path, backup)
    reloaded = False
    try:
        _write(config_path, chosen.new_text, mode)
        if chosen.dropin is not None and chosen.dropin_text is not None:
            _write(chosen.dropin, chosen.dropin_text, 0o644)
        run([_sshd(sshd), "-t", "-f", str(config_path)], timeout=timeout)
        after = effective(sshd, config_path, timeout)
        wrong = [c for c in chosen.changes if _first(after, c.keyword).lower() != c.new.lower()]
        if wrong:
            raise HardenError(
                "still in effect after the change: "
                + ", ".join(f"{c.keyword} {_first(after, c.keyword)}" for c in wrong)
            )
        reloaded = True
        reload(running, pidfile, timeout)
        banner(address, timeout)
    except (RampartError, OSError) as error:
        _restore(chosen, mode)
        if reloaded:
            with contextlib.suppress(RampartError):
                reload(running, pidfile, timeout)
        raise HardenError(
            f"{config_path}: {error}; the previous configuration was restored"
            + (" and sshd reloaded" if reloaded else "")
        ) from None
    return chosen


def _restore(chosen: HardenPlan, mode: int) -> None:
    _write(chosen.config_path, chosen.old_text, mode)
    if chosen.dropin is not None:
        if chosen.dropin_old is None:
            chosen.dropin.unlink(missing_ok=True)
        else:
            _write(chosen.dropin, chosen.dropin_old, 0o644)

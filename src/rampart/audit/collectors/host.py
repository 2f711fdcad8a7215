"""Facts about the host itself: sshd, sudo, automatic updates, special files.

Every collector takes its paths and programs as keyword arguments with the
real ones as defaults, so tests point it at files and configurations of
their own; ``COLLECTORS`` maps each fact's name to the default call.
"""

import os
import re
import shutil
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rampart.audit.interface import Unavailable
from rampart.system import CommandError, run

# sshd lives in /usr/sbin, which is not on every PATH (a user's, cron's).
_SBIN_PATH = "/usr/local/sbin:/usr/sbin:/sbin"

SUID_ROOTS = (
    "/usr/bin",
    "/usr/sbin",
    "/bin",
    "/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/usr/lib",
)
WORLD_WRITABLE_ROOTS = ("/etc", "/usr", "/bin", "/sbin")
DPKG_INFO = Path("/var/lib/dpkg/info")
WALK_TIME_LIMIT = 60.0


# --- sshd -------------------------------------------------------------------


def collect_sshd(
    *,
    sshd: str = "sshd",
    config: Path | None = None,
    host_key: Path | None = None,
    timeout: float = 10.0,
) -> dict[str, list[str]]:
    """The effective sshd configuration, as ``sshd -T`` prints it.

    Keys are lower case (as sshd prints them); a key given several times
    (``port``, ``listenaddress``, ``allowusers`` ...) has one value per line.
    """
    program = shutil.which(sshd, path=f"{os.environ.get('PATH', '')}:{_SBIN_PATH}")
    if program is None:
        raise Unavailable("sshd is not installed")
    argv = [program, "-T"]
    if config is not None:
        argv += ["-f", str(config)]
    if host_key is not None:
        argv += ["-h", str(host_key)]
    try:
        result = run(argv, timeout=timeout, check=False)
    except CommandError as error:
        raise Unavailable(str(error)) from None
    if result.returncode != 0:
        raise Unavailable(f"sshd -T failed: {_one_line(result.stderr or result.stdout)}")
    return parse_sshd_config(result.stdout)


def parse_sshd_config(text: str) -> dict[str, list[str]]:
    """``key value`` lines (``sshd -T`` output) as key -> values, in order."""
    config: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            config.setdefault(key.lower(), []).append(value.strip())
    return config


def _one_line(said: str) -> str:
    """sshd's complaint in one line: its first and last words when they differ."""
    lines = [line.strip() for line in said.splitlines() if line.strip()]
    if not lines:
        return "no message"
    if len(lines) == 1 or lines[0] == lines[-1]:
        return lines[-1]
    return f"{lines[0]}; {lines[-1]}"


# --- sudoers ------------------------------------------------------------------


@dataclass(frozen=True)
class SudoersLine:
    """One logical line of a sudoers file (continuations joined, comment removed)."""

    file: str
    number: int
    text: str


def collect_sudoers(
    *, sudoers: Path = Path("/etc/sudoers"), drop_ins: Path = Path("/etc/sudoers.d")
) -> list[SudoersLine]:
    """The lines of the sudoers file and of the drop-ins sudo reads, in sudo's order.

    sudo skips drop-ins whose name contains a ``.`` or ends in ``~``; so does this.
    """
    if not sudoers.exists():
        raise Unavailable(f"{sudoers} does not exist (is sudo installed?)")
    files = [sudoers]
    if drop_ins.is_dir():
        try:
            names = sorted(os.listdir(drop_ins))
        except OSError as error:
            raise Unavailable(f"cannot read {drop_ins}: {error.strerror}") from None
        files += [
            drop_ins / name
            for name in names
            if "." not in name and not name.endswith("~") and (drop_ins / name).is_file()
        ]
    lines: list[SudoersLine] = []
    for path in files:
        try:
            text = path.read_text(errors="replace")
        except OSError as error:
            raise Unavailable(f"cannot read {path}: {error.strerror}") from None
        lines += _sudoers_lines(str(path), text)
    return lines


# A '#' starts a comment, except in '#include' and before a numeric uid ('#1000').
_SUDOERS_COMMENT = re.compile(r"#(?!\d)(?!include)")


def _sudoers_lines(file: str, text: str) -> Iterator[SudoersLine]:
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        logical, pending = pending + raw, ""
        comment = _SUDOERS_COMMENT.search(logical)
        if comment is not None and not logical.lstrip().startswith(("#include", "@include")):
            logical = logical[: comment.start()]
        logical = " ".join(logical.split())
        if logical:
            yield SudoersLine(file, start, logical)
    if pending.strip():
        yield SudoersLine(file, start, " ".join(pending.split()))


# --- automatic updates ----------------------------------------------------------


@dataclass(frozen=True)
class AptPeriodic:
    """APT::Periodic settings (lower-case names after ``APT::Periodic::``) and the package."""

    settings: dict[str, str]
    origins: dict[str, str]
    """Which file set each setting (the last one read wins, as in APT)."""
    package: str
    installed: bool


def collect_apt_periodic(
    *,
    conf_dir: Path = Path("/etc/apt/apt.conf.d"),
    package: str = "unattended-upgrades",
    dpkg_query: str = "dpkg-query",
) -> AptPeriodic:
    """APT::Periodic::* from apt.conf.d (in APT's order) and whether ``package`` is installed."""
    settings: dict[str, str] = {}
    origins: dict[str, str] = {}
    try:
        names = sorted(os.listdir(conf_dir)) if conf_dir.is_dir() else []
    except OSError as error:
        raise Unavailable(f"cannot read {conf_dir}: {error.strerror}") from None
    for name in names:
        path = conf_dir / name
        if not _apt_reads(name) or not path.is_file():
            continue
        try:
            text = path.read_text(errors="replace")
        except OSError as error:
            raise Unavailable(f"cannot read {path}: {error.strerror}") from None
        for key, value in parse_apt_conf(text):
            prefix = "apt::periodic::"
            if key.lower().startswith(prefix):
                settings[key[len(prefix) :].lower()] = value
                origins[key[len(prefix) :].lower()] = str(path)
    try:
        result = run([dpkg_query, "-W", "-f=${Status}", package], timeout=30, check=False)
    except CommandError as error:
        raise Unavailable(str(error)) from None
    installed = result.returncode == 0 and result.stdout.split()[-1:] == ["installed"]
    return AptPeriodic(settings, origins, package, installed)


def _apt_reads(name: str) -> bool:
    """APT reads parts named [A-Za-z0-9_.-]+ with no extension or ``.conf``."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        return False
    return "." not in name or name.rsplit(".", 1)[1] == "conf"


_APT_TOKEN = re.compile(r'"(?P<string>[^"]*)"|(?P<punct>[{};])|(?P<word>[^\s{};"]+)')


def parse_apt_conf(text: str) -> Iterator[tuple[str, str]]:
    """``(full::name, value)`` pairs from APT configuration text, flat or nested."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.DOTALL)
    kept = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):  # a comment, #include or #clear: none set a value
            continue
        kept.append(re.sub(r'^((?:[^"]|"[^"]*")*?)//.*$', r"\1", line))
    scopes: list[str] = []
    name: str | None = None
    for match in _APT_TOKEN.finditer("\n".join(kept)):
        word, string, punct = match["word"], match["string"], match["punct"]
        if punct == "{":
            scopes.append(name or "")
            name = None
        elif punct == "}":
            if scopes:
                scopes.pop()
            name = None
        elif punct == ";":
            name = None
        elif name is None and word is not None:
            name = word
        elif name is not None:
            value = string if string is not None else word
            yield "::".join([*[s for s in scopes if s], name]), value or ""
            name = None


# --- special files -------------------------------------------------------------


@dataclass(frozen=True)
class SpecialFile:
    """A file whose mode matters: setuid/setgid, or world-writable."""

    path: str
    mode: int
    uid: int
    gid: int
    is_dir: bool = False


@dataclass
class Walk:
    """What a walk of some roots found, and how far it got."""

    roots: list[str] = field(default_factory=list)
    """The roots walked (resolved; a root inside another one is walked once)."""
    found: list[SpecialFile] = field(default_factory=list)
    unfinished: dict[str, str] = field(default_factory=dict)
    """Root -> why its walk stopped early (time limit)."""
    unreadable: list[str] = field(default_factory=list)
    looked_at: dict[str, int] = field(default_factory=dict)
    """Root -> how many entries were looked at under it."""


@dataclass(frozen=True)
class SuidFacts:
    walk: Walk
    packaged: dict[str, str]
    """Path (directories resolved) -> the package that ships it, from dpkg's lists."""
    local_prefixes: tuple[str, ...]


def collect_suid_files(
    *,
    roots: Sequence[str] = SUID_ROOTS,
    dpkg_info: Path = DPKG_INFO,
    local_prefixes: Sequence[str] = ("/usr/local",),
    time_limit: float = WALK_TIME_LIMIT,
) -> SuidFacts:
    """Setuid/setgid regular files under ``roots`` and the files dpkg knows."""
    if not dpkg_info.is_dir():
        raise Unavailable(f"no dpkg database at {dpkg_info} (not a Debian system?)")
    walk = walk_special(roots, _is_setid, time_limit=time_limit)
    prefixes = tuple(os.path.realpath(p) for p in local_prefixes)
    return SuidFacts(walk, read_dpkg_lists(dpkg_info), prefixes)


def collect_world_writable(
    *, roots: Sequence[str] = WORLD_WRITABLE_ROOTS, time_limit: float = WALK_TIME_LIMIT
) -> Walk:
    """World-writable regular files and directories under ``roots`` (sticky or not)."""
    return walk_special(roots, _is_world_writable, time_limit=time_limit)


def _is_setid(info: os.stat_result) -> bool:
    return stat.S_ISREG(info.st_mode) and bool(info.st_mode & (stat.S_ISUID | stat.S_ISGID))


def _is_world_writable(info: os.stat_result) -> bool:
    kind_ok = stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)
    return kind_ok and bool(info.st_mode & stat.S_IWOTH)


def walk_special(
    roots: Iterable[str],
    wanted: Callable[[os.stat_result], bool],
    *,
    time_limit: float = WALK_TIME_LIMIT,
) -> Walk:
    """Walk ``roots`` without following symlinks or crossing filesystems, within a time limit."""
    deadline = time.monotonic() + time_limit
    walk = Walk()
    for root in _distinct_roots(roots):
        walk.roots.append(root)
        stopped = _walk_root(root, wanted, deadline, walk)
        if stopped is not None:
            walk.unfinished[root] = f"stopped after {time_limit:g} s, at {stopped}"
    return walk


def _distinct_roots(roots: Iterable[str]) -> list[str]:
    """Resolved roots that exist, each once; /bin -> /usr/bin is inside /usr already."""
    kept: list[str] = []
    for root in roots:
        real = os.path.realpath(root)
        if not os.path.isdir(real):
            continue
        if any(real == k or real.startswith(k.rstrip("/") + "/") for k in kept):
            continue
        kept = [k for k in kept if not k.startswith(real.rstrip("/") + "/")]
        kept.append(real)
    return kept


def _walk_root(
    root: str, wanted: Callable[[os.stat_result], bool], deadline: float, walk: Walk
) -> str | None:
    """Add what ``root`` holds to ``walk``; the directory reached if time ran out."""
    try:
        root_info = os.lstat(root)
    except OSError:
        walk.unreadable.append(root)
        return None
    if wanted(root_info):
        walk.found.append(_special(root, root_info))
    walk.looked_at[root] = 0
    pending = [root]
    while pending:
        directory = pending.pop()
        if time.monotonic() > deadline:
            return directory
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if info.st_dev != root_info.st_dev:
                        continue  # another filesystem mounted here
                    walk.looked_at[root] += 1
                    if wanted(info):
                        walk.found.append(_special(entry.path, info))
                    if stat.S_ISDIR(info.st_mode):
                        pending.append(entry.path)
        except OSError:
            walk.unreadable.append(directory)
    return None


def _special(path: str, info: os.stat_result) -> SpecialFile:
    return SpecialFile(path, info.st_mode, info.st_uid, info.st_gid, stat.S_ISDIR(info.st_mode))


def read_dpkg_lists(dpkg_info: Path) -> dict[str, str]:
    """Every path a package ships -> the package, with directories resolved (merged /usr)."""
    packaged: dict[str, str] = {}
    resolved: dict[str, str] = {}
    for listing in sorted(dpkg_info.glob("*.list")):
        package = listing.name.removesuffix(".list").split(":")[0]
        try:
            text = listing.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            if not line.startswith("/"):
                continue
            directory, _, name = line.rpartition("/")
            real = resolved.get(directory)
            if real is None:
                real = resolved[directory] = os.path.realpath(directory or "/")
            packaged.setdefault(os.path.join(real, name), package)
    return packaged


COLLECTORS: dict[str, Callable[[], Any]] = {
    "sshd": collect_sshd,
    "sudoers": collect_sudoers,
    "apt_periodic": collect_apt_periodic,
    "suid_files": collect_suid_files,
    "world_writable": collect_world_writable,
}

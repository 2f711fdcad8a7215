"""Facts about the network and the services of this host.

- ``ruleset``: the live firewall, from ``nft -j list ruleset`` or, without
  nft, ``iptables-save`` and ``ip6tables-save``; a :class:`Ruleset` of chains
  with their hook, policy and rules.
- ``sockets``: listening TCP and bound UDP sockets from ``/proc/net``, each
  with the process and user that own it (found through ``/proc/PID/fd``).
- ``processes``: every process's comm, command line and real UID.
- ``rampart_status``: how old rampart's ``status.json`` is.
- ``systemd_units``: enabled service units and who they run as.

Every collector takes its roots (``proc``, ``netns``, unit directories ...) as
keywords, so tests point it at a network namespace or a tree they built; the
``COLLECTORS`` entries use the real host's.
"""

import contextlib
import ipaddress
import json
import os
import pwd
import re
import shlex
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rampart.audit.interface import Unavailable
from rampart.ban.guard import proc_net_address
from rampart.errors import RampartError
from rampart.system import CommandError, run

PROC = Path("/proc")
SYSTEMD_ETC = Path("/etc/systemd/system")
SYSTEMD_LIB = (Path("/lib/systemd/system"), Path("/usr/lib/systemd/system"))
RUN_TIMEOUT = 30.0
FRESH_SECONDS = 60.0
"""rampart's status file counts as fresh when written within this many seconds."""
UNKNOWN = "unknown"

_NETNS = re.compile(r"[A-Za-z0-9_.-]{1,64}")

# -- the firewall ---------------------------------------------------------------

# A rule made only of these (and a verdict) matches every packet.
_PASSIVE = frozenset({"counter", "log", "comment", "notrack", "meta_set"})
_VERDICTS = ("accept", "drop", "reject", "jump", "goto", "return", "queue", "continue")
_IPTABLES_HOOKS = {
    "PREROUTING": "prerouting",
    "INPUT": "input",
    "FORWARD": "forward",
    "OUTPUT": "output",
    "POSTROUTING": "postrouting",
}


@dataclass(frozen=True)
class Rule:
    """One rule: what it does, whether it matches everything, and its text."""

    text: str
    verdict: str | None
    """accept, drop, reject, jump, goto, return ... (None: no verdict, the rule falls through)."""
    target: str | None = None
    """The chain a jump or goto goes to."""
    unconditional: bool = False
    """True when the rule matches every packet (only counters, logs, comments)."""
    drops_invalid: bool = False
    """True when the rule drops (or rejects) packets in conntrack state invalid."""


@dataclass(frozen=True)
class Chain:
    """A chain: base chains have a hook and a policy; regular chains neither."""

    family: str
    """nftables family (inet, ip, ip6, ...); iptables-save gives ip, ip6tables-save ip6."""
    table: str
    name: str
    hook: str | None
    policy: str | None
    rules: tuple[Rule, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.family} {self.table} {self.name}"

    def covers(self, version: int) -> bool:
        """Whether IPv``version`` packets pass through this chain's family."""
        return self.family == "inet" or self.family == {4: "ip", 6: "ip6"}[version]


@dataclass(frozen=True)
class Ruleset:
    """The live ruleset as one tool read it (``nft`` or ``iptables``)."""

    source: str
    chains: tuple[Chain, ...] = ()

    def chain(self, family: str, table: str, name: str) -> Chain | None:
        for chain in self.chains:
            if (chain.family, chain.table, chain.name) == (family, table, name):
                return chain
        return None

    def reachable(self, base: Chain) -> Iterator[Chain]:
        """``base`` and every chain its rules jump or go to (each once)."""
        seen: set[str] = set()
        todo = [base]
        while todo:
            chain = todo.pop()
            if chain.name in seen:
                continue
            seen.add(chain.name)
            yield chain
            for rule in chain.rules:
                if rule.target is not None:
                    found = self.chain(chain.family, chain.table, rule.target)
                    if found is not None:
                        todo.append(found)


def collect_ruleset(
    *,
    netns: str | None = None,
    nft: str | None = "nft",
    iptables_save: str | None = "iptables-save",
    ip6tables_save: str | None = "ip6tables-save",
) -> Ruleset:
    """The live ruleset (in ``netns`` when given); a program set to None is not used."""
    prefix = _netns_prefix(netns)
    if nft is not None and shutil.which(nft) is not None:
        output = _output([*prefix, nft, "-j", "list", "ruleset"])
        return parse_nft_json(output)
    chains: list[Chain] = []
    used = False
    for program, family in ((iptables_save, "ip"), (ip6tables_save, "ip6")):
        if program is None or shutil.which(program) is None:
            continue
        chains += parse_iptables_save(_output([*prefix, program]), family)
        used = True
    if not used:
        raise Unavailable("neither nft nor iptables-save is installed")
    return Ruleset("iptables", tuple(chains))


def _output(argv: Sequence[str]) -> str:
    try:
        return run(argv, timeout=RUN_TIMEOUT).stdout
    except CommandError as error:
        hint = " (run the audit as root)" if "not permitted" in str(error).lower() else ""
        raise Unavailable(f"{error}{hint}") from None


def parse_nft_json(text: str) -> Ruleset:
    """A :class:`Ruleset` from ``nft -j list ruleset``."""
    try:
        items = json.loads(text or '{"nftables": []}')["nftables"]
    except (ValueError, KeyError, TypeError):
        raise Unavailable("nft -j list ruleset printed something that is not its JSON") from None
    rules: dict[tuple[str, str, str], list[Rule]] = {}
    heads: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        if "chain" in item:
            heads.append(item["chain"])
        elif "rule" in item:
            rule = item["rule"]
            key = (rule.get("family", ""), rule.get("table", ""), rule.get("chain", ""))
            rules.setdefault(key, []).append(nft_rule(rule.get("expr") or []))
    chains = []
    for head in heads:
        key = (head.get("family", ""), head.get("table", ""), head.get("name", ""))
        hook = head.get("hook")
        chains.append(
            Chain(
                *key,
                hook,
                head.get("policy", "accept") if hook else None,
                tuple(rules.get(key, [])),
            )
        )
    return Ruleset("nft", tuple(chains))


def nft_rule(exprs: Sequence[Any]) -> Rule:
    """One nft JSON rule (its ``expr`` list) as a :class:`Rule`."""
    verdict: str | None = None
    target: str | None = None
    conditional = False
    invalid_match = False
    invalid_vmap = False
    for expr in exprs:
        if not isinstance(expr, dict) or len(expr) != 1:
            conditional = True
            continue
        ((key, value),) = expr.items()
        if key in _VERDICTS:
            verdict = key
            if isinstance(value, dict) and isinstance(value.get("target"), str):
                target = value["target"]
        elif key == "match":
            conditional = True
            invalid_match = invalid_match or _matches_invalid(value)
        elif key == "vmap":
            conditional = True
            invalid_vmap = invalid_vmap or _vmap_drops_invalid(value)
        elif key not in _PASSIVE:
            conditional = True
    drops = verdict in ("drop", "reject")
    return Rule(
        text=render_nft(exprs),
        verdict=verdict,
        target=target,
        unconditional=not conditional and verdict is not None,
        drops_invalid=(invalid_match and drops) or invalid_vmap,
    )


def _is_ct_state(left: Any) -> bool:
    return isinstance(left, dict) and left.get("ct", {}).get("key") == "state"


def _words(right: Any) -> list[str]:
    if isinstance(right, str):
        return [right]
    if isinstance(right, dict) and "set" in right:
        return _words(right["set"])
    if isinstance(right, list):
        return [word for part in right for word in _words(part)]
    return []


def _matches_invalid(match: Any) -> bool:
    if not isinstance(match, dict) or not _is_ct_state(match.get("left")):
        return False
    return match.get("op", "==") in ("==", "in") and "invalid" in _words(match.get("right"))


def _vmap_drops_invalid(vmap: Any) -> bool:
    if not isinstance(vmap, dict) or not _is_ct_state(vmap.get("key")):
        return False
    data = vmap.get("data")
    pairs = data.get("set", []) if isinstance(data, dict) else []
    for pair in pairs:
        if isinstance(pair, list) and len(pair) == 2 and "invalid" in _words(pair[0]):
            action = pair[1]
            if isinstance(action, dict) and ("drop" in action or "reject" in action):
                return True
    return False


def render_nft(exprs: Sequence[Any]) -> str:
    """A short, readable form of a rule (close to nft's own for common rules)."""
    words = []
    for expr in exprs:
        if not isinstance(expr, dict) or len(expr) != 1:
            words.append(json.dumps(expr))
            continue
        ((key, value),) = expr.items()
        if key == "match" and isinstance(value, dict):
            op = value.get("op", "==")
            words.append(
                f"{_operand(value.get('left'))} {'' if op in ('==', 'in') else op + ' '}"
                f"{_operand(value.get('right'))}"
            )
        elif key in _VERDICTS:
            target = value.get("target") if isinstance(value, dict) else None
            words.append(f"{key} {target}" if target else key)
        elif key == "counter":
            words.append("counter")
        else:
            words.append(f"{key} {json.dumps(value, separators=(',', ':'))}")
    return " ".join(words)


def _operand(value: Any) -> str:
    if isinstance(value, dict) and len(value) == 1:
        ((key, inner),) = value.items()
        if key in ("ct", "meta") and isinstance(inner, dict):
            return f"{key} {inner.get('key')}"
        if key == "payload" and isinstance(inner, dict):
            return f"{inner.get('protocol')} {inner.get('field')}"
        if key == "set":
            return "{ " + ", ".join(_operand(part) for part in _as_list(inner)) + " }"
        if key == "prefix" and isinstance(inner, dict):
            return f"{inner.get('addr')}/{inner.get('len')}"
    if isinstance(value, list):
        return ", ".join(_operand(part) for part in value)
    if isinstance(value, str | int):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def parse_iptables_save(text: str, family: str = "ip") -> list[Chain]:
    """Chains from ``iptables-save`` (``family`` ip) or ``ip6tables-save`` (ip6) text."""
    chains: list[Chain] = []
    table = ""
    heads: dict[str, str | None] = {}
    rules: dict[str, list[Rule]] = {}

    def finish() -> None:
        for name, policy in heads.items():
            hook = _IPTABLES_HOOKS.get(name) if policy is not None else None
            chains.append(Chain(family, table, name, hook, policy, tuple(rules.get(name, []))))

    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            table, heads, rules = line[1:], {}, {}
        elif line.startswith(":"):
            name, _, rest = line[1:].partition(" ")
            policy = rest.split(" ", 1)[0]
            heads[name] = None if policy in ("-", "") else policy.lower()
        elif line.startswith("-A "):
            try:
                words = shlex.split(line)
            except ValueError:
                words = line.split()
            if len(words) >= 2:
                rules.setdefault(words[1], []).append(iptables_rule(words[2:], line))
        elif line == "COMMIT":
            finish()
            table, heads, rules = "", {}, {}
    return chains


def iptables_rule(words: Sequence[str], text: str) -> Rule:
    """One ``-A CHAIN ...`` line (the words after the chain name) as a :class:`Rule`."""
    target: str | None = None
    jump = "jump"
    rest: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        following = words[index + 1] if index + 1 < len(words) else ""
        if word in ("-j", "--jump", "-g", "--goto"):
            target = following
            jump = "goto" if word in ("-g", "--goto") else "jump"
            index += 2
            continue
        if word == "-m" and following == "comment":
            index += 2
            continue
        if word == "--comment":
            index += 2
            continue
        rest.append(word)
        index += 1
    verdict: str | None = None
    chain_target: str | None = None
    if target is not None:
        lowered = target.lower()
        if lowered in ("accept", "drop", "reject", "return", "queue"):
            verdict = lowered
        elif target not in ("LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "CT", "NOTRACK"):
            verdict, chain_target = jump, target
    # Options of a terminal target (REJECT --reject-with ...) are not matches.
    options = [w for w in rest if w not in ("--reject-with",) and not _follows_reject(rest, w)]
    states = _iptables_states(rest)
    return Rule(
        text=text,
        verdict=verdict,
        target=chain_target,
        unconditional=verdict is not None and not options,
        drops_invalid=verdict in ("drop", "reject") and "INVALID" in states,
    )


def _follows_reject(words: Sequence[str], word: str) -> bool:
    return any(words[i] == "--reject-with" and words[i + 1] == word for i in range(len(words) - 1))


def _iptables_states(words: Sequence[str]) -> set[str]:
    states: set[str] = set()
    for index, word in enumerate(words[:-1]):
        if word in ("--ctstate", "--state") and (index == 0 or words[index - 1] != "!"):
            states.update(words[index + 1].upper().split(","))
    return states


# -- sockets and processes ------------------------------------------------------

_TCP_LISTEN = "0A"
_UDP_UNCONNECTED = "07"


@dataclass(frozen=True)
class Socket:
    """A listening TCP or bound UDP socket and who owns it."""

    proto: str
    """tcp or udp."""
    address: str
    port: int
    inode: int
    pid: int | None = None
    comm: str = UNKNOWN
    uid: int | None = None
    """The owning process's real UID (None: the owner could not be read)."""
    user: str = UNKNOWN
    socket_uid: int | None = None
    """The UID the kernel lists for the socket (its creator), readable without privilege."""
    cmdline: tuple[str, ...] = ()

    @property
    def wildcard(self) -> bool:
        """Listening on every address (0.0.0.0 or ::)."""
        return ipaddress.ip_address(self.address).is_unspecified

    @property
    def endpoint(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}/{self.proto}"


@dataclass(frozen=True)
class Process:
    pid: int
    comm: str
    cmdline: tuple[str, ...]
    uid: int | None
    user: str


def runs_rampart(comm: str, cmdline: Sequence[str], command: str | None = None) -> bool:
    """Whether a process is rampart (``rampart watch`` when ``command`` is "watch")."""
    for index, word in enumerate(cmdline):
        name = word.rsplit("/", 1)[-1]
        if name == "rampart" or (
            word == "-m" and index + 1 < len(cmdline) and cmdline[index + 1].startswith("rampart")
        ):
            return command is None or command in cmdline[index + 1 :]
    return command is None and comm == "rampart"


def collect_sockets(*, proc: Path = PROC, netns: str | None = None) -> list[Socket]:
    """Listening sockets of this host (or of ``netns``) with their owners."""
    if netns is None:
        net_dirs = [proc / "net"]
    else:
        # A namespace's sockets are seen through /proc/PID/net of a process inside it.
        pids = _output(["ip", "netns", "pids", _check_netns(netns)]).split()
        net_dirs = [proc / pid / "net" for pid in pids[:1]]
    sockets: list[Socket] = []
    for net in net_dirs:
        for name, proto in (("tcp", "tcp"), ("tcp6", "tcp"), ("udp", "udp"), ("udp6", "udp")):
            try:
                text = (net / name).read_text()
            except FileNotFoundError:
                continue  # no IPv6 here
            except OSError as error:
                raise Unavailable(f"{net / name}: cannot read: {error.strerror}") from None
            sockets += parse_proc_net(text, proto)
    if not sockets:
        return []
    owners = socket_owners(proc, {s.inode for s in sockets})
    found = []
    for sock in sockets:
        owner = owners.get(sock.inode)
        if owner is None:
            found.append(sock)
            continue
        found.append(
            Socket(
                sock.proto,
                sock.address,
                sock.port,
                sock.inode,
                owner.pid,
                owner.comm,
                owner.uid,
                owner.user,
                sock.socket_uid,
                owner.cmdline,
            )
        )
    return found


def parse_proc_net(text: str, proto: str) -> list[Socket]:
    """Listening (TCP) or unconnected (UDP) sockets of one ``/proc/net/{tcp,udp}[6]`` table."""
    wanted = _TCP_LISTEN if proto == "tcp" else _UDP_UNCONNECTED
    sockets = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != wanted:
            continue
        try:
            address, port = _endpoint(fields[1])
            uid, inode = int(fields[7]), int(fields[9])
        except ValueError:
            continue
        if inode == 0:
            continue
        sockets.append(Socket(proto, address, port, inode, socket_uid=uid))
    return sockets


def _endpoint(text: str) -> tuple[str, int]:
    """``0100007F:1F90`` → ("127.0.0.1", 8080)."""
    address, port = proc_net_address(text)
    return str(address), port


def socket_owners(proc: Path, inodes: set[int]) -> dict[int, Process]:
    """Which process holds each socket inode (the lowest PID when several share it)."""
    owners: dict[int, Process] = {}
    for pid_dir in _pid_dirs(proc):
        try:
            links = list((pid_dir / "fd").iterdir())
        except OSError:
            continue  # gone, or not ours to read: its sockets stay "unknown"
        held = set()
        for link in links:
            try:
                target = os.readlink(link)
            except OSError:
                continue
            if target.startswith("socket:[") and target.endswith("]"):
                inode = int(target[8:-1]) if target[8:-1].isdigit() else -1
                if inode in inodes:
                    held.add(inode)
        if not held:
            continue
        process = read_process(pid_dir)
        if process is None:
            continue
        for inode in held:
            if inode not in owners or process.pid < owners[inode].pid:
                owners[inode] = process
    return owners


def _pid_dirs(proc: Path) -> Iterator[Path]:
    try:
        entries = sorted((e for e in proc.iterdir() if e.name.isdigit()), key=lambda e: int(e.name))
    except OSError as error:
        raise Unavailable(f"{proc}: cannot list processes: {error.strerror}") from None
    yield from entries


def read_process(pid_dir: Path) -> Process | None:
    """comm, command line and real UID of one process (None if it is gone)."""
    try:
        comm = (pid_dir / "comm").read_text().strip()
    except OSError:
        return None
    try:
        cmdline = tuple(
            part
            for part in (pid_dir / "cmdline").read_bytes().decode(errors="replace").split("\0")
            if part
        )
    except OSError:
        cmdline = ()
    uid: int | None = None
    try:
        for line in (pid_dir / "status").read_text().splitlines():
            if line.startswith("Uid:"):
                uid = int(line.split()[1])
                break
    except (OSError, ValueError, IndexError):
        uid = None
    return Process(int(pid_dir.name), comm, cmdline, uid, user_name(uid))


def user_name(uid: int | None) -> str:
    if uid is None:
        return UNKNOWN
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def collect_processes(*, proc: Path = PROC) -> list[Process]:
    """Every process that can be read (kernel threads have an empty command line)."""
    found = []
    for pid_dir in _pid_dirs(proc):
        process = read_process(pid_dir)
        if process is not None:
            found.append(process)
    return found


def _check_netns(netns: str) -> str:
    if not _NETNS.fullmatch(netns):
        raise Unavailable(f"{netns!r} is not a network namespace name")
    return netns


def _netns_prefix(netns: str | None) -> list[str]:
    return [] if netns is None else ["ip", "netns", "exec", _check_netns(netns)]


# -- rampart's own status ---------------------------------------------------------


@dataclass(frozen=True)
class RampartStatus:
    """rampart watch's status file: where, how old (None: missing), and whether fresh."""

    path: Path
    age: float | None
    pid: int | None = None

    @property
    def fresh(self) -> bool:
        return self.age is not None and self.age <= FRESH_SECONDS


def collect_rampart_status(
    *, state_dir: Path | None = None, clock: Callable[[], float] = time.time
) -> RampartStatus:
    """The age of ``status.json`` in the state directory (from the settings by default)."""
    if state_dir is None:
        from rampart.config import load_settings

        try:
            state_dir = load_settings().state_dir
        except RampartError as error:
            raise Unavailable(str(error)) from None
    path = state_dir / "status.json"
    try:
        written = path.stat().st_mtime
    except FileNotFoundError:
        return RampartStatus(path, None)
    except OSError as error:
        raise Unavailable(f"{path}: cannot read: {error.strerror}") from None
    pid: int | None = None
    try:
        data = json.loads(path.read_text())
        pid = data.get("pid") if isinstance(data, dict) else None
    except (OSError, ValueError):
        pid = None
    return RampartStatus(path, max(0.0, clock() - written), pid if isinstance(pid, int) else None)


# -- systemd units --------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """An enabled service unit and the user it runs as (None: not set, so root)."""

    name: str
    path: Path
    user: str | None
    dynamic_user: bool
    wanted_by: tuple[str, ...] = field(default=())
    exec_start: tuple[str, ...] = ()
    """The ExecStart= command lines."""

    @property
    def runs_nothing(self) -> bool:
        """A wrapper unit (ExecStart=/bin/true, as Debian's postgresql.service) runs no code."""
        return all(
            command.lstrip("-@:+!").split(" ", 1)[0] in ("/bin/true", "/usr/bin/true", "true")
            for command in self.exec_start
        )


def collect_systemd_units(
    *, etc: Path = SYSTEMD_ETC, lib: Sequence[Path] = SYSTEMD_LIB
) -> list[Unit]:
    """Service units enabled through a ``*.wants`` or ``*.requires`` link under ``etc``."""
    if not etc.is_dir():
        raise Unavailable(f"{etc}: no such directory (is this a systemd host?)")
    roots = _unique_dirs([etc, *lib])
    wanted: dict[str, list[str]] = {}
    for wants in sorted(etc.glob("*.wants")) + sorted(etc.glob("*.requires")):
        try:
            entries = sorted(wants.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.name.endswith(".service"):
                wanted.setdefault(entry.name, []).append(wants.name)
    units = []
    for name, by in sorted(wanted.items()):
        found = _unit_file(name, roots)
        if found is None:
            continue  # a dangling link or a masked unit: nothing runs
        user, dynamic, commands = _service_user(_unit_texts(found, name, roots))
        units.append(Unit(name, found, user, dynamic, tuple(by), commands))
    return units


def _unique_dirs(dirs: Iterable[Path]) -> list[Path]:
    seen: set[Path] = set()
    unique = []
    for directory in dirs:
        real = directory.resolve() if directory.exists() else directory
        if real not in seen and directory.is_dir():
            seen.add(real)
            unique.append(directory)
    return unique


def _template(name: str) -> str | None:
    stem, at, rest = name.partition("@")
    return f"{stem}@.{rest.rsplit('.', 1)[-1]}" if at and not rest.startswith(".") else None


def _unit_file(name: str, roots: Sequence[Path], depth: int = 0) -> Path | None:
    """The file that defines unit ``name``: first root wins; aliases and templates followed."""
    for candidate in [name, _template(name)]:
        if candidate is None:
            continue
        for root in roots:
            path = root / candidate
            if path.is_symlink():
                target = os.readlink(path)
                if target == "/dev/null":
                    return None  # masked
                other = Path(target).name
                if other != candidate and depth < 8:
                    return _unit_file(other, roots, depth + 1)
                if path.is_file():
                    return path
                continue
            if path.is_file():
                return path
    return None


def _unit_texts(path: Path, name: str, roots: Sequence[Path]) -> list[str]:
    """The unit file, then its drop-ins (``NAME.d/*.conf``), lowest priority first."""
    texts = []
    with contextlib.suppress(OSError):
        texts.append(path.read_text(errors="replace"))
    names = [n for n in (_template(name), path.name, name) if n]
    drop_ins: dict[str, Path] = {}
    for root in reversed(roots):  # /etc last: its drop-ins override
        for unit_name in dict.fromkeys(names):
            directory = root / f"{unit_name}.d"
            if directory.is_dir():
                for conf in sorted(directory.glob("*.conf")):
                    drop_ins[conf.name] = conf
    for conf_name in sorted(drop_ins):
        with contextlib.suppress(OSError):
            texts.append(drop_ins[conf_name].read_text(errors="replace"))
    return texts


def _service_user(texts: Iterable[str]) -> tuple[str | None, bool, tuple[str, ...]]:
    """User=, DynamicUser= (the last assignment wins) and ExecStart= of [Service]."""
    user: str | None = None
    dynamic = False
    commands: list[str] = []
    for text in texts:
        section = ""
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
                continue
            if section != "Service" or "=" not in line:
                continue
            key, _, value = (part.strip() for part in line.partition("="))
            if key == "User":
                user = value or None
            elif key == "DynamicUser":
                dynamic = value.lower() in ("yes", "true", "1", "on")
            elif key == "ExecStart":
                if value:
                    commands.append(value)
                else:
                    commands.clear()  # an empty assignment resets the list
    return user, dynamic, tuple(commands)


COLLECTORS: dict[str, Callable[[], Any]] = {
    "ruleset": collect_ruleset,
    "sockets": collect_sockets,
    "processes": collect_processes,
    "rampart_status": collect_rampart_status,
    "systemd_units": collect_systemd_units,
}

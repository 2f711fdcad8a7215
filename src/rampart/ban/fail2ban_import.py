"""Fail2ban's jails carried over into rampart's configuration.

:func:`import_fail2ban` reads a Fail2ban configuration folder as Fail2ban's
client reads it: ``jail.conf``, ``jail.d/*.conf``, ``jail.local``,
``jail.d/*.local`` in that order, each with its ``[INCLUDES]``
(``paths-debian.conf`` ...), ``[DEFAULT]`` inheritance and ``%(x)s``
references (``%(__name__)s``, ``%(known/x)s``). The enabled jails become
rampart TOML: ``[DEFAULT]`` becomes ``[ban.defaults]`` and a jail lists only
what differs from it, so the result reads like the files it came from.

Nothing is guessed: what rampart cannot do the same way (e-mail actions, host
names in ``ignoreip``, ``bantime.formula`` ...) becomes a note, written beside
its jail as a ``# not carried over:`` comment and returned in
:attr:`ImportResult.notes`. Every value is checked by rampart's own
validation before it is written; one that fails is left out with a note, so
the text always loads.
"""

from __future__ import annotations

import contextlib
import glob
import ipaddress
import math
import re
import shlex
import socket
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rampart.config import JailDefaults, parse_ports, validate_settings
from rampart.detect import DEFAULT_FILTER_DIRS, FilterError, find_filter, parse_filter_ref
from rampart.detect.ini import INCLUDES_SECTION, KNOWN_PREFIX, ConfigStack, read_with_includes
from rampart.errors import ConfigError

DEFAULT_ROOT = Path("/etc/fail2ban")


@dataclass(frozen=True)
class ImportResult:
    """The TOML text, the jails it holds and what could not be carried over."""

    toml: str
    jails: tuple[str, ...]
    notes: tuple[str, ...]


# Values Fail2ban's server uses when no file sets the option.
_FAIL2BAN_BUILTIN = {"maxretry": "3", "findtime": "600", "bantime": "600", "ignoreself": "true"}
# How Fail2ban reads a yes/no option: these are true, anything else is false.
_TRUE = ("1", "on", "true", "yes")
_FALSE = ("0", "off", "false", "no", "")

# Fail2ban's time units (its year averages leap years; a month is a twelfth of it).
_YEAR = 365.25 * 86400
_UNIT_SECONDS: dict[str, float] = {
    **dict.fromkeys(("s", "ss", "se", "sec", "second", "seconds"), 1.0),
    **dict.fromkeys(("m", "mm", "mi", "min", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hh", "ho", "hou", "hour", "hours"), 3600.0),
    **dict.fromkeys(("d", "dd", "da", "day", "days"), 86400.0),
    **dict.fromkeys(("w", "ww", "we", "wee", "week", "weeks"), 7 * 86400.0),
    **dict.fromkeys(("mo", "mon", "month", "months"), _YEAR / 12),
    **dict.fromkeys(("y", "yy", "ye", "yea", "year", "years"), _YEAR),
}
_TIME_TERM = re.compile(r"\s*\+?\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")
_OUTPUT_UNITS = (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))

# The growth Fail2ban applies when bantime.increment is on and no formula is given
# (the ban doubles with each repeat, scaled by the factor): rampart's own rule.
_DEFAULT_FORMULA = "ban.Time*(1<<(ban.Countifban.Count<20else20))*banFactor"

# Actions that ban through a host firewall: rampart's backend does their work.
_FIREWALL_ACTIONS = (
    "iptables", "ip6tables", "nftables", "firewallcmd", "ufw", "shorewall",
    "pf", "ipfw", "bsd-ipfw", "npf", "apf", "ipfilter", "csf-ip-deny",
)  # fmt: skip
# Firewall actions that block every port of a banned address whatever the jail's port.
_ALL_PORT_ACTIONS = ("ufw", "apf", "csf-ip-deny", "shorewall")
# Actions that send e-mail besides the sendmail-* and mail-* families.
_MAIL_ACTIONS = ("smtp.py", "complain")
# Action options that say nothing rampart would do differently.
_PLAIN_ACTION_OPTIONS = {"name", "actname", "port", "protocol"}
_ALL_PORTS = {"", "all", "any", "0:65535", "1:65535", "0-65535", "1-65535"}
_ACTION_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@+-]*")
_JAIL_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_HOST_NAME = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9.-]+")

# Keys a jail inherits from [ban.defaults], written in a jail only when they differ.
_INHERITED = ("maxretry", "findtime", "bantime", "ignoreip", "ignoreself", "increment")
_JAIL_ORDER = (
    "enabled", "filter", "source", "logpath", "journalmatch", "maxretry", "findtime",
    "bantime", "ignoreip", "ignoreself", "port", "protocol", "action",
)  # fmt: skip
_INCREMENT_ORDER = ("enabled", "factor", "multipliers", "maxtime")

Lookup = Callable[[str], str | None]


class _Skip(Exception):
    """A jail that cannot be imported; the message says why."""


@dataclass
class _Table:
    """One table of the output: its values (TOML-ready) and its notes."""

    values: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def put(self, key: str, value: Any, label: str) -> None:
        self.values[key] = value
        self.labels[key] = label

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


# -- reading ------------------------------------------------------------------------


def _jail_files(root: Path) -> list[Path]:
    """The files Fail2ban's client reads for its jails, in its order."""
    if not root.exists():
        raise ConfigError(f"{root}: no such directory (give Fail2ban's folder, e.g. /etc/fail2ban)")
    if not root.is_dir():
        raise ConfigError(f"{root}: not a directory (give Fail2ban's folder, e.g. /etc/fail2ban)")
    folder = glob.escape(str(root / "jail.d"))
    names = [
        str(root / "jail.conf"),
        *sorted(glob.glob(f"{folder}/*.conf")),
        str(root / "jail.local"),
        *sorted(glob.glob(f"{folder}/*.local")),
    ]
    files = [Path(name) for name in names if Path(name).exists()]
    if not files:
        raise ConfigError(f"{root}: no jail.conf, jail.local or jail.d/*.conf (not Fail2ban's?)")
    return files


class _Fail2banConfig:
    """The merged jail files, read with Fail2ban's rules."""

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            self.stack = ConfigStack.from_files(read_with_includes(_jail_files(root)))
        except FilterError as error:
            raise ConfigError(str(error)) from None
        # Fail2ban's client adds these two before it interpolates anything.
        self.stack.defaults.update({"fail2ban_version": "0", "fail2ban_confpath": str(root)})
        self._action_defaults: dict[str, ConfigStack | None] = {}

    def sections(self) -> list[str]:
        """Every jail section, in file order ([INCLUDES] and ``known/`` copies are not jails)."""
        return [
            name
            for name in self.stack.sections
            if name != INCLUDES_SECTION and not name.startswith(KNOWN_PREFIX)
        ]

    def jail(self, section: str) -> Lookup:
        """An option of the jail, interpolated; a broken reference is a ConfigError."""

        def lookup(option: str) -> str | None:
            try:
                return self.stack.value(section, option)
            except FilterError as error:
                raise ConfigError(str(error)) from None

        return lookup

    def defaults(self) -> Lookup:
        """An option of [DEFAULT]; what does not resolve there is left to the jails."""

        def lookup(option: str) -> str | None:
            try:
                return self.stack.value("DEFAULT", option)
            except FilterError:
                return None

        return lookup

    def action_default(self, action: str, option: str) -> str | None:
        """``option`` of the action's own [Init] (action.d/NAME.conf), if it says."""
        if action not in self._action_defaults:
            conf = self.root / "action.d" / f"{action}.conf"
            stack = None
            if _ACTION_NAME.fullmatch(action) and conf.is_file():
                try:
                    stack = ConfigStack.from_files(read_with_includes([conf]))
                except FilterError:
                    stack = None
            self._action_defaults[action] = stack
        stack = self._action_defaults[action]
        if stack is None or not stack.has_section("Init"):
            return None
        try:
            return stack.value("Init", option)
        except FilterError:
            return None


# -- values -------------------------------------------------------------------------


def fail2ban_seconds(text: str) -> float:
    """Seconds from a Fail2ban time (``600``, ``10m``, ``1h 30m``, ``1d12h``, ``-1``, ``1w``)."""
    stripped = text.strip()
    try:
        seconds = float(stripped)
    except ValueError:
        seconds = math.nan
        total, position = 0.0, 0
        while position < len(stripped):
            term = _TIME_TERM.match(stripped, position)
            unit = _UNIT_SECONDS.get(term.group(2).lower() or "s") if term else None
            if term is None or unit is None or term.end() == position:
                break
            total += float(term.group(1)) * unit
            position = term.end()
        else:
            seconds = total if stripped else math.nan
    if not math.isfinite(seconds):
        raise ValueError("not a time rampart can read (e.g. 600, 10m, 1h30m, 1d, 1w, -1)")
    return seconds


def duration_value(seconds: float) -> int | float | str:
    """The TOML value for a duration: ``"10m"``, ``"1d12h"``, ``45``; -1 when permanent."""
    if seconds < 0:
        return -1
    seconds = float(seconds)
    if not seconds.is_integer():
        return seconds
    whole = int(seconds)
    if whole < 60:
        return whole
    parts = []
    for unit, size in _OUTPUT_UNITS:
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _number(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def _shown(text: str, limit: int = 100) -> str:
    """A value on one line, cut when long, to quote it in a note."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _yes_no(option: str, raw: str, table: _Table) -> bool:
    """A yes/no option as Fail2ban reads it; a value it does not know is noted."""
    value = raw.strip().lower()
    if value not in _TRUE and value not in _FALSE:
        table.note(f"{option} = {_shown(raw)}: not a yes/no value; read as false, as Fail2ban does")
    return value in _TRUE


def _option(lookup: Lookup, option: str) -> str | None:
    found = lookup(option)
    return found if found is not None else _FAIL2BAN_BUILTIN.get(option)


def _seconds_option(
    lookup: Lookup, option: str, table: _Table, *, permanent: bool = False
) -> tuple[float, str] | None:
    """A time option in seconds and its label; a bad one is noted and gives None."""
    raw = _option(lookup, option)
    if raw is None:
        return None
    try:
        seconds = fail2ban_seconds(raw)
    except ValueError as error:
        table.note(f"{option} = {_shown(raw)}: {error}")
        return None
    if seconds < 0 and not permanent:
        table.note(f"{option} = {_shown(raw)}: a negative time means nothing here")
        return None
    return seconds, f"{option} = {_shown(raw)}"


def _time_option(
    lookup: Lookup, option: str, table: _Table, *, permanent: bool = False
) -> float | None:
    found = _seconds_option(lookup, option, table, permanent=permanent)
    if found is None:
        return None
    table.put(option, duration_value(found[0]), found[1])
    return found[0]


def _common(lookup: Lookup, table: _Table) -> None:
    """What [DEFAULT] and a jail share: counting, ban time, increment, whom to ignore."""
    raw = _option(lookup, "maxretry")
    if raw is not None:
        try:
            table.put("maxretry", int(raw.strip()), f"maxretry = {_shown(raw)}")
        except ValueError:
            table.note(f"maxretry = {_shown(raw)}: not a whole number")
    _time_option(lookup, "findtime", table)
    bantime = _time_option(lookup, "bantime", table, permanent=True)
    _increment(lookup, table, bantime)
    raw = lookup("ignoreip")
    if raw is not None:
        table.put("ignoreip", _ignoreip(raw, table), "ignoreip")
    raw = _option(lookup, "ignoreself")
    if raw is not None:
        table.put("ignoreself", _yes_no("ignoreself", raw, table), f"ignoreself = {raw}")
    _unsupported(lookup, table)


def _ignoreip(raw: str, table: _Table) -> list[str]:
    """Addresses and networks; host names and anything else are noted and left out."""
    kept: list[str] = []
    names: list[str] = []
    other: list[str] = []
    for item in (word for word in re.split(r"[\s,]+", raw) if word):
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            (names if _HOST_NAME.fullmatch(item) else other).append(item)
        else:
            kept.append(item)
    if names:
        table.note(
            f"ignoreip host names {', '.join(names)}: rampart ignores addresses and networks only"
            " (put their addresses in ignoreip)"
        )
    if other:
        table.note(f"ignoreip entries {', '.join(other)}: not an address or network")
    return kept


def _increment(lookup: Lookup, table: _Table, bantime: float | None) -> None:
    """``bantime.increment`` and its companions, as far as rampart's increment goes."""
    raw = {name: lookup(f"bantime.{name}") for name in ("increment", "factor", "multipliers")}
    raw["maxtime"] = lookup("bantime.maxtime")
    if all(value is None for value in raw.values()):
        return
    increment: dict[str, Any] = {}
    labels: dict[str, str] = {}
    enabled = _yes_no("bantime.increment", raw["increment"] or "false", table)
    increment["enabled"] = enabled
    labels["enabled"] = f"bantime.increment = {_shown(raw['increment'] or 'false')}"
    factor = 1.0
    if raw["factor"] is not None:
        try:
            factor = float(raw["factor"].strip())
            if not math.isfinite(factor):
                raise ValueError
        except ValueError:
            table.note(f"bantime.factor = {_shown(raw['factor'])}: not a number")
            factor = 1.0
    multipliers: list[int | float] = []
    if raw["multipliers"] is not None:
        try:
            multipliers = [_number(float(word) * factor) for word in raw["multipliers"].split()]
        except ValueError:
            table.note(f"bantime.multipliers = {_shown(raw['multipliers'])}: not numbers")
    # Fail2ban scales multipliers by the factor; rampart's multipliers stand alone.
    # Written scaled, with a factor of 1, they mean the same to either reading.
    increment["factor"] = 1 if multipliers else _number(factor)
    labels["factor"] = f"bantime.factor = {_shown(raw['factor'] or '1')}"
    increment["multipliers"] = multipliers
    labels["multipliers"] = f"bantime.multipliers = {_shown(raw['multipliers'] or '')}"
    maxtime = _seconds_option(lookup, "bantime.maxtime", table)
    if maxtime is not None:
        increment["maxtime"] = duration_value(maxtime[0])
        labels["maxtime"] = maxtime[1]
    table.put("increment", increment, "bantime.increment")
    table.labels.update({f"increment.{key}": label for key, label in labels.items()})
    if enabled:
        _increment_notes(lookup, table, bantime, multipliers, maxtime is not None)


def _increment_notes(
    lookup: Lookup,
    table: _Table,
    bantime: float | None,
    multipliers: list[int | float],
    has_maxtime: bool,
) -> None:
    formula = lookup("bantime.formula")
    if formula and not multipliers and "".join(formula.split()) != _DEFAULT_FORMULA:
        table.note(
            f"bantime.formula = {_shown(formula)}: rampart grows a ban by factor * 2**n,"
            " or by multipliers"
        )
    rndtime = lookup("bantime.rndtime")
    if rndtime and rndtime.strip() not in ("0", ""):
        table.note(f"bantime.rndtime = {_shown(rndtime)}: rampart adds no random time to bans")
    overall = lookup("bantime.overalljails")
    if overall and overall.strip().lower() in _TRUE:
        table.note("bantime.overalljails = true: rampart counts a repeat offender's bans per jail")
    week = JailDefaults().increment.maxtime
    bounded = bool(multipliers) and bantime is not None and bantime * max(multipliers) <= week
    if not has_maxtime and bantime is not None and bantime > 0 and not bounded:
        table.note(
            "bantime.maxtime is not set: Fail2ban lets increased bans grow without limit,"
            f" rampart stops at increment.maxtime ({duration_value(week)} unless set)"
        )


def _unsupported(lookup: Lookup, table: _Table) -> None:
    """Options rampart has no counterpart for, noted when set to something that matters."""
    usedns = lookup("usedns")
    if usedns is not None and usedns.strip().lower() not in ("warn", ""):
        table.note(f"usedns = {_shown(usedns)}: rampart has no such setting")
    for option, reason in (
        ("ignorecommand", "rampart runs no command to decide whom to ignore"),
        ("ignorecache", "rampart has no ignore cache"),
        ("logtimezone", "not a jail setting in rampart; times without a zone are local time"),
    ):
        value = lookup(option)
        if value and value.strip():
            table.note(f"{option} = {_shown(value)}: {reason}")
    encoding = lookup("logencoding")
    if encoding and encoding.strip().lower() not in ("auto", "utf-8", "utf8"):
        table.note(f"logencoding = {_shown(encoding)}: rampart reads logs as UTF-8")
    for option in ("maxlines", "datepattern"):
        value = lookup(option)
        if value and value.strip():
            table.note(
                f"{option} = {_shown(value)} overrides the filter in the jail:"
                f' give it as a filter option instead (filter = "NAME[{option}=...]")'
            )
    for option in ("failregex", "ignoreregex", "prefregex"):
        value = lookup(option)
        if value and value.strip():
            table.note(f"{option} set in the jail: put it in a filter of your own")


# -- one jail -----------------------------------------------------------------------


def _jail(config: _Fail2banConfig, lookup: Lookup) -> tuple[_Table, list[str]]:
    """The jail's table and the firewall actions it bans with."""
    table = _Table()
    table.put("enabled", True, "enabled")
    _filter(config, lookup, table)
    _source(lookup, table)
    _common(lookup, table)
    firewalls = _actions(config, lookup, table)
    return table, firewalls


def _filter(config: _Fail2banConfig, lookup: Lookup, table: _Table) -> None:
    ref = (lookup("filter") or "").strip()
    if not ref:
        raise _Skip("it names no filter (Fail2ban would run it matching nothing)")
    try:
        name, _ = parse_filter_ref(ref)
    except FilterError as error:
        raise _Skip(str(error)) from None
    try:
        find_filter(name, DEFAULT_FILTER_DIRS)
    except FilterError as error:
        local = config.root / "filter.d"
        if (local / f"{name}.conf").is_file() and local not in DEFAULT_FILTER_DIRS:
            table.note(f"filter {name} is only in {local}: add that folder to [ban] filter_dirs")
        else:
            table.note(str(error))
    table.put("filter", ref, f"filter = {_shown(ref)}")


def _source(lookup: Lookup, table: _Table) -> None:
    """Fail2ban's backend: the journal, or log files (logpath)."""
    backend = (lookup("backend") or "auto").strip()
    kind = backend.split("[", 1)[0].strip().lower()
    if kind.startswith("systemd"):
        table.put("source", "journal", f"backend = {_shown(backend)}")
        if "[" in backend:
            table.note(f"backend = {_shown(backend)}: the journal options are not carried over")
        matches = lookup("journalmatch")
        if matches and matches.strip():
            tokens = _journal_tokens(matches, table)
            if tokens:
                table.put("journalmatch", tokens, f"journalmatch = {_shown(matches)}")
        return
    if kind in ("auto", "pyinotify", "gamin", "polling"):
        table.put("source", "file", f"backend = {_shown(backend)}")
    else:
        table.note(f'backend = {_shown(backend)}: unknown; source = "auto" chosen')
        table.put("source", "auto", f"backend = {_shown(backend)}")
    paths = []
    for line in (lookup("logpath") or "").split("\n"):
        path = line.strip()
        head, _, last = path.rpartition(" ")
        if head and last.lower() in ("head", "tail"):  # Fail2ban's "where to start" word
            path = head.strip()
        if not path:
            continue
        if not path.startswith("/"):
            table.note(f"logpath {_shown(path)}: not an absolute path")
            continue
        paths.append(path)
        if not glob.glob(path):
            table.note(
                f"logpath {path}: no such file on this host, so nothing is read from it"
                ' (source = "auto" would read the journal instead)'
            )
    if not paths:
        table.note("no logpath: this jail has no log file to read")
    table.put("logpath", paths, "logpath")


def _journal_tokens(value: str, table: _Table) -> list[str]:
    """journalctl-style matches; Fail2ban's lines are alternatives, joined here by "+"."""
    tokens: list[str] = []
    for line in value.split("\n"):
        try:
            words = shlex.split(line)
        except ValueError as error:
            table.note(f"journalmatch {_shown(line)}: {error}")
            return []
        if words and tokens:
            tokens.append("+")
        tokens.extend(words)
    return tokens


def split_actions(text: str) -> list[str]:
    """``action =`` split into its entries, as Fail2ban splits it.

    Entries are separated by white space (usually one per line); white space
    inside ``[...]`` or before a ``[`` belongs to the entry, and an option's
    quoted value may hold anything but its own quote.
    """
    entries: list[str] = []
    current: list[str] = []
    depth, quote, index = 0, "", 0
    while index < len(text):
        char = text[index]
        index += 1
        if quote:
            quote = "" if char == quote else quote
        elif depth and char in "\"'" and "".join(current).rstrip().endswith("="):
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]" and depth:
            depth -= 1
        elif char.isspace() and not depth:
            rest = text[index:].lstrip()
            if current and rest.startswith("["):
                index = len(text) - len(rest)
            elif current:
                entries.append("".join(current))
                current = []
            continue
        current.append(char)
    if current:
        entries.append("".join(current))
    return entries


def _action_kind(name: str) -> str:
    lowered = name.lower()

    def named(prefixes: Iterable[str]) -> bool:
        return any(lowered == p or lowered.startswith((p + "-", p + "_")) for p in prefixes)

    if named(_FIREWALL_ACTIONS):
        return "firewall"
    if lowered.startswith(("sendmail", "mail")) or lowered in _MAIL_ACTIONS:
        return "mail"
    return "other"


def _actions(config: _Fail2banConfig, lookup: Lookup, table: _Table) -> list[str]:
    """Port, protocol and action from the jail's actions; returns the firewall ones."""
    bans: list[tuple[str, dict[str, str]]] = []
    for entry in split_actions(lookup("action") or ""):
        try:
            name, options = parse_filter_ref(entry)
        except FilterError:
            raise _Skip(f"action {_shown(entry)} cannot be parsed (Fail2ban skips it)") from None
        kind = _action_kind(name)
        if kind == "mail":
            table.note(f"action {name}: e-mail alerts come with rampart's notify part, later")
        elif kind == "other":
            table.note(f"action {name}: rampart bans only through its own firewall backend")
        else:
            bans.append((name, options))
            extra = [
                f"{key}={_shown(value, 40)}"
                for key, value in options.items()
                if key not in _PLAIN_ACTION_OPTIONS
                and not (key == "chain" and (value in ("", "INPUT") or value.startswith("<")))
            ]
            if extra:
                table.note(f"action {name} options {', '.join(extra)}: rampart's rules are its own")
    if not bans:
        table.note(
            'no action bans through the firewall: imported with action = "log"'
            " (failures are logged, nobody is banned)"
        )
        table.put("action", "log", "action")
        return []
    _ports(config, lookup, table, bans)
    table.put("action", "ban", "action")
    return [name for name, _ in bans]


def _ports(
    config: _Fail2banConfig,
    lookup: Lookup,
    table: _Table,
    bans: list[tuple[str, dict[str, str]]],
) -> None:
    """The ports and protocol the jail's firewall actions block, as one port/protocol pair."""
    by_protocol: dict[str, list[str] | None] = {}
    for name, options in bans:
        # Fail2ban hands an action only the options written with it; else its own [Init].
        given = options.get("protocol") or config.action_default(name, "protocol")
        protocol = (given or lookup("protocol") or "tcp").strip().lower()
        if protocol not in ("tcp", "udp", "all"):
            table.note(f'action {name} protocol {_shown(protocol)}: banned as protocol "all"')
            protocol = "all"
        ports: list[str] | None = None
        if not _blocks_every_port(name):
            given = options.get("port") or config.action_default(name, "port")
            ports = _port_items(given or lookup("port") or "all", table)
        known = by_protocol.get(protocol, [])
        if ports is None or known is None:
            by_protocol[protocol] = None
        else:
            by_protocol[protocol] = [*known, *(p for p in ports if p not in known)]
    lists = list(by_protocol.values())
    if any(ports is None for ports in lists):
        port_value = "all"
    else:
        merged: list[str] = []
        for ports in lists:
            merged.extend(p for p in ports or [] if p not in merged)
        port_value = ",".join(merged)
        if len({tuple(ports or []) for ports in lists}) > 1:
            each = "; ".join(f"{proto} {','.join(p or [])}" for proto, p in by_protocol.items())
            table.note(f"different ports per protocol ({each}): all are banned on every protocol")
    protocols = set(by_protocol)
    protocol_value = protocols.pop() if len(protocols) == 1 else "all"
    table.put("port", port_value, f"port = {port_value}")
    table.put("protocol", protocol_value, f"protocol = {protocol_value}")


def _blocks_every_port(name: str) -> bool:
    lowered = name.lower()
    named = any(lowered == p or lowered.startswith(p + "-") for p in _ALL_PORT_ACTIONS)
    return named or "allports" in lowered


def _port_items(text: str, table: _Table) -> list[str] | None:
    """The port items rampart accepts; None for every port."""
    if "<" in text:
        table.note(f"port {_shown(text)}: an unresolved action tag; every port is banned")
        return None
    items = [item for item in re.split(r"[\s,]+", text.strip()) if item]
    if not items or any(item.lower() in _ALL_PORTS for item in items):
        return None
    kept = []
    for item in items:
        if re.match(r"0[:-]", item):  # port 0 does not exist: a range from 0 starts at 1
            item = "1" + item[1:]
        elif "-" in item and not item[0].isdigit():  # rampart reads '-' as a range: ftp-data
            with contextlib.suppress(OSError):
                item = str(socket.getservbyname(item))
        try:
            parse_ports(item)
        except ValueError as error:
            table.note(f"port {item}: {error}")
        else:
            kept.append(item)
    if not kept:
        table.note(f"port = {_shown(text)}: no port left, so every port is banned")
        return None
    return kept


# -- checking and comparing -----------------------------------------------------------


def _rejected(where: str, table: dict[str, Any]) -> str | None:
    """Why rampart refuses this table of values, or None when it accepts it."""
    ban: dict[str, Any] = {"jails": {}}
    if where == "defaults":
        ban["defaults"] = table
    else:
        ban["jails"] = {"imported": table}
    try:
        validate_settings({"ban": ban})
    except ConfigError as error:
        return str(error).split(": ", 2)[-1]
    return None


def _validate(table: _Table, where: str) -> None:
    """Leave out, with a note, every value rampart's validation refuses."""
    for key in list(table.values):
        value = table.values[key]
        if isinstance(value, dict):
            for sub in list(value):
                reason = _rejected(where, {key: {sub: value[sub]}})
                if reason:
                    table.note(f"{table.labels.get(f'{key}.{sub}', sub)}: {reason}")
                    del value[sub]
            if not value:
                del table.values[key]
            continue
        reason = _rejected(where, {key: value})
        if reason:
            table.note(f"{table.labels.get(key, key)}: {reason}")
            del table.values[key]


def _builtin() -> dict[str, Any]:
    """rampart's own defaults, in the form this module writes them."""
    base = JailDefaults()
    return {
        "maxretry": base.maxretry,
        "findtime": duration_value(base.findtime),
        "bantime": duration_value(base.bantime),
        "ignoreip": list(base.ignoreip),
        "ignoreself": base.ignoreself,
        "increment": {
            "enabled": base.increment.enabled,
            "factor": _number(base.increment.factor),
            "multipliers": list(base.increment.multipliers),
            "maxtime": duration_value(base.increment.maxtime),
        },
    }


def _drop_builtin_increment(defaults: _Table) -> None:
    """[ban.defaults.increment] says whether it is on, and only what differs from rampart's."""
    increment = defaults.values.get("increment", {})
    builtin = _builtin()["increment"]
    for key in [k for k in increment if k != "enabled" and increment[k] == builtin[k]]:
        del increment[key]


def _only_differences(jail: _Table, defaults: _Table) -> None:
    """Drop from the jail what it inherits anyway, and notes [ban.defaults] already has."""
    effective = _builtin()
    effective.update({k: v for k, v in defaults.values.items() if k != "increment"})
    effective["increment"].update(defaults.values.get("increment", {}))
    for key in _INHERITED:
        if key not in jail.values:
            continue
        if key == "increment":
            own = {k: v for k, v in jail.values[key].items() if effective[key].get(k) != v}
            if own:
                jail.values[key] = own
            else:
                del jail.values[key]
        elif jail.values[key] == effective.get(key):
            del jail.values[key]
    jail.notes[:] = [note for note in jail.notes if note not in defaults.notes]


def _backend(config: _Fail2banConfig, firewalls: list[str], notes: list[str]) -> str:
    """iptables when every ban goes through iptables actions, else nftables."""
    if not firewalls:
        banaction = (config.defaults()("banaction") or "").strip()
        firewalls = [banaction.split("[", 1)[0]] if banaction else []
    iptables = [name.lower().startswith(("iptables", "ip6tables")) for name in firewalls]
    if iptables and all(iptables):
        return "iptables"
    if any(iptables):
        notes.append(
            f"the jails ban through different firewalls ({', '.join(sorted(set(firewalls)))}):"
            " rampart uses one backend, nftables"
        )
    return "nftables"


# -- writing TOML ---------------------------------------------------------------------

_ESCAPES = {
    '"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"
}  # fmt: skip


def toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        elif 0xD800 <= code <= 0xDFFF:  # a lone surrogate (undecodable bytes in a name)
            out.append("\ufffd")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else toml_string(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _comment(text: str) -> str:
    """Text safe inside a TOML comment: one line, no control characters."""
    out = []
    for char in text:
        code = ord(char)
        if char == "\t" or (0x20 <= code != 0x7F and not 0xD800 <= code <= 0xDFFF):
            out.append(char)
        else:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)


def _table_lines(
    header: str, values: dict[str, Any], notes: list[str], order: Iterable[str]
) -> list[str]:
    lines = ["", f"[{header}]"]
    lines += [f"# not carried over: {_comment(note)}" for note in notes]
    lines += [
        f"{toml_key(key)} = {_toml_value(values[key])}"
        for key in order
        if key in values and not isinstance(values[key], dict)
    ]
    increment = values.get("increment")
    if increment:
        lines += ["", f"[{header}.increment]"]
        lines += [f"{k} = {_toml_value(increment[k])}" for k in _INCREMENT_ORDER if k in increment]
    return lines


def _render(
    config: _Fail2banConfig,
    backend: str,
    notes: list[str],
    defaults: _Table,
    jails: list[tuple[str, _Table]],
    not_enabled: int,
) -> str:
    lines = [
        f"# rampart configuration: Fail2ban's jails in {_comment(str(config.root))},",
        "# carried over by `rampart ban import-fail2ban`. Files read, in Fail2ban's order:",
        *(f"#   {_comment(str(path))}" for path in config.stack.files),
        f"# Enabled jails only: {len(jails)} imported, {not_enabled} not enabled.",
        '# "not carried over" names what rampart cannot do as Fail2ban did: review it.',
        "# Fail2ban bans an IPv6 address alone; rampart bans its /64 (ban.defaults.ipv6_prefix).",
    ]
    lines += ["", "[ban]", *(f"# not carried over: {_comment(note)}" for note in notes)]
    lines.append(f"backend = {toml_string(backend)}")
    lines += _table_lines("ban.defaults", defaults.values, defaults.notes, _INHERITED)
    if not jails:
        lines += ["", "[ban.jails]"]
    for name, table in jails:
        lines += _table_lines(f"ban.jails.{toml_key(name)}", table.values, table.notes, _JAIL_ORDER)
    return "\n".join(lines) + "\n"


# -- the import -----------------------------------------------------------------------


def _enabled(lookup: Lookup, name: str, notes: list[str]) -> bool:
    raw = lookup("enabled")
    if raw is None:
        return False
    value = raw.strip().lower()
    if value not in _TRUE and value not in _FALSE:
        notes.append(
            f"jail {name}: enabled = {_shown(raw)} is not a yes/no value;"
            " Fail2ban reads it as false, so the jail was not imported"
        )
    return value in _TRUE


def _rampart_name(name: str, taken: set[str], notes: list[str]) -> str | None:
    """The jail's name in rampart (1-32 letters, digits, '_' or '-'; 'manual' is taken)."""
    if _JAIL_NAME.fullmatch(name) and name != "manual":
        return name
    renamed = re.sub(r"[^A-Za-z0-9_-]", "-", name)[:32]
    if not renamed.strip("-") or renamed == "manual" or renamed in taken:
        notes.append(f"jail {name}: not imported: rampart cannot use its name")
        return None
    notes.append(
        f"jail {name}: imported as {renamed}"
        " (rampart's jail names are 1-32 letters, digits, '_' or '-')"
    )
    return renamed


def import_fail2ban(root: Path = DEFAULT_ROOT) -> ImportResult:
    """Fail2ban's enabled jails under ``root`` as rampart TOML, with what was left behind.

    Raises ConfigError (one line, naming the file) when ``root`` is missing or a
    file cannot be read or is broken (a bad line, a ``%(x)s`` that is not defined).
    """
    config = _Fail2banConfig(root)
    notes: list[str] = []
    defaults = _Table()
    _common(config.defaults(), defaults)
    _validate(defaults, "defaults")
    _drop_builtin_increment(defaults)
    jails: list[tuple[str, _Table]] = []
    firewalls: list[str] = []
    not_enabled = 0
    sections = config.sections()
    for section in sections:
        lookup = config.jail(section)
        if not _enabled(lookup, section, notes):
            not_enabled += 1
            continue
        name = _rampart_name(section, {*sections, *(n for n, _ in jails)}, notes)
        if name is None:
            continue
        try:
            table, used = _jail(config, lookup)
        except _Skip as skipped:
            notes.append(f"jail {section}: not imported: {skipped}")
            continue
        _validate(table, "jail")
        _only_differences(table, defaults)
        reason = _rejected_jail(name, table, defaults)
        if reason:
            notes.append(f"jail {section}: not imported: {reason}")
            continue
        jails.append((name, table))
        firewalls.extend(used)
    if not jails:
        notes.append(
            "no jail was imported: [ban.jails] is left empty, so rampart runs no jail"
            " (remove it to get rampart's default sshd jail)"
        )
    backend = _backend(config, firewalls, notes)
    text = _render(config, backend, notes, defaults, jails, not_enabled)
    _check_round_trip(text)
    all_notes = [
        *notes,
        *(f"[DEFAULT]: {note}" for note in defaults.notes),
        *(f"jail {name}: {note}" for name, table in jails for note in table.notes),
    ]
    return ImportResult(toml=text, jails=tuple(name for name, _ in jails), notes=tuple(all_notes))


def _rejected_jail(name: str, table: _Table, defaults: _Table) -> str | None:
    try:
        validate_settings(
            {"ban": {"defaults": defaults.values, "jails": {name: table.values}}},
            f"jail {name}",
        )
    except ConfigError as error:
        return str(error)
    return None


def _check_round_trip(text: str) -> None:
    """The text must load and validate; if not, this module has a bug."""
    try:
        validate_settings(tomllib.loads(text), "the imported configuration")
    except (tomllib.TOMLDecodeError, ConfigError) as error:
        raise RuntimeError(f"import produced a configuration rampart refuses: {error}") from None

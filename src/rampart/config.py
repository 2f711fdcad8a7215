"""The one configuration file, ``/etc/rampart/rampart.toml``, validated.

Every command works without a file, on the defaults below. A file that
exists is read strictly: an unknown key or a value of the wrong type is an
error that names the file and the key, so a typo never silently disables a
protection.
"""

import ipaddress
import os
import re
import socket
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from rampart.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("/etc/rampart/rampart.toml")
DEFAULT_STATE_DIR = Path("/var/lib/rampart")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdwy]?)")
_JAIL_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
PERMANENT = -1.0
"""A ban time of -1 (Fail2ban's convention): the ban never ends by itself."""


def parse_duration(value: object) -> float:
    """Seconds from ``600``, ``"10m"``, ``"1h30m"``, ``"1w"`` (Fail2ban's units); -1 stays -1."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text such as '10m'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if text in ("-1", "permanent", "forever"):
            return PERMANENT
        parts = list(_DURATION_PART.finditer(text))
        if not text or "".join(p.group(0) for p in parts).replace(" ", "") != text.replace(" ", ""):
            raise ValueError(f"{value!r} is not a duration (e.g. 600, '10m', '1h30m', '1d')")
        seconds = sum(float(p.group(1)) * _UNITS[p.group(2) or "s"] for p in parts)
    else:
        raise ValueError("a duration is a number of seconds or text such as '10m'")
    if seconds == PERMANENT:
        return PERMANENT
    if seconds < 0:
        raise ValueError("a duration cannot be negative (use -1 for a permanent ban)")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


def parse_networks(value: object) -> tuple[str, ...]:
    """Addresses and networks (``192.0.2.7``, ``10.0.0.0/8``), each checked by ipaddress."""
    items = value.split() if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError("a list of addresses or networks")
    networks = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(str(item).strip(), strict=False).with_prefixlen)
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network") from None
    return tuple(networks)


Networks = Annotated[tuple[str, ...], BeforeValidator(parse_networks)]


def parse_ports(value: object) -> tuple[tuple[int, int], ...] | None:
    """Port ranges from ``"all"``, ``22``, ``"ssh,2222"``, ``["http", "8000:8100"]``."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("all", "any", "")):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        items: list[object] = [value]
    elif isinstance(value, str):
        items = [part for part in re.split(r"[,\s]+", value) if part]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ValueError("ports are 'all', a number, a service name or a list of them")
    ranges: list[tuple[int, int]] = []
    for item in items:
        text = str(item).strip()
        low_text, _, high_text = text.replace("-", ":").partition(":")
        low, high = _port(low_text), _port(high_text) if high_text else None
        if high is None:
            high = low
        if low > high:
            raise ValueError(f"port range {text!r} runs backwards")
        ranges.append((low, high))
    return tuple(sorted(set(ranges)))


def _port(text: str) -> int:
    if text.isdigit():
        number = int(text)
        if 1 <= number <= 65535:
            return number
        raise ValueError(f"port {text} is outside 1-65535")
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,31}", text):
        raise ValueError(f"{text!r} is not a port number or service name")
    try:
        return socket.getservbyname(text)
    except OSError:
        raise ValueError(f"unknown service name {text!r} (not in /etc/services)") from None


Ports = Annotated[tuple[tuple[int, int], ...] | None, BeforeValidator(parse_ports)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BanIncrement(_Section):
    """Longer bans for repeat offenders, as Fail2ban's ``bantime.increment``.

    The n-th ban of an address (n = earlier bans, 0 for the first) lasts
    ``bantime * multipliers[min(n, len - 1)]`` when multipliers are given,
    else ``bantime * factor * 2**n`` (n >= 1), never more than ``maxtime``.
    """

    enabled: bool = False
    factor: float = Field(default=1.0, gt=0)
    multipliers: tuple[float, ...] = ()
    maxtime: Duration = 7 * 86400.0

    @field_validator("multipliers", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return value.split() if isinstance(value, str) else value

    @field_validator("multipliers")
    @classmethod
    def _positive(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(m <= 0 for m in value):
            raise ValueError("multipliers must be greater than 0")
        return value


class JailDefaults(_Section):
    """What every jail inherits unless it says otherwise (Fail2ban's [DEFAULT])."""

    maxretry: int = Field(default=5, ge=1)
    findtime: Duration = 600.0
    bantime: Duration = 600.0
    increment: BanIncrement = BanIncrement()
    ignoreip: Networks = ()
    ignoreself: bool = True
    port: Ports = None
    protocol: Literal["tcp", "udp", "all"] = "tcp"
    action: Literal["ban", "log"] = "ban"
    ipv6_prefix: int = Field(default=64, ge=32, le=128)
    """IPv6 clients are banned by this prefix: one host usually holds a whole /64."""

    @field_validator("findtime")
    @classmethod
    def _finite_window(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("findtime must be more than 0 seconds")
        return value

    @field_validator("bantime")
    @classmethod
    def _ban_length(cls, value: float) -> float:
        if value == 0:
            raise ValueError("bantime must be more than 0 seconds (or -1: permanent)")
        return value


class JailSettings(JailDefaults):
    """One jail: a filter over some logs, and what to do with the failures it finds."""

    enabled: bool = True
    filter: str = ""
    """Filter name with options (``sshd[mode=aggressive]``) or path; default: the jail's name."""
    source: Literal["auto", "file", "journal"] = "auto"
    """auto: the log files when one exists, else the journal."""
    logpath: tuple[str, ...] = ()
    """Files or globs to follow."""
    journalmatch: tuple[str, ...] | None = None
    """journalctl matches (``_SYSTEMD_UNIT=ssh.service``, ``+``); default: the filter's."""

    @field_validator("logpath", "journalmatch", mode="before")
    @classmethod
    def _words(cls, value: object) -> object:
        return value.split() if isinstance(value, str) else value

    @field_validator("logpath")
    @classmethod
    def _absolute(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for path in value:
            if not path.startswith("/") or "\0" in path:
                raise ValueError(f"log path {path!r} must be absolute")
        return value


#: The jail rampart runs when the configuration names none.
DEFAULT_JAILS: dict[str, dict[str, Any]] = {
    "sshd": {"filter": "sshd", "logpath": ["/var/log/auth.log"], "port": "ssh"},
}


class BanSettings(_Section):
    """The ban part: where filters come from, how bans are enforced, the jails."""

    filter_dirs: tuple[Path, ...] = Field(
        default=(),
        description="Extra folders searched for filters before rampart's own and Fail2ban's.",
    )
    backend: Literal["nftables", "iptables", "log"] = "nftables"
    protect_ssh_sessions: bool = True
    """Never ban the address of an SSH session open on this host (``--force`` overrides)."""
    defaults: JailDefaults = JailDefaults()
    jails: dict[str, JailSettings] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _inherit(cls, data: Any) -> Any:
        """Each jail starts from ``defaults``; with no jail at all, sshd is protected."""
        if not isinstance(data, dict):
            return data
        defaults = data.get("defaults", {})
        jails = data.get("jails")
        if jails is None:
            jails = DEFAULT_JAILS
        if not isinstance(defaults, dict) or not isinstance(jails, dict):
            return data
        merged: dict[str, Any] = {}
        for name, jail in jails.items():
            if not isinstance(jail, dict):
                merged[name] = jail
                continue
            combined = {**defaults, **jail}
            inherited, own = defaults.get("increment"), jail.get("increment")
            if isinstance(inherited, dict) and isinstance(own, dict):
                combined["increment"] = {**inherited, **own}
            merged[name] = combined
        return {**data, "jails": merged}

    @field_validator("jails")
    @classmethod
    def _names(cls, value: dict[str, JailSettings]) -> dict[str, JailSettings]:
        for name in value:
            if not _JAIL_NAME.fullmatch(name) or name == "manual":
                raise ValueError(
                    f"jail name {name!r}: use 1-32 letters, digits, '_' or '-'"
                    " ('manual' is reserved)"
                )
        return value


class AuditSettings(_Section):
    """What the audit looks at beyond this host's own files (all optional)."""

    mute_file: Path | None = None
    """Accepted findings (``[[mute]]`` tables); ``--mute`` overrides."""
    internal_names: tuple[str, ...] = (
        "staging",
        "stage",
        "dev",
        "admin",
        "monitoring",
        "grafana",
        "kibana",
        "prometheus",
        "internal",
        "intranet",
        "phpmyadmin",
        "adminer",
    )
    """nginx server names containing one of these must have basic auth or an allow list."""
    postgres_dsn: str | None = None
    """libpq connection string or URI; default: the local socket as the postgres user."""
    pg_hba_file: Path | None = None
    """pg_hba.conf to read; default: the one the server reports (SHOW hba_file)."""
    restic_repository: str | None = None
    restic_password_file: Path | None = None
    backup_files: tuple[str, ...] = ()
    """Files or globs a backup job writes: the newest one's age is the last backup's."""
    backup_max_age: Duration = 2 * 86400.0
    git_repositories: tuple[Path, ...] = ()
    """Repositories searched for committed credentials."""
    aws: bool = True
    """Audit the AWS account when credentials are found (the usual boto3 chain)."""
    aws_region: str | None = None


_IFACE = re.compile(r"[A-Za-z0-9_.-]{1,15}")


def parse_port_range(value: object) -> tuple[int, int]:
    """One port or range: ``22``, ``"ssh"``, ``"8000-8100"``, ``"8000:8100"``."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("a port is a number, a service name or a range such as '8000-8100'")
    ranges = parse_ports(value)
    if ranges is None or len(ranges) != 1:
        raise ValueError(f"{value!r} is not one port or port range")
    return ranges[0]


class FirewallService(_Section):
    """One allowed inbound service: a port or range, its protocol, optionally who and where."""

    port: Annotated[tuple[int, int], BeforeValidator(parse_port_range)]
    protocol: Literal["tcp", "udp"] = "tcp"
    sources: Networks = ()
    """Only these addresses or networks; empty: from anywhere."""
    interface: str | None = None

    @field_validator("interface")
    @classmethod
    def _interface(cls, value: str | None) -> str | None:
        if value is not None and not _IFACE.fullmatch(value):
            raise ValueError(f"{value!r} is not an interface name ([A-Za-z0-9_.-], 1-15)")
        return value


class OutboundService(_Section):
    """One allowed outbound service: a destination port or range, optionally where to."""

    port: Annotated[tuple[int, int], BeforeValidator(parse_port_range)]
    protocol: Literal["tcp", "udp"] = "tcp"
    destinations: Networks = ()
    """Only to these addresses or networks; empty: anywhere."""


class EarlyDropSettings(_Section):
    """Traffic dropped in prerouting, before any port is looked at (all on by default)."""

    invalid: bool = True
    bad_flags: bool = True
    new_without_syn: bool = True
    low_mss: bool = True
    min_mss: int = Field(default=536, ge=1, le=65535)
    syn_flood: bool = True
    syn_rate: int = Field(default=25, ge=1, le=1_000_000)
    """New TCP connections per second and source address."""
    syn_burst: int = Field(default=50, ge=1, le=1_000_000)
    conn_limit: int | None = Field(default=None, ge=1, le=1_000_000)
    """At most this many TCP connections per source address (``ct count``); none: no limit."""


class FirewallSettings(_Section):
    """The host firewall: inbound default deny, the services allowed, early drops."""

    inbound: Literal["drop", "accept"] = "drop"
    allow: tuple[FirewallService, ...] = ()
    outbound: Literal["accept", "drop"] = "accept"
    """With "drop", only ``allow_out`` (plus replies, loopback and ICMP) may leave."""
    allow_out: tuple[OutboundService, ...] = ()
    ping_rate: int = Field(default=10, ge=1, le=1_000_000)
    """ICMP echo requests accepted per second (ICMPv6 neighbour discovery: always)."""
    early_drop: EarlyDropSettings = EarlyDropSettings()


class HidsSettings(_Section):
    """The HIDS log rules: which rules, which logs, from which level an event is an alert."""

    rules_dirs: tuple[Path, ...] = ()
    """Folders of ``*.yaml`` rule files; empty: the rules rampart ships (``rules/hids``)."""
    alert_level: int = Field(default=3, ge=1, le=15)
    """Events at or above this level are alerts (OSSEC's ``log_alert_level``)."""
    logs: tuple[str, ...] = ()
    """Log files or globs ``rampart watch`` runs through the rules; ``journal`` for journald."""
    rootcheck_interval: Duration = 43200.0
    """How often ``rampart watch`` runs the rootkit checks while the HIDS is on (0: never)."""

    @field_validator("logs", mode="before")
    @classmethod
    def _words(cls, value: object) -> object:
        return value.split() if isinstance(value, str) else value

    @field_validator("logs")
    @classmethod
    def _absolute(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for path in value:
            if path != "journal" and (not path.startswith("/") or "\0" in path):
                raise ValueError(f"log {path!r} must be an absolute path or 'journal'")
        return value


_EMAIL_ADDRESS = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?"
)
_CHANNEL_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
AlertLevel = Annotated[int, Field(ge=0, le=15)]


def _no_line_breaks(value: str, what: str) -> str:
    if any(ch in value for ch in "\r\n\0"):
        raise ValueError(f"{what} must not contain line breaks (header injection)")
    return value


def _email_address(value: str) -> str:
    if not _EMAIL_ADDRESS.fullmatch(value):
        raise ValueError(f"{value!r} is not an e-mail address (name@example.com)")
    return value


class SecretSource(_Section):
    """Where a password or token comes from: never the configuration file itself."""

    password_env: str | None = None
    """Name of an environment variable holding it."""
    password_file: Path | None = None
    """A file holding it (first line; keep it 0600)."""

    @field_validator("password_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value


class EmailSettings(SecretSource):
    """Alerts by e-mail (SMTP): digests every few minutes, the worst at once, a cap per hour."""

    enabled: bool = False
    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "none"
    ca_file: Path | None = None
    """CA certificates that sign the server's (a private CA); default: the system's."""
    username: str | None = None
    sender: str = "rampart@localhost"
    to: tuple[str, ...] = ()
    min_level: AlertLevel = 7
    immediate_level: AlertLevel = 12
    """Alerts at or above this level are mailed at once, not in the next digest."""
    digest_interval: Duration = 600.0
    max_per_hour: int = Field(default=12, ge=1, le=10_000)
    """More messages than this in an hour: the alerts wait for the next digest."""
    subject_prefix: str = "[rampart]"
    timeout: Duration = 10.0

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9.:_-]{1,253}", value):
            raise ValueError(f"{value!r} is not a host name or address")
        return value

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _email_address(value)

    @field_validator("to", mode="before")
    @classmethod
    def _split_to(cls, value: object) -> object:
        return value.split() if isinstance(value, str) else value

    @field_validator("to")
    @classmethod
    def _recipients(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_email_address(address) for address in value)

    @field_validator("subject_prefix", "username")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        return None if value is None else _no_line_breaks(value, "the value")

    @model_validator(mode="after")
    def _complete(self) -> "EmailSettings":
        if self.enabled and not self.to:
            raise ValueError("e-mail is enabled but 'to' names no recipient")
        loopback = self.host in ("localhost", "127.0.0.1", "::1")
        if self.username and self.security == "none" and not loopback:
            raise ValueError("a login over plain SMTP would send the password in clear text:"
                             " set security to 'starttls' or 'ssl'")  # fmt: skip
        if self.digest_interval <= 0 or self.timeout <= 0:
            raise ValueError("digest_interval and timeout must be more than 0 seconds")
        return self


class WebhookSettings(SecretSource):
    """One JSON webhook: Slack-compatible ``{"text": ...}`` or the whole alert as JSON.

    The secret (``password_env``/``password_file``), if any, is sent as a Bearer token.
    """

    name: str
    url: str
    format: Literal["slack", "json"] = "slack"
    min_level: AlertLevel = 7
    timeout: Duration = 10.0

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _CHANNEL_NAME.fullmatch(value):
            raise ValueError(f"webhook name {value!r}: use 1-32 letters, digits, '_' or '-'")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"webhook url {value!r} must be http:// or https:// with a host")
        if any(ord(ch) < 33 or ord(ch) == 127 for ch in value):
            raise ValueError("webhook url must not contain spaces or control characters")
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("timeout must be more than 0 seconds")
        return value


class ResponseSettings(_Section):
    """An active response: ban the source, or run a program.

    It runs for a rule that names it (``response: NAME`` in the rule file), and,
    as OSSEC's ``<active-response>`` selects, for every event whose rule id is
    in ``rules``, whose groups meet ``groups`` or whose level reaches ``level``.
    """

    type: Literal["ban", "exec"]
    rules: tuple[int, ...] = ()
    groups: tuple[str, ...] = ()
    level: AlertLevel | None = None
    jail: str = "manual"
    """ban: whose ports and ignoreip apply (manual: all ports); it must be a configured jail."""
    duration: Duration | None = None
    """ban: how long (default: the jail's bantime)."""
    program: Path | None = None
    """exec: the program, an absolute path."""
    args: tuple[str, ...] = ()
    """exec: arguments; {srcip} {user} {dstuser} {rule_id} {level} are filled in, validated."""
    timeout: Duration = 30.0

    @model_validator(mode="after")
    def _consistent(self) -> "ResponseSettings":
        if self.type == "exec":
            if self.program is None or not self.program.is_absolute():
                raise ValueError("an exec response needs 'program', an absolute path")
            from rampart.hids.respond import check_template

            for arg in self.args:
                check_template(arg)
        if not _JAIL_NAME.fullmatch(self.jail):
            raise ValueError(f"jail name {self.jail!r}: use 1-32 letters, digits, '_' or '-'")
        if self.timeout <= 0:
            raise ValueError("timeout must be more than 0 seconds")
        if self.duration is not None and self.duration == 0:
            raise ValueError("duration must be more than 0 seconds (or -1: permanent)")
        return self

    def selects(self, rule_id: int, level: int, groups: tuple[str, ...]) -> bool:
        """Whether an event of that rule, level and groups calls for this response by itself."""
        return (
            rule_id in self.rules
            or any(group in self.groups for group in groups)
            or (self.level is not None and level >= self.level)
        )


class AlertSettings(_Section):
    """Alerts: every HIDS event at or above min_level is stored, then mailed or posted."""

    min_level: AlertLevel = 3
    jsonl: Path | None = None
    """The JSON-lines file of alerts; default: alerts.json in the state directory."""
    retry_min: Duration = 30.0
    retry_max: Duration = 3600.0
    """A channel that fails is retried after retry_min, doubling up to retry_max."""
    email: EmailSettings = EmailSettings()
    webhooks: tuple[WebhookSettings, ...] = ()
    responses: dict[str, ResponseSettings] = Field(default_factory=dict)
    """Active responses by name (``[alerts.responses.NAME]``), asked for by rules."""

    @field_validator("webhooks")
    @classmethod
    def _unique(cls, value: tuple[WebhookSettings, ...]) -> tuple[WebhookSettings, ...]:
        names = [hook.name for hook in value]
        if len(names) != len(set(names)):
            raise ValueError("two webhooks have the same name")
        return value

    @field_validator("responses")
    @classmethod
    def _response_names(cls, value: dict[str, ResponseSettings]) -> dict[str, ResponseSettings]:
        for name in value:
            if not _CHANNEL_NAME.fullmatch(name):
                raise ValueError(f"response name {name!r}: use 1-32 letters, digits, '_' or '-'")
        return value


_RATE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(mb/s|files/s)\s*", re.IGNORECASE)


def parse_rate(value: object) -> tuple[float, str] | None:
    """``"50 MB/s"`` or ``"2000 files/s"`` (MB = 10**6 bytes); 0, "" or none: no limit."""
    if value is None or value == 0 or (isinstance(value, str) and value.strip() in ("", "0")):
        return None
    match = _RATE.fullmatch(value) if isinstance(value, str) else None
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"{value!r} is not a rate such as '50 MB/s' or '2000 files/s'")
    return float(match.group(1)), match.group(2).lower()


def _absolute_paths(value: tuple[str, ...]) -> tuple[str, ...]:
    for path in value:
        if not path.startswith("/") or "\0" in path:
            raise ValueError(f"{path!r} must be an absolute path")
    return tuple(os.path.normpath(path) for path in value)


class FimSettings(_Section):
    """File integrity: what is watched, how it is hashed, how gently (see rampart.fim)."""

    paths: tuple[str, ...] = ("/etc", "/usr/bin", "/usr/sbin", "/boot")
    include: tuple[str, ...] = ()
    """Globs (``*`` crosses ``/``); when given, only matching non-directories are recorded."""
    exclude: tuple[str, ...] = ("/etc/mtab", "/etc/adjtime", "/etc/ld.so.cache", "*.swp")
    """Globs of paths not recorded; an excluded directory is not entered."""
    one_filesystem: bool = True
    """Do not descend into other mounted file systems below a configured path."""
    hash: Literal["sha256", "blake3"] = "sha256"
    """blake3 needs the ``blake3`` Python package (``pip install 'rampart[blake3]'``)."""
    threads: int = Field(default=0, ge=0, le=64)
    """Hashing threads (per process); 0: one per CPU plus one (2 per worker process).
    Also the threads of a check's C walk (0: one per CPU)."""
    processes: int = Field(default=0, ge=0, le=64)
    """Worker processes walking and hashing; 0: one per CPU for init, none for a check."""
    nice: int = Field(default=10, ge=0, le=19)
    ionice: Literal["none", "best-effort", "idle"] = "best-effort"
    ionice_level: int = Field(default=7, ge=0, le=7)
    max_rate: Annotated[tuple[float, str] | None, BeforeValidator(parse_rate)] = None
    """Read at most this much per second (the scan then runs in one process)."""
    diff_paths: tuple[str, ...] = ("/etc/*",)
    """Globs of small text files whose copy is kept (mode 0600) to show a diff."""
    nodiff: tuple[str, ...] = (
        "/etc/shadow*",
        "/etc/gshadow*",
        "/etc/ssh/ssh_host_*_key",
        "/etc/ssl/private/*",
        "*.key",
        "*.pem",
    )
    """Globs never copied nor diffed (secrets)."""
    diff_max_size: int = Field(default=64 * 1024, ge=0, le=16 * 1024 * 1024)
    dpkg_info: Path = Path("/var/lib/dpkg/info")
    """dpkg's database (``*.md5sums``, ``*.list``); its parent holds ``diversions``."""
    realtime: bool = False
    """``rampart watch`` reports changes as inotify sees them (needs ``rampart fim init``)."""
    check_interval: Duration = 0.0
    """How often ``rampart watch`` checks the whole baseline (0: never; e.g. ``"12h"``)."""

    @field_validator("paths")
    @classmethod
    def _roots(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _absolute_paths(value)


class Settings(_Section):
    """The whole configuration file."""

    state_dir: Path = DEFAULT_STATE_DIR
    ban: BanSettings = Field(default_factory=lambda: BanSettings.model_validate({}))
    audit: AuditSettings = AuditSettings()
    firewall: FirewallSettings = FirewallSettings()
    hids: HidsSettings = HidsSettings()
    alerts: AlertSettings = AlertSettings()
    fim: FimSettings = FimSettings()


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The file to read: ``--config``, else ``$RAMPART_CONFIG``, else the default."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get("RAMPART_CONFIG")
    return Path(from_env) if from_env else DEFAULT_CONFIG_PATH


def load_settings(explicit: str | os.PathLike[str] | None = None) -> Settings:
    """Read and validate the configuration; defaults when no file exists.

    A file named explicitly (``--config`` or ``$RAMPART_CONFIG``) must exist.
    """
    path = config_path(explicit)
    named = bool(explicit) or "RAMPART_CONFIG" in os.environ
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if named:
            raise ConfigError(f"{path}: no such configuration file") from None
        return _with_env(Settings())
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    return _with_env(validate_settings(data, str(path)))


def validate_settings(data: dict[str, Any], where: str = "configuration") -> Settings:
    """Settings from parsed TOML; ConfigError naming ``where`` and the first bad key."""
    try:
        return Settings.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{where}: key {key}: {message}") from None


def _with_env(settings: Settings) -> Settings:
    state_dir = os.environ.get("RAMPART_STATE_DIR")
    return settings.model_copy(update={"state_dir": Path(state_dir)}) if state_dir else settings

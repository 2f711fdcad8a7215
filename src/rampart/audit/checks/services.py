"""Service checks: is anything banning attackers (2), watching the host (1), and
do enabled services run as their own users (12)?

BAN-001 and HIDS-001 read the running processes (``processes``) and rampart's
status file (``rampart_status``); SVC-001 the enabled systemd units
(``systemd_units``).
"""

from collections.abc import Iterable, Sequence

from rampart.audit.collectors.network import Process, RampartStatus, Unit, runs_rampart
from rampart.audit.interface import Check, CheckMeta, Facts, Finding, Severity, Unavailable

HIDS_PREFIXES = ("ossec-", "wazuh-")
"""OSSEC and Wazuh daemons (ossec-analysisd, wazuh-syscheckd, wazuh-agentd ...)."""

# Units that must run as root, or whose daemon drops privileges itself:
ROOT_UNITS = frozenset(
    {
        "ssh.service",  # sshd: privilege separation per session
        "sshd.service",
        "cron.service",  # runs every user's crontab
        "anacron.service",
        "atd.service",
        "rsyslog.service",  # reads /dev/log, writes /var/log (drops privileges itself)
        "nftables.service",  # loads the firewall and exits
        "netfilter-persistent.service",
        "networking.service",  # configures interfaces
        "fail2ban.service",  # changes the firewall
        "rampart.service",  # changes the firewall (only its enforcer needs to)
        "apparmor.service",
        "auditd.service",
        "e2scrub_reap.service",
        "nginx.service",  # the master binds 80/443, workers drop to nginx.conf's `user`
        "apache2.service",  # the same: children run as www-data
        "getty@.service",  # logins
        "serial-getty@.service",
    }
)
ROOT_UNIT_PREFIXES = ("systemd-", "rampart-", "getty@", "serial-getty@")


def _optional(facts: Facts, name: str) -> tuple[object | None, str | None]:
    try:
        return facts.get(name), None
    except Unavailable as why:
        return None, str(why)


class NoBanning(Check):
    meta = CheckMeta(
        "BAN-001",
        "no banning active",
        "2",
        Severity.HIGH,
        "Start rampart's ban daemon (systemctl enable --now rampart, or run rampart watch), "
        "or fail2ban with its sshd jail enabled ([sshd] enabled = true in "
        "/etc/fail2ban/jail.local; systemctl enable --now fail2ban)",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        processes, no_processes = _optional(facts, "processes")
        status, no_status = _optional(facts, "rampart_status")
        if processes is None and status is None:
            raise Unavailable(f"{no_processes}; {no_status}")
        seen: Sequence[Process] = processes if isinstance(processes, list) else []
        if isinstance(status, RampartStatus) and status.fresh:
            yield self.passed(
                "banning",
                f"rampart watch is running: {status.path} written {status.age:.0f} s ago",
            )
            return
        watcher = next((p for p in seen if runs_rampart(p.comm, p.cmdline, "watch")), None)
        if watcher is not None:
            yield self.passed("banning", f"rampart watch is running (pid {watcher.pid})")
            return
        fail2ban = next((p for p in seen if _is_fail2ban(p)), None)
        if fail2ban is not None:
            yield self.passed(
                "banning",
                f"fail2ban-server is running (pid {fail2ban.pid}); its sshd jail is assumed, "
                "not verified (fail2ban-client status sshd shows it)",
            )
            return
        said = [f"no rampart watch or fail2ban-server among {len(seen)} processes"]
        if isinstance(status, RampartStatus):
            said.append(
                f"{status.path} is missing"
                if status.age is None
                else f"{status.path} was last written {status.age:.0f} s ago"
            )
        for why in (no_processes, no_status):
            if why:
                said.append(f"could not check: {why}")
        yield self.failed("banning", "; ".join(said))


def _is_fail2ban(process: Process) -> bool:
    return process.comm == "fail2ban-server" or any(
        word.rsplit("/", 1)[-1] == "fail2ban-server" for word in process.cmdline[:2]
    )


class NoHostIntrusionDetection(Check):
    meta = CheckMeta(
        "HIDS-001",
        "no host intrusion detection running",
        "1",
        Severity.MEDIUM,
        "Run a host intrusion detection daemon that watches file integrity and logs: "
        "OSSEC or the Wazuh agent (systemctl enable --now wazuh-agent), or rampart's "
        "HIDS once it ships",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        processes: Sequence[Process] = facts.get("processes")
        found = [
            p
            for p in processes
            if p.comm.startswith(HIDS_PREFIXES) or runs_rampart(p.comm, p.cmdline, "hids")
        ]
        if found:
            names = ", ".join(sorted({f"{p.comm} (pid {p.pid})" for p in found}))
            yield self.passed("host intrusion detection", f"running: {names}")
        else:
            yield self.failed(
                "host intrusion detection",
                f"no ossec-*, wazuh-* or rampart hids process among {len(processes)} processes",
            )


def root_allowed(name: str) -> bool:
    """Whether a unit is on the short list of services that must run as root."""
    stem, at, _ = name.partition("@")
    template = f"{stem}@.service" if at else name
    return name in ROOT_UNITS or template in ROOT_UNITS or name.startswith(ROOT_UNIT_PREFIXES)


class ServiceWithoutUser(Check):
    meta = CheckMeta(
        "SVC-001",
        "enabled service without User=",
        "12",
        Severity.LOW,
        "Give the service its own user: systemctl edit <unit> and add [Service] User=<name> "
        "(useradd --system --no-create-home <name>), or DynamicUser=yes; then "
        "systemctl restart <unit>",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        units: Sequence[Unit] = facts.get("systemd_units")
        failed = False
        for unit in units:
            if unit.user is not None or unit.dynamic_user or unit.runs_nothing:
                continue
            if root_allowed(unit.name):
                continue
            failed = True
            yield self.failed(
                unit.name,
                f"{unit.path}: no User= and no DynamicUser=yes, so it runs as root "
                f"(enabled by {', '.join(unit.wanted_by)})",
            )
        if not failed:
            yield self.passed(
                "enabled services",
                f"{len(units)} enabled services run as their own users or must be root",
            )

"""SSH checks (practice 3): off port 22, key-only, no root login, few tries, few users.

All read the effective configuration from ``sshd -T`` (the "sshd" facts), so
defaults, Include files and the order sshd reads them in are already applied.
``Match`` blocks are not: they depend on the connection.
"""

from collections.abc import Iterable

from rampart.audit.interface import Check, CheckMeta, Facts, Finding, Severity, Unavailable

_CONFIG = "/etc/ssh/sshd_config"
_RELOAD = "then `systemctl reload ssh`"


def _values(facts: Facts, key: str) -> list[str]:
    config: dict[str, list[str]] = facts.get("sshd")
    values = config.get(key)
    if not values:
        raise Unavailable(f"sshd -T does not report {key}")
    return values


def _value(facts: Facts, key: str) -> str:
    return _values(facts, key)[-1].lower()


def _ports(facts: Facts) -> list[int]:
    """The ports sshd listens on: from ListenAddress (which carries the port), else Port."""
    config: dict[str, list[str]] = facts.get("sshd")
    ports: list[int] = []
    for address in config.get("listenaddress", []):
        _, _, port = address.split(" ")[0].rpartition(":")
        if port.isdigit() and int(port) not in ports:
            ports.append(int(port))
    if not ports:
        ports = [int(p) for p in _values(facts, "port") if p.isdigit()]
    return ports


def _methods_allow(facts: Facts, method: str) -> bool:
    """Whether AuthenticationMethods leaves room for ``method`` (``any``: everything)."""
    config: dict[str, list[str]] = facts.get("sshd")
    methods = " ".join(config.get("authenticationmethods", ["any"])).lower()
    return methods == "any" or method in methods


class SshPort22(Check):
    meta = CheckMeta(
        "SSH-001",
        "sshd listens on port 22",
        "3",
        Severity.MEDIUM,
        f"Port 2222 in {_CONFIG} (then `rampart ssh move-port 2222` once that lands)",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        for port in _ports(facts):
            if port == 22:
                yield self.failed("sshd port 22", "sshd listens on the port every scanner tries")
            else:
                yield self.passed(f"sshd port {port}", "not the default port")


class SshRootLogin(Check):
    meta = CheckMeta(
        "SSH-002",
        "root can log in over SSH",
        "3",
        Severity.HIGH,
        f"PermitRootLogin no in {_CONFIG}, {_RELOAD} (log in as a user, then sudo)",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        value = _value(facts, "permitrootlogin")
        if value == "no":
            yield self.passed("sshd PermitRootLogin", "PermitRootLogin no")
        else:
            yield self.failed("sshd PermitRootLogin", f"PermitRootLogin {value}")


class SshPasswordAuthentication(Check):
    meta = CheckMeta(
        "SSH-003",
        "SSH accepts passwords",
        "3",
        Severity.HIGH,
        f"PasswordAuthentication no in {_CONFIG} (after installing your key), {_RELOAD}",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        value = _value(facts, "passwordauthentication")
        if value == "yes" and _methods_allow(facts, "password"):
            yield self.failed("sshd PasswordAuthentication", "PasswordAuthentication yes")
        else:
            yield self.passed(
                "sshd PasswordAuthentication", f"PasswordAuthentication {value} (or not allowed)"
            )


class SshKeyboardInteractive(Check):
    meta = CheckMeta(
        "SSH-004",
        "SSH accepts keyboard-interactive logins",
        "3",
        Severity.MEDIUM,
        f"KbdInteractiveAuthentication no in {_CONFIG}, {_RELOAD}",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        config: dict[str, list[str]] = facts.get("sshd")
        # Called ChallengeResponseAuthentication before OpenSSH 8.7.
        key = next(
            (
                k
                for k in ("kbdinteractiveauthentication", "challengeresponseauthentication")
                if k in config
            ),
            "kbdinteractiveauthentication",
        )
        value = _value(facts, key)
        if value == "yes" and _methods_allow(facts, "keyboard-interactive"):
            yield self.failed("sshd KbdInteractiveAuthentication", f"{key} yes")
        else:
            yield self.passed(
                "sshd KbdInteractiveAuthentication", f"{key} {value} (or not allowed)"
            )


class SshMaxAuthTries(Check):
    meta = CheckMeta(
        "SSH-005",
        "SSH allows more than 4 authentication attempts per connection",
        "3",
        Severity.LOW,
        f"MaxAuthTries 3 in {_CONFIG}, {_RELOAD}",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        value = _value(facts, "maxauthtries")
        if not value.isdigit():
            raise Unavailable(f"sshd -T reports MaxAuthTries {value!r}")
        if int(value) > 4:
            yield self.failed("sshd MaxAuthTries", f"MaxAuthTries {value}")
        else:
            yield self.passed("sshd MaxAuthTries", f"MaxAuthTries {value}")


class SshAllowList(Check):
    meta = CheckMeta(
        "SSH-006",
        "any account may log in over SSH (no AllowUsers or AllowGroups)",
        "3",
        Severity.LOW,
        f"AllowGroups ssh-users (or AllowUsers alice bob) in {_CONFIG}, {_RELOAD}",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        config: dict[str, list[str]] = facts.get("sshd")
        allowed = [
            f"{name} {' '.join(config[key])}"
            for key, name in (("allowusers", "AllowUsers"), ("allowgroups", "AllowGroups"))
            if config.get(key)
        ]
        if allowed:
            yield self.passed("sshd AllowUsers/AllowGroups", "; ".join(allowed))
        else:
            yield self.failed("sshd AllowUsers/AllowGroups", "neither AllowUsers nor AllowGroups")

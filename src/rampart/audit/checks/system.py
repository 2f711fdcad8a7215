"""System checks: sudo without a password (8), automatic updates (0), file modes (12)."""

import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import replace

from rampart.audit.collectors.host import AptPeriodic, SudoersLine, SuidFacts, Walk
from rampart.audit.interface import Check, CheckMeta, Facts, Finding, Severity, Status

_ALIAS = re.compile(r"(User|Runas|Host|Cmnd|Cmd)_Alias\s", re.IGNORECASE)
_TAG = re.compile(r"([A-Z_]+):\s*")
_RUNAS = re.compile(r"^\([^)]*\)")


def _all_aliases(lines: Iterable[SudoersLine]) -> set[str]:
    """Names of Cmnd_Aliases that (directly or through another alias) contain ALL."""
    definitions: dict[str, list[str]] = {}
    for line in lines:
        if not re.match(r"(Cmnd|Cmd)_Alias\s", line.text):
            continue
        for definition in line.text.split(None, 1)[1].split(":"):
            name, _, listed = definition.partition("=")
            definitions[name.strip()] = [m.strip() for m in listed.split(",")]
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, members in definitions.items():
            if name not in found and any(m == "ALL" or m in found for m in members):
                found.add(name)
                changed = True
    return found


def _grants_nopasswd_all(text: str, all_aliases: set[str]) -> bool:
    """Whether a user specification runs ALL (or an alias of it) with NOPASSWD.

    Loose by design: tags carry over to the following commands of the list as
    in sudo; host and runas parts are ignored; anything odd is not a grant.
    """
    if text.startswith(("Defaults", "@", "#include")) or _ALIAS.match(text):
        return False
    _, equals, commands = text.partition("=")
    if not equals:
        return False
    nopasswd = False
    for part in commands.split(","):
        # A further host spec (": host = cmds") starts a new list.
        if re.search(r":\s*[^\s=:]+\s*=", part):
            part = part.rsplit("=", 1)[1]
            nopasswd = False
        command = _RUNAS.sub("", part.strip()).strip()
        while (tag := _TAG.match(command)) is not None:
            if tag[1] in ("NOPASSWD", "PASSWD"):
                nopasswd = tag[1] == "NOPASSWD"
            command = command[tag.end() :].strip()
        name = command.split(" ")[0] if command else ""
        if nopasswd and (name == "ALL" or name in all_aliases):
            return True
    return False


class SudoNopasswdAll(Check):
    meta = CheckMeta(
        "SYS-001",
        "sudo grants every command without a password (NOPASSWD: ALL)",
        "8",
        Severity.HIGH,
        "visudo -f FILE: drop NOPASSWD from that line, or name the few commands it needs "
        "(deploy ALL=(root) NOPASSWD: /usr/bin/systemctl restart app)",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        lines: list[SudoersLine] = facts.get("sudoers")
        aliases = _all_aliases(lines)
        files: dict[str, bool] = {}
        for line in lines:
            files.setdefault(line.file, False)
            if _grants_nopasswd_all(line.text, aliases):
                files[line.file] = True
                yield self.failed(f"{line.file}:{line.number}", line.text)
        for file, offends in files.items():
            if not offends:
                yield self.passed(file, "no line grants NOPASSWD: ALL")


def _enabled(value: str | None) -> bool:
    """APT::Periodic values: "0" or unset is off; a number of days or "always" is on."""
    return value is not None and value.strip().lower() not in ("", "0", "false", "no", "never")


class AutomaticUpdates(Check):
    meta = CheckMeta(
        "SYS-002",
        "automatic security updates are not configured",
        "0",
        Severity.MEDIUM,
        "apt-get install unattended-upgrades; in /etc/apt/apt.conf.d/20auto-upgrades: "
        'APT::Periodic::Update-Package-Lists "1"; APT::Periodic::Unattended-Upgrade "1";',
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        apt: AptPeriodic = facts.get("apt_periodic")
        if apt.installed:
            yield self.passed(f"package {apt.package}", "installed")
        else:
            yield self.failed(f"package {apt.package}", "not installed")
        for name in ("Update-Package-Lists", "Unattended-Upgrade"):
            value = apt.settings.get(name.lower())
            where = f" (in {apt.origins[name.lower()]})" if name.lower() in apt.origins else ""
            resource = f"APT::Periodic::{name}"
            if _enabled(value):
                yield self.passed(resource, f'"{value}"{where}')
            else:
                yield self.failed(resource, f'"{value}"{where}' if value is not None else "unset")


def _unfinished(check: Check, walk: Walk) -> Iterator[Finding]:
    for root, why in walk.unfinished.items():
        yield replace(check.finding(Status.SKIPPED, root, ""), reason=why)


def _finished(walk: Walk) -> list[str]:
    return [root for root in walk.roots if root not in walk.unfinished]


def _looked(walk: Walk, root: str) -> str:
    inside = [d for d in walk.unreadable if d == root or d.startswith(root + "/")]
    unreadable = f", {len(inside)} directories unreadable" if inside else ""
    return f"{walk.looked_at.get(root, 0)} entries looked at{unreadable}"


class UnexpectedSetid(Check):
    meta = CheckMeta(
        "SYS-003",
        "unexpected setuid/setgid binary (no package ships it, or in /usr/local)",
        "12",
        Severity.HIGH,
        "chmod u-s,g-s FILE (or remove it), unless you know why it must run privileged",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        suid: SuidFacts = facts.get("suid_files")
        for file in suid.walk.found:
            bits = "/".join(
                name
                for bit, name in ((stat.S_ISUID, "setuid"), (stat.S_ISGID, "setgid"))
                if file.mode & bit
            )
            owner = f"{bits} (uid {file.uid}, gid {file.gid})"
            package = suid.packaged.get(file.path)
            local = any(file.path.startswith(p.rstrip("/") + "/") for p in suid.local_prefixes)
            if local:
                yield self.failed(file.path, f"{owner}, in a local directory")
            elif package is None:
                yield self.failed(file.path, f"{owner}, shipped by no package")
            else:
                yield self.passed(file.path, f"{owner}, shipped by {package}")
        if not suid.walk.found:
            for root in _finished(suid.walk):
                yield self.passed(root, f"no setuid/setgid file ({_looked(suid.walk, root)})")
        yield from _unfinished(self, suid.walk)


class WorldWritable(Check):
    meta = CheckMeta(
        "SYS-004",
        "world-writable file or directory (without sticky bit) in a system path",
        "12",
        Severity.HIGH,
        "chmod o-w PATH (or chmod +t for a directory that must be shared)",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        walk: Walk = facts.get("world_writable")
        offending = [f for f in walk.found if not (f.is_dir and f.mode & stat.S_ISVTX)]
        for file in offending:
            kind = "directory without sticky bit" if file.is_dir else "file"
            yield self.failed(file.path, f"world-writable {kind}, mode {stat.filemode(file.mode)}")
        for root in _finished(walk):
            if not any(f.path == root or f.path.startswith(root + "/") for f in offending):
                yield self.passed(root, f"nothing world-writable ({_looked(walk, root)})")
        yield from _unfinished(self, walk)

"""Active responses: what a rule may ask for when it fires (OSSEC's active-response).

Two kinds, configured by name under ``[alerts.responses.NAME]``:

* ``ban``: the event's source address is banned through the ban engine
  (:class:`rampart.ban.control.BanControl`: the same store, firewall backend
  and guard as ``rampart ban add``, so ignoreip, this host's own addresses
  and open SSH sessions are never banned).
* ``exec``: a configured program (absolute path) runs with arguments built
  from a template. Only the fields below may be filled in, each validated
  first (an address must parse as one, a user name must be a plain name);
  the program gets an argument list, never a shell, and a timeout.
"""

import ipaddress
import logging
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rampart.errors import RampartError
from rampart.hids.event import Event

if TYPE_CHECKING:  # the ban engine is imported only when a ban response runs
    from rampart.ban.control import BanControl
    from rampart.config import ResponseSettings, Settings

log = logging.getLogger(__name__)

_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}")
TEMPLATE_FIELDS = ("srcip", "user", "dstuser", "rule_id", "level")


class ResponseError(RampartError):
    """A response cannot run: unknown name, a field missing or unsafe, the program failed."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a response did, for the log and the caller."""

    response: str
    action: str
    """``banned 192.0.2.7/32 (jail manual)`` or ``ran /usr/local/bin/notify``."""


def check_template(template: str) -> list[str]:
    """The field names ``template`` uses; ValueError for any other field or format."""
    names = []
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as error:
        raise ValueError(f"argument template {template!r}: {error}") from None
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS or spec or conversion:
            allowed = ", ".join("{" + field + "}" for field in TEMPLATE_FIELDS)
            raise ValueError(f"argument template {template!r}: only {allowed} may be used")
        names.append(name)
    return names


def safe_fields(event: Event) -> dict[str, str]:
    """The template fields ``event`` has, each validated; ResponseError names the bad one."""
    values = {"rule_id": str(event.rule_id), "level": str(event.level)}
    srcip = event.fields.get("srcip")
    if srcip is not None:
        try:
            values["srcip"] = str(ipaddress.ip_address(srcip.strip()))
        except ValueError:
            raise ResponseError(f"srcip {srcip!r} is not an IP address; not responding") from None
    for name in ("user", "dstuser"):
        value = event.fields.get(name)
        if value is not None:
            if not _USER.fullmatch(value):
                raise ResponseError(f"{name} {value!r} is not a plain user name; not responding")
            values[name] = value
    return values


def build_argv(program: str, templates: tuple[str, ...], event: Event) -> list[str]:
    """``[program, *arguments]`` with the event's validated fields filled in."""
    values = safe_fields(event)
    argv = [program]
    for template in templates:
        missing = [name for name in check_template(template) if name not in values]
        if missing:
            raise ResponseError(f"the event has no {', '.join(missing)}; not responding")
        argv.append(template.format_map(values))
    return argv


class Responder:
    """Runs the named responses of ``settings.alerts.responses`` for events."""

    def __init__(self, settings: "Settings", *, control: "BanControl | None" = None) -> None:
        """``control``: the ban engine to use, e.g. the daemon's own (kept open).

        Without it, each ban response opens the configured one and closes it.
        """
        self.settings = settings
        self.responses: Mapping[str, ResponseSettings] = settings.alerts.responses
        self._control = control

    def handle(self, event: Event, response_name: str) -> Outcome:
        """Run ``response_name`` for ``event``; ResponseError (one line) when it cannot."""
        response = self.responses.get(response_name)
        if response is None:
            known = ", ".join(sorted(self.responses)) or "none configured"
            raise ResponseError(f"no response {response_name!r} ({known})")
        if response.type == "ban":
            outcome = Outcome(response_name, self._ban(response, event))
        else:
            outcome = Outcome(response_name, self._exec(response, event))
        log.warning("response %s for rule %d: %s", response_name, event.rule_id, outcome.action)
        return outcome

    def _ban(self, response: "ResponseSettings", event: Event) -> str:
        srcip = safe_fields(event).get("srcip")
        if srcip is None:
            raise ResponseError("the event has no srcip; nothing to ban")
        if self._control is not None:
            return self._add(self._control, srcip, response)
        from rampart.ban.control import open_control

        control = open_control(self.settings)
        try:
            return self._add(control, srcip, response)
        finally:
            control.store.close()

    def _add(self, control: "BanControl", srcip: str, response: "ResponseSettings") -> str:
        """Ban ``srcip`` as the daemon would: an IPv6 address by its jail's prefix (a /64)."""
        from rampart.ban.jail import ban_target

        jail = self.settings.ban.jails.get(response.jail, self.settings.ban.defaults)
        target = ban_target(srcip, jail.ipv6_prefix)
        try:
            if target is None:
                raise ResponseError(f"srcip {srcip!r} is not an IP address; not responding")
            ban = control.add(str(target), jail=response.jail, seconds=response.duration)
        except RampartError as error:
            raise ResponseError(f"ban of {srcip}: {error}") from None
        return f"banned {ban.target.with_prefixlen} (jail {ban.jail})"

    def _exec(self, response: "ResponseSettings", event: Event) -> str:
        from rampart.system import run

        program = str(response.program)
        argv = build_argv(program, response.args, event)
        try:
            run(argv, timeout=response.timeout)
        except RampartError as error:
            raise ResponseError(f"response program: {error}") from None
        return f"ran {program} with {len(argv) - 1} argument(s)"

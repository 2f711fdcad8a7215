"""Alerts as text for people: one line, a block, a subject that cannot inject headers."""

import re
import time
from collections import Counter
from collections.abc import Sequence

from rampart.hids.event import Event
from rampart.notify.store import StoredAlert

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
SUBJECT_LENGTH = 160
DIGEST_DETAIL = 100
"""A digest lists this many alerts in full; the rest are counted by rule."""


def one_line(text: str, limit: int = SUBJECT_LENGTH) -> str:
    """``text`` without CR, LF or other control characters, at most ``limit`` characters."""
    flat = _CONTROL.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(epoch))


def summary(event: Event) -> str:
    """``level 10, rule 5712: description (location)``."""
    return (
        f"level {event.level}, rule {event.rule_id}: {one_line(event.description, 300)}"
        f" ({one_line(event.location, 200)})"
    )


def block(event: Event) -> str:
    """Everything about one alert, for an e-mail body."""
    lines = [f"{stamp(event.time)}  {summary(event)}"]
    if event.groups:
        lines.append(f"  groups: {', '.join(event.groups)}")
    for key, value in sorted(event.fields.items()):
        lines.append(f"  {key}: {one_line(value, 500)}")
    if event.log:
        lines.append(f"  log: {one_line(event.log, 2000)}")
    if event.detail:
        lines.extend("  " + line for line in event.detail.splitlines()[:200])
    return "\n".join(lines)


def digest_body(alerts: Sequence[StoredAlert], since: float, cap: int) -> str:
    """A digest: the count, the rules that fired most, then each alert (the first ones)."""
    capped = sum(1 for alert in alerts if alert.capped)
    head = [
        f"{len(alerts)} alert(s) since {stamp(since)}." if since else f"{len(alerts)} alert(s)."
    ]
    if capped:
        head.append(
            f"{capped} of them reached the limit of {cap} e-mails per hour and were held for"
            " this digest."
        )
    by_rule = Counter(
        (a.event.rule_id, a.event.level, one_line(a.event.description, 120)) for a in alerts
    )
    head.append("")
    head.append("By rule:")
    for (rule_id, level, description), count in sorted(
        by_rule.items(), key=lambda item: (-item[0][1], -item[1], item[0][0])
    ):
        head.append(f"  {count:>6} x rule {rule_id} (level {level}): {description}")
    head.append("")
    shown = sorted(alerts, key=lambda a: (-a.event.level, a.id))[:DIGEST_DETAIL]
    body = [block(alert.event) for alert in sorted(shown, key=lambda a: a.id)]
    if len(alerts) > len(shown):
        body.append(f"... and {len(alerts) - len(shown)} more (rampart alerts list).")
    return "\n".join(head) + "\n" + "\n\n".join(body) + "\n"

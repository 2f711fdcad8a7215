"""Alerts and events as JSON: alerts.json lines, ``--json`` output, generic webhooks."""

from typing import Any

from rampart.hids.event import Event
from rampart.notify.store import StoredAlert


def event_record(event: Event) -> dict[str, Any]:
    """An event as JSON (alerts.json lines, ``alerts list --json``, generic webhooks)."""
    return {
        "time": event.time,
        "rule_id": event.rule_id,
        "level": event.level,
        "description": event.description,
        "location": event.location,
        "log": event.log,
        "groups": list(event.groups),
        "fields": dict(event.fields),
        "detail": event.detail,
    }


def alert_record(alert: StoredAlert) -> dict[str, Any]:
    return {"id": alert.id, "stored_at": alert.stored_at, **event_record(alert.event)}

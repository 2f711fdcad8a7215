"""Alerts as JSON webhooks: Slack-compatible ``{"text": ...}`` or the whole alert.

Each alert is one POST, sent at the next flush. A non-2xx answer or no answer
leaves it queued (and the ones after it) for the next try.
"""

import json
import urllib.error
import urllib.request
from typing import Any

from rampart import __version__
from rampart.config import WebhookSettings
from rampart.notify.interface import Channel, DeliveryError
from rampart.notify.records import alert_record
from rampart.notify.store import AlertStore, StoredAlert
from rampart.notify.text import block, one_line


class WebhookChannel(Channel):
    """One configured webhook (``webhook:NAME`` in the store)."""

    def __init__(self, settings: WebhookSettings, token: str | None) -> None:
        self.settings = settings
        self.token = token
        self.name = f"webhook:{settings.name}"
        self.min_level = settings.min_level

    def deliver(self, store: AlertStore, now: float) -> None:
        for alert in store.queued(self.name):
            self.post(self.body(alert))
            store.mark_sent(self.name, [alert.id], now)

    def body(self, alert: StoredAlert) -> dict[str, Any]:
        if self.settings.format == "slack":
            return {"text": block(alert.event)}
        return {"alert": alert_record(alert)}

    def post(self, body: dict[str, Any]) -> None:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"rampart/{__version__}",
        }
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(  # noqa: S310 (the url is checked: http or https only)
            self.settings.url, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        where = f"webhook {self.settings.name}"
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout) as answer:  # noqa: S310
                status = answer.status
        except urllib.error.HTTPError as error:
            raise DeliveryError(
                f"{where}: HTTP {error.code} {one_line(error.reason, 80)}"
            ) from None
        except urllib.error.URLError as error:
            raise DeliveryError(f"{where}: {one_line(str(error.reason), 200)}") from None
        except OSError as error:
            raise DeliveryError(f"{where}: {error.strerror or error}") from None
        if not 200 <= status < 300:
            raise DeliveryError(f"{where}: HTTP {status}")

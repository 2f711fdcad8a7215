"""The one object detectors hand their events to: store, write a JSON line, deliver.

:meth:`Dispatcher.publish` is quick and local (SQLite, one appended line);
the network is only touched by :meth:`Dispatcher.flush`, which the daemon
calls every few seconds and ``rampart alerts send`` calls once. publish
flushes at once only when an event is urgent for some channel.
"""

import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from rampart.config import Settings
from rampart.errors import ConfigError, RampartError
from rampart.hids.event import Event
from rampart.notify.email import EmailChannel
from rampart.notify.interface import Channel, DeliveryError
from rampart.notify.records import event_record
from rampart.notify.secrets import read_secret
from rampart.notify.store import AlertStore
from rampart.notify.webhook import WebhookChannel

log = logging.getLogger(__name__)

JSONL_FILE = "alerts.json"


class Dispatcher:
    """Alerts at or above ``min_level``: stored, appended to ``jsonl``, sent on ``channels``."""

    def __init__(
        self,
        store: AlertStore,
        channels: Sequence[Channel],
        *,
        min_level: int = 0,
        jsonl: Path | None = None,
        retry_min: float = 30.0,
        retry_max: float = 3600.0,
    ) -> None:
        self.store = store
        self.channels = list(channels)
        self.min_level = min_level
        self.jsonl = jsonl
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.on_urgent: Callable[[], None] | None = None
        """Called instead of an inline flush when an alert is urgent (the daemon's
        delivery thread then sends it, so the network never blocks the caller)."""

    @classmethod
    def from_settings(cls, settings: Settings, state_dir: Path | None = None) -> "Dispatcher":
        """Wired from ``[alerts]``; secrets are read now, so a missing one fails at start."""
        alerts = settings.alerts
        directory = state_dir if state_dir is not None else settings.state_dir
        channels: list[Channel] = []
        if alerts.email.enabled:
            password = read_secret(alerts.email, "alerts.email") if alerts.email.username else None
            channels.append(EmailChannel(alerts.email, password))
        for hook in alerts.webhooks:
            token = read_secret(hook, f"alerts.webhooks {hook.name}")
            channels.append(WebhookChannel(hook, token))
        jsonl = alerts.jsonl if alerts.jsonl is not None else directory / JSONL_FILE
        if alerts.jsonl is not None and not alerts.jsonl.parent.is_dir():
            raise ConfigError(f"alerts.jsonl: folder {alerts.jsonl.parent} does not exist")
        return cls(
            AlertStore.in_state_dir(directory),
            channels,
            min_level=alerts.min_level,
            jsonl=jsonl,
            retry_min=alerts.retry_min,
            retry_max=alerts.retry_max,
        )

    def publish(self, event: Event, now: float | None = None) -> int | None:
        """Store ``event`` if it is an alert and queue it; its id (None below min_level)."""
        if event.level < self.min_level:
            return None
        current = time.time() if now is None else now
        wanted = [(c, c.immediate(event)) for c in self.channels if c.wants(event)]
        alert_id = self.store.add(event, [(c.name, urgent) for c, urgent in wanted], current)
        if self.jsonl is not None:
            self._append(self.jsonl, event, alert_id, current)
        if any(urgent for _, urgent in wanted):
            if self.on_urgent is not None:
                self.on_urgent()
            else:
                self.flush(current)
        return alert_id

    def flush(self, now: float | None = None) -> None:
        """Deliver what is due on every channel; a failing channel backs off, the others go on.

        One process delivers at a time (the daemon, or ``rampart alerts send``):
        while another holds the lock, this flush does nothing, so no digest
        goes out twice.
        """
        current = time.time() if now is None else now
        with _delivery_lock(self.store.path.with_suffix(".lock")) as held:
            if held:
                self._deliver(current)

    def _deliver(self, current: float) -> None:
        for channel in self.channels:
            state = self.store.channel_state(channel.name)
            if state.next_try > current:
                continue
            try:
                channel.deliver(self.store, current)
            except DeliveryError as error:
                wait = min(self.retry_max, self.retry_min * 2 ** min(state.failures, 20))
                self.store.failed(channel.name, str(error), current + wait)
                log.warning("%s (retry in %.0f s; the alerts stay queued)", error, wait)
                continue
            if state.failures:
                log.warning("%s: delivering again", channel.name)
                self.store.succeeded(channel.name)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Dispatcher":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @staticmethod
    def _append(path: Path, event: Event, alert_id: int, now: float) -> None:
        """One JSON line per alert (OSSEC's alerts.json), appended whole (O_APPEND)."""
        line = json.dumps({"id": alert_id, "stored_at": now, **event_record(event)}) + "\n"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("utf-8", "surrogateescape"))
            finally:
                os.close(fd)
        except OSError as error:
            raise RampartError(f"{path}: cannot append the alert: {error.strerror}") from None


@contextlib.contextmanager
def _delivery_lock(path: Path) -> Iterator[bool]:
    """An exclusive flock on ``path``, not waited for: True if this process holds it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise RampartError(f"{path}: cannot open the delivery lock: {error.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)

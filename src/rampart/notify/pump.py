"""The daemon's alert path: events in, stored at once, delivered and answered without blocking.

``rampart watch`` hands every HIDS event (a log rule, a changed file) to
:meth:`AlertPump.publish` on its main thread. Publishing is local and quick
(SQLite and one JSON line); the network is touched only by a delivery thread
with its own store connection, which an urgent alert wakes at once and which
otherwise flushes every few seconds. An SMTP server that hangs therefore
never delays a ban, and an alert that cannot be delivered stays queued.

Active responses run on the main thread, right after the event is stored,
because a ban goes through the daemon's own store and firewall.
"""

import logging
import threading
from collections.abc import Sequence

from rampart.config import Settings
from rampart.errors import RampartError
from rampart.hids.event import Event
from rampart.hids.respond import Responder
from rampart.hids.runner import log_event
from rampart.notify.dispatcher import Dispatcher

log = logging.getLogger("rampart.alerts")

#: Seconds between two delivery rounds when nothing urgent wakes the thread.
FLUSH_INTERVAL = 5.0


class AlertPump:
    """Stores, delivers (in its own thread) and answers the daemon's events."""

    def __init__(
        self,
        settings: Settings,
        *,
        responder: Responder | None,
        flush_interval: float = FLUSH_INTERVAL,
    ) -> None:
        """``responder``: None runs no response (``watch --dry-run``); they are logged instead."""
        self.settings = settings
        self.responder = responder
        self.flush_interval = flush_interval
        self.dispatcher = Dispatcher.from_settings(settings)
        self._due = threading.Event()
        self._stop = threading.Event()
        self.dispatcher.on_urgent = self._due.set
        self._thread: threading.Thread | None = None
        self.published = 0
        self.responses = 0

    def start(self) -> None:
        if not self.dispatcher.channels:
            return  # alerts are stored and written as JSON lines only: nothing to deliver
        self._thread = threading.Thread(target=self._deliver, name="alerts", daemon=True)
        self._thread.start()

    def publish(self, event: Event, *, response: str | None = None) -> None:
        """Store and queue ``event``; run the responses it calls for.

        ``response``: the one its rule names. Every event is also one line in the
        daemon's log, so an alert the store cannot take is still on record.
        """
        log_event(event)  # one JSON line in the daemon's own log (the journal) too
        try:
            self.dispatcher.publish(event)
            self.published += 1
        except RampartError as error:
            log.error("alert not stored: %s", error)
        for name in self.responses_for(event, response):
            self._respond(event, name)

    def responses_for(self, event: Event, named: str | None) -> list[str]:
        """The responses ``event`` calls for: its rule's, then those that select it."""
        chosen = [named] if named else []
        for name, response in self.settings.alerts.responses.items():
            if name not in chosen and response.selects(event.rule_id, event.level, event.groups):
                chosen.append(name)
        return chosen

    def _respond(self, event: Event, name: str) -> None:
        if self.responder is None:
            log.warning("dry run: response %s for rule %d not run", name, event.rule_id)
            return
        try:
            self.responder.handle(event, name)
            self.responses += 1
        except RampartError as error:  # one line; the daemon goes on
            log.warning("response %s for rule %d: %s", name, event.rule_id, error)
        except Exception as error:  # a response's bug must never stop the bans
            log.error("response %s for rule %d failed: %s: %s",
                      name, event.rule_id, type(error).__name__, error)  # fmt: skip

    def _deliver(self) -> None:
        dispatcher = Dispatcher.from_settings(self.settings)
        try:
            while not self._stop.is_set():
                self._due.wait(self.flush_interval)
                self._due.clear()
                try:
                    dispatcher.flush()
                except RampartError as error:
                    log.error("alert delivery: %s", error)
        finally:
            dispatcher.close()

    def close(self) -> None:
        """Stop delivering (what is queued goes out at the next start), close the store."""
        self._stop.set()
        self._due.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.dispatcher.close()


def unknown_responses(settings: Settings, named: Sequence[str | None]) -> list[str]:
    """Response names rules ask for that ``[alerts.responses]`` does not define."""
    defined = settings.alerts.responses
    return sorted({name for name in named if name is not None and name not in defined})

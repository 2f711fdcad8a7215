"""The log rules in a long-running process: lines in, ``on_event(Event)`` out, reloadable.

``rampart watch`` hands each batch of lines read from a HIDS log to
:meth:`LogRules.feed`; every event at or above the alert level goes to
``on_event``, a plain callable (the alert dispatcher when one is wired in;
until then a JSON line on the ``rampart.hids`` logger). A reload that fails
(SIGHUP after a bad edit) keeps the last good rule set and logs one line.
"""

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from rampart.errors import RampartError
from rampart.hids.engine import LogEngine
from rampart.hids.event import Event
from rampart.hids.ruleset import SHIPPED_RULES_DIR, RuleSet, load_ruleset

log = logging.getLogger("rampart.hids")

EventHandler = Callable[[Event], None]


def log_event(event: Event) -> None:
    """The default handler: the event as one JSON line on the ``rampart.hids`` logger.

    The "hids alert: " prefix lets the rules skip these lines (rule 3511) when
    rampart's own log is watched: an alert quotes the line that raised it.
    """
    log.warning("hids alert: %s", json.dumps(event_record(event), sort_keys=True))


def event_record(event: Event) -> dict[str, object]:
    """An event as plain JSON-ready data."""
    return {
        "time": event.time,
        "rule_id": event.rule_id,
        "level": event.level,
        "description": event.description,
        "location": event.location,
        "groups": list(event.groups),
        "fields": dict(event.fields),
        "log": event.log,
    }


class LogRules:
    """The engine, its rule folders and the handler its events go to."""

    def __init__(
        self,
        rules_dirs: Sequence[Path] = (),
        *,
        alert_level: int = 3,
        on_event: EventHandler = log_event,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Load the rules (RuleLoadError when they are bad: nothing to fall back on yet)."""
        self.rules_dirs = tuple(rules_dirs) or (SHIPPED_RULES_DIR,)
        self.alert_level = alert_level
        self.on_event = on_event
        self.clock = clock
        self.lines = 0
        self.events = 0
        self.engine = self._engine(load_ruleset(self.rules_dirs))

    def _engine(self, ruleset: RuleSet) -> LogEngine:
        return LogEngine(ruleset, alert_level=self.alert_level, clock=self.clock)

    def feed(
        self,
        lines: Iterable[str],
        location: str,
        *,
        journal: bool = False,
        when: float | None = None,
    ) -> int:
        """Run ``lines`` through the rules; events go to ``on_event``. Returns how many."""
        process, on_event = self.engine.process, self.on_event
        found = 0
        for line in lines:
            self.lines += 1
            event = process(line, location, journal=journal, when=when)
            if event is not None:
                found += 1
                on_event(event)
        self.events += found
        return found

    def reload(self) -> bool:
        """Load the rule files again; on error keep the current rules and log one line.

        Correlation state (counts in windows, quiet periods) starts afresh
        with new rules: a rule's window may have changed.
        """
        try:
            ruleset = load_ruleset(self.rules_dirs)
        except RampartError as error:
            log.error("hids: rules not reloaded, the previous ones stay in force: %s", error)
            return False
        self.engine = self._engine(ruleset)
        log.info("hids: %d rules reloaded", len(ruleset.rules))
        return True

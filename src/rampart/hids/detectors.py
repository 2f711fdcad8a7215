"""The HIDS detectors that are not logs, as ``rampart watch`` runs them on a timer.

Each is a callable returning the events of one round: the rootkit checks of
this host, and a file-integrity check against the baseline. A FIM check
writes nothing (``rampart fim update`` accepts changes), so a change not yet
accepted would be found again every round: a round reports only what it has
not reported before, as OSSEC's syscheck alerts once per change.
"""

from pathlib import Path

from rampart.config import FimSettings
from rampart.hids.event import Event


def rootcheck_round() -> list[Event]:
    """Every rootkit check of this host (``rampart rootcheck``)."""
    from rampart.hids.rootcheck import DEFAULT_INDICATORS, Scan, choose_checks, run_checks

    root = Path("/")
    return run_checks(Scan(root=root, indicators=DEFAULT_INDICATORS), choose_checks(None, root))


class FimRounds:
    """``rampart fim check`` once a round; each change reported once until it changes again."""

    def __init__(self, settings: FimSettings, state_dir: Path) -> None:
        from rampart.fim import Fim

        self.fim = Fim(settings, state_dir, processes=1)  # never fork a threaded daemon
        self._reported: dict[str, tuple[object, ...]] = {}

    def __call__(self) -> list[Event]:
        report = self.fim.check()
        events = []
        current: dict[str, tuple[object, ...]] = {}
        for change in report.changes:
            state = (change.status, change.attributes, change.new)
            current[change.path] = state
            if self._reported.get(change.path) != state:
                events.append(change.event())
        self._reported = current  # a change accepted or undone is forgotten
        return events

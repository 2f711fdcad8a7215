"""File integrity monitoring: a baseline of the watched files, checks against it, real time.

``Fim(settings.fim, settings.state_dir).check()`` returns a :class:`Report`
whose changes become :class:`rampart.hids.Event` values (rules 550-554, see
:mod:`rampart.fim.changes` for the levels). :class:`RealtimeMonitor` does the
same for single files as inotify reports them.
"""

from typing import TYPE_CHECKING, Any

from rampart.fim.baseline import BaselineError
from rampart.fim.changes import Change
from rampart.fim.engine import Fim
from rampart.fim.hashing import HashError
from rampart.fim.report import Report

if TYPE_CHECKING:
    from rampart.fim.realtime import RealtimeMonitor


def __getattr__(name: str) -> Any:
    """The real-time watcher is imported when asked for (``rampart fim check`` never needs it)."""
    if name == "RealtimeMonitor":
        from rampart.fim.realtime import RealtimeMonitor

        return RealtimeMonitor
    raise AttributeError(f"module 'rampart.fim' has no attribute {name!r}")


__all__ = ["BaselineError", "Change", "Fim", "HashError", "RealtimeMonitor", "Report"]

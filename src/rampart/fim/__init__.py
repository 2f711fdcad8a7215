"""File integrity monitoring: a baseline of the watched files, checks against it, real time.

``Fim(settings.fim, settings.state_dir).check()`` returns a :class:`Report`
whose changes become :class:`rampart.hids.Event` values (rules 550-554, see
:mod:`rampart.fim.changes` for the levels). :class:`RealtimeMonitor` does the
same for single files as inotify reports them.
"""

from rampart.fim.baseline import BaselineError
from rampart.fim.changes import Change
from rampart.fim.engine import Fim
from rampart.fim.hashing import HashError
from rampart.fim.realtime import RealtimeMonitor
from rampart.fim.report import Report

__all__ = ["BaselineError", "Change", "Fim", "HashError", "RealtimeMonitor", "Report"]

"""A real ``Watcher`` (the daemon) running in a thread, for tests of what it does end to end."""

import threading
import time
from collections.abc import Callable

from rampart.ban.guard import Guard
from rampart.config import Settings
from rampart.daemon import Watcher, state_paths
from rampart.firewall import make_backend
from rampart.store import BanStore


def wait_until(condition: Callable[[], object], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


class Running:
    """The daemon with the log-only ban backend, started now, in a thread until ``stop``."""

    def __init__(self, settings: Settings, *, respond: bool = True) -> None:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        self.settings = settings
        self.store = BanStore(state_paths(settings)[0])
        self.watcher = Watcher(
            settings,
            backend=make_backend("log"),
            store=self.store,
            guard=Guard(protect_ssh_sessions=False),
            use_inotify=False,
            respond=respond,
        )
        self.watcher.start()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.watcher.run, args=(self._stop,))
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.store.close()

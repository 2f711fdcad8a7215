"""Gentleness on a production host: CPU niceness, I/O priority and a rate limit.

Niceness and I/O priority are per thread on Linux and inherited by threads
created later, so :func:`lower_priority` runs before the hashing threads
start. Niceness is only ever raised (a scan never takes back CPU priority an
operator took away); the I/O class is set as configured.
The I/O priority is set with the ``ioprio_set`` system call (what ``ionice``
does); where its number is unknown, ``ionice`` itself is run.
"""

import ctypes
import ctypes.util
import os
import platform
import threading
import time
from collections.abc import Callable

from rampart.system import CommandError, run

IOPRIO_WHO_PROCESS = 1
IOPRIO_CLASS_SHIFT = 13
IOPRIO_CLASSES = {"best-effort": 2, "idle": 3}
_IOPRIO_SET = {"x86_64": 251, "aarch64": 30, "i686": 289, "armv7l": 314, "riscv64": 30}


def lower_priority(nice: int, ionice: str, ionice_level: int) -> list[str]:
    """Lower this thread's CPU and I/O priority; what could not be done, one line each."""
    problems = []
    try:
        current = os.getpriority(os.PRIO_PROCESS, 0)
        if nice > current:
            os.nice(nice - current)
    except OSError as error:
        problems.append(f"nice {nice}: {error.strerror}")
    if ionice != "none":
        problem = _set_io_priority(IOPRIO_CLASSES[ionice], ionice_level)
        if problem:
            problems.append(problem)
    return problems


def _set_io_priority(io_class: int, level: int) -> str | None:
    value = (io_class << IOPRIO_CLASS_SHIFT) | (level if io_class == 2 else 0)
    number = _IOPRIO_SET.get(platform.machine())
    if number is not None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            if libc.syscall(number, IOPRIO_WHO_PROCESS, 0, value) == 0:
                return None
            return f"ioprio_set: {os.strerror(ctypes.get_errno())}"
        except (OSError, AttributeError):
            pass
    argv = ["ionice", "-c", str(io_class), "-p", str(threading.get_native_id())]
    if io_class == 2:
        argv[3:3] = ["-n", str(level)]
    try:
        run(argv, timeout=5)
    except CommandError as error:
        return str(error)
    return None


class RateLimit:
    """A token bucket shared by the hashing threads: bytes or files per second.

    A burst of at most one second's worth is allowed; callers block while over.
    ``clock`` and ``sleep`` are the time functions (replaceable to test the arithmetic).
    """

    def __init__(
        self,
        per_second: float,
        unit: str,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.per_second = per_second * 1_000_000 if unit == "mb/s" else per_second
        self.counts_bytes = unit == "mb/s"
        self.clock, self.sleep = clock, sleep
        self._lock = threading.Lock()
        self._available = self.per_second
        self._updated = clock()

    def take(self, size: int) -> None:
        """Wait until one file of ``size`` bytes may be read."""
        amount = float(size) if self.counts_bytes else 1.0
        with self._lock:
            now = self.clock()
            self._available = min(
                self.per_second, self._available + (now - self._updated) * self.per_second
            )
            self._updated = now
            self._available -= amount
            wait = -self._available / self.per_second if self._available < 0 else 0.0
        if wait > 0:
            self.sleep(wait)

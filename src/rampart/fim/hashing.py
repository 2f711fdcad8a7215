"""Hash many files fast without ever blocking on one: a thread pool, a reused buffer.

Each thread reads into its own 1 MiB buffer (no allocation per file);
hashlib and blake3 release the GIL while hashing, so the threads overlap
reading and hashing on every core. A file is opened with ``O_NOFOLLOW`` and
``O_NONBLOCK`` and checked with ``fstat`` before it is read, so a path
swapped for a symbolic link or a FIFO between the walk and the read is never
followed and never blocks the scan; ``O_NOATIME`` keeps access times as they
were where the kernel allows it.
"""

import errno
import hashlib
import os
import stat
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NamedTuple

from rampart.errors import RampartError
from rampart.fim.throttle import RateLimit

BUFFER_SIZE = 1 << 20
#: blake3 hashes files at least this big with several threads of its own.
BLAKE3_THREADED_FROM = 8 << 20
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_NOATIME = getattr(os, "O_NOATIME", 0)


class HashError(RampartError):
    """The hash algorithm asked for is not available."""


def hasher_factory(algorithm: str) -> Callable[[int], Any]:
    """A function that returns a new hash object for a file of the given size."""
    if algorithm == "sha256":
        return lambda _size: hashlib.sha256()
    if algorithm == "blake3":
        try:
            from blake3 import blake3  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            raise HashError(
                "[fim] hash = 'blake3' needs the blake3 Python package "
                "(pip install blake3), or use hash = 'sha256'"
            ) from None

        def new(size: int) -> Any:
            if size >= BLAKE3_THREADED_FROM:
                return blake3(max_threads=blake3.AUTO)
            return blake3()

        return new
    raise HashError(f"unknown hash algorithm {algorithm!r} (sha256 or blake3)")


class Hashed(NamedTuple):
    """One file read: its digest and the fstat of what was read (None and a reason on failure)."""

    path: str
    digest: bytes | None
    st: os.stat_result | None
    error: str = ""
    content: bytes | None = None
    """The whole content, when asked for (small files kept for diffs)."""


class FileHasher:
    """Reads and hashes files; one instance shared by the pool's threads."""

    def __init__(self, algorithm: str, limit: RateLimit | None = None) -> None:
        self.new = hasher_factory(algorithm)
        self.limit = limit
        self._local = threading.local()
        self._noatime = _NOATIME
        self.hashed_files = 0
        self.hashed_bytes = 0
        self._count_lock = threading.Lock()

    def _open(self, path: str) -> int:
        if self._noatime:
            try:
                return os.open(path, _OPEN_FLAGS | self._noatime)
            except PermissionError:
                self._noatime = 0  # not the owner and no CAP_FOWNER: plain reads
        return os.open(path, _OPEN_FLAGS)

    def hash(self, path: str, size_hint: int, keep_up_to: int = -1) -> Hashed:
        """Hash ``path``; keep its content when it is at most ``keep_up_to`` bytes."""
        buffer: bytearray | None = getattr(self._local, "buffer", None)
        if buffer is None:
            buffer = self._local.buffer = bytearray(BUFFER_SIZE)
        if self.limit is not None:
            self.limit.take(size_hint)
        try:
            fd = self._open(path)
        except OSError as error:
            return Hashed(path, None, None, _reason(error))
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return Hashed(path, None, None, "no longer a regular file")
            digest, content = self._read(fd, st.st_size, buffer, keep_up_to)
        except OSError as error:
            return Hashed(path, None, None, _reason(error))
        finally:
            os.close(fd)
        return Hashed(path, digest, st, "", content)

    def _read(
        self, fd: int, size: int, buffer: bytearray, keep_up_to: int
    ) -> tuple[bytes, bytes | None]:
        hasher = self.new(size)
        view = memoryview(buffer)
        total = 0
        keep = keep_up_to >= 0 and size <= keep_up_to
        kept: list[bytes] = []
        while True:
            count = os.readv(fd, [buffer])
            if count:
                hasher.update(view[:count])
                total += count
                if keep:
                    kept.append(bytes(view[:count]))
            if count < BUFFER_SIZE:
                break  # a short read of a regular file: its end
        with self._count_lock:
            self.hashed_files += 1
            self.hashed_bytes += total
        content = b"".join(kept) if keep and total <= keep_up_to else None
        return hasher.digest(), content


def _reason(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "replaced by a symbolic link"
    if error.errno == errno.ENOENT:
        return "vanished"
    return error.strerror or str(error)


class HashPool:
    """Batches of files hashed by a thread pool while the walk goes on."""

    BATCH_FILES = 64
    BATCH_BYTES = 8 << 20

    def __init__(
        self, hasher: FileHasher, threads: int, executor: ThreadPoolExecutor | None = None
    ) -> None:
        """``executor``: threads to share (kept running); by default the pool's own."""
        self.hasher = hasher
        self.owned = executor is None
        self.executor = executor or ThreadPoolExecutor(threads, thread_name_prefix="fim-hash")
        self.futures: list[Future[list[Hashed]]] = []
        self._batch: list[tuple[str, int, int]] = []
        self._batch_bytes = 0

    def add(self, path: str, size: int, keep_up_to: int = -1) -> None:
        self._batch.append((path, size, keep_up_to))
        self._batch_bytes += size
        if len(self._batch) >= self.BATCH_FILES or self._batch_bytes >= self.BATCH_BYTES:
            self._submit()

    def _submit(self) -> None:
        if self._batch:
            self.futures.append(self.executor.submit(self._run, self._batch))
            self._batch, self._batch_bytes = [], 0

    def _run(self, batch: list[tuple[str, int, int]]) -> list[Hashed]:
        return [self.hasher.hash(path, size, keep) for path, size, keep in batch]

    def results(self) -> Iterable[Hashed]:
        """Every file's result; the pool's own threads are stopped afterwards."""
        self._submit()
        try:
            for future in self.futures:
                yield from future.result()
        finally:
            self.close()

    def close(self) -> None:
        """Stop the pool's own threads (shared ones keep running)."""
        if self.owned:
            self.executor.shutdown(wait=True, cancel_futures=True)

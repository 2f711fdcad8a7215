"""Walk and hash a large tree in several processes, one per core.

CPython runs one thread's Python at a time, and visiting 100,000 paths (an
``lstat``, a few tuples and dict entries each) is Python work: the hashing
threads overlap only reading and hashing, not the walk. Worker processes,
each walking and hashing whole subtrees, use every core for both.

The first two levels below a root are listed one directory per task (each
returns its subdirectories); deeper directories are handed out whole, one at
a time as workers become free, so no worker waits while another has a big
subtree left. Workers are forked from the command's process before it has
any other thread (never from the daemon) and inherit what they need; they
send back compact rows (``init``) or, for a check, the paths they saw and
the few whose fingerprint differs.
"""

import multiprocessing
import os
import stat
from collections.abc import Iterable, Iterator
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass, field

from rampart.fim import native
from rampart.fim.baseline import Row
from rampart.fim.diffs import Copies
from rampart.fim.entry import fingerprint
from rampart.fim.hashing import FileHasher, HashPool
from rampart.fim.walk import Walker, outermost, readlink

#: Directories this many levels below a root (or deeper) are one task each, whole.
WHOLE_FROM_DEPTH = 2


@dataclass
class Job:
    """What the workers need, set in the parent before they are forked."""

    walker: Walker
    algorithm: str
    threads: int
    copies: Copies | None
    keep_size: int
    recorded: dict[bytes, bytes] | None
    """For a check: the baseline's fingerprints; None for a scan that records rows."""
    globs: tuple[tuple[str, ...], tuple[str, ...]] | None = None
    """The exclude and include globs when the C walk may list whole subtrees (native.usable)."""


@dataclass
class Part:
    """One task's result."""

    subdirs: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    seen: list[bytes] = field(default_factory=list)
    candidates: list[tuple[str, os.stat_result]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    hashed_files: int = 0
    hashed_bytes: int = 0
    kept: list[bytes] = field(default_factory=list)
    """Hashes of the files whose copy is kept for diffs (the rest are pruned)."""


_JOB: Job | None = None
_THREADS: ThreadPoolExecutor | None = None
"""A worker's hashing threads, started by its first task and kept for the others."""


def _threads(count: int) -> ThreadPoolExecutor:
    global _THREADS
    if _THREADS is None:
        _THREADS = ThreadPoolExecutor(count, thread_name_prefix="fim-hash")
    return _THREADS


def _task(directory: str, device: int, whole: bool) -> Part:
    job = _JOB
    if job is None:  # pragma: no cover (a worker always inherits it)
        raise RuntimeError("no job in this worker")
    part = Part()
    walker = Walker((directory,), job.walker.include, job.walker.exclude, job.walker.one_filesystem)
    if job.recorded is None and whole and job.globs is not None:
        _record(job, native.entries_below(directory, device, walker, job.globs), part)
        part.errors.extend(walker.errors)
        return part
    items = walker.below(directory, device, None if whole else part.subdirs)
    if job.recorded is not None:
        _compare(job.recorded, items, part)
    else:
        _record(job, _with_fingerprints(items), part)
    part.errors.extend(walker.errors)
    return part


def _with_fingerprints(
    items: Iterator[tuple[str, os.stat_result]],
) -> Iterator[tuple[str, int, int, bytes]]:
    for path, st in items:
        yield path, st.st_mode, st.st_size, fingerprint(st)


def _compare(
    recorded: dict[bytes, bytes], items: Iterator[tuple[str, os.stat_result]], part: Part
) -> None:
    encode, get, seen, candidates = os.fsencode, recorded.get, part.seen, part.candidates
    for path, st in items:
        key = encode(path)
        seen.append(key)
        if get(key) != fingerprint(st):
            candidates.append((path, st))


def _record(job: Job, items: Iterable[tuple[str, int, int, bytes]], part: Part) -> None:
    """Rows for ``items`` (path, mode, size, fingerprint), regular files hashed by the threads."""
    hasher = FileHasher(job.algorithm)  # no rate limit here: a limited scan is not parallel
    pool = HashPool(hasher, job.threads, _threads(job.threads))
    encode, rows = os.fsencode, part.rows
    eligible = job.copies.eligible if job.copies is not None else None
    files: dict[str, bytes] = {}
    try:
        for path, mode, size, packed in items:
            kind = stat.S_IFMT(mode)
            if kind == stat.S_IFREG:
                keep = job.keep_size if eligible is not None and eligible(path) else -1
                files[path] = packed
                pool.add(path, size, keep)
            elif kind == stat.S_IFLNK:
                rows.append((encode(path), packed, b"", encode(readlink(path))))
            else:
                rows.append((encode(path), packed, b"", b""))
        for hashed in pool.results():
            if hashed.digest is None or hashed.st is None:
                if hashed.error != "vanished":  # recorded, its content unknown
                    part.errors.append(f"{hashed.path}: {hashed.error}")
                    rows.append((encode(hashed.path), files[hashed.path], None, b""))
                continue
            rows.append((encode(hashed.path), fingerprint(hashed.st), hashed.digest, b""))
            if hashed.content is not None and job.copies is not None:
                job.copies.keep(hashed.digest, hashed.content)
                part.kept.append(hashed.digest)
    finally:
        pool.close()
    part.hashed_files, part.hashed_bytes = hasher.hashed_files, hasher.hashed_bytes


def run(job: Job, processes: int) -> tuple[Part, list[tuple[str, os.stat_result]]]:
    """Every root's tree through ``processes`` workers: the merged part and the roots' own stat.

    The roots themselves (lstat'ed here) are returned for the caller to record.
    """
    global _JOB
    merged = Part()
    roots: list[tuple[str, os.stat_result]] = []
    tops = []
    for root, st in _roots(job.walker):
        roots.append((root, st))
        if stat.S_ISDIR(st.st_mode):
            tops.append((root, st.st_dev))
    _JOB = job
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=processes, mp_context=context) as executor:
            pending: dict[Future[Part], tuple[int, int]] = {}
            for root, device in tops:
                pending[executor.submit(_task, root, device, False)] = (0, device)
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    depth, device = pending.pop(future)
                    part = future.result()
                    _merge(merged, part)
                    for subdir in part.subdirs:
                        whole = depth + 1 >= WHOLE_FROM_DEPTH
                        submitted = executor.submit(_task, subdir, device, whole)
                        pending[submitted] = (depth + 1, device)
    finally:
        _JOB = None
    return merged, roots


def _roots(walker: Walker) -> Iterator[tuple[str, os.stat_result]]:
    """The roots themselves (the walk without going below them)."""
    for root in outermost(walker.roots):
        try:
            st = os.lstat(root)
        except FileNotFoundError:
            walker.missing_roots.append(root)
            continue
        except OSError as error:
            walker.errors.append(f"{root}: {error.strerror}")
            continue
        if walker.wanted(root, stat.S_ISDIR(st.st_mode)):
            yield root, st


def _merge(into: Part, part: Part) -> None:
    into.rows.extend(part.rows)
    into.seen.extend(part.seen)
    into.candidates.extend(part.candidates)
    into.errors.extend(part.errors)
    into.hashed_files += part.hashed_files
    into.hashed_bytes += part.hashed_bytes
    into.kept.extend(part.kept)


def worth_it(processes: int) -> bool:
    """Workers only where there are cores for them and ``fork`` exists."""
    return processes > 1 and "fork" in multiprocessing.get_all_start_methods()

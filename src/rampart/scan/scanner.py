"""Scanning files: read each once in binary, find secrets, on every core if it pays.

The detector is built once per process; files go to a process pool in chunks
when there are enough of them (a pool costs ~50 ms to start), else they are
scanned here. Results come back in file order whatever the pool's order.
"""

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from rampart.scan.detector import Detector
from rampart.scan.files import read_text_file
from rampart.scan.finding import Finding
from rampart.scan.rules import RuleSet

POOL_MIN_FILES = 200
CHUNK_FILES = 64


@dataclass
class FileScan:
    """What a scan of files found and read (``skipped``: binaries, huge or unreadable files)."""

    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    skipped: int = 0

    def add(self, other: "FileScan") -> None:
        self.findings.extend(other.findings)
        self.files += other.files
        self.bytes += other.bytes
        self.skipped += other.skipped


def default_jobs() -> int:
    """The CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover  (not Linux)
        return os.cpu_count() or 1


def scan_files(names: Sequence[str], rules: RuleSet, jobs: int | None = None) -> FileScan:
    """The secrets in the files ``names``, with ``jobs`` processes (default: every CPU)."""
    jobs = default_jobs() if jobs is None else jobs
    result = FileScan()
    if jobs <= 1 or len(names) < POOL_MIN_FILES:
        result.add(_scan_chunk(names, Detector(rules)))
        return result
    with ProcessPoolExecutor(jobs, initializer=_start_worker, initargs=(rules,)) as pool:
        for part in pool.map(_scan_in_worker, _chunks(names, CHUNK_FILES)):
            result.add(part)
    return result


def scan_bytes(data: bytes, path: str, detector: Detector) -> list[Finding]:
    """The secrets in ``data``, the contents of ``path``."""
    return [
        Finding(
            match.rule.id,
            match.rule.description,
            path,
            match.line,
            match.secret.decode("utf-8", "backslashreplace"),
        )
        for match in detector.find(data, path)
    ]


def _scan_chunk(names: Sequence[str], detector: Detector) -> FileScan:
    result = FileScan()
    for name in names:
        data = read_text_file(name)
        if data is None:
            result.skipped += 1
            continue
        result.files += 1
        result.bytes += len(data)
        result.findings.extend(scan_bytes(data, name, detector))
    return result


_worker_detector: Detector | None = None


def _start_worker(rules: RuleSet) -> None:
    global _worker_detector  # one detector per worker process
    _worker_detector = Detector(rules)


def _scan_in_worker(names: Sequence[str]) -> FileScan:
    if _worker_detector is None:  # pragma: no cover  (the initializer always runs first)
        raise RuntimeError("scan worker used before it was started")
    return _scan_chunk(names, _worker_detector)


def _chunks(names: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(names), size):
        yield names[start : start + size]

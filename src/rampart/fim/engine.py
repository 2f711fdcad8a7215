"""``init``, ``check`` and ``update``: walk, hash what may have changed, compare, store.

The walk runs in the calling thread and hands regular files to a hashing
pool as it goes, so reading and hashing overlap with listing. A file whose
size, mtime, ctime and inode equal the baseline's keeps its recorded hash
(unless ``full``): content cannot change without changing ctime short of
resetting the clock, and that is what ``--full`` is for.
"""

import json
import os
import sqlite3
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rampart.config import FimSettings
from rampart.errors import UsageError
from rampart.fim import baseline as store
from rampart.fim import native
from rampart.fim.changes import Change, package_may_excuse, significant
from rampart.fim.diffs import Copies
from rampart.fim.entry import (
    Entry,
    changed_attributes,
    entry_from_fingerprint,
    entry_from_stat,
    fingerprint,
    kind_of,
)
from rampart.fim.hashing import FileHasher, HashPool, hasher_factory
from rampart.fim.packages import PackageIndex
from rampart.fim.report import Report
from rampart.fim.throttle import RateLimit, lower_priority
from rampart.fim.walk import Walker, compile_globs, readlink, under

if TYPE_CHECKING:
    from rampart.fim import parallel


@dataclass
class _Scan:
    entries: dict[str, Entry]
    contents: dict[str, bytes]
    errors: list[str]
    missing_roots: list[str]
    hashed_files: int
    hashed_bytes: int


class Fim:
    """File integrity over the configured paths (or ``roots``), with one baseline file."""

    def __init__(
        self,
        settings: FimSettings,
        state_dir: Path,
        roots: Iterable[str] | None = None,
        *,
        processes: int | None = None,
    ) -> None:
        """``processes``: worker processes for init and check (default ``[fim] processes``;
        a caller with threads of its own, such as the daemon, passes 1)."""
        self.settings = settings
        wanted = settings.processes if processes is None else processes
        self.processes = wanted or os.cpu_count() or 1
        # a check is mostly lstat calls: measured on 2 cores, starting workers and sending
        # 100,000 paths back cost more than they save, so only an explicit number splits it
        self.check_processes = wanted or 1
        chosen = tuple(roots) if roots else settings.paths
        for root in chosen:
            if not root.startswith("/") or "\0" in root:
                raise UsageError(f"--paths: {root!r} is not an absolute path")
        self.roots = tuple(os.path.normpath(root) for root in chosen)
        self.scoped = bool(roots)
        self.path = store.baseline_path(state_dir)
        self.include = compile_globs(settings.include)
        self.exclude = compile_globs(settings.exclude)
        self.copies = Copies(
            store.fim_dir(state_dir) / "copies",
            compile_globs(settings.diff_paths),
            compile_globs(settings.nodiff),
            settings.diff_max_size,
        )
        self.packages = PackageIndex(settings.dpkg_info)
        hasher_factory(settings.hash)  # an unavailable algorithm fails before any work

    def _report(self, command: str) -> Report:
        """A new report; the CPU and I/O priority are lowered first (all the work follows)."""
        settings = self.settings
        report = Report(command, self.path, settings.hash, self.roots)
        report.notes.extend(lower_priority(settings.nice, settings.ionice, settings.ionice_level))
        return report

    def init(self) -> Report:
        """Record the current state as the baseline (replacing any)."""
        started, report = time.monotonic(), self._report("init")
        self._make_dir()
        if self._parallel(self.processes):
            return self._parallel_init(report, started)
        scan = self._scan(None, full=True, keep_copies=True)
        self._save(scan.entries, report)
        self._finish(report, scan, started)
        return report

    def _parallel(self, processes: int) -> bool:
        """Worker processes when there are cores and every root is a directory (or missing).

        A rate limit is one budget shared by one process's threads: with ``max_rate`` the
        scan stays in one process, so the limit holds for the whole scan.
        """
        if self.settings.max_rate is not None or processes < 2:
            return False
        from rampart.fim import parallel  # multiprocessing: imported only when used

        return parallel.worth_it(processes) and all(
            os.path.isdir(root) and not os.path.islink(root)
            for root in self.roots
            if os.path.lexists(root)
        )

    def _job(self, recorded: dict[bytes, bytes] | None) -> "parallel.Job":
        from rampart.fim import parallel

        settings = self.settings
        globs = (settings.exclude, settings.include)
        return parallel.Job(
            self._walker(),
            settings.hash,
            settings.threads or 2,
            self.copies,
            settings.diff_max_size,
            recorded,
            globs if native.usable(*globs) else None,
        )

    def _parallel_init(self, report: Report, started: float) -> Report:
        from rampart.fim import parallel

        job = self._job(None)
        found, roots = parallel.run(job, self.processes)
        rows = found.rows
        rows.extend((os.fsencode(r), fingerprint(st), b"", b"") for r, st in roots)
        store.save_rows(self.path, rows, self.settings.hash, self.roots)
        self.copies.prune(found.kept)
        report.paths, report.errors = len(rows), [*job.walker.errors, *found.errors]
        report.hashed_files, report.hashed_bytes = found.hashed_files, found.hashed_bytes
        report.notes.extend(f"{root}: does not exist" for root in job.walker.missing_roots)
        report.seconds = time.monotonic() - started
        return report

    def check(self, full: bool = False) -> Report:
        """Compare the disk with the baseline; nothing is written."""
        if full:
            return self._full_check()
        started, report = time.monotonic(), self._report("check")
        connection, meta = store.open_readonly(self.path)
        try:
            self._same_algorithm(meta["hash"])
            recorded = store.fingerprints(connection, self.path)
            walker, candidates = self._changed_paths(recorded)
            candidates.extend(self._unhashed(connection, {path for path, _ in candidates}))
            exclude, roots = self.exclude, self.roots
            gone = [
                name
                for name in map(os.fsdecode, recorded)
                if under(name, roots) and not (exclude is not None and exclude.match(name))
            ]
            previous = {path: e for path, _ in candidates if (e := store.lookup(connection, path))}
            previous.update((path, e) for path in gone if (e := store.lookup(connection, path)))
        finally:
            connection.close()
        accepted = store.Baseline(
            previous, meta["hash"], tuple(json.loads(meta.get("roots", "[]"))), 0.0
        )
        scan = self._scan(previous, full=False, keep_copies=False, walked=candidates)
        scan.errors[:0] = walker.errors
        scan.missing_roots = walker.missing_roots
        report.changes = self._compare(accepted, scan, report)
        self._finish(report, scan, started)
        report.paths = walker.walked
        return report

    def _changed_paths(
        self, recorded: dict[bytes, bytes]
    ) -> tuple[Walker, list[tuple[str, os.stat_result]]]:
        """The walk's paths whose fingerprint differs; what is left in ``recorded`` is gone."""
        candidates: list[tuple[str, os.stat_result]] = []
        encode, pop = os.fsencode, recorded.pop
        if self._parallel(self.check_processes):
            from rampart.fim import parallel

            job = self._job(recorded)
            found, roots = parallel.run(job, self.check_processes)
            for key in found.seen:
                pop(key, None)
            candidates = found.candidates
            for root, st in roots:
                if pop(encode(root), None) != fingerprint(st):
                    candidates.append((root, st))
            job.walker.walked = len(found.seen) + len(roots)
            job.walker.errors.extend(found.errors)
            return job.walker, candidates
        walker = self._walker()
        settings = self.settings
        if native.usable(settings.exclude, settings.include):
            # lstat calls of several directories at once: one thread per core
            threads = settings.threads or os.cpu_count() or 1
            differing = native.check_walk(
                walker, settings.exclude, settings.include, recorded, threads
            )
            return walker, differing
        for path, st in walker:  # the hot loop: a few bytes compared per path
            if pop(encode(path), None) != fingerprint(st):
                candidates.append((path, st))
        return walker, candidates

    def _unhashed(
        self, connection: sqlite3.Connection, already: set[str]
    ) -> Iterable[tuple[str, os.stat_result]]:
        """Files unreadable when recorded, whose fingerprint alone proves nothing: read again."""
        for path in store.unhashed(connection):
            if path not in already and under(path, self.roots):
                try:
                    yield path, os.lstat(path)
                except OSError:
                    continue  # gone: the deletion is found by the walk

    def _full_check(self) -> Report:
        started, report = time.monotonic(), self._report("check")
        accepted = store.load(self.path)
        self._same_algorithm(accepted.algorithm)
        if self._parallel(self.processes):  # every file read: as heavy as an init
            scan = self._parallel_scan()
        else:
            scan = self._scan(accepted.entries, full=True, keep_copies=False)
        report.changes = self._compare(accepted, scan, report)
        self._finish(report, scan, started)
        return report

    def _parallel_scan(self) -> _Scan:
        """Every path read by the worker processes, as entries (nothing written)."""
        from rampart.fim import parallel

        job = self._job(None)
        job.copies = None  # a check keeps no copies; a diff reads the file again
        found, roots = parallel.run(job, self.processes)
        entries = {
            os.fsdecode(path): entry_from_fingerprint(packed, digest, os.fsdecode(target))
            for path, packed, digest, target in found.rows
        }
        entries.update((root, entry_from_stat(st)) for root, st in roots)
        errors = [*job.walker.errors, *found.errors]
        return _Scan(
            entries, {}, errors, job.walker.missing_roots, found.hashed_files, found.hashed_bytes
        )

    def _same_algorithm(self, algorithm: str) -> None:
        if algorithm != self.settings.hash:
            raise UsageError(
                f"{self.path}: the baseline was hashed with {algorithm} but [fim] hash "
                f"is {self.settings.hash}; run 'rampart fim update --full' to re-hash"
            )

    def _walker(self) -> Walker:
        return Walker(self.roots, self.include, self.exclude, self.settings.one_filesystem)

    def update(self, full: bool = False) -> Report:
        """Accept the current state of the roots as the new baseline; report what it accepted."""
        started, report = time.monotonic(), self._report("update")
        accepted = store.load(self.path)
        self._make_dir()
        same_hash = accepted.algorithm == self.settings.hash
        # with --paths the rest of the baseline stays; without, the configured paths are all
        kept = {
            p: e for p, e in accepted.entries.items() if self.scoped and not under(p, self.roots)
        }
        if kept and not same_hash:
            raise UsageError(
                f"{self.path}: the baseline is {accepted.algorithm}, [fim] hash is "
                f"{self.settings.hash}: update all of it (no --paths) or run rampart fim init"
            )
        full = full or not same_hash
        scan = self._scan(None if full else accepted.entries, full=full, keep_copies=True)
        if same_hash:
            report.changes = self._compare(accepted, scan, report, with_diffs=False)
        roots = (*accepted.roots, *self.roots) if self.scoped else self.roots
        self._save({**kept, **scan.entries}, report, roots=roots)
        self._finish(report, scan, started)
        return report

    def _make_dir(self) -> None:
        """The private folder of the baseline and the copies (0700: copies are file contents)."""
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(directory, 0o700)
        except OSError as error:
            raise store.BaselineError(f"{directory}: cannot create: {error.strerror}") from None

    def _save(
        self, entries: dict[str, Entry], report: Report, roots: Iterable[str] | None = None
    ) -> None:
        store.save(self.path, entries.items(), self.settings.hash, roots or self.roots)
        self.copies.prune(
            e.digest for p, e in entries.items() if e.digest and self.copies.eligible(p)
        )
        report.paths = len(entries)

    def _finish(self, report: Report, scan: _Scan, started: float) -> None:
        report.paths = report.paths or len(scan.entries)
        report.hashed_files, report.hashed_bytes = scan.hashed_files, scan.hashed_bytes
        report.errors = scan.errors
        report.notes.extend(f"{root}: does not exist" for root in scan.missing_roots)
        report.seconds = time.monotonic() - started

    def _scan(
        self,
        previous: dict[str, Entry] | None,
        *,
        full: bool,
        keep_copies: bool,
        walked: Iterable[tuple[str, os.stat_result]] | None = None,
    ) -> _Scan:
        settings = self.settings
        limit = RateLimit(*settings.max_rate) if settings.max_rate else None
        hasher = FileHasher(settings.hash, limit)
        threads = settings.threads or (os.cpu_count() or 1) + 1
        pool = HashPool(hasher, threads)
        walker = self._walker()
        entries: dict[str, Entry] = {}
        keep_size = settings.diff_max_size
        eligible = self.copies.eligible
        try:
            for path, st in walker if walked is None else walked:
                kind = kind_of(st.st_mode)
                if kind == "file":
                    entry = entry_from_stat(st, None)
                    old = previous.get(path) if previous is not None else None
                    if (
                        not full
                        and old is not None
                        and old.digest is not None
                        and old.same_content_key(entry)
                    ):
                        entry = entry._replace(digest=old.digest)
                    else:
                        pool.add(path, st.st_size, keep_size if eligible(path) else -1)
                elif kind == "symlink":
                    entry = entry_from_stat(st, b"", readlink(path))
                else:
                    entry = entry_from_stat(st)
                entries[path] = entry
            contents: dict[str, bytes] = {}
            errors = list(walker.errors)
            for hashed in pool.results():
                if hashed.digest is None or hashed.st is None:
                    if hashed.error == "vanished":
                        entries.pop(hashed.path, None)
                    else:
                        errors.append(f"{hashed.path}: {hashed.error}")
                    continue
                entries[hashed.path] = entry_from_stat(hashed.st, hashed.digest)
                if hashed.content is not None:
                    contents[hashed.path] = hashed.content
                    if keep_copies:
                        self.copies.keep(hashed.digest, hashed.content)
        finally:
            pool.close()
        return _Scan(
            entries,
            contents,
            errors,
            walker.missing_roots,
            hasher.hashed_files,
            hasher.hashed_bytes,
        )

    def _compare(
        self, accepted: store.Baseline, scan: _Scan, report: Report, with_diffs: bool = True
    ) -> list[Change]:
        old_entries = accepted.entries
        missing = [root for root in self.roots if not under(root, accepted.roots)]
        for root in missing:
            report.notes.append(f"{root}: not in the baseline (rampart fim update --paths {root})")
        changes: list[Change] = []
        for path, new in scan.entries.items():
            old = old_entries.get(path)
            if old is None:
                if not under(path, missing):
                    changes.append(self.judge(Change(path, "added", new=new)))
                continue
            attributes = significant(old, changed_attributes(old, new))
            if attributes:
                diff = ""
                if with_diffs and "hash" in attributes and self.copies.eligible(path):
                    content = scan.contents.get(path)
                    if content is None and new.size <= self.settings.diff_max_size:
                        content = _small_file(path, self.settings.diff_max_size)
                    diff = self.copies.diff(path, old.digest, content)
                changes.append(self.judge(Change(path, "changed", attributes, old, new, diff=diff)))
        exclude, roots = self.exclude, self.roots
        for path, old in old_entries.items():
            if (
                path not in scan.entries
                and under(path, roots)
                and not (exclude is not None and exclude.match(path))
            ):
                changes.append(Change(path, "deleted", old=old))
        changes.sort(key=lambda change: change.path)
        return changes

    def judge(self, change: Change) -> Change:
        """A content change that dpkg's recorded sum explains becomes a package update."""
        new = change.new
        if new is None or new.kind != "file" or not package_may_excuse(change.attributes):
            return change
        if change.status == "changed" and "hash" not in change.attributes:
            return change
        package = self.packages.package_update(change.path)
        if package is None:
            return change
        return Change(
            change.path,
            "package",
            change.attributes,
            change.old,
            new,
            package=package,
            diff=change.diff,
        )


def _small_file(path: str, limit: int) -> bytes | None:
    """A regular file's content when it is at most ``limit`` bytes (never a FIFO, no link)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        content = os.read(fd, limit + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return content if len(content) <= limit else None

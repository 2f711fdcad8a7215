"""``rampart watch``: follow the jails' logs, ban in the firewall, keep the bans.

One reader thread per source (a followed file or the journal) turns lines
into failures with the jail's filter and queues them. The main thread owns
everything else: it counts failures, asks the guard, records each ban in
the store *before* the kernel gets it (so no ban is lost if the firewall
call fails; the next start restores it) and applies every ban of a burst
in one firewall batch.

Positions (file offsets and inodes, the journal cursor) are saved only for
lines whose failures the main thread has handled, so after a restart no
line is counted twice and none is skipped. On start every stored ban that
is still active is restored in one batch and expired ones are dropped.
"""

import glob
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from rampart.ban.control import BanControl
from rampart.ban.guard import Guard
from rampart.ban.jail import FailureCounter, ban_length, ban_target, make_ban
from rampart.ban.types import Ban, BanTarget, StoredBan
from rampart.config import JailSettings, Settings
from rampart.detect import DEFAULT_FILTER_DIRS, Filter, LineMatcher, load_filter
from rampart.errors import RampartError
from rampart.files import write_atomically
from rampart.firewall import BanBackend, BanScope
from rampart.hids.detectors import FimRounds, rootcheck_round
from rampart.hids.event import Event
from rampart.hids.respond import Responder
from rampart.hids.runner import LogRules
from rampart.notify.pump import AlertPump, unknown_responses
from rampart.sources import FileTail, JournalSource, SourceError, TailPosition
from rampart.store import BanStore
from rampart.store.bans import STORE_FILE

log = logging.getLogger("rampart.watch")

#: Lines matched per batch, and batches queued at most: a reader that runs ahead
#: of the main thread (a large backlog) waits instead of filling the memory.
BATCH_LINES = 4096
READ_BYTES = 1 << 20
QUEUE_BATCHES = 16
#: How often positions and the status file are written, at most (seconds).
SAVE_INTERVAL = 1.0
#: How often expired bans are purged from the store and lifted where the kernel cannot.
EXPIRY_INTERVAL = 30.0
#: The first rootkit check waits this long after the start (then [hids] rootcheck_interval).
ROOTCHECK_FIRST_DELAY = 300.0


class WatchError(RampartError):
    """The daemon cannot start: no source for a jail, an unreadable filter, ..."""


class Seen(NamedTuple):
    """A failure as the main thread needs it: who and when (no matched lines: memory)."""

    host: str
    time: float | None


@dataclass
class _Batch:
    """Failures of part of one read of one source; the last part says where it now stands."""

    jail: str
    failures: list[Seen]
    source: str
    position: dict[str, Any] | None


@dataclass
class _LinesBatch:
    """Lines of a HIDS log (not failures: the main thread runs the rules on them)."""

    lines: list[str]
    source: str
    position: dict[str, Any] | None
    journal: bool = False
    when: float | None = None


@dataclass
class _EventsBatch:
    """Events of a detector that is not a log (rootkit checks, file integrity)."""

    events: list[Event]
    source: str


_AnyBatch = _Batch | _LinesBatch | _EventsBatch


@dataclass
class JailState:
    """A running jail: its settings, compiled filter and failure counter."""

    name: str
    settings: JailSettings
    filter: Filter
    counter: FailureCounter
    sources: list[str] = field(default_factory=list)
    bans: int = 0
    failures: int = 0


def jail_scope(name: str, settings: JailSettings) -> BanScope:
    return BanScope(name=name, ports=settings.port, protocol=settings.protocol)


def build_watcher(settings: Settings, *, dry_run: bool = False) -> "Watcher":
    """The daemon wired from settings: store, backend (``log`` when dry), guard."""
    from rampart.ban.control import enforcement

    backend, store, guard = enforcement(settings, dry_run=dry_run)
    return Watcher(settings, backend=backend, store=store, guard=guard, respond=not dry_run)


def state_paths(settings: Settings) -> tuple[Path, Path, Path]:
    """The store, the positions file and the status file in the state directory."""
    base = settings.state_dir
    return base / STORE_FILE, base / "positions.json", base / "status.json"


class Watcher:
    """The ban daemon, wired from settings; ``run`` until ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        *,
        backend: BanBackend,
        store: BanStore,
        guard: Guard,
        clock: Callable[[], float] = time.time,
        use_inotify: bool = True,
        respond: bool = True,
    ) -> None:
        """``respond``: run active responses (False: log what would run, as ``--dry-run``)."""
        self.settings = settings
        self.backend = backend
        self.store = store
        self.guard = guard
        self.clock = clock
        self.use_inotify = use_inotify
        _, self._positions_path, self._status_path = state_paths(settings)
        self._positions: dict[str, Any] = _read_json(self._positions_path)
        self._queue: queue.Queue[_AnyBatch] = queue.Queue(maxsize=QUEUE_BATCHES)
        self._threads: list[threading.Thread] = []
        self._readers_stop = threading.Event()
        self._errors: queue.Queue[BaseException] = queue.Queue()
        self.jails: dict[str, JailState] = {}
        filter_dirs = (*settings.ban.filter_dirs, *DEFAULT_FILTER_DIRS)
        for name, jail in settings.ban.jails.items():
            if not jail.enabled:
                continue
            try:
                compiled = Filter(load_filter(jail.filter or name, filter_dirs))
            except RampartError as error:
                raise WatchError(f"jail {name}: {error}") from None
            counter = FailureCounter(jail.maxretry, jail.findtime)
            self.jails[name] = JailState(name, jail, compiled, counter)
        self.hids: LogRules | None = None
        self.hids_sources: list[str] = []
        self._detectors: list[str] = []
        self.reload_requested = threading.Event()
        if settings.hids.logs:
            hids = settings.hids
            self.hids = LogRules(hids.rules_dirs, alert_level=hids.alert_level, clock=clock)
            self._check_responses()
        self.fim_on = settings.fim.realtime or settings.fim.check_interval > 0
        self.alerts: AlertPump | None = None
        self._fim_monitor: Any = None
        if self.hids is not None or self.fim_on:
            control = BanControl(settings, store, backend, guard, clock)
            responder = Responder(settings, control=control) if respond else None
            self.alerts = AlertPump(settings, responder=responder)
        if self.hids is not None:
            self.hids.on_event = self._hids_event
        if not self.jails and self.hids is None and not self.fim_on:
            raise WatchError(
                "no jail is enabled, no [hids] log is set and [fim] is off: nothing to watch"
            )

    # -- start -----------------------------------------------------------------

    def start(self) -> int:
        """Install the firewall part, restore stored bans, start the readers; bans restored."""
        scopes = [jail_scope(name, state.settings) for name, state in self.jails.items()]
        self.backend.install(scopes)
        restored = self.restore()
        for state in self.jails.values():
            self._start_sources(state)
        if self.hids is not None:
            self._start_hids_sources(self.settings.hids.logs)
        if self.alerts is not None:
            self.alerts.start()
            interval = self.settings.hids.rootcheck_interval
            if interval > 0:
                first = min(interval, ROOTCHECK_FIRST_DELAY)
                self._spawn_periodic("rootcheck", first, interval, rootcheck_round)
            self._start_fim()
        return restored

    def restore(self) -> int:
        """Make the kernel hold exactly the active stored bans (one batch); drop expired ones.

        The store is the truth: every ban is stored before it is enforced, by
        the daemon and by ``rampart ban add`` alike.
        """
        now = self.clock()
        self.store.purge_expired(now)
        bans = [self._known_jail(ban) for ban in self.store.active_stored(now)]
        # A log-only jail's bans are on record, never in the kernel.
        bans = [ban for ban in bans if ban.jail not in self.jails or self._enforced(ban.jail)]
        self.backend.restore(bans, now)
        return len(bans)

    def _known_jail(self, ban: StoredBan) -> StoredBan:
        """A ban of a jail no longer configured is kept, on all ports ("manual")."""
        if ban.jail in self.jails or ban.jail == "manual":
            return ban
        return ban._replace(jail="manual")

    def _start_sources(self, state: JailState) -> None:
        jail = state.settings
        paths = _expand(jail.logpath)
        # auto: the files if one exists (Debian 12 may have no auth.log), else the journal.
        use_files = jail.source == "file" or (
            jail.source == "auto" and any(p.exists() for p in paths)
        )
        if use_files:
            if not paths:
                raise WatchError(f"jail {state.name}: no log file matches {list(jail.logpath)}")
            for path in paths:
                self._spawn(state, f"file:{path}", self._follow_file, path)
            return
        matches = jail.journalmatch
        if matches is None:
            matches = state.filter.spec.journalmatch
        self._spawn(state, f"journal:{state.name}", self._follow_journal, tuple(matches))

    def _start_hids_sources(self, logs: Sequence[str]) -> None:
        """One reader per HIDS log file (globs expanded now) and one for the journal."""
        files = [name for name in logs if name != "journal"]
        for path in _expand(files):
            self._spawn_reader(f"hids:file:{path}", self._follow_hids_file, path)
        if "journal" in logs:
            self._spawn_reader("hids:journal", self._follow_hids_journal, None)

    def _spawn_reader(self, source: str, target: Callable[..., None], arg: Any) -> None:
        self.hids_sources.append(source)
        thread = threading.Thread(
            target=self._guarded, args=(target, source, arg), name=source, daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _start_fim(self) -> None:
        """Real-time FIM and/or a check every [fim] check_interval; without a baseline, one line."""
        fim = self.settings.fim
        if fim.realtime:
            from rampart.fim import RealtimeMonitor

            def seen(event: Event) -> None:
                self._put(_EventsBatch([event], "fim"))

            monitor = RealtimeMonitor(fim, self.settings.state_dir, seen)
            try:
                monitor.start()
            except RampartError as error:
                log.error("fim: no real-time monitoring: %s", error)
            else:
                self._fim_monitor = monitor
                self._detectors.append("fim:realtime")
        if fim.check_interval > 0:
            rounds = FimRounds(fim, self.settings.state_dir)
            self._spawn_periodic("fim", fim.check_interval, fim.check_interval, rounds)

    def _spawn_periodic(
        self, source: str, first: float, interval: float, detect: Callable[[], list[Event]]
    ) -> None:
        """Run ``detect`` after ``first`` seconds, then every ``interval``, in its own thread."""

        def periodic() -> None:
            wait = first
            while not self._readers_stop.wait(wait):
                try:
                    events = detect()
                except RampartError as error:  # one line; tried again next time
                    log.error("%s: %s", source, error)
                    events = []
                except Exception as error:  # a detector's bug must never stop the bans
                    log.error("%s failed: %s: %s", source, type(error).__name__, error)
                    events = []
                if events and not self._put(_EventsBatch(events, source)):
                    return
                wait = interval

        self._detectors.append(source)
        thread = threading.Thread(target=self._guarded, args=(periodic,), name=source, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _spawn(self, state: JailState, source: str, target: Callable[..., None], arg: Any) -> None:
        state.sources.append(source)
        thread = threading.Thread(
            target=self._guarded, args=(target, state, source, arg), name=source, daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _guarded(self, target: Callable[..., None], *args: Any) -> None:
        try:
            target(*args)
        except BaseException as error:  # reported by the main loop, which stops the daemon
            self._errors.put(error)

    # -- readers (threads) ---------------------------------------------------------

    def _follow_file(self, state: JailState, source: str, path: Path) -> None:
        saved = self._positions.get(source)
        position = TailPosition(**saved) if isinstance(saved, dict) else None
        matcher = LineMatcher(state.filter, now=self.clock, check_find_time=False)
        tail = FileTail(path, position, use_inotify=self.use_inotify, read_limit=READ_BYTES)
        with tail:
            while not self._readers_stop.is_set():
                lines = tail.read()
                if not lines:
                    tail.wait(0.5)
                    continue
                for start in range(0, len(lines), BATCH_LINES):
                    chunk = lines[start : start + BATCH_LINES]
                    failures = [
                        Seen(failure.host, failure.time)
                        for lineno, text in chunk
                        for failure in matcher.process(lineno, text)[1]
                    ]
                    last = start + BATCH_LINES >= len(lines)
                    reached = asdict(tail.position) if last else None
                    if not self._put(_Batch(state.name, failures, source, reached)):
                        return

    def _follow_journal(self, state: JailState, source: str, matches: tuple[str, ...]) -> None:
        saved = self._positions.get(source)
        cursor = saved.get("cursor") if isinstance(saved, dict) else None
        matcher = LineMatcher(state.filter, now=self.clock)
        journal = JournalSource(matches, cursor=cursor if isinstance(cursor, str) else None)
        with journal:
            lineno = 0
            while not self._readers_stop.is_set():
                entries = journal.read(timeout=0.5)
                if not entries:
                    if journal.finished:
                        raise SourceError("journalctl stopped")
                    continue
                failures: list[Seen] = []
                for entry in entries:
                    lineno += 1
                    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.time))
                    found = matcher.process_dated(lineno, entry.text, stamp, entry.time)[1]
                    failures += [Seen(failure.host, failure.time) for failure in found]
                batch = _Batch(state.name, failures, source, {"cursor": journal.cursor})
                if not self._put(batch):
                    return

    def _follow_hids_file(self, source: str, path: Path) -> None:
        saved = self._positions.get(source)
        position = TailPosition(**saved) if isinstance(saved, dict) else None
        tail = FileTail(path, position, use_inotify=self.use_inotify, read_limit=READ_BYTES)
        with tail:
            while not self._readers_stop.is_set():
                lines = tail.read()
                if not lines:
                    tail.wait(0.5)
                    continue
                for start in range(0, len(lines), BATCH_LINES):
                    chunk = [text for _, text in lines[start : start + BATCH_LINES]]
                    last = start + BATCH_LINES >= len(lines)
                    reached = asdict(tail.position) if last else None
                    if not self._put(_LinesBatch(chunk, source, reached)):
                        return

    def _follow_hids_journal(self, source: str, _unused: None) -> None:
        saved = self._positions.get(source)
        cursor = saved.get("cursor") if isinstance(saved, dict) else None
        journal = JournalSource((), cursor=cursor if isinstance(cursor, str) else None)
        with journal:
            while not self._readers_stop.is_set():
                entries = journal.read(timeout=0.5)
                if not entries:
                    if journal.finished:
                        raise SourceError("journalctl stopped")
                    continue
                # One batch per entry time would be exact; the last entry's time is
                # close enough for lines that carry no date of their own.
                batch = _LinesBatch(
                    [entry.text for entry in entries],
                    source,
                    {"cursor": journal.cursor},
                    journal=True,
                    when=entries[-1].time,
                )
                if not self._put(batch):
                    return

    def _put(self, batch: "_AnyBatch") -> bool:
        """Queue ``batch``, waiting while the queue is full; False once the daemon stops."""
        while not self._readers_stop.is_set():
            try:
                self._queue.put(batch, timeout=0.25)
                return True
            except queue.Full:
                continue
        return False

    # -- main loop ---------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Handle failures until ``stop`` is set (or a reader fails: WatchError)."""
        last_save = last_expiry = time.monotonic()
        try:
            while not stop.is_set():
                batches = self._next_batches(timeout=0.25)
                if batches:
                    self.handle(batches)
                if self.reload_requested.is_set():
                    self.reload_requested.clear()
                    if self.hids is not None and self.hids.reload():
                        self._check_responses(fatal=False)
                monotonic = time.monotonic()
                if monotonic - last_save >= SAVE_INTERVAL:
                    self.save()
                    last_save = monotonic
                if monotonic - last_expiry >= EXPIRY_INTERVAL:
                    self.expire()
                    last_expiry = monotonic
                if not self._errors.empty() and not stop.is_set():
                    # (A signal that stops us reaches journalctl too: not a failure then.)
                    error = self._errors.get()
                    raise WatchError(f"a log source failed: {error}") from error
        finally:
            self.close()

    def _next_batches(self, timeout: float) -> "list[_AnyBatch]":
        try:
            batches = [self._queue.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                batches.append(self._queue.get_nowait())
            except queue.Empty:
                return batches

    def handle(self, batches: "Sequence[_AnyBatch]") -> list[Ban]:
        """Count the failures of ``batches``; store and apply the bans they call for.

        Batches of HIDS lines go through the log rules (their events to ``on_event``).
        """
        now = self.clock()
        bans: dict[object, Ban] = {}
        for batch in batches:
            if isinstance(batch, _EventsBatch):
                if self.alerts is not None:
                    for event in batch.events:
                        self.alerts.publish(event)
                continue
            if isinstance(batch, _LinesBatch):
                if self.hids is not None:
                    self.hids.feed(
                        batch.lines, _location(batch.source), journal=batch.journal, when=batch.when
                    )
                if batch.position is not None:
                    self._positions[batch.source] = batch.position
                continue
            state = self.jails[batch.jail]
            for failure in batch.failures:
                ban = self._count(state, failure, now)
                if ban is not None:
                    bans[(ban.jail, ban.target)] = ban
            if batch.position is not None:
                self._positions[batch.source] = batch.position
        if bans:
            self.apply(list(bans.values()), now)
        return list(bans.values())

    def _count(self, state: JailState, failure: Seen, now: float) -> Ban | None:
        state.failures += 1
        settings = state.settings
        target = ban_target(failure.host, settings.ipv6_prefix)
        if target is None:
            log.warning("jail %s: %r is not an address; not banned", state.name, failure.host)
            return None
        when = failure.time if failure.time is not None else now
        if state.counter.add(target, when, now) < settings.maxretry:
            return None
        refusal = self.guard.refusal(
            target, ignoreip=settings.ignoreip, ignoreself=settings.ignoreself
        )
        if refusal is not None:
            log.warning("jail %s: not banning: %s", state.name, refusal)
            return None
        earlier = self.store.times_banned(target)
        return make_ban(target, state.name, now, ban_length(settings, earlier))

    def apply(self, bans: list[Ban], now: float) -> None:
        """Store (one transaction), then enforce (log-only jails: stored and logged only)."""
        self.store.add_many(bans)
        for ban in bans:
            if ban.jail in self.jails:
                self.jails[ban.jail].bans += 1
            left = ban.remaining(now)
            how_long = "for ever" if left is None else f"for {left:.0f} s"
            log.warning("jail %s: banned %s %s", ban.jail, ban.target, how_long)
        enforced = [b for b in bans if b.jail not in self.jails or self._enforced(b.jail)]
        if enforced:
            self.backend.ban(enforced, now)

    def _hids_event(self, event: Event) -> None:
        """An event of the log rules: stored, delivered, and answered if its rule says so."""
        if self.hids is None or self.alerts is None:
            return
        rule = self.hids.engine.ruleset.rules.get(event.rule_id)
        self.alerts.publish(event, response=rule.spec.response if rule is not None else None)

    def _check_responses(self, *, fatal: bool = True) -> None:
        """Every response a rule names must be configured (at a reload: logged, not fatal)."""
        if self.hids is None:
            return
        rules = self.hids.engine.ruleset.rules.values()
        unknown = unknown_responses(self.settings, [rule.spec.response for rule in rules])
        if not unknown:
            return
        message = f"rules name responses that [alerts.responses] does not define: {unknown}"
        if fatal:
            raise WatchError(message)
        log.error("hids: %s; those rules will respond with nothing", message)

    def _enforced(self, jail: str) -> bool:
        return self.jails[jail].settings.action == "ban"

    def expire(self) -> None:
        """Lift ended bans the kernel cannot end by itself (longer than its timeouts allow).

        Each is lifted in its own jail only: the same address may be banned
        by another jail for longer.
        """
        now = self.clock()
        over: dict[str, list[BanTarget]] = {}
        for ban in self.store.expired(now):
            jail = ban.jail if ban.jail in self.jails else "manual"
            over.setdefault(jail, []).append(ban.target)
        for jail, targets in over.items():
            self.backend.unban(targets, jail)
            for target in targets:
                log.info("jail %s: unbanned %s (ban over)", jail, target)
        if over:
            self.store.purge_expired(now)

    # -- state -------------------------------------------------------------------

    def save(self) -> None:
        """Write positions and the status file (atomically)."""
        _write_json(self._positions_path, self._positions)
        _write_json(self._status_path, self.status())

    def status(self) -> dict[str, Any]:
        now = self.clock()
        return {
            "pid": os.getpid(),
            "time": now,
            "jails": {
                name: {
                    "filter": state.filter.spec.name,
                    "sources": state.sources,
                    "failures": state.failures,
                    "failing": state.counter.failing(now),
                    "tracked": len(state.counter),
                    "forgotten": state.counter.forgotten,
                    "bans": state.bans,
                }
                for name, state in self.jails.items()
            },
            "hids": None
            if self.hids is None
            else {
                "sources": self.hids_sources,
                "lines": self.hids.lines,
                "events": self.hids.events,
            },
            "detectors": self._detectors,
            "alerts": None
            if self.alerts is None
            else {"stored": self.alerts.published, "responses": self.alerts.responses},
        }

    def close(self) -> None:
        """Stop the readers, handle what they queued, save."""
        self._readers_stop.set()
        if self._fim_monitor is not None:
            self._fim_monitor.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        leftovers = self._next_batches(timeout=0)
        # Failures after a source's last saved position are read again at the next
        # start: handling them now as well would count them twice. Events of other
        # detectors are found only once: they are always handled.
        complete = {
            b.source: index
            for index, b in enumerate(leftovers)
            if not isinstance(b, _EventsBatch) and b.position
        }
        kept = [
            b
            for index, b in enumerate(leftovers)
            if isinstance(b, _EventsBatch) or index <= complete.get(b.source, -1)
        ]
        if kept:
            self.handle(kept)
        if self.alerts is not None:
            self.alerts.close()
        self.save()


def _location(source: str) -> str:
    """What an event names as its location: the log path, or ``journal``."""
    return source.removeprefix("hids:").removeprefix("file:")


def _expand(patterns: Sequence[str]) -> list[Path]:
    """Files matching each glob; a plain path is kept even when missing (waited for)."""
    paths: list[Path] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            paths += [Path(p) for p in sorted(glob.glob(pattern)) if not p.endswith((".gz", ".xz"))]
        else:
            paths.append(Path(pattern))
    return list(dict.fromkeys(paths))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        log.warning("%s: unreadable (%s); starting from scratch", path, error)
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write whole or not at all (a crash never leaves half a file)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = json.dumps(data, indent=1, sort_keys=True)
    write_atomically(path, lambda out: out.write(text))

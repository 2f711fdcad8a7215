"""Follow the systemd journal through ``journalctl -o json`` and keep its cursor.

journalctl rather than the libsystemd bindings: no compiled dependency, and it
is on every host that has a journal. Entries become the text Fail2ban's
systemd backend builds (``[HOST ]IDENT[PID]: MESSAGE``, newlines as ``\\n``) so
Fail2ban filters match them unchanged. The cursor of the last entry returned
is kept; a restart with it continues after that entry.

system.run waits for a program to finish; ``--follow`` never does, so this is
the one place that starts a program with Popen (argument list, no shell).
"""

import json
import os
import re
import select
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Any

from rampart.sources.errors import SourceError

MATCH = re.compile(r"[A-Z_][A-Z0-9_]{0,63}=[A-Za-z0-9_.@:/+,=-]{1,256}", re.ASCII)
"""A journalctl match (``_SYSTEMD_UNIT=sshd.service``), or ``+`` between alternatives."""
CURSOR = re.compile(r"[A-Za-z0-9=;_.-]{1,512}", re.ASCII)


@dataclass(frozen=True)
class JournalEntry:
    """One journal entry as a log line, with what is needed to continue after it."""

    text: str
    time: float
    """Epoch seconds: ``_SOURCE_REALTIME_TIMESTAMP`` if set, else ``__REALTIME_TIMESTAMP``."""
    cursor: str


def _field(value: Any) -> str:
    """A JSON field as text: a string, a byte array (list of ints), or several values."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, int) for item in value):
        return bytes(item & 0xFF for item in value).decode("utf-8", "replace")
    if isinstance(value, list):
        return " ".join(_field(item) for item in value)  # a field set more than once
    return str(value)


def _number(value: Any) -> int | None:
    try:
        return int(_field(value), 0)
    except ValueError:
        return None


def format_entry(entry: dict[str, Any]) -> str:
    """The line Fail2ban's systemd backend makes of a journal entry."""
    parts = [host] if (host := _field(entry.get("_HOSTNAME"))) else []
    ident = _field(entry.get("SYSLOG_IDENTIFIER")) or _field(entry.get("_COMM"))
    if ident:
        pid = _field(entry.get("SYSLOG_PID")) or _field(entry.get("_PID"))
        if pid:
            number = _number(pid)
            ident += f"[{number}]" if number is not None else f"[{pid}]"
        parts.append(ident + ":")
        if ident == "kernel":
            monotonic = _number(entry.get("_SOURCE_MONOTONIC_TIMESTAMP"))
            if monotonic is None:
                monotonic = _number(entry.get("__MONOTONIC_TIMESTAMP")) or 0
            parts.append(f"[{monotonic / 1e6:12.6f}]")
    parts.append(_field(entry.get("MESSAGE")))
    return " ".join(parts).replace("\n", "\\n")


def parse_entry(line: bytes) -> JournalEntry:
    """A JournalEntry from one line of ``journalctl -o json``."""
    try:
        entry = json.loads(line)
    except ValueError:
        raise SourceError(f"journalctl: not a JSON entry: {line[:80]!r}") from None
    if not isinstance(entry, dict):
        raise SourceError(f"journalctl: not a JSON object: {line[:80]!r}")
    stamp = _number(entry.get("_SOURCE_REALTIME_TIMESTAMP"))
    if stamp is None:
        stamp = _number(entry.get("__REALTIME_TIMESTAMP")) or 0
    return JournalEntry(format_entry(entry), stamp / 1e6, _field(entry.get("__CURSOR")))


def check_matches(matches: Sequence[str]) -> list[str]:
    """``matches`` if each is FIELD=VALUE (or ``+``); SourceError naming the first bad one."""
    for match in matches:
        if match != "+" and not MATCH.fullmatch(match):
            raise SourceError(
                f"journal match {match!r} is not FIELD=VALUE"
                " (upper-case field, value of letters, digits and ._@:/+,=-)"
            )
    return list(matches)


class JournalSource:
    """New journal entries, from a ``journalctl --follow`` child process.

    With ``cursor`` it continues after that entry; otherwise from ``since``
    (epoch seconds) or, with neither, with entries that arrive from now on.
    ``follow=False`` reads what is there and stops (replay, tests).
    """

    def __init__(
        self,
        matches: Sequence[str] = (),
        *,
        cursor: str | None = None,
        since: float | None = None,
        follow: bool = True,
        journalctl: str = "journalctl",
    ) -> None:
        if cursor is not None and not CURSOR.fullmatch(cursor):
            raise SourceError(f"journal cursor {cursor[:80]!r} is not a journald cursor")
        self.matches = check_matches(matches)
        self.cursor = cursor
        self.since = since
        self.follow = follow
        self.journalctl = journalctl
        self._process: subprocess.Popen[bytes] | None = None
        self._errors: IO[bytes] | None = None
        self._buffer = b""
        self.finished = False
        """True once journalctl has ended and everything it wrote was returned."""

    def argv(self) -> list[str]:
        """The journalctl command line; starts after the kept cursor when there is one."""
        argv = [self.journalctl, "--output=json", "--all", "--no-pager", "--quiet"]
        if self.follow:
            argv.append("--follow")
        if self.cursor is not None:
            argv.append(f"--after-cursor={self.cursor}")
        elif self.since is not None:
            argv.append(f"--since=@{self.since:.6f}")
        else:
            argv.append("--lines=0")
        return [*argv, *self.matches]

    def start(self) -> None:
        """Start journalctl (read() does it when needed)."""
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        try:
            self._process = subprocess.Popen(
                self.argv(), stdout=subprocess.PIPE, stderr=self._errors, stdin=subprocess.DEVNULL
            )
        except FileNotFoundError:
            raise SourceError(f"{self.journalctl}: program not found (is systemd there?)") from None
        except OSError as error:
            raise SourceError(f"{self.journalctl}: cannot run: {error.strerror}") from None
        self._buffer = b""
        self.finished = False

    def read(self, timeout: float = 0.0) -> list[JournalEntry]:
        """Entries available within ``timeout`` seconds (none waited for once some came)."""
        if self._process is None:
            self.start()
        process = self._process
        if process is None or process.stdout is None or self.finished:
            return []
        fd = process.stdout.fileno()
        deadline = time.monotonic() + timeout
        entries: list[JournalEntry] = []
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([fd], [], [], 0.0 if entries else remaining)
            if not ready:
                return entries
            data = os.read(fd, 1 << 20)
            lines = (self._buffer + data).split(b"\n")
            self._buffer = lines.pop() if data else b""
            for line in lines:
                if line.strip():
                    entries.append(parse_entry(line))
                    self.cursor = entries[-1].cursor or self.cursor
            if not data:
                self._end(process)
                return entries

    def entries(self, timeout: float = 1.0) -> Iterator[JournalEntry]:
        """Every entry as it arrives, until journalctl ends (never, when following)."""
        while not self.finished:
            yield from self.read(timeout)

    def _end(self, process: "subprocess.Popen[bytes]") -> None:
        status = process.wait()
        self.finished = True
        if status == 0:
            return
        said: list[str] = []
        if self._errors is not None:
            self._errors.seek(0)
            said = self._errors.read().decode("utf-8", "replace").strip().splitlines()
        raise SourceError(f"{self.journalctl}: {said[-1] if said else f'exit status {status}'}")

    def close(self) -> None:
        """Stop journalctl."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None
        if self._errors is not None:
            self._errors.close()
            self._errors = None

    def __enter__(self) -> "JournalSource":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

"""Secrets in the lines commits added (``git log -p``) or the index holds (``--staged``).

git's patch is read as a stream (no shell, no whole history in memory). The
lines one commit added to one file are joined and scanned as one text, so a
private key's header and body are seen together; each match is mapped back
to its line in that commit's version of the file. A secret is reported once
per rule and file, at the oldest commit that added it.
"""

import re
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rampart.errors import RampartError
from rampart.scan.detector import Detector, Match
from rampart.scan.finding import Finding

GIT_TIMEOUT = 600.0
BIG_FILE = "1m"
"""Files larger than this are treated as binary by git (no patch, so not searched)."""
COMMIT_MARK = b"\x01"
_DIFF_OPTIONS = (
    "-p",
    "-U0",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--no-renames",
    "--diff-filter=d",
)
_HUNK = re.compile(rb"^@@ -\d+(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class GitError(RampartError):
    """git cannot give the history or the index (not a repository, git missing ...)."""


@dataclass
class PatchScan:
    """What a patch held: the secrets (each once) and how many commits and bytes were read."""

    findings: list[Finding] = field(default_factory=list)
    commits: int = 0
    bytes: int = 0


def git_base(repository: Path, git: str = "git") -> list[str]:
    return [git, "--no-pager", "-c", f"core.bigFileThreshold={BIG_FILE}", "-C", str(repository)]


def scan_history(
    repository: Path, detector: Detector, *, git: str = "git", timeout: float = GIT_TIMEOUT
) -> PatchScan:
    """Every secret ever added on any ref of ``repository``, oldest commit first."""
    command = [
        *git_base(repository, git),
        "log",
        "--all",
        "--topo-order",
        "--reverse",
        *_DIFF_OPTIONS,
        f"--format={COMMIT_MARK.decode()}%H",
    ]
    return _scan_command(command, f"{repository}: git log", detector, timeout, empty_ok=True)


def scan_staged(
    repository: Path, detector: Detector, *, git: str = "git", timeout: float = GIT_TIMEOUT
) -> PatchScan:
    """The secrets in what is staged (the lines ``git commit`` would add)."""
    command = [*git_base(repository, git), "diff", "--cached", *_DIFF_OPTIONS]
    return _scan_command(command, f"{repository}: git diff", detector, timeout, empty_ok=False)


def _scan_command(
    command: list[str], label: str, detector: Detector, timeout: float, *, empty_ok: bool
) -> PatchScan:
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors)
        except FileNotFoundError:
            raise GitError(f"{command[0]}: program not found (is it installed?)") from None
        except OSError as error:
            raise GitError(f"{command[0]}: cannot run: {error.strerror}") from None
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        stdout = process.stdout
        if stdout is None:  # pragma: no cover  (PIPE was asked for)
            raise GitError(f"{label}: no output stream")
        try:
            result = scan_patch(stdout, detector.find)
        finally:
            stdout.close()
            status = process.wait()
            timer.cancel()
        errors.seek(0)
        said = errors.read().decode("utf-8", "replace").strip().splitlines()
    if status < 0:
        raise GitError(f"{label}: no answer within {timeout:g} s")
    if status != 0:
        if empty_ok and said and "does not have any commits" in said[-1]:
            return PatchScan()
        raise GitError(f"{label}: {said[-1] if said else f'exit status {status}'}")
    return result


Find = Callable[[bytes, str], list[Match]]


def scan_patch(lines: Iterable[bytes], find: Find) -> PatchScan:
    """The secrets in a ``-U0`` patch (``git log`` with commit marks, or ``git diff``)."""
    result = PatchScan()
    seen: set[tuple[str, str, str]] = set()
    for commit, path, added, numbers in _added_by_file(lines, result):
        text = b"\n".join(added)
        result.bytes += len(text)
        for match in find(text, path):
            secret = match.secret.decode("utf-8", "backslashreplace")
            finding = Finding(
                match.rule.id,
                match.rule.description,
                path,
                numbers[match.line - 1],
                secret,
                commit,
            )
            key = (finding.rule_id, path, finding.fingerprint)
            if key not in seen:
                seen.add(key)
                result.findings.append(finding)
    return result


def _added_by_file(
    lines: Iterable[bytes], result: PatchScan
) -> Iterator[tuple[str | None, str, list[bytes], list[int]]]:
    """(commit, path, added lines, their line numbers) for each file of each commit."""
    commit: str | None = None
    path = ""
    added: list[bytes] = []
    numbers: list[int] = []
    old = new = 0  # lines of the current hunk still to come
    number = 0
    for raw in lines:
        line = raw[:-1] if raw.endswith(b"\n") else raw
        if old > 0 or new > 0:
            if line.startswith(b"+"):
                added.append(line[1:])
                numbers.append(number)
                number += 1
                new -= 1
            elif line.startswith(b"-"):
                old -= 1
            elif not line.startswith(b"\\"):  # a malformed hunk: resynchronise
                old = new = 0
            continue
        if line.startswith(COMMIT_MARK) or line.startswith(b"diff --git "):
            if added:
                yield commit, path, added, numbers
            added, numbers = [], []
            if line.startswith(COMMIT_MARK):
                commit = line[1:].strip().decode("ascii", "replace")
                result.commits += 1
        elif line.startswith(b"+++ "):
            path = _diff_path(line[4:])
        elif line.startswith(b"@@ ") and (hunk := _HUNK.match(line)):
            old = int(hunk[1]) if hunk[1] is not None else 1
            number = int(hunk[2])
            new = int(hunk[3]) if hunk[3] is not None else 1
    if added:
        yield commit, path, added, numbers


def _diff_path(raw: bytes) -> str:
    """The path in a ``+++ b/path`` line (git quotes unusual names in C style)."""
    text = raw.rstrip(b"\t").decode("utf-8", "surrogateescape")
    if text.startswith('"') and text.endswith('"'):
        escaped = text[1:-1].encode("utf-8", "surrogateescape").decode("unicode_escape")
        text = escaped.encode("latin-1", "replace").decode("utf-8", "replace")
    return text[2:] if text.startswith("b/") else text

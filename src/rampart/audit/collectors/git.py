"""Facts about git repositories: credentials committed anywhere in their history.

Every line ever added on any ref is searched by ``rampart scan``'s own
engine and rules (``rules/secrets.toml``, :mod:`rampart.scan`): one set of
rules for the scanner, the pre-commit hook and this audit. A secret is
reported once (by rule, file and a hash of the secret), at the commit that
first added it, and never as itself: only a redacted form (its first
characters and its length) leaves this module, so a finding, a report or a
log never repeats the credential.
"""

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rampart.audit.interface import Unavailable
from rampart.errors import RampartError
from rampart.scan import Detector, Rule, load_rules, redact, scan_history
from rampart.system import run

GIT_TIMEOUT = 300.0
NO_REPOSITORIES = "no git repositories configured ([audit] git_repositories)"
PASSWORD_RULE = "password-assignment"  # noqa: S105  (a rule id)
"""The rule whose allow list says what a stand-in password (changeme, ${VAR}) looks like."""

__all__ = [
    "COLLECTORS",
    "Match",
    "RepositoryScan",
    "Secret",
    "collect_git_secrets",
    "find_secrets",
    "is_placeholder",
    "redact",
    "scan_repository",
    "shipped_detector",
]


@functools.cache
def shipped_detector() -> Detector:
    """The detector over rampart's shipped rules, built once per process."""
    return Detector(load_rules())


def __getattr__(name: str) -> Any:
    """``RULES``: the shipped rules, read on first use rather than at import."""
    if name == "RULES":
        rules: tuple[Rule, ...] = shipped_detector().rules.rules
        return rules
    raise AttributeError(name)


@dataclass(frozen=True)
class Match:
    """Where a rule matched in one text; ``secret`` is the credential itself."""

    rule: str
    secret: str


def find_secrets(line: str, path: str, following: str = "") -> Iterator[Match]:
    """The credentials in one added ``line`` of ``path`` (``following``: the next added line)."""
    text = f"{line}\n{following}" if following else line
    for found in shipped_detector().find(text.encode(), path):
        if found.line == 1:
            yield Match(found.rule.description, found.secret.decode("utf-8", "backslashreplace"))


def is_placeholder(value: str) -> bool:
    """Whether an assigned password is a stand-in (changeme, xxx, ${VAR}, <...>), not a secret."""
    value = value.strip()
    rules = shipped_detector().rules
    return not value or rules.by_id(PASSWORD_RULE).allow.secret(value.encode())


@dataclass(frozen=True)
class Secret:
    """A committed credential, as the audit may show it (never the secret itself)."""

    commit: str
    file: str
    line: int
    rule: str
    redacted: str


@dataclass(frozen=True)
class RepositoryScan:
    path: str
    secrets: list[Secret] = field(default_factory=list)
    commits: int = 0
    error: str | None = None
    """Why the repository could not be searched (then ``secrets`` means nothing)."""


def scan_repository(
    path: Path, *, git: str = "git", timeout: float = GIT_TIMEOUT
) -> RepositoryScan:
    """Every credential ever added to ``path``'s history; Unavailable if it is not a repository."""
    where = str(path)
    if not path.is_dir():
        raise Unavailable(f"{where} is not a git repository (no such directory)")
    try:
        probe = run([git, "-C", where, "rev-parse", "--git-dir"], timeout=30, check=False)
        if probe.returncode != 0:
            said = (probe.stderr or probe.stdout).strip().splitlines()
            why = said[-1] if said else f"exit status {probe.returncode}"
            raise Unavailable(f"{where} is not a git repository ({why})")
        patch = scan_history(path, shipped_detector(), git=git, timeout=timeout)
    except RampartError as error:  # git missing or failing, a broken rules file
        raise Unavailable(str(error)) from None
    secrets = [
        Secret(f.commit or "", f.path, f.line, f.description, f.redacted) for f in patch.findings
    ]
    return RepositoryScan(where, secrets, patch.commits)


def collect_git_secrets(
    *, repositories: Iterable[Path], git: str = "git", timeout: float = GIT_TIMEOUT
) -> list[RepositoryScan]:
    """Each repository's committed credentials; one that cannot be searched carries why."""
    scans = []
    for path in repositories:
        try:
            scans.append(scan_repository(path, git=git, timeout=timeout))
        except Unavailable as why:
            scans.append(RepositoryScan(str(path), error=str(why)))
    if not scans:
        raise Unavailable(NO_REPOSITORIES)
    return scans


def collect_configured_git_secrets() -> list[RepositoryScan]:
    """:func:`collect_git_secrets` over ``[audit] git_repositories``."""
    from rampart.config import load_settings

    try:
        repositories = load_settings().audit.git_repositories
    except RampartError as error:
        raise Unavailable(str(error)) from None
    return collect_git_secrets(repositories=repositories)


COLLECTORS: dict[str, Callable[[], Any]] = {"git_secrets": collect_configured_git_secrets}

"""Facts about git repositories: credentials committed anywhere in their history.

Every line ever added on any ref (``git log --all -p``) is matched against
:data:`RULES`, a short list of well-known credential shapes that ``rampart
scan`` reuses. A secret is reported once (by rule, file and a hash of the
secret), at the commit that first added it, and never as itself: only a
redacted form (its first characters and its length) leaves this module, so a
finding, a report or a log never repeats the credential.
"""

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from rampart.audit.interface import Unavailable
from rampart.errors import RampartError
from rampart.system import CommandError, run

GIT_TIMEOUT = 300.0
BIG_FILE = "1m"
"""Files larger than this are treated as binary by git (no diff, so not searched)."""
NO_REPOSITORIES = "no git repositories configured ([audit] git_repositories)"


class Rule(NamedTuple):
    """A credential shape: the secret is the group named ``secret``, else the whole match."""

    name: str
    pattern: re.Pattern[str]
    config_files_only: bool = False
    """Only in configuration-like files (.env, .ini, .yaml ...), where the shape is weak."""


_QUOTED_OR_BARE = r"""(?:"(?P<dq>[^"\n]*)"|'(?P<sq>[^'\n]*)'|(?P<bare>[^\s"'#;,][^#;,\n]*))"""

RULES: tuple[Rule, ...] = (
    Rule("AWS access key id", re.compile(r"\b(?P<secret>(?:AKIA|ASIA)[0-9A-Z]{16})\b")),
    Rule(
        "AWS secret access key",
        re.compile(
            r"(?i)aws_?secret_?access_?key[\"']?\s*[:=]>?\s*[\"']?"
            r"(?P<secret>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"
        ),
    ),
    Rule("private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    Rule(
        "GitHub token",
        re.compile(r"\b(?P<secret>gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,})\b"),
    ),
    Rule("Slack token", re.compile(r"\b(?P<secret>xox[baprs]-[A-Za-z0-9-]{10,})")),
    Rule(
        "password assignment",
        re.compile(
            r"(?i)(?:^|[\s\"'{,])[\"']?[\w.-]*(?:password|passwd)[\"']?\s*(?:=|:)\s*"
            + _QUOTED_OR_BARE
        ),
        config_files_only=True,
    ),
)

CONFIG_SUFFIXES = frozenset(
    {".env", ".ini", ".cfg", ".conf", ".cnf", ".toml", ".yaml", ".yml", ".json"}
    | {".properties", ".tfvars", ".netrc", ".pgpass"}
)

_PLACEHOLDER = re.compile(
    r"""(?ix)
    ^(?:
        x+ | \*+ | \.+ | -+ | _+ | \?+             # xxx, ***, ...
      | changeme | change[_-]?me | changeit | replaceme | todo | tbd | fixme
      | password | passwd | secret | example | sample | dummy | test | none | null | nil
      | true | false | redacted | hidden | empty | default
      | (?:your|my|the|some)[_-]?\w*                # your_password, my-secret
      | \$\{?[\w.:-]+\}?                             # $VAR, ${VAR}, ${VAR:-x}
      | \$\(.*\) | %\(\w+\)s | %\w+% | \{\{.*\}\} | \{[\w.]+\} | <.*> | \[.*\]
      | env\(.*\) | !\w+.*                           # env(VAR), YAML tags (!vault ...)
    )$
    """
)


def is_placeholder(value: str) -> bool:
    """Whether an assigned password is a stand-in (changeme, xxx, ${VAR}, <...>), not a secret."""
    return not value.strip() or bool(_PLACEHOLDER.match(value.strip()))


def is_config_file(path: str) -> bool:
    """Configuration-like names: .env and friends, .ini, .conf, .yaml, .json, .toml ..."""
    name = PurePosixPath(path).name.lower()
    suffix = PurePosixPath(name).suffix
    return (
        suffix in CONFIG_SUFFIXES
        or name.startswith(".env")
        or name.endswith(".env")
        or name in ("netrc", "pgpass", ".netrc", ".pgpass")
    )


def redact(secret: str) -> str:
    """``AKIA… (20 chars)``: the first 4 characters, shown only when they leave most unseen."""
    shown = secret[:4] if len(secret) >= 12 else ""
    return f"{shown}… ({len(secret)} chars)"


@dataclass(frozen=True)
class Match:
    """Where a rule matched in one text; ``secret`` is the credential itself."""

    rule: str
    secret: str


def find_secrets(line: str, path: str, following: str = "") -> Iterator[Match]:
    """The credentials in one added ``line`` of ``path`` (``following``: the next added line).

    A private key's header is the same for every key, so its secret is the
    header with the first line of the key body, which tells keys apart.
    """
    for rule in RULES:
        if rule.config_files_only and not is_config_file(path):
            continue
        for found in rule.pattern.finditer(line):
            groups = found.groupdict()
            if "secret" in groups:
                secret = groups["secret"]
            elif {"dq", "sq", "bare"} <= groups.keys():
                secret = next(
                    (groups[k] for k in ("dq", "sq", "bare") if groups[k] is not None), ""
                ).strip()
                if is_placeholder(secret):
                    continue
            else:
                secret = found.group(0) + "\n" + following.strip()
            yield Match(rule.name, secret)


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


_HUNK = re.compile(r"^@@ -\d+(?:,(?P<old>\d+))? \+(?P<start>\d+)(?:,(?P<new>\d+))? @@")
_COMMIT_MARK = "\x01"


def scan_repository(
    path: Path, *, git: str = "git", timeout: float = GIT_TIMEOUT
) -> RepositoryScan:
    """Every credential ever added to ``path``'s history; Unavailable if it is not a repository."""
    where = str(path)
    if not path.is_dir():
        raise Unavailable(f"{where} is not a git repository (no such directory)")
    base = [git, "--no-pager", "-c", f"core.bigFileThreshold={BIG_FILE}", "-C", where]
    try:
        probe = run([*base, "rev-parse", "--git-dir"], timeout=30, check=False)
        if probe.returncode != 0:
            said = (probe.stderr or probe.stdout).strip().splitlines()
            why = said[-1] if said else f"exit status {probe.returncode}"
            raise Unavailable(f"{where} is not a git repository ({why})")
        log = run(
            [
                *base,
                "log",
                "--all",
                "--topo-order",
                "--reverse",
                "-p",
                "-U0",
                "--no-color",
                "--no-ext-diff",
                "--no-textconv",
                "--no-renames",
                "--diff-filter=d",
                f"--format={_COMMIT_MARK}%H",
            ],
            timeout=timeout,
            check=False,
        )
    except CommandError as error:
        raise Unavailable(str(error)) from None
    if log.returncode != 0:
        said = log.stderr.strip().splitlines()
        if said and "does not have any commits" in said[-1]:
            return RepositoryScan(where)
        raise Unavailable(f"{where}: git log: {said[-1] if said else log.returncode}")
    secrets, commits = parse_log(log.stdout)
    return RepositoryScan(where, secrets, commits)


def parse_log(text: str) -> tuple[list[Secret], int]:
    """Secrets in ``git log -p -U0`` output (oldest commit first), each once; commits seen."""
    secrets: list[Secret] = []
    seen: set[tuple[str, str, str]] = set()
    commits = 0
    commit, file = "", ""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if line.startswith(_COMMIT_MARK):
            commit, file = line[1:].strip(), ""
            commits += 1
        elif line.startswith("+++ "):
            file = _diff_path(line[4:])
        elif line.startswith("@@ ") and (hunk := _HUNK.match(line)):
            old = int(hunk["old"] if hunk["old"] is not None else 1)
            new = int(hunk["new"] if hunk["new"] is not None else 1)
            body = lines[index : index + old + new + 2]  # + "\ No newline" markers
            added, taken = _added_lines(body, old, new)
            index += taken
            start = int(hunk["start"])
            for offset, content in enumerate(added):
                following = added[offset + 1] if offset + 1 < len(added) else ""
                for match in find_secrets(content, file, following):
                    digest = hashlib.sha256(match.secret.encode()).hexdigest()
                    key = (match.rule, file, digest)
                    if key in seen:
                        continue
                    seen.add(key)
                    secrets.append(
                        Secret(commit, file, start + offset, match.rule, redact(match.secret))
                    )
    return secrets, commits


def _added_lines(body: Sequence[str], old: int, new: int) -> tuple[list[str], int]:
    """The added lines of one -U0 hunk and how many lines the hunk took (markers included)."""
    added: list[str] = []
    removed = taken = 0
    for line in body:
        if removed == old and len(added) == new and not line.startswith("\\"):
            break
        taken += 1
        if line.startswith("+"):
            added.append(line[1:])
        elif line.startswith("-"):
            removed += 1
    return added, taken


def _diff_path(text: str) -> str:
    """The path in a ``+++ b/path`` line (git quotes unusual names in C style)."""
    text = text.rstrip("\t")
    if text.startswith('"') and text.endswith('"'):
        raw = text[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
        text = raw.encode("latin-1", "replace").decode("utf-8", "replace")
    return text[2:] if text.startswith("b/") else text


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

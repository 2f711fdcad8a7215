"""The secret rules: loaded from a TOML file, checked once, compiled for bytes.

A rule is rampart's own description of one credential shape (see the header
of ``rules/secrets.toml``). Everything is checked when the file is read, so a
typo in a rule is one line naming the file and the rule, never a traceback
halfway through a scan.
"""

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rampart.errors import RampartError

DEFAULT_RULES = Path(__file__).resolve().parents[3] / "rules" / "secrets.toml"
"""The rules rampart ships (the repository's ``rules/`` folder)."""

_RULE_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_RULE_KEYS = frozenset(
    {"id", "description", "regex", "keywords", "scope", "entropy", "secret_group", "paths"}
    | {"allow"}
)
_ALLOW_KEYS = frozenset({"regexes", "paths", "stopwords"})


class RulesError(RampartError):
    """The rules file cannot be used (unreadable, not TOML, or a rule is wrong)."""


@dataclass(frozen=True)
class Allow:
    """What is not a finding: secrets matching ``regexes``, files matching ``paths``."""

    regexes: tuple[re.Pattern[bytes], ...] = ()
    paths: tuple[re.Pattern[str], ...] = ()
    stopwords: tuple[bytes, ...] = ()

    def secret(self, secret: bytes) -> bool:
        """Whether ``secret`` is allowed (a placeholder, an encrypted value ...)."""
        if any(pattern.search(secret) for pattern in self.regexes):
            return True
        lowered = secret.lower()
        return any(word in lowered for word in self.stopwords)

    def path(self, path: str) -> bool:
        return any(pattern.search(path) for pattern in self.paths)


@dataclass(frozen=True)
class Rule:
    """One credential shape; ``pattern`` runs only on text containing one of ``keywords``."""

    id: str
    description: str
    pattern: re.Pattern[bytes]
    keywords: tuple[bytes, ...]
    whole_file: bool = False
    """The keyword may be anywhere in the file, not only on the secret's line."""
    entropy: float = 0.0
    secret_group: str | None = "secret"  # noqa: S105  (a regex group name)
    paths: tuple[re.Pattern[str], ...] = ()
    allow: Allow = field(default_factory=Allow)

    @property
    def name(self) -> str:
        """What reports call the credential (the audit's evidence starts with it)."""
        return self.description

    def applies_to(self, path: str) -> bool:
        """Whether this rule looks at ``path`` at all (its ``paths``, its allowed paths)."""
        if self.paths and not any(pattern.search(path) for pattern in self.paths):
            return False
        return not self.allow.path(path)


@dataclass(frozen=True)
class RuleSet:
    """The rules in file order (earlier rules win overlaps) and the allow list of all."""

    rules: tuple[Rule, ...]
    allow: Allow
    source: Path

    def by_id(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


def load_rules(path: Path | None = None) -> RuleSet:
    """The rules in ``path`` (default: the shipped ``rules/secrets.toml``), or RulesError."""
    source = path or DEFAULT_RULES
    try:
        document = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as error:
        raise RulesError(f"{source}: cannot read the rules: {error.strerror}") from None
    except UnicodeDecodeError:
        raise RulesError(f"{source}: the rules file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise RulesError(f"{source}: not valid TOML: {error}") from None
    unknown = set(document) - {"rule", "allow"}
    if unknown:
        first = sorted(unknown)[0]
        raise RulesError(f"{source}: unknown key {first!r} (expected [[rule]] and [allow])")
    entries = document.get("rule")
    if not isinstance(entries, list) or not entries:
        raise RulesError(f"{source}: no [[rule]] entries")
    rules: list[Rule] = []
    seen: set[str] = set()
    for number, entry in enumerate(entries, 1):
        rule = _rule(entry, f"{source}: rule {number}")
        if rule.id in seen:
            raise RulesError(f"{source}: rule {rule.id!r}: the id is used twice")
        seen.add(rule.id)
        rules.append(rule)
    return RuleSet(tuple(rules), _allow(document.get("allow", {}), f"{source}: [allow]"), source)


def _rule(entry: Any, where: str) -> Rule:
    if not isinstance(entry, dict):
        raise RulesError(f"{where}: not a table")
    rule_id = entry.get("id")
    if not isinstance(rule_id, str) or not _RULE_ID.fullmatch(rule_id):
        raise RulesError(f"{where}: 'id' must be lowercase words joined by '-', got {rule_id!r}")
    where = f"{where.rsplit(': rule', 1)[0]}: rule {rule_id!r}"
    unknown = set(entry) - _RULE_KEYS
    if unknown:
        raise RulesError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    description = _string(entry, "description", where)
    pattern = _compile_bytes(_string(entry, "regex", where), f"{where}: regex")
    keywords = entry.get("keywords")
    if (
        not isinstance(keywords, list)
        or not keywords
        or not all(isinstance(word, str) and word for word in keywords)
    ):
        raise RulesError(f"{where}: 'keywords' must be a list of at least one non-empty string")
    scope = entry.get("scope", "line")
    if scope not in ("line", "file"):
        raise RulesError(f'{where}: \'scope\' must be "line" or "file", got {scope!r}')
    entropy = entry.get("entropy", 0.0)
    if isinstance(entropy, bool) or not isinstance(entropy, int | float) or not 0 <= entropy <= 8:
        raise RulesError(f"{where}: 'entropy' must be a number from 0 to 8 (bits per character)")
    group = entry.get("secret_group", "secret")
    if not isinstance(group, str) or not group:
        raise RulesError(f"{where}: 'secret_group' must be a group name")
    if group not in pattern.groupindex:
        if "secret_group" in entry:
            raise RulesError(f"{where}: the regex has no group named {group!r}")
        group = None
    return Rule(
        id=rule_id,
        description=description,
        pattern=pattern,
        keywords=tuple(dict.fromkeys(word.lower().encode() for word in keywords)),
        whole_file=scope == "file",
        entropy=float(entropy),
        secret_group=group,
        paths=_path_patterns(entry.get("paths", []), f"{where}: paths"),
        allow=_allow(entry.get("allow", {}), f"{where}: allow"),
    )


def _allow(table: Any, where: str) -> Allow:
    if not isinstance(table, dict):
        raise RulesError(f"{where}: must be a table")
    unknown = set(table) - _ALLOW_KEYS
    if unknown:
        raise RulesError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    regexes = _strings(table.get("regexes", []), f"{where}: regexes")
    stopwords = _strings(table.get("stopwords", []), f"{where}: stopwords")
    return Allow(
        regexes=tuple(_compile_bytes(text, f"{where}: regexes") for text in regexes),
        paths=_path_patterns(table.get("paths", []), f"{where}: paths"),
        stopwords=tuple(word.lower().encode() for word in stopwords if word),
    )


def _path_patterns(value: Any, where: str) -> tuple[re.Pattern[str], ...]:
    patterns = []
    for text in _strings(value, where):
        try:
            patterns.append(re.compile(text))
        except re.error as error:
            raise RulesError(f"{where}: {text!r} does not compile: {error}") from None
    return tuple(patterns)


def _compile_bytes(text: str, where: str) -> re.Pattern[bytes]:
    try:
        return re.compile(text.encode())
    except re.error as error:
        raise RulesError(f"{where} does not compile: {error}") from None


def _string(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RulesError(f"{where}: {key!r} must be a non-empty string")
    return value


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RulesError(f"{where}: must be a list of strings")
    return value

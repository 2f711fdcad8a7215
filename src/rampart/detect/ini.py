"""The INI dialect of Fail2ban's configuration files, read the way Fail2ban reads it.

Fail2ban builds on Python's ``configparser`` and adds three things a filter
relies on: ``[INCLUDES]`` (``before =`` / ``after =``), a ``.local`` read after
each file, and ``%(section/option)s`` references (``known/``, ``default/``,
any section). A file's lines are parsed with the same rules as
``configparser`` (comments, continuation lines, ``=`` or ``:``), so a value
reads here exactly as it reads there; errors become :class:`FilterError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from configparser import RawConfigParser
from dataclasses import dataclass, field
from pathlib import Path

from rampart.detect.errors import FilterError

DEFAULT_SECTION = "DEFAULT"
INCLUDES_SECTION = "INCLUDES"
# A section that later files override keeps the replaced values under this prefix.
KNOWN_PREFIX = "KNOWN/"
# configparser stops after this many nested %(x)s references; so does Fail2ban.
MAX_INTERPOLATION_DEPTH = 10

# "[Init?family=inet6]": options of a conditional section carry the condition.
CONDITIONAL_NAME = re.compile(r"^(\w+)(\?.+)$")
_REFERENCE = re.compile(r"%\(([^)]+)\)s")
_SECTION_REFERENCE = re.compile(r"%\(([\w\-]+/([^\)]+))\)s")
_SECTION_OPTION_NAME = re.compile(r"^([\w\-]+)/([^\s>]+)$")


@dataclass
class IniFile:
    """One file's own sections, before any include or override is applied."""

    path: Path
    defaults: dict[str, str] = field(default_factory=dict)
    sections: dict[str, dict[str, str]] = field(default_factory=dict)


def _comment_start(line: str) -> int | None:
    """Where a comment begins: ``#``/``;`` opening the line, or `` ;`` inside it."""
    if line.strip().startswith(("#", ";")):
        return 0
    index = line.find(";")
    while index != -1:
        if index == 0 or line[index - 1].isspace():
            return index
        index = line.find(";", index + 1)
    return None


def read_ini(path: Path) -> IniFile:
    """Parse one file with configparser's rules (strict, ``;`` inline comments)."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = list(handle)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise FilterError(f"{path}: cannot read: {reason}") from None
    parsed = IniFile(path)
    raw: dict[str, dict[str, list[str]]] = {}
    seen: set[tuple[str, str]] = set()
    section_name: str | None = None
    current: dict[str, list[str]] | None = None
    option: str | None = None
    indent = 0
    for number, line in enumerate(lines, start=1):
        start = _comment_start(line)
        text = line[:start].strip()
        if not text:
            if start is None and current is not None and option:
                current[option].append("")
            continue
        first = RawConfigParser.NONSPACECRE.search(line)
        level = first.start() if first else 0
        if current is not None and option and level > indent:
            current[option].append(text)
            continue
        indent = level
        header = RawConfigParser.SECTCRE.match(text)
        if header:
            section_name, option = header.group("header"), None
            if section_name in raw and section_name != DEFAULT_SECTION:
                raise FilterError(f"{path}:{number}: section [{section_name}] given twice")
            current = raw.setdefault(section_name, {})
            continue
        found = RawConfigParser.OPTCRE.match(text)
        if current is None or section_name is None:
            raise FilterError(f"{path}:{number}: option outside of any [section]")
        if not found or not found.group("option"):
            raise FilterError(f"{path}:{number}: cannot parse line {text!r}")
        option = found.group("option").rstrip().lower()
        if (section_name, option) in seen:
            raise FilterError(f"{path}:{number}: option {option!r} given twice in [{section_name}]")
        seen.add((section_name, option))
        current[option] = [found.group("value").strip()]
    for name, options in raw.items():
        joined = {key: "\n".join(parts).rstrip() for key, parts in options.items()}
        if name == DEFAULT_SECTION:
            parsed.defaults = joined
        else:
            parsed.sections[name] = joined
    return parsed


class ConfigStack:
    """Several files merged in reading order, with Fail2ban's ``%(x)s`` rules."""

    def __init__(self) -> None:
        self.defaults: dict[str, str] = {}
        self.sections: dict[str, dict[str, str]] = {}
        self.files: list[Path] = []
        self._origin: dict[tuple[str, str], Path] = {}

    @classmethod
    def from_files(cls, files: Iterable[IniFile]) -> ConfigStack:
        """Merge parsed files in order; a later file overrides, keeping ``known/`` values."""
        stack = cls()
        for ini in files:
            stack.merge(ini)
        return stack

    def merge(self, ini: IniFile) -> None:
        """Lay one file over what was read so far."""
        self.files.append(ini.path)
        self.defaults.update(ini.defaults)
        self._origin.update({(DEFAULT_SECTION, key): ini.path for key in ini.defaults})
        for name, options in ini.sections.items():
            conditional = CONDITIONAL_NAME.match(name)
            if conditional:
                name, condition = conditional.groups()
                options = {key + condition: value for key, value in options.items()}
            self._origin.update({(name, key): ini.path for key in options})
            existing = self.sections.get(name)
            if existing is None:
                self.sections[name] = dict(options)
                continue
            replaced = {key: value for key, value in existing.items() if key in options}
            self.sections.setdefault(KNOWN_PREFIX + name, {}).update(replaced)
            existing.update(options)

    def has_section(self, section: str) -> bool:
        return section in self.sections

    def own_options(self, section: str) -> list[str]:
        """Options set in the section itself, in file order, without [DEFAULT]'s."""
        return list(self.sections.get(section, {}))

    def origin(self, section: str, option: str) -> Path:
        """The file that set this option last, to name it in an error."""
        key = option.lower()
        found = self._origin.get((section, key)) or self._origin.get((DEFAULT_SECTION, key))
        return found or (self.files[-1] if self.files else Path("<no file>"))

    def scope(self, section: str, variables: Mapping[str, str] | None = None) -> dict[str, str]:
        """What ``%(x)s`` may name: caller variables, then the section, then [DEFAULT]."""
        scope = dict(self.defaults)
        scope.update(self.sections.get(section, {}))
        scope.update({key.lower(): value for key, value in (variables or {}).items()})
        return scope

    def value(
        self, section: str, option: str, variables: Mapping[str, str] | None = None
    ) -> str | None:
        """The interpolated value, or None when the section or option does not exist."""
        if section not in self.sections and section != DEFAULT_SECTION:
            return None
        scope = self.scope(section, variables)
        raw = scope.get(option.lower())
        if raw is None:
            return None
        pieces: list[str] = []
        self._expand(section, option, raw, scope, 1, pieces)
        return "".join(pieces)

    def value_ex(self, section: str, option: str, variables: Mapping[str, str]) -> str | None:
        """Like :meth:`value`, but ``sec/opt`` names another section's option."""
        named = _SECTION_OPTION_NAME.search(option) if "/" in option else None
        if named:
            other, name = named.groups()
            kind = other.lower()
            if kind == "known":
                candidates: Sequence[str] = (KNOWN_PREFIX + section, section)
            else:
                candidates = (DEFAULT_SECTION,) if kind == "default" else (other,)
            for candidate in candidates:
                found = self.value(candidate, name)
                if found is not None:
                    return found
        return self.value(section, option, variables)

    def _expand(
        self,
        section: str,
        option: str,
        rest: str,
        outer: Mapping[str, str],
        depth: int,
        pieces: list[str],
    ) -> None:
        """Resolve ``%(x)s`` in ``rest``; each nesting level sees its own ``sec/opt`` names."""
        where = f"{self.origin(section, option)}: [{section}] {option}"
        if depth > MAX_INTERPOLATION_DEPTH:
            raise FilterError(f"{where}: %(...)s references nest too deep (a reference loop?)")
        scope = dict(outer)
        scope["__name__"] = section
        self._add_section_references(section, rest, scope)
        while rest:
            percent = rest.find("%")
            if percent < 0:
                pieces.append(rest)
                return
            pieces.append(rest[:percent])
            rest = rest[percent:]
            follower = rest[1:2]
            if follower == "%":
                pieces.append("%")
                rest = rest[2:]
                continue
            reference = _REFERENCE.match(rest) if follower == "(" else None
            if reference is None:
                raise FilterError(f"{where}: '%' must be followed by '%' or '(name)s': {rest!r}")
            name = reference.group(1).lower()
            rest = rest[reference.end() :]
            replacement = scope.get(name)
            if replacement is None:
                raise FilterError(f"{where}: %({reference.group(1)})s is not defined")
            if "%" in replacement:
                self._expand(section, option, replacement, scope, depth + 1, pieces)
            else:
                pieces.append(replacement)

    def _add_section_references(self, section: str, text: str, scope: dict[str, str]) -> None:
        """Make ``%(known/x)s``, ``%(default/x)s`` and ``%(sec/x)s`` in ``text`` resolvable."""
        for full, name in _SECTION_REFERENCE.findall(text):
            if full in scope:
                continue
            other = full[: -len(name) - 1]
            kind = other.lower()
            found: str | None = None
            if kind == "known":
                found = self.sections.get(KNOWN_PREFIX + section, {}).get(name)
            elif kind != "default":
                if other not in self.sections:
                    continue
                found = self.sections[other].get(name)
            if found is None:
                found = self.defaults.get(name)
            if found is not None:
                scope[full] = found


def _with_local(paths: Sequence[str]) -> list[str]:
    """Each file followed by its ``.local`` twin, when that exists and is not listed."""
    result: list[str] = []
    for path in paths:
        result.append(path)
        local = os.path.splitext(path)[0] + ".local"
        if local not in paths and os.path.isfile(local):
            result.append(local)
    return result


def _included(path: str, parents: tuple[str, ...], parsed: dict[str, IniFile]) -> list[str]:
    """``path`` with its ``before`` files ahead of it and its ``after`` files behind."""
    ini = parsed.get(path)
    if ini is None:
        ini = parsed[path] = read_ini(Path(path))
    own = ConfigStack()
    own.merge(ini)
    folder = os.path.dirname(path)
    key = os.path.realpath(path)
    ordered: dict[str, list[str]] = {"before": [], "after": []}
    for option, collected in ordered.items():
        if not own.has_section(INCLUDES_SECTION):
            break
        listed = own.value(INCLUDES_SECTION, option) or ""
        for entry in listed.split("\n"):
            if not entry:
                continue
            target = entry if os.path.isabs(entry) else os.path.join(folder, entry)
            if os.path.realpath(target) in parents:
                continue
            for candidate in _with_local([target]):
                if os.path.isfile(candidate):
                    collected.extend(_included(candidate, (*parents, key), parsed))
                elif not candidate.endswith(".local"):
                    raise FilterError(
                        f"{path}: [{INCLUDES_SECTION}] {option}: included file {entry!r} "
                        f"not found (looked for {candidate})"
                    )
    return [*ordered["before"], path, *ordered["after"]]


def read_with_includes(paths: Sequence[Path]) -> list[IniFile]:
    """``paths`` parsed in reading order, once ``.local`` twins and includes are added.

    A file that includes one of its own includers is skipped, as Fail2ban does;
    an included ``.local`` may be missing (Fail2ban's stock filters name
    ``common.local`` that way), any other missing include is an error.
    """
    names = [str(path) for path in paths]
    parsed: dict[str, IniFile] = {}
    ordered: list[str] = []
    for name in _with_local(names):
        ordered.extend(_included(name, (), parsed))
    return [parsed[name] for name in ordered]

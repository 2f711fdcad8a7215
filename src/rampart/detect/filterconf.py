"""Fail2ban filter files (filter.d ``.conf``) read into a :class:`FilterSpec`.

A filter is read as a Fail2ban jail reads it: the ``.conf``, its
``<name>.d/*.conf``, its ``.local`` and ``<name>.d/*.local``, each with its
includes; then ``%(x)s`` references, the jail's ``name[opt=value]`` options
over ``[Init]``, and ``<tag>`` substitution. Regex tags that only the matcher
knows (``<HOST>``, ``<F-USER>`` ...) are left in place.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from rampart.detect.errors import FilterError
from rampart.detect.ini import CONDITIONAL_NAME, ConfigStack, read_with_includes

DEFAULT_FILTER_DIRS: tuple[Path, ...] = (
    Path(__file__).resolve().parents[3] / "rules" / "filter.d",
    Path("/etc/fail2ban/filter.d"),
)

# The [Definition] options a filter hands to the matcher, in Fail2ban's order.
_DEFINITION_OPTIONS = (
    "usedns",
    "prefregex",
    "ignoreregex",
    "failregex",
    "maxlines",
    "datepattern",
    "journalmatch",
)
_FILTER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@+-]*")
_TAG = re.compile(r"<([^ <>]+)>")
# Fail2ban gives up after replacing one tag this often inside one value.
_MAX_TAG_REPLACEMENTS = 25
# Tags that double a value at each step would exhaust memory; no real filter is near this.
_MAX_VALUE_CHARS = 1 << 20
_REF_KEY = re.compile(r"\s*([\w\-.]+)=")
_REF_BARE_VALUE = re.compile(r"[^,\]]*")
_REF_GROUP_BREAK = re.compile(r"\]\s*\[")
_REF_TAIL = re.compile(r",?\s*")


@dataclass(frozen=True)
class FilterSpec:
    """A filter with every ``%(x)s`` and option tag resolved, ready for the matcher."""

    name: str
    path: Path
    prefregex: str | None
    failregex: tuple[str, ...]
    ignoreregex: tuple[str, ...]
    maxlines: int
    datepattern: str | None
    # Tokens for journald; "+" separates the alternatives (one per line in the file).
    journalmatch: tuple[str, ...]
    options: Mapping[str, str] = field(hash=False)


def _quoted(body: str, pos: int) -> tuple[str, int] | None:
    """A '..' or ".." value starting at ``pos``, and where it ends; None if unquoted."""
    quote = body[pos : pos + 1]
    if quote not in ("'", '"'):
        return None
    close = body.find(quote, pos + 1)
    return None if close < 0 else (body[pos + 1 : close], close + 1)


def parse_filter_ref(ref: str) -> tuple[str, dict[str, str]]:
    """Split ``name[key=value, key="a, b"]`` as a jail's ``filter =`` line is split."""
    text = ref.strip()
    opening = text.find("[")
    if opening < 0:
        name, body = text, ""
    elif text.endswith("]"):
        name, body = text[:opening], text[opening + 1 : -1]
    else:
        raise FilterError(f"filter reference {ref!r}: '[' without a closing ']'")
    name = name.strip()
    if not name:
        raise FilterError(f"filter reference {ref!r}: no filter name")
    options: dict[str, str] = {}
    pos = 0
    while not _REF_TAIL.fullmatch(body, pos):
        key = _REF_KEY.match(body, pos)
        if key is None:
            raise FilterError(f"filter reference {ref!r}: expected key=value at {body[pos:]!r}")
        quoted = _quoted(body, key.end())
        if quoted is None:
            bare = _REF_BARE_VALUE.match(body, key.end())
            end = bare.end() if bare else key.end()
            quoted = (body[key.end() : end], end)
        value, pos = quoted
        options[key.group(1)] = value.strip()
        if pos == len(body):
            break
        if body[pos] == ",":
            pos += 1
            continue
        group_break = _REF_GROUP_BREAK.match(body, pos)
        if group_break is None:
            raise FilterError(
                f"filter reference {ref!r}: unexpected {body[pos:]!r} after {key.group(1)!r}"
            )
        pos = group_break.end()
    return name, options


def find_filter(name: str, search_dirs: Sequence[Path] = DEFAULT_FILTER_DIRS) -> Path:
    """The first ``<dir>/<name>.conf`` (or a lone ``.local``) along ``search_dirs``."""
    if not _FILTER_NAME.fullmatch(name):
        raise FilterError(f"filter name {name!r}: use letters, digits, '.', '_', '-' only")
    for folder in search_dirs:
        for suffix in (".conf", ".local"):
            candidate = folder / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    looked = ", ".join(str(folder) for folder in search_dirs) or "no directories"
    raise FilterError(f"filter {name!r} not found in {looked}")


def _filter_files(main: Path) -> list[Path]:
    """The files Fail2ban reads for a filter, in its order: conf, .d confs, local, .d locals."""
    base = str(main.with_suffix(""))
    drop_in = glob.escape(base + ".d")
    candidates = [
        base + ".conf",
        *sorted(glob.glob(os.path.join(drop_in, "*.conf"))),
        base + ".local",
        *sorted(glob.glob(os.path.join(drop_in, "*.local"))),
    ]
    return [Path(candidate) for candidate in candidates if os.path.exists(candidate)]


def _substitute_tags(
    values: Mapping[str, str],
    ignore: set[str],
    lookup: Callable[[str], str | None],
    where: Path,
) -> dict[str, str]:
    """Replace ``<name>`` with option values until none is left that names a known option.

    Runs pass after pass so that ``<a-<b>>`` resolves the inner tag first;
    ``lookup`` finds names that are not in ``values`` ([Definition] options).
    """
    tags = dict(values)
    done: set[str] = set()
    counts: dict[str, dict[str, int]] = {}
    while True:
        repeat = False
        for tag in list(tags):
            if tag in ignore or tag in done:
                continue
            value = original = tags[tag]
            replaced = counts.get(tag, {})
            found = _TAG.search(value)
            while found:
                inner = found.group(1)
                if inner in ignore:
                    found = _TAG.search(value, found.end())
                    continue
                if inner == tag or replaced.get(inner, 1) > _MAX_TAG_REPLACEMENTS:
                    raise FilterError(
                        f"{where}: option {tag!r}: tag <{inner}> refers back to itself"
                    )
                replacement = tags.get(inner)
                if replacement is None:
                    replacement = lookup(inner)
                if replacement is None:
                    found = _TAG.search(value, found.end())
                    continue
                value = value.replace(f"<{inner}>", replacement)
                if len(value) > _MAX_VALUE_CHARS:
                    raise FilterError(f"{where}: option {tag!r}: tags expand without end")
                replaced[inner] = replaced.get(inner, 0) + 1
                found = _TAG.search(value, found.start())
            if value != original:
                if _TAG.search(value):
                    counts[tag] = replaced
                    repeat = True
                tags[tag] = value
            if "<" not in value:
                done.add(tag)
        if not repeat:
            return tags


def _lines(value: str | None) -> tuple[str, ...]:
    """One regex per line; empty lines dropped, other whitespace kept as Fail2ban does."""
    return tuple(line for line in (value or "").split("\n") if line)


def _journal_tokens(value: str | None, where: Path) -> tuple[str, ...]:
    """journalctl-style match words; lines are alternatives, joined here by "+"."""
    tokens: list[str] = []
    for line in _lines(value):
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise FilterError(f"{where}: journalmatch {line!r}: {exc}") from None
        if words and tokens:
            tokens.append("+")
        tokens.extend(words)
    return tuple(tokens)


def _max_lines(value: str | None, where: Path) -> int:
    if value is None:
        return 1
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise FilterError(f"{where}: maxlines {value!r} is not a whole number of 1 or more")
    return count


def _resolve(
    stack: ConfigStack, caller: Mapping[str, str], where: Path
) -> tuple[dict[str, str], list[str]]:
    """Definition and Init options merged with the caller's, tags substituted.

    Returns the values and the names that form the effective [Init] options.
    """
    combined: dict[str, str] = {}
    if stack.has_section("Definition"):
        for option in _DEFINITION_OPTIONS:
            value = None if option in caller else stack.value("Definition", option, caller)
            if value is not None:
                combined[option] = value
    init = dict(caller)
    for option in stack.own_options("Init"):
        if not option.startswith("known/"):
            init["known/" + option] = stack.value("Init", option) or ""
        if option not in init:
            init[option] = stack.value("Init", option) or ""
    combined.update(init)
    ignore = {match.group(1) for key in combined if (match := CONDITIONAL_NAME.match(key))}
    cache: dict[str, str | None] = {}

    def definition_option(name: str) -> str | None:
        if name not in cache:
            cache[name] = stack.value_ex("Definition", name, caller)
        return cache[name]

    resolved = _substitute_tags(combined, ignore, definition_option, where)
    return resolved, [key for key in init if not key.startswith("known/")]


def _main_file(ref: str | Path, search_dirs: Sequence[Path]) -> tuple[str, Path, dict[str, str]]:
    """The filter's name, its main file and the options written in ``ref``."""
    given: dict[str, str] = {}
    if isinstance(ref, Path):
        text = str(ref)
    else:
        text, given = parse_filter_ref(ref)
    if isinstance(ref, Path) or "/" in text or text.endswith((".conf", ".local")):
        path = Path(text)
        if path.suffix not in (".conf", ".local"):
            raise FilterError(f"{path}: a filter file's name ends in .conf or .local")
        if not path.is_file():
            raise FilterError(f"{path}: no such filter file")
        return path.stem, path, given
    return text, find_filter(text, search_dirs), given


def load_filter(
    ref: str | Path,
    search_dirs: Sequence[Path] = DEFAULT_FILTER_DIRS,
    options: Mapping[str, str] | None = None,
) -> FilterSpec:
    """Read a filter by name (``sshd[mode=aggressive]``) or by path to its ``.conf``.

    ``options`` override those written in ``ref``; both override [Init] values
    and may replace [Definition] options (failregex, maxlines ...) outright.
    """
    name, main, given = _main_file(ref, search_dirs)
    caller = {**given, **(options or {})}
    stack = ConfigStack.from_files(read_with_includes(_filter_files(main)))
    values, init_names = _resolve(stack, caller, main)
    return FilterSpec(
        name=name,
        path=main,
        prefregex=values.get("prefregex"),
        failregex=_lines(values.get("failregex")),
        ignoreregex=_lines(values.get("ignoreregex")),
        maxlines=_max_lines(values.get("maxlines"), main),
        datepattern=values.get("datepattern"),
        journalmatch=_journal_tokens(values.get("journalmatch"), main),
        options=MappingProxyType({key: values[key] for key in init_names}),
    )

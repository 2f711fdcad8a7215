"""Facts about the web server: nginx's whole configuration, as ``nginx -T`` prints it.

``nginx -T`` checks the configuration and prints every file it read, each
after a ``# configuration file NAME:`` line. The files are tokenized here
(quotes, comments, braces), ``include`` directives are replaced by the files
they name, and the ``server`` blocks are listed with what protects them:
basic auth (``auth_basic`` not ``off``), ``auth_request``, or access rules
whose first rule about ``all`` is ``deny all``. Both are inherited from
``http`` to ``server`` to ``location`` the way nginx merges them: a level
that sets its own replaces what it inherited.
"""

import fnmatch
import os
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rampart.audit.interface import Unavailable
from rampart.errors import RampartError
from rampart.system import CommandError, run

_SBIN_PATH = "/usr/local/sbin:/usr/sbin:/sbin"
_FILE_MARK = re.compile(r"^# configuration file (?P<name>.+):$", re.MULTILINE)
_INCLUDE_DEPTH = 16
_OPEN, _CLOSE, _END = "{", "}", ";"
_PUNCTUATION = frozenset((_OPEN, _CLOSE, _END))


@dataclass(frozen=True)
class Directive:
    """One nginx directive: name, arguments, and its block (None: no block)."""

    name: str
    args: tuple[str, ...]
    file: str
    line: int
    block: tuple["Directive", ...] | None = None


@dataclass(frozen=True)
class Protection:
    """What guards a level (http, server or location) once inheritance is applied."""

    auth_basic: str | None = None
    """The realm, when ``auth_basic`` is on here."""
    auth_request: str | None = None
    access: tuple[str, ...] = ()
    """The allow/deny rules in force, as written (``allow 10.0.0.0/8``, ``deny all``)."""
    returns: str | None = None
    """``return CODE ...`` at this level: it answers every request before any content."""

    @property
    def allow_list(self) -> bool:
        """Access rules whose first rule about ``all`` is ``deny all`` (first match wins)."""
        for rule in self.access:
            verb, _, who = rule.partition(" ")
            if who == "all":
                return verb == "deny"
        return False

    @property
    def guarded(self) -> bool:
        return bool(self.auth_basic or self.auth_request or self.allow_list)

    def describe(self) -> str:
        said = []
        if self.auth_basic:
            said.append(f'auth_basic "{self.auth_basic}"')
        if self.auth_request:
            said.append(f"auth_request {self.auth_request}")
        if self.access:
            said.append("; ".join(self.access))
        if self.returns:
            said.append(f"return {self.returns}")
        return "; ".join(said) or "no auth_basic, auth_request or allow/deny"


@dataclass(frozen=True)
class NginxLocation:
    match: str
    """The location's modifier and path, as written (``/``, ``^~ /admin``, ``~ \\.php$``)."""
    protection: Protection
    line: int


@dataclass(frozen=True)
class NginxServer:
    names: tuple[str, ...]
    listen: tuple[str, ...]
    """Each ``listen`` directive's arguments joined (empty: nginx's default, port 80)."""
    file: str
    line: int
    protection: Protection
    """At server level (inherited from http when the server sets nothing)."""
    server_tokens: str
    """In force at server level: ``on`` (nginx's default), ``off``, ``build``."""
    server_tokens_own: bool
    """Whether the server sets server_tokens itself (rather than inheriting it)."""
    locations: tuple[NginxLocation, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def root_protection(self) -> tuple[str, Protection]:
        """What guards ``/``: its prefix location if there is one, else the server level."""
        for location in self.locations:
            if location.match in ("/", "^~ /"):
                return f"location {location.match}", location.protection
        return "server", self.protection


@dataclass(frozen=True)
class NginxFacts:
    main_file: str
    files: tuple[str, ...]
    http_server_tokens: str
    servers: tuple[NginxServer, ...]
    internal_names: tuple[str, ...] = field(default=())
    """Words that mark a site as internal (``[audit] internal_names``)."""


def collect_nginx(
    *,
    nginx: str = "nginx",
    config: Path | None = None,
    internal_names: Sequence[str] | None = None,
    timeout: float = 15.0,
) -> NginxFacts:
    """nginx's configuration from ``nginx -T`` (``-c config`` when given), with its servers."""
    program = shutil.which(nginx, path=f"{os.environ.get('PATH', '')}:{_SBIN_PATH}")
    if program is None:
        raise Unavailable(f"{nginx} is not installed")
    if internal_names is None:
        from rampart.config import load_settings

        try:
            internal_names = load_settings().audit.internal_names
        except RampartError as error:
            raise Unavailable(str(error)) from None
    argv = [program, "-T", "-q"]
    if config is not None:
        argv += ["-c", str(config)]
    try:
        result = run(argv, timeout=timeout, check=False)
    except CommandError as error:
        raise Unavailable(str(error)) from None
    if result.returncode != 0:
        said = [line for line in result.stderr.splitlines() if line.strip()]
        raise Unavailable(f"nginx -T failed: {said[0] if said else 'no message'}")
    files = split_dump(result.stdout)
    if not files:
        raise Unavailable("nginx -T printed no configuration file")
    return parse_nginx(files, internal_names=tuple(internal_names))


def split_dump(text: str) -> dict[str, str]:
    """File name -> text, from ``nginx -T``'s output (the main file first)."""
    marks = list(_FILE_MARK.finditer(text))
    files: dict[str, str] = {}
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        end = following.start() if following is not None else len(text)
        files.setdefault(mark["name"], text[mark.end() + 1 : end])
    return files


# --- tokens and directives ------------------------------------------------------------


class NginxSyntaxError(ValueError):
    pass


def tokenize(text: str) -> Iterator[tuple[str, int, bool]]:
    """``(token, line, quoted)``: words, quoted strings, and the punctuation ``{ } ;``."""
    i, line, size = 0, 1, len(text)
    while i < size:
        char = text[i]
        if char == "\n":
            line += 1
            i += 1
        elif char.isspace():
            i += 1
        elif char == "#":
            end = text.find("\n", i)
            i = size if end < 0 else end
        elif char in "{};":
            yield char, line, False
            i += 1
        elif char in "\"'":
            start_line, i, value = line, i + 1, []
            while i < size and text[i] != char:
                if text[i] == "\\" and i + 1 < size and text[i + 1] in (char, "\\"):
                    i += 1
                if text[i] == "\n":
                    line += 1
                value.append(text[i])
                i += 1
            if i >= size:
                raise NginxSyntaxError(f"line {start_line}: unterminated quoted string")
            i += 1
            yield "".join(value), start_line, True
        else:
            start = i
            while i < size and not text[i].isspace() and text[i] not in "{};":
                i += 2 if text[i] == "\\" and i + 1 < size else 1
            yield text[start:i], line, False


def parse_directives(text: str, file: str) -> tuple[Directive, ...]:
    """The directives of one file, blocks nested."""
    stack: list[tuple[str, tuple[str, ...], int, list[Directive]]] = []
    current: list[Directive] = []
    words: list[str] = []
    first_line = 0
    for piece, line, quoted in tokenize(text):
        if quoted or piece not in _PUNCTUATION:
            if not words:
                first_line = line
            words.append(piece)
        elif piece == _END:
            if words:
                current.append(Directive(words[0], tuple(words[1:]), file, first_line))
            words = []
        elif piece == _OPEN:
            if not words:
                raise NginxSyntaxError(f"{file}:{line}: a block without a directive")
            stack.append((words[0], tuple(words[1:]), first_line, current))
            current, words = [], []
        else:
            if not stack:
                raise NginxSyntaxError(f"{file}:{line}: unexpected }}")
            name, args, start, parent = stack.pop()
            parent.append(Directive(name, args, file, start, tuple(current)))
            current, words = parent, []
    if stack:
        raise NginxSyntaxError(f"{file}: unclosed block {stack[-1][0]}")
    return tuple(current)


def _expand(
    directives: Sequence[Directive],
    parsed: dict[str, tuple[Directive, ...]],
    prefix: str,
    depth: int = 0,
) -> list[Directive]:
    """Directives with each ``include`` replaced by the files it names (as nginx -T listed)."""
    if depth > _INCLUDE_DEPTH:
        raise NginxSyntaxError("include nested too deeply")
    expanded: list[Directive] = []
    for directive in directives:
        if directive.name == "include" and directive.args and directive.block is None:
            pattern = os.path.join(prefix, directive.args[0])
            for name in sorted(n for n in parsed if fnmatch.fnmatchcase(n, pattern)):
                expanded += _expand(parsed[name], parsed, prefix, depth + 1)
        elif directive.block is not None:
            block = tuple(_expand(directive.block, parsed, prefix, depth + 1))
            expanded.append(
                Directive(directive.name, directive.args, directive.file, directive.line, block)
            )
        else:
            expanded.append(directive)
    return expanded


# --- servers -----------------------------------------------------------------------


def parse_nginx(files: dict[str, str], *, internal_names: tuple[str, ...] = ()) -> NginxFacts:
    """Servers and their protection from the files of ``nginx -T`` (main file first)."""
    main = next(iter(files))
    try:
        parsed = {name: parse_directives(text, name) for name, text in files.items()}
        tree = _expand(parsed[main], parsed, os.path.dirname(main))
    except NginxSyntaxError as error:
        raise Unavailable(f"cannot parse nginx -T output: {error}") from None
    http_tokens = "on"
    servers: list[NginxServer] = []
    for http in (d.block for d in tree if d.name == "http" and d.block is not None):
        http_protection = _protection(http, Protection())
        http_tokens = _last(http, "server_tokens") or http_tokens
        for server in (d for d in http if d.name == "server" and d.block is not None):
            servers.append(_server(server, http_protection, http_tokens))
    return NginxFacts(main, tuple(files), http_tokens, tuple(servers), internal_names)


def _server(server: Directive, inherited: Protection, http_tokens: str) -> NginxServer:
    block = server.block or ()
    protection = _protection(block, inherited)
    own_tokens = _last(block, "server_tokens")
    names = tuple(n for d in block if d.name == "server_name" for n in d.args)
    listen = tuple(" ".join(d.args) for d in block if d.name == "listen")
    locations = tuple(_locations(block, protection))
    return NginxServer(
        names,
        listen,
        server.file,
        server.line,
        protection,
        own_tokens or http_tokens,
        own_tokens is not None,
        locations,
    )


def _locations(block: Sequence[Directive], inherited: Protection) -> Iterator[NginxLocation]:
    for directive in block:
        if directive.name != "location" or directive.block is None:
            continue
        protection = _protection(directive.block, inherited)
        yield NginxLocation(" ".join(directive.args), protection, directive.line)
        yield from _locations(directive.block, protection)


def _protection(block: Sequence[Directive], inherited: Protection) -> Protection:
    """The protection of a level: its own settings, else the inherited ones (per directive).

    A server-level ``return`` runs before any location is chosen, so locations keep it.
    """
    basic = _last(block, "auth_basic")
    request = _last(block, "auth_request")
    access = tuple(
        f"{d.name} {' '.join(d.args)}" for d in block if d.name in ("allow", "deny") and d.args
    )
    returns = _last_args(block, "return")
    return Protection(
        inherited.auth_basic if basic is None else (None if basic == "off" else basic),
        inherited.auth_request if request is None else (None if request == "off" else request),
        access or inherited.access,
        " ".join(returns) if returns else inherited.returns,
    )


def _last(block: Sequence[Directive], name: str) -> str | None:
    args = _last_args(block, name)
    return args[0] if args else None


def _last_args(block: Sequence[Directive], name: str) -> tuple[str, ...]:
    found = [d.args for d in block if d.name == name and d.block is None and d.args]
    return found[-1] if found else ()


def is_internal(server_name: str, internal_names: Sequence[str]) -> str | None:
    """The internal word a server name contains as whole labels (``grafana-internal.x``)."""
    words = [w for w in re.split(r"[^a-z0-9]+", server_name.lower()) if w]
    for internal in internal_names:
        wanted = [w for w in re.split(r"[^a-z0-9]+", internal.lower()) if w]
        if not wanted:
            continue
        for start in range(len(words) - len(wanted) + 1):
            if words[start : start + len(wanted)] == wanted:
                return internal
    return None


COLLECTORS: dict[str, Callable[[], Any]] = {"nginx": collect_nginx}

"""The native replay loop: ``LogEngine.alerts`` (and the alert lines) in C.

In CPython the Python work around each line of ``hids replay`` (slices, dict
lookups, closures, the alert's text) costs several times what the regexes
cost. ``_native.c`` runs the same phases over a block of lines; this module
hands it the compiled rule set as flat tables and checks what it may run.

The Python engine stays the reference. A rule set goes native only when
every pattern is one whose PCRE2 meaning is Python's on the subjects PCRE2
is given (ASCII without 0x1c-0x1f; any other subject goes to the Python
pattern, line by line); else :func:`native_replay` returns None and the
caller uses ``LogEngine.alerts``. The correlation state is the engine's own
:class:`~rampart.hids.correlation.Correlation`, so the two paths can even
share one file.
"""

import collections
import importlib
import os
import re
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from rampart.hids import correlation
from rampart.hids.decoder import Decoder, Fields
from rampart.hids.engine import LogEngine
from rampart.hids.rule import Rule, description_pieces
from rampart.hids.textmatch import TextMatcher
from rampart.sources.replay import split_block

_native: ModuleType | None
LOAD_ERROR: str | None = None
try:
    _native = importlib.import_module("rampart.hids._native")
except ModuleNotFoundError:
    _native = None
    LOAD_ERROR = "not built (no C compiler or Python headers when rampart was installed)"
except ImportError as error:  # built, but libpcre2-8.so.0 is missing
    _native = None
    LOAD_ERROR = str(error)

#: Set to ``0`` to always use the Python engine (the switch of rampart.detect.native too).
ENV_SWITCH = "RAMPART_NATIVE"
_MAX_FIELDS = 64
_REGEX, _LITERAL, _PREFIX = 0, 1, 2
_FLAGS = re.UNICODE | re.IGNORECASE | re.DOTALL | re.MULTILINE | re.ASCII
#: Escapes whose PCRE2 meaning is Python's (on ASCII subjects).
_ESCAPES = frozenset("dDwWsSbBAnrtfv\\.^$*+?{}[]()|-/:#'\"<>=!,;@%&~` _")
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
#: A brace that is not a plain ``{n}``/``{n,}``/``{n,m}`` (PCRE2 versions differ on the others).
_ODD_BRACE = re.compile(r"(?<!\\)\{(?!\d+(?:,\d*)?\})")


class Unsupported(Exception):
    """The rule set holds something the native loop does not run exactly as Python."""


def available() -> bool:
    """True if the native loop is built, loads, and is not switched off."""
    return _native is not None and os.environ.get(ENV_SWITCH, "1") != "0"


def same_in_pcre2(regex: "re.Pattern[str]") -> bool:
    """Whether PCRE2 reads ``regex`` as Python does, on ASCII subjects without 0x1c-0x1f.

    Conservative: ASCII patterns with the common syntax only (no ``\\Z``,
    ``{,n}`` or other odd braces, POSIX classes, verbose mode or unusual escapes).
    """
    pattern = regex.pattern
    if not pattern.isascii() or regex.flags & ~_FLAGS:
        return False
    if "[:" in pattern or "(?x" in pattern or "(?#" in pattern or _ODD_BRACE.search(pattern):
        return False
    return all(found.group(1) in _ESCAPES for found in _ESCAPE.finditer(pattern))


class NativeReplay:
    """``LogEngine.alerts`` in C, on the engine's own correlation state."""

    def __init__(self, engine: LogEngine) -> None:
        """Unsupported when a pattern cannot go to PCRE2 as it is."""
        if _native is None:
            raise Unsupported(LOAD_ERROR or "not built")
        self.engine = engine
        tables = _Tables(engine)
        try:
            self._core = _native.Engine(**tables.arguments())
        except _native.Unsupported as error:
            raise Unsupported(str(error)) from None

    def alerts(self, lines: Sequence[str]) -> list[tuple[str, Rule, Fields, float]]:
        """As :meth:`LogEngine.alerts`: ``(line, rule, fields, time)`` of each alert.

        ``lines`` are text decoded from bytes (a lone surrogate cannot go to C:
        UnicodeEncodeError).
        """
        _, found, _ = self._core.alerts(list(lines), False)
        return found  # type: ignore[no-any-return]

    def alert_text(self, lines: Sequence[str]) -> tuple[list[int], str]:
        """The alerts' rule ids, and their lines as ``hids replay`` prints them."""
        hits, _, text = self._core.alerts(list(lines), True)
        return hits, text

    def block_text(self, block: str) -> tuple[int, list[int], str]:
        """:meth:`alert_text` of a block of a file (``split_block``'s lines), and its line count.

        An ASCII block is cut into lines in C, without a str per line.
        """
        if block.isascii():
            return self._core.block(block)  # type: ignore[no-any-return]
        lines = split_block(block)
        hits, text = self.alert_text(lines)
        return len(lines), hits, text


def native_replay(engine: LogEngine) -> NativeReplay | None:
    """The native loop for ``engine``, or None (not built, switched off, or Unsupported)."""
    if not available():
        return None
    try:
        return NativeReplay(engine)
    except Unsupported:
        return None


class _Tables:
    """The rule set as the flat tuples ``_native.Engine`` takes (indexes for references)."""

    def __init__(self, engine: LogEngine) -> None:
        self.engine = engine
        ruleset = engine.ruleset
        self.decoders = list(ruleset.decoders.values())
        self.decoder_index = {id(d): i for i, d in enumerate(self.decoders)}
        self.rules = list(ruleset.rules.values())
        self.rule_index = {id(r): i for i, r in enumerate(self.rules)}
        programs: dict[str, None] = dict.fromkeys(ruleset.decoders_by_program)
        programs.update(dict.fromkeys(sorted(engine.root_programs)))
        for rule in self.rules:
            programs.update(dict.fromkeys(sorted(rule.programs)))
        self.programs = [p for p in programs if p]
        self.program_index = {p: i for i, p in enumerate(self.programs)}
        self.fields: dict[str, int] = {"srcip": 0, "user": 1, "dstuser": 2}
        self.matchers: list[tuple[Any, ...]] = []

    def field(self, name: str) -> int:
        index = self.fields.setdefault(name, len(self.fields))
        if len(self.fields) > _MAX_FIELDS:
            raise Unsupported(f"more than {_MAX_FIELDS} field names")
        return index

    def matcher(self, regex: "re.Pattern[str]", text: TextMatcher | None, fullmatch: bool) -> int:
        """Index of a new matcher: plain text, ``^text``, or a regex PCRE2 reads as Python."""
        names = tuple(regex.groupindex)
        ids = tuple(self.field(name) for name in names)
        spec: tuple[Any, ...]
        if text is not None and not fullmatch and text.literal is not None:
            spec = (_LITERAL, b"", text.literal.encode(), regex, (), (), False)
        elif text is not None and not fullmatch and text.prefix is not None:
            spec = (_PREFIX, b"", text.prefix.encode(), regex, (), (), False)
        else:
            if not same_in_pcre2(regex):
                raise Unsupported(f"pattern {regex.pattern!r} may differ in PCRE2")
            spec = (_REGEX, regex.pattern.encode(), b"", regex, names, ids, fullmatch)
        self.matchers.append(spec)
        return len(self.matchers) - 1

    def optional(self, text: TextMatcher | None) -> int:
        return -1 if text is None else self.matcher(text.regex, text, False)

    def decoder(self, decoder: Decoder) -> tuple[Any, ...]:
        parent = self.decoder_index[id(decoder.parent)] if decoder.parent is not None else -1
        children = tuple(self.decoder_index[id(child)] for child in decoder.children)
        return (self.optional(decoder.prematch), self.optional(decoder.regex), parent, children)

    def rule(self, rule: Rule) -> tuple[Any, ...]:
        decoded_as = -1
        if rule.decoded_as is not None:
            found = self.engine.ruleset.decoders.get(rule.decoded_as)
            decoded_as = self.decoder_index[id(found)] if found is not None else -2
        texts = () if rule.needle is not None else tuple(t.encode() for t in rule.match)
        tests = tuple((self.field(name), self.optional(m)) for name, m in rule.fields)
        user = -1 if rule.user is None else self.matcher(rule.user, None, True)
        pieces, names = description_pieces(rule.spec.description)
        return (
            rule,
            rule.id,
            f" level {rule.level:>2} rule {rule.id}: ",
            rule.level,
            None if rule.needle is None else rule.needle.encode(),
            texts,
            decoded_as,
            tuple(self.program_index[p] for p in sorted(rule.programs)),
            self.optional(rule.regex),
            tests,
            user,
            bool(rule.srcip_in or rule.srcip_not_in),
            rule.same_source_ip,
            rule.same_user,
            float(rule.ignore),
            float(rule.timeframe),
            rule.frequency,
            tuple(self.rule_index[id(w)] for w in rule.watchers),
            tuple(self.rule_index[id(c)] for c in rule.children),
            tuple(piece.encode() for piece in pieces),
            tuple(self.field(name) for name in names),
        )

    def roots_of(self, decoder: int, program: int) -> list[int]:
        found = self.decoders[decoder] if decoder >= 0 else None
        name = self.programs[program] if program >= 0 else ""
        return [self.rule_index[id(rule)] for rule in self.engine.roots(found, name)]

    def parse(self, line: str) -> tuple[float | None, str, str]:
        header = self.engine.parser.parse(line)
        return header.time, header.program, header.message

    def arguments(self) -> dict[str, Any]:
        ruleset, state = self.engine.ruleset, self.engine.state
        decoders = tuple(self.decoder(d) for d in self.decoders)
        rules = tuple(self.rule(r) for r in self.rules)
        by_program = tuple(
            tuple(self.decoder_index[id(d)] for d in ruleset.decoders_by_program.get(p, ()))
            for p in self.programs
        )
        return {
            "programs": tuple(p.encode() for p in self.programs),
            "field_names": tuple(self.fields),
            "special_fields": (self.fields["srcip"], self.fields["user"], self.fields["dstuser"]),
            "matchers": tuple(self.matchers),
            "decoders": decoders,
            "by_program": by_program,
            "generic": tuple(self.decoder_index[id(d)] for d in ruleset.generic_decoders),
            "rules": rules,
            "roots_of": self.roots_of,
            "parse": self.parse,
            "clock": self.engine.clock,
            "state": state,
            "source_allowed": _source_allowed,
            "start_quiet": state.start_quiet,
            "forget_oldest": correlation._forget_oldest,
            "deque": collections.deque,
            "max_keys": correlation.MAX_KEYS,
            "alert_level": self.engine.alert_level,
        }


def _source_allowed(rule: Rule, source: str | None) -> bool:
    return correlation._source_allowed(rule, {"srcip": source})

"""Decoders compiled: which lines they take (program, prematch) and the fields they read."""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rampart.hids.spec import DecoderSpec, RuleLoadError
from rampart.hids.textmatch import TextMatcher, optional_pattern

FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")

Fields = dict[str, "str | None"]
"""Decoded fields; a regex group that took no part is None (read as missing)."""


@dataclass(eq=False, slots=True)
class Decoder:
    """A compiled decoder; its ``children`` are tried, in order, on the lines it took."""

    name: str
    where: str
    prematch: TextMatcher | None
    regex: TextMatcher | None
    parent: "Decoder | None" = None
    children: list["Decoder"] = field(default_factory=list)
    names: frozenset[str] = frozenset()
    """Its name and its ancestors' (what ``decoded_as`` is checked against)."""

    def __post_init__(self) -> None:
        self.take = _taker(self.prematch, self.regex)
        self.prefix = self.prematch.prefix if self.prematch is not None else None
        self.needle = self.prematch.literal if self.prematch is not None else None
        inline = self.prefix is not None or self.needle is not None
        self.rest = _after_inline_test(self.regex) if inline else self.take

    prefix: str | None = field(init=False, repr=False)
    """A prematch that is ``^text``: tested inline by the engine before ``take``."""
    needle: str | None = field(init=False, repr=False)
    """A prematch that is plain text: tested inline by the engine before ``take``."""

    take: "Callable[[str], Fields | None]" = field(init=False, repr=False)
    """The fields this decoder reads from a message, or None when it does not take it."""
    rest: "Callable[[str], Fields | None]" = field(init=False, repr=False)
    """``take`` without the prematch when ``prefix`` or ``needle`` stands for all of it."""

    @property
    def root(self) -> "Decoder":
        node = self
        while node.parent is not None:
            node = node.parent
        return node


def _taker(
    prematch: TextMatcher | None, regex: TextMatcher | None
) -> "Callable[[str], Fields | None]":
    """A decoder's test and extraction as one function doing only what it needs."""
    if regex is None:
        if prematch is None:
            return lambda _message: {}
        test = prematch.test
        return lambda message: {} if test(message) else None
    extract = regex.extract
    if prematch is None:
        return extract
    check = prematch.test
    return lambda message: extract(message) if check(message) else None


def _after_inline_test(regex: TextMatcher | None) -> "Callable[[str], Fields | None]":
    """The fields of a line that passed the prematch: the regex alone, no literal prefilter.

    Such a line is nearly always one the regex takes, so looking for its
    literals first would only cost.
    """
    if regex is None:
        return lambda _message: {}
    search = regex.regex.search

    def extract(message: str) -> Fields | None:
        found = search(message)
        return None if found is None else found.groupdict()

    return extract


def compile_decoders(specs: Iterable[tuple[Path, DecoderSpec]]) -> dict[str, Decoder]:
    decoders: dict[str, Decoder] = {}
    parents: list[tuple[Decoder, str]] = []
    for path, spec in specs:
        where = f"{path}: decoder {spec.name}"
        if spec.name in decoders:
            raise RuleLoadError(f"{where}: name already used in {decoders[spec.name].where}")
        if spec.parent is not None and spec.program:
            raise RuleLoadError(f"{where}: 'program' belongs on the top-level decoder only")
        regex = optional_pattern(spec.regex, where, "regex")
        if regex is not None:
            for name in regex.regex.groupindex:
                if not FIELD_NAME.fullmatch(name):
                    raise RuleLoadError(f"{where}: regex: field name {name!r} is not valid")
        decoder = Decoder(
            spec.name, str(where), optional_pattern(spec.prematch, where, "prematch"), regex
        )
        decoders[spec.name] = decoder
        if spec.parent is not None:
            parents.append((decoder, spec.parent))
    for decoder, parent_name in parents:
        parent = decoders.get(parent_name)
        if parent is None:
            raise RuleLoadError(f"{decoder.where}: parent decoder {parent_name!r} does not exist")
        decoder.parent = parent
        if decoder.root is decoder:
            raise RuleLoadError(f"{decoder.where}: parent decoders form a loop")
        parent.children.append(decoder)
    return decoders

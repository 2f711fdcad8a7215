"""Rule files compiled into the trees the engine walks: decoders by program, rules by parent.

Everything is checked here, once, so that a rule set that loads cannot fail
on a line: every regex compiles, every parent (decoder, ``if_sid``,
``if_group``, ``if_matched_*``) exists, no id or decoder name is used twice.
"""

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rampart.hids.spec import DecoderSpec, RuleLoadError, RuleSpec, read_rule_file
from rampart.hids.textmatch import TextMatcher

#: The rules rampart ships (its own text), used unless the configuration names others.
SHIPPED_RULES_DIR = Path(__file__).resolve().parents[3] / "rules" / "hids"
_QUOTED = re.compile(r"\$\((\w+)\)|\{(\w+)\}")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


Fields = dict[str, "str | None"]
"""Decoded fields; a regex group that took no part is None (read as missing)."""


@dataclass(eq=False)
class Decoder:
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

    prefix: str | None = field(init=False, repr=False)
    """A prematch that is ``^text``: tested inline by the engine before ``take``."""
    needle: str | None = field(init=False, repr=False)
    """A prematch that is plain text: tested inline by the engine before ``take``."""

    take: "Callable[[str], Fields | None]" = field(init=False, repr=False)
    """The fields this decoder reads from a message, or None when it does not take it."""

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


@dataclass(eq=False)
class Rule:
    """A compiled rule; ``children`` are tried, in order, once it matched."""

    id: int
    level: int
    groups: tuple[str, ...]
    where: str
    describe: Callable[[Mapping[str, str | None]], str]
    decoded_as: str | None
    programs: frozenset[str]
    match: tuple[str, ...]
    regex: TextMatcher | None
    fields: tuple[tuple[str, TextMatcher], ...]
    srcip_in: tuple[Network, ...]
    srcip_not_in: tuple[Network, ...]
    user: re.Pattern[str] | None
    frequency: int
    timeframe: float
    same_source_ip: bool
    same_user: bool
    ignore: float
    spec: RuleSpec
    children: list["Rule"] = field(default_factory=list)
    needle: str | None = None
    """The one plain text of ``match``, tested inline (``static`` holds the other conditions)."""
    static: "Callable[[str, Fields], bool] | None" = None
    """The conditions on the message and fields alone, as one function (None: none)."""
    dynamic: bool = False
    """Whether conditions on state remain (source networks, quiet period, frequency)."""
    watchers: tuple["Rule", ...] = ()
    """The frequency rules that count this rule's matches (by id or by group)."""

    @property
    def composite(self) -> bool:
        return self.frequency > 0


@dataclass
class RuleSet:
    """Decoders by program, top-level rules, and every rule by id."""

    decoders_by_program: dict[str, list[Decoder]]
    generic_decoders: list[Decoder]
    decoders: dict[str, Decoder]
    roots: list[Rule]
    rules: dict[int, Rule]
    watchers_by_sid: dict[int, list[Rule]]
    """For each rule id, the composite rules counting its matches (``if_matched_sid``)."""
    watchers_by_group: dict[str, list[Rule]]
    files: list[Path]


def rule_files(dirs: Sequence[Path]) -> list[Path]:
    """The ``*.yaml``/``*.yml`` files of each folder, by name, folders in order."""
    files: list[Path] = []
    for folder in dirs:
        if not folder.is_dir():
            raise RuleLoadError(f"{folder}: no such rules folder")
        found = [p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()]
        files += sorted(found)
    if not files:
        raise RuleLoadError(f"no rule file (*.yaml) in {', '.join(map(str, dirs))}")
    return files


def load_ruleset(dirs: Sequence[Path] = (SHIPPED_RULES_DIR,)) -> RuleSet:
    """Read, check and compile every rule file of ``dirs``; RuleLoadError on the first problem."""
    files = rule_files(dirs)
    decoder_specs: list[tuple[Path, DecoderSpec]] = []
    rule_specs: list[tuple[Path, RuleSpec]] = []
    for path in files:
        content = read_rule_file(path)
        decoder_specs += [(path, spec) for spec in content.decoders]
        rule_specs += [(path, spec) for spec in content.rules]
    decoders = _compile_decoders(decoder_specs)
    by_program: dict[str, list[Decoder]] = {}
    generic: list[Decoder] = []
    for path, spec in decoder_specs:
        decoder = decoders[spec.name]
        if spec.parent is not None:
            continue
        if not spec.program and decoder.prematch is None:
            raise RuleLoadError(
                f"{path}: decoder {spec.name}: a top-level decoder needs 'program' or 'prematch'"
            )
        for program in spec.program:
            by_program.setdefault(program, []).append(decoder)
        if not spec.program:
            generic.append(decoder)
    for decoder in decoders.values():
        names = []
        node: Decoder | None = decoder
        while node is not None:
            names.append(node.name)
            node = node.parent
        decoder.names = frozenset(names)
    rules = _compile_rules(rule_specs, decoders)
    roots, by_sid, by_group = _link_rules(rules)
    for rule in rules.values():
        watching = list(by_sid.get(rule.id, ()))
        for group in rule.groups:
            watching += by_group.get(group, ())
        rule.watchers = tuple(dict.fromkeys(watching))
    return RuleSet(by_program, generic, decoders, roots, rules, by_sid, by_group, files)


def _compile(pattern: str, where: str, key: str) -> TextMatcher:
    try:
        return TextMatcher(pattern)
    except re.error as error:
        raise RuleLoadError(f"{where}: {key}: bad regex {pattern!r}: {error}") from None


def _matcher(pattern: str | None, where: str, key: str) -> TextMatcher | None:
    return None if pattern is None else _compile(pattern, where, key)


def _compile_decoders(specs: Iterable[tuple[Path, DecoderSpec]]) -> dict[str, Decoder]:
    decoders: dict[str, Decoder] = {}
    parents: list[tuple[Decoder, str]] = []
    for path, spec in specs:
        where = f"{path}: decoder {spec.name}"
        if spec.name in decoders:
            raise RuleLoadError(f"{where}: name already used in {decoders[spec.name].where}")
        if spec.parent is not None and spec.program:
            raise RuleLoadError(f"{where}: 'program' belongs on the top-level decoder only")
        regex = _matcher(spec.regex, where, "regex")
        if regex is not None:
            for name in regex.regex.groupindex:
                if not _FIELD.fullmatch(name):
                    raise RuleLoadError(f"{where}: regex: field name {name!r} is not valid")
        decoder = Decoder(spec.name, str(where), _matcher(spec.prematch, where, "prematch"), regex)
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


def _compile_rules(
    specs: Iterable[tuple[Path, RuleSpec]], decoders: dict[str, Decoder]
) -> dict[int, Rule]:
    rules: dict[int, Rule] = {}
    for path, spec in specs:
        where = f"{path}: rule {spec.id}"
        if spec.id in rules:
            raise RuleLoadError(f"{where}: id already used in {rules[spec.id].where}")
        if spec.decoded_as is not None and spec.decoded_as not in decoders:
            raise RuleLoadError(f"{where}: decoded_as: no decoder named {spec.decoded_as!r}")
        rules[spec.id] = _compile_rule(spec, where)
    return rules


def _compile_rule(spec: RuleSpec, where: str) -> Rule:
    composite = spec.if_matched_sid is not None or spec.if_matched_group is not None
    if composite != (spec.frequency is not None):
        raise RuleLoadError(
            f"{where}: 'frequency' and 'if_matched_sid'/'if_matched_group' go together"
        )
    if composite and spec.timeframe is None:
        raise RuleLoadError(f"{where}: a frequency rule needs a 'timeframe' (seconds)")
    if (spec.same_source_ip or spec.same_user) and not composite:
        raise RuleLoadError(f"{where}: same_source_ip/same_user apply to frequency rules only")
    if spec.timeframe is not None and spec.timeframe <= 0:
        raise RuleLoadError(f"{where}: timeframe must be more than 0 seconds")
    fields = tuple(
        (name, _compile(pattern, where, f"fields.{name}")) for name, pattern in spec.fields.items()
    )
    for name, _ in fields:
        if not _FIELD.fullmatch(name):
            raise RuleLoadError(f"{where}: fields: {name!r} is not a field name")
    networks_in, networks_out = _networks(spec.srcip, where)
    try:
        user = re.compile(spec.user) if spec.user is not None else None
    except re.error as error:
        raise RuleLoadError(f"{where}: user: bad regex {spec.user!r}: {error}") from None
    if any(not text for text in spec.match):
        raise RuleLoadError(f"{where}: match: an empty string matches every line")
    rule = Rule(
        id=spec.id,
        level=spec.level,
        groups=tuple(spec.groups),
        where=where,
        describe=_describer(spec.description),
        decoded_as=spec.decoded_as,
        programs=frozenset(spec.program),
        match=tuple(spec.match),
        regex=_matcher(spec.regex, where, "regex"),
        fields=fields,
        srcip_in=networks_in,
        srcip_not_in=networks_out,
        user=user,
        frequency=spec.frequency or 0,
        timeframe=spec.timeframe or 0.0,
        same_source_ip=spec.same_source_ip,
        same_user=spec.same_user,
        ignore=spec.ignore,
        spec=spec,
    )
    rule.static = _static_test(rule)
    rule.dynamic = bool(rule.srcip_in or rule.srcip_not_in or rule.ignore > 0 or rule.frequency)
    return rule


def _static_test(rule: Rule) -> "Callable[[str, Fields], bool] | None":
    """One function for the conditions on the message and the fields, cheapest first.

    A ``match`` of one text is left out: the engine tests ``rule.needle`` inline.
    """
    tests: list[Callable[[str, Fields], bool]] = []
    if len(rule.match) == 1:
        rule.needle = rule.match[0]
    elif rule.match:
        tests.append(_any_text(rule.match))
    if rule.regex is not None:
        test = rule.regex.test
        tests.append(lambda message, _fields: test(message))
    for name, matcher in rule.fields:
        tests.append(_field_test(name, matcher.test))
    if rule.user is not None:
        fullmatch = rule.user.fullmatch

        def user_test(_message: str, fields: Fields) -> bool:
            user = fields.get("user") or fields.get("dstuser")
            return user is not None and fullmatch(user) is not None

        tests.append(user_test)
    if not tests:
        return None
    if len(tests) == 1:
        return tests[0]
    every = tuple(tests)
    return lambda message, fields: all(test(message, fields) for test in every)


def _any_text(texts: tuple[str, ...]) -> "Callable[[str, Fields], bool]":
    """``any(text in message)``, unrolled for short lists (a generator costs more than ``in``)."""
    if len(texts) == 1:
        (one,) = texts
        return lambda message, _fields: one in message
    if len(texts) == 2:
        one, two = texts
        return lambda message, _fields: one in message or two in message
    if len(texts) == 3:
        one, two, three = texts
        return lambda message, _fields: one in message or two in message or three in message
    return lambda message, _fields: any(text in message for text in texts)


def _field_test(name: str, test: "Callable[[str], bool]") -> "Callable[[str, Fields], bool]":
    def field_test(_message: str, fields: Fields) -> bool:
        value = fields.get(name)
        return value is not None and test(value)

    return field_test


def _networks(items: Sequence[str], where: str) -> tuple[tuple[Network, ...], tuple[Network, ...]]:
    inside: list[Network] = []
    outside: list[Network] = []
    for item in items:
        text = item.strip()
        negated = text.startswith("!")
        try:
            network = ipaddress.ip_network(text.lstrip("!").strip(), strict=False)
        except ValueError:
            raise RuleLoadError(f"{where}: srcip: {item!r} is not an address or network") from None
        (outside if negated else inside).append(network)
    return tuple(inside), tuple(outside)


def _describer(template: str) -> Callable[[Mapping[str, str | None]], str]:
    """A function quoting fields into ``template`` (``$(srcip)`` or ``{srcip}``; missing: ``-``)."""
    if not _QUOTED.search(template):
        return lambda _fields: template
    pieces = _QUOTED.split(template)  # text, name, name, text, name, name, text ...
    parts: list[tuple[bool, str]] = []
    for index in range(0, len(pieces), 3):
        parts.append((False, pieces[index]))
        if index + 2 < len(pieces):
            parts.append((True, pieces[index + 1] or pieces[index + 2]))

    def describe(fields: Mapping[str, str | None]) -> str:
        return "".join((fields.get(text) or "-") if quoted else text for quoted, text in parts)

    return describe


def _link_rules(
    rules: dict[int, Rule],
) -> tuple[list[Rule], dict[int, list[Rule]], dict[str, list[Rule]]]:
    """Attach each rule under its parents; the rules without parents are the roots."""
    by_group: dict[str, list[Rule]] = {}
    for rule in rules.values():
        for group in rule.groups:
            by_group.setdefault(group, []).append(rule)
    roots: list[Rule] = []
    watch_sid: dict[int, list[Rule]] = {}
    watch_group: dict[str, list[Rule]] = {}
    for rule in rules.values():
        spec = rule.spec
        parents: list[Rule] = []
        for sid in spec.if_sid:
            if sid not in rules:
                raise RuleLoadError(f"{rule.where}: if_sid: rule {sid} does not exist")
            parents.append(rules[sid])
        for group in spec.if_group:
            if group not in by_group:
                raise RuleLoadError(f"{rule.where}: if_group: no rule is in group {group!r}")
            parents += by_group[group]
        if spec.if_matched_sid is not None:
            if spec.if_matched_sid not in rules:
                raise RuleLoadError(
                    f"{rule.where}: if_matched_sid: rule {spec.if_matched_sid} does not exist"
                )
            watch_sid.setdefault(spec.if_matched_sid, []).append(rule)
            if not spec.if_sid and not spec.if_group:
                parents.append(rules[spec.if_matched_sid])  # counted where it is matched
        if spec.if_matched_group is not None:
            if spec.if_matched_group not in by_group:
                raise RuleLoadError(
                    f"{rule.where}: if_matched_group: no rule is in group {spec.if_matched_group!r}"
                )
            watch_group.setdefault(spec.if_matched_group, []).append(rule)
            if not spec.if_sid and not spec.if_group:
                parents += by_group[spec.if_matched_group]
        parents = [parent for parent in dict.fromkeys(parents) if parent is not rule]
        for parent in parents:
            parent.children.append(rule)
        if not parents:
            roots.append(rule)
    _refuse_loops(rules)
    for rule in rules.values():
        # Frequency rules first: "the sixth failure" must win over "a failure".
        rule.children.sort(key=lambda child: not child.composite)
    return roots, watch_sid, watch_group


def _refuse_loops(rules: dict[int, Rule]) -> None:
    """A rule that is its own ancestor would make the engine descend for ever."""
    done: set[int] = set()
    for start in rules.values():
        if start.id in done:
            continue
        path: set[int] = set()
        stack: list[tuple[Rule, int]] = [(start, 0)]
        path.add(start.id)
        while stack:
            rule, index = stack.pop()
            if index < len(rule.children):
                stack.append((rule, index + 1))
                child = rule.children[index]
                if child.id in path:
                    raise RuleLoadError(f"{child.where}: its parents lead back to itself")
                if child.id not in done:
                    path.add(child.id)
                    stack.append((child, 0))
            else:
                path.discard(rule.id)
                done.add(rule.id)

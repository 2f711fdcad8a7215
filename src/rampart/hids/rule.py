"""Rules compiled: their conditions as fast tests, their description as a template."""

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from rampart.hids.decoder import FIELD_NAME, Fields
from rampart.hids.spec import RuleLoadError, RuleSpec
from rampart.hids.textmatch import TextMatcher, compile_pattern, optional_pattern

_QUOTED = re.compile(r"\$\((\w+)\)|\{(\w+)\}")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(eq=False, slots=True)
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


def compile_rule(spec: RuleSpec, where: str) -> Rule:
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
        (name, compile_pattern(pattern, where, f"fields.{name}"))
        for name, pattern in spec.fields.items()
    )
    for name, _ in fields:
        if not FIELD_NAME.fullmatch(name):
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
        regex=optional_pattern(spec.regex, where, "regex"),
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
    if len(tests) == 2:
        first, second = tests
        return lambda message, fields: first(message, fields) and second(message, fields)
    every = tuple(tests)
    return lambda message, fields: all(test(message, fields) for test in every)


def _any_text(texts: tuple[str, ...]) -> "Callable[[str, Fields], bool]":
    """``any(text in message)``: unrolled up to four texts, one regex of them beyond.

    A generator over the texts costs more than either.
    """
    if len(texts) == 1:
        (one,) = texts
        return lambda message, _fields: one in message
    if len(texts) == 2:
        one, two = texts
        return lambda message, _fields: one in message or two in message
    if len(texts) == 3:
        one, two, three = texts
        return lambda message, _fields: one in message or two in message or three in message
    if len(texts) == 4:
        one, two, three, four = texts
        return lambda message, _fields: (
            one in message or two in message or three in message or four in message
        )
    search = re.compile("|".join(map(re.escape, texts))).search
    return lambda message, _fields: search(message) is not None


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


def description_pieces(template: str) -> tuple[list[str], list[str]]:
    """A description's texts and, between them, the names of the fields quoted in.

    ``texts`` has one more item than ``names``; a missing or empty field reads ``-``.
    """
    pieces = _QUOTED.split(template)  # text, name, name, text, name, name, text ...
    texts = pieces[0::3]
    names = [pieces[i + 1] or pieces[i + 2] for i in range(0, len(pieces) - 1, 3)]
    return texts, names


def _describer(template: str) -> Callable[[Mapping[str, str | None]], str]:
    """A function quoting fields into ``template`` (``$(srcip)`` or ``{srcip}``; missing: ``-``).

    Built as one ``%`` format with the field names unrolled: replay calls it per alert.
    """
    if not _QUOTED.search(template):
        return lambda _fields: template
    pieces = _QUOTED.split(template)  # text, name, name, text, name, name, text ...
    texts: list[str] = []
    names: list[str] = []
    for index in range(0, len(pieces), 3):
        texts.append(pieces[index].replace("%", "%%"))
        if index + 2 < len(pieces):
            names.append(pieces[index + 1] or pieces[index + 2])
    form = "%s".join(texts)
    if len(names) == 1:
        (one,) = names
        return lambda fields: form % (fields.get(one) or "-",)
    if len(names) == 2:
        one, two = names
        return lambda fields: form % (fields.get(one) or "-", fields.get(two) or "-")
    every = tuple(names)
    return lambda fields: form % tuple(fields.get(name) or "-" for name in every)

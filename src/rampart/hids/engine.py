"""The log rules engine: pre-decode, decode, then walk the rule tree (ossec-logtest's phases).

A line meets only the decoders of its program (a dict lookup), then only the
top-level rules of its decoder or program; a rule that matches hands the
line to its children, and the deepest rule that matches judges it. Frequency
rules (``if_matched_sid``/``if_matched_group``) count, per source or user,
the earlier matches of what they watch within their timeframe; they are
tried before their siblings, so "the sixth failure from one address" wins
over "a failure".

Correlation uses the line's own time (so a replayed file correlates as it
happened), else the clock. Lines are cut at :data:`MAX_LINE` characters
before matching: a 1 MB line is read, never a reason to stall.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from rampart.hids.correlation import Correlation
from rampart.hids.decoder import Decoder, Fields
from rampart.hids.event import Event
from rampart.hids.rule import Rule
from rampart.hids.ruleset import RuleSet
from rampart.hids.syslog import Header, SyslogParser

MAX_LINE = 16 * 1024
DEFAULT_ALERT_LEVEL = 3
#: Messages whose decoding (and verdict, once settled) is kept (see ``LogEngine._verdict``).
SEEN_MESSAGES = 8192

Seen = tuple["Decoder | None", "Fields", "Rule | None", bool]
"""A message's decoder, fields and rule, and whether that rule needed no state (settled)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """Everything the three phases found for one line (what ``hids logtest`` shows)."""

    header: Header
    decoder: str | None
    """The deepest decoder that took the line (None: no decoder)."""
    fields: dict[str, str]
    rule: Rule | None
    """The deepest rule that matched (None: no rule)."""
    alert: bool
    event: Event | None = field(default=None)


class LogEngine:
    """A rule set with its correlation state; feed it lines in order."""

    def __init__(
        self,
        ruleset: RuleSet,
        *,
        alert_level: int = DEFAULT_ALERT_LEVEL,
        clock: Callable[[], float] = time.time,
        remember: int = SEEN_MESSAGES,
    ) -> None:
        """``remember``: messages whose decoding and settled verdict are kept (0: none)."""
        self.ruleset = ruleset
        self.alert_level = max(1, alert_level)
        self.clock = clock
        self._parser = SyslogParser()
        self._parse = self._parser.parse
        self._state = Correlation()
        self._seen: dict[tuple[str, str], Seen] = {}
        self._remember = remember
        self._root_cache: dict[tuple[str | None, str | None], list[Rule]] = {}
        self._order = {rule.id: index for index, rule in enumerate(ruleset.rules.values())}
        self._roots_by_decoder: dict[str, list[Rule]] = {}
        self._roots_by_program: dict[str, list[Rule]] = {}
        self._roots_any: list[Rule] = []
        for rule in ruleset.roots:
            if rule.decoded_as is not None:
                self._roots_by_decoder.setdefault(rule.decoded_as, []).append(rule)
            elif rule.programs:
                for program in rule.programs:
                    self._roots_by_program.setdefault(program, []).append(rule)
            else:
                self._roots_any.append(rule)

    # -- the phases ----------------------------------------------------------------

    def analyse(
        self,
        line: str,
        location: str = "stdin",
        *,
        journal: bool = False,
        when: float | None = None,
    ) -> Verdict:
        """Run ``line`` through the three phases; ``when``: its time if the line has none."""
        if len(line) > MAX_LINE:
            line = line[:MAX_LINE]
        header, decoder, fields, rule, stamp = self._run(line, journal, when)
        found = _present(fields)
        name = decoder.name if decoder is not None else None
        if rule is None:
            return Verdict(header, name, found, None, False)
        if rule.level < self.alert_level:
            return Verdict(header, name, found, rule, False)
        event = self._event(rule, fields, stamp, location, line)
        return Verdict(header, name, found, rule, True, event)

    def process(
        self,
        line: str,
        location: str = "stdin",
        *,
        journal: bool = False,
        when: float | None = None,
    ) -> Event | None:
        """The event ``line`` raises, if it raises one at or above the alert level (fast path)."""
        if len(line) > MAX_LINE:
            line = line[:MAX_LINE]
        _, _, fields, rule, stamp = self._run(line, journal, when)
        if rule is None or rule.level < self.alert_level:
            return None
        return self._event(rule, fields, stamp, location, line)

    def _run(
        self, line: str, journal: bool, when: float | None
    ) -> tuple[Header, Decoder | None, Fields, Rule | None, float]:
        """The three phases, skipped for a message whose verdict is already known."""
        header = self._parse(line, journal=journal)
        stamp = header.time
        if stamp is None:
            stamp = when if when is not None else self.clock()
        key = (header.program, header.message)
        known = self._seen.get(key)
        if known is not None and known[3]:
            return header, known[0], known[1], known[2], stamp
        decoder, fields, rule = self._verdict(key, known, stamp)
        return header, decoder, fields, rule, stamp

    def _verdict(
        self, key: tuple[str, str], known: "Seen | None", stamp: float
    ) -> tuple[Decoder | None, Fields, Rule | None]:
        """Decode (unless done before: it needs no state) and judge a message not settled.

        A message seen before whose verdict needed no state (no frequency rule,
        quiet period or source network on its way) is not judged again: cron's
        and sudo's session lines repeat word for word all day. One that did
        need state is judged each time, on the fields decoded the first time.
        """
        program, message = key
        if known is None:
            decoder, fields = self._decode(program, message)
        else:
            decoder, fields = known[0], known[1]
        rule, settled = self._judge(program, message, decoder, fields, stamp)
        if known is None and self._remember > 0:
            if len(self._seen) >= self._remember:
                self._seen.clear()
            self._seen[key] = (decoder, fields, rule, settled)
        return decoder, fields, rule

    def judge(
        self, line: str, *, journal: bool = False, when: float | None = None
    ) -> tuple[Rule | None, Fields, float]:
        """The rule that judges ``line`` (whatever its level), its fields and its time.

        For callers that need no :class:`Event` (``hids replay`` prints a line); a
        field that took no part in a match is None here.
        """
        if len(line) > MAX_LINE:
            line = line[:MAX_LINE]
        _, _, fields, rule, stamp = self._run(line, journal, when)
        return rule, fields, stamp

    def alerts(self, lines: Sequence[str]) -> list[tuple[str, Rule, Fields, float]]:
        """``(line, rule, fields, time)`` of each line whose rule is at the alert level or above.

        :meth:`judge` for a whole block of lines, in order, with the same
        state, written out as one loop (``hids replay``'s hot path: no Header,
        no call per line for the common rsyslog line or a settled message).
        :mod:`rampart.hids.native` runs the same loop in C, with the same results.
        """
        seen, clock, floor, verdict = self._seen, self.clock, self.alert_level, self._verdict
        found: list[tuple[str, Rule, Fields, float]] = []
        heads = self._parser.heads(lines, MAX_LINE)
        for line, (stamp, program, message) in zip(lines, heads, strict=True):
            if stamp is None:
                stamp = clock()
            key = (program, message)
            known = seen.get(key)
            if known is not None and known[3]:
                fields, rule = known[1], known[2]
            else:
                _, fields, rule = verdict(key, known, stamp)
            if rule is not None and rule.level >= floor:
                found.append((line, rule, fields, stamp))
        return found

    def event(self, rule: Rule, fields: Fields, stamp: float, location: str, line: str) -> Event:
        """The event of ``rule`` judging ``line`` (see :meth:`judge`)."""
        return self._event(rule, fields, stamp, location, line[:MAX_LINE])

    def _event(self, rule: Rule, fields: Fields, stamp: float, location: str, line: str) -> Event:
        return Event(
            time=stamp,
            rule_id=rule.id,
            level=rule.level,
            description=rule.describe(fields),
            location=location,
            log=line,
            groups=rule.groups,
            fields=MappingProxyType(_present(fields)),
        )

    def _decode(self, program: str, message: str) -> tuple[Decoder | None, Fields]:
        ruleset = self.ruleset
        candidates = ruleset.decoders_by_program.get(program) if program else None
        for group in (candidates, ruleset.generic_decoders):
            if not group:
                continue
            for decoder in group:
                fields = decoder.take(message)
                if fields is None:
                    continue
                node = decoder
                while node.children:
                    for child in node.children:
                        prefix = child.prefix
                        if prefix is not None and not message.startswith(prefix):
                            continue
                        needle = child.needle
                        if needle is not None and needle not in message:
                            continue
                        more = child.rest(message)
                        if more is not None:
                            if more:
                                if fields:
                                    fields.update(more)
                                else:
                                    fields = more
                            node = child
                            break
                    else:
                        break
                return node, fields
        return None, {}

    def _judge(
        self, program: str, message: str, decoder: Decoder | None, fields: Fields, stamp: float
    ) -> tuple[Rule | None, bool]:
        """The deepest matching rule, and whether no state took part in finding it.

        Each rule on the way feeds the frequency rules watching it.
        """
        names = decoder.names if decoder is not None else frozenset()
        settled = True
        fed: set[int] | None = None
        best: Rule | None = None
        candidates = self._roots(decoder, program)
        while candidates:
            for rule in candidates:
                needle = rule.needle
                if needle is not None and needle not in message:
                    continue
                if rule.decoded_as is not None and rule.decoded_as not in names:
                    continue
                if rule.programs and program not in rule.programs:
                    continue
                static = rule.static
                if static is not None and not static(message, fields):
                    continue
                if rule.dynamic:
                    settled = False
                    if not self._state.allows(rule, fields, stamp):
                        continue
                if rule.watchers:
                    settled = False
                    if fed is None:
                        fed = set()
                    self._state.count(rule.watchers, fields, stamp, fed)
                best = rule
                candidates = rule.children
                break
            else:
                break
        if best is not None and best.ignore > 0:
            self._state.start_quiet(best, fields, stamp)
        return best, settled

    @property
    def state(self) -> Correlation:
        """The correlation state (the native replay loop reads and writes it too)."""
        return self._state

    @property
    def parser(self) -> SyslogParser:
        return self._parser

    @property
    def root_programs(self) -> frozenset[str]:
        """Programs that have top-level rules of their own (``program`` without ``decoded_as``)."""
        return frozenset(self._roots_by_program)

    def roots(self, decoder: Decoder | None, program: str) -> list[Rule]:
        """The top-level rules a message of ``decoder`` and ``program`` meets, in file order."""
        return self._roots(decoder, program)

    def _roots(self, decoder: Decoder | None, program: str) -> list[Rule]:
        key_program = program if program in self._roots_by_program else None
        key = (decoder.name if decoder else None, key_program)
        roots = self._root_cache.get(key)
        if roots is None:
            found = list(self._roots_any)
            for name in decoder.names if decoder is not None else ():
                found += self._roots_by_decoder.get(name, [])
            if key_program is not None:
                found += self._roots_by_program[key_program]
            roots = sorted(dict.fromkeys(found), key=lambda rule: self._order[rule.id])
            self._root_cache[key] = roots
        return roots


def _present(fields: Fields) -> dict[str, str]:
    """The fields that hold a value."""
    return {name: value for name, value in fields.items() if value is not None}

"""Rule files compiled into the trees the engine walks: decoders by program, rules by parent.

Everything is checked here, once, so that a rule set that loads cannot fail
on a line: every regex compiles, every parent (decoder, ``if_sid``,
``if_group``, ``if_matched_*``) exists, no id or decoder name is used twice.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rampart.hids.decoder import Decoder, Fields, compile_decoders
from rampart.hids.rule import Rule, compile_rule
from rampart.hids.spec import DecoderSpec, RuleLoadError, RuleSpec, read_rule_file

__all__ = ["SHIPPED_RULES_DIR", "Decoder", "Fields", "Rule", "RuleSet", "load_ruleset"]

#: The rules rampart ships (its own text), used unless the configuration names others.
SHIPPED_RULES_DIR = Path(__file__).resolve().parents[3] / "rules" / "hids"


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
    decoders = compile_decoders(decoder_specs)
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
        rules[spec.id] = compile_rule(spec, where)
    return rules


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

"""Every shipped rule against its sample lines (tests/hids/samples.yaml)."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from rampart.hids.engine import LogEngine
from rampart.hids.ruleset import RuleSet, load_ruleset

SAMPLES: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "samples.yaml").read_text())


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return load_ruleset()


def _lines(sample: dict[str, Any]) -> list[str]:
    if "lines" in sample:
        return list(sample["lines"])
    return [sample["line"]] * int(sample.get("repeat", 1))


@pytest.mark.parametrize("sample", SAMPLES, ids=[f"{s['rule']}-{n}" for n, s in enumerate(SAMPLES)])
def test_sample_ends_at_its_rule(shipped: RuleSet, sample: dict[str, Any]) -> None:
    engine = LogEngine(shipped)
    lines = _lines(sample)
    for line in lines[:-1]:
        engine.analyse(line, "samples")
    verdict = engine.analyse(lines[-1], "samples")
    assert verdict.rule is not None, f"no rule matched {lines[-1]!r}"
    assert verdict.rule.id == sample["rule"]
    for name, value in (sample.get("fields") or {}).items():
        assert verdict.fields.get(name) == str(value), name


def test_every_shipped_rule_has_a_sample(shipped: RuleSet) -> None:
    covered = {sample["rule"] for sample in SAMPLES}
    assert set(shipped.rules) - covered == set()


def test_frequency_rules_need_all_their_lines(shipped: RuleSet) -> None:
    """The last line alone does not reach a frequency rule: the count is what fires it."""
    for sample in SAMPLES:
        if len(_lines(sample)) < 2:
            continue
        verdict = LogEngine(shipped).analyse(_lines(sample)[-1], "samples")
        assert verdict.rule is None or verdict.rule.id != sample["rule"]


def test_alert_levels_follow_the_rule(shipped: RuleSet) -> None:
    engine = LogEngine(shipped, alert_level=6)
    routine = engine.analyse(
        "Nov 16 00:00:05 web1 sshd[1]: Failed password for bob from 203.0.113.5 port 1 ssh2"
    )
    assert routine.rule is not None and routine.rule.level == 5
    assert not routine.alert and routine.event is None
    root = engine.analyse(
        "Nov 16 00:00:05 web1 sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2"
    )
    assert root.alert and root.event is not None
    assert root.event.description == "sshd: failed root login from 203.0.113.5"
    assert root.event.fields["srcip"] == "203.0.113.5"
    assert root.event.groups == ("sshd", "authentication_failed")

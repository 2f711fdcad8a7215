"""Bad rule files are refused at load, in one line naming the file and the rule."""

from pathlib import Path

import pytest

from rampart.hids.ruleset import SHIPPED_RULES_DIR, load_ruleset
from rampart.hids.spec import RuleLoadError

GOOD = """
decoders:
  - name: app
    program: app
    regex: 'from (?P<srcip>\\S+)'
rules:
  - id: 100100
    level: 0
    decoded_as: app
    description: app message
    groups: [app]
"""


def load_with(tmp_path: Path, extra: str) -> None:
    (tmp_path / "rules.yaml").write_text(GOOD + extra)
    load_ruleset([tmp_path])


def refused(tmp_path: Path, extra: str) -> str:
    with pytest.raises(RuleLoadError) as caught:
        load_with(tmp_path, extra)
    message = str(caught.value)
    assert "\n" not in message
    assert str(tmp_path / "rules.yaml") in message
    return message


def test_the_shipped_rules_load() -> None:
    ruleset = load_ruleset([SHIPPED_RULES_DIR])
    assert len(ruleset.rules) > 90 and "sshd" in ruleset.decoders_by_program


def test_a_good_file_loads(tmp_path: Path) -> None:
    load_with(tmp_path, "")


def test_yaml_error(tmp_path: Path) -> None:
    message = refused(tmp_path, "  - id: [unclosed\n")
    assert "invalid YAML at line" in message


def test_unknown_field(tmp_path: Path) -> None:
    message = refused(
        tmp_path, "  - id: 100101\n    level: 3\n    description: x\n    frequncy: 3\n"
    )
    assert "rule 100101: unknown key 'frequncy'" in message


def test_unknown_decoder_field(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("decoders:\n  - name: x\n    program: x\n    regx: a\n")
    with pytest.raises(RuleLoadError, match="decoder x: unknown key 'regx'"):
        load_ruleset([tmp_path])


def test_unknown_top_level_key(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("rule:\n  - id: 1\n")
    with pytest.raises(RuleLoadError, match="unknown key 'rule'"):
        load_ruleset([tmp_path])


def test_level_out_of_range(tmp_path: Path) -> None:
    message = refused(tmp_path, "  - id: 100101\n    level: 16\n    description: x\n")
    assert "rule 100101: key level:" in message


def test_bad_regex(tmp_path: Path) -> None:
    message = refused(
        tmp_path,
        "  - id: 100101\n    level: 3\n    if_sid: 100100\n    regex: 'a(b'\n    description: x\n",
    )
    assert "rule 100101: regex: bad regex 'a(b'" in message


def test_bad_field_regex(tmp_path: Path) -> None:
    message = refused(
        tmp_path,
        "  - id: 100101\n    level: 3\n    if_sid: 100100\n    fields: {srcip: '[x'}\n"
        "    description: x\n",
    )
    assert "rule 100101: fields.srcip: bad regex" in message


def test_missing_parent_rule(tmp_path: Path) -> None:
    message = refused(
        tmp_path, "  - id: 100101\n    level: 3\n    if_sid: 999999\n    description: x\n"
    )
    assert "rule 100101: if_sid: rule 999999 does not exist" in message


def test_missing_parent_group(tmp_path: Path) -> None:
    message = refused(
        tmp_path, "  - id: 100101\n    level: 3\n    if_group: nosuch\n    description: x\n"
    )
    assert "rule 100101: if_group: no rule is in group 'nosuch'" in message


def test_missing_matched_sid(tmp_path: Path) -> None:
    message = refused(
        tmp_path,
        "  - id: 100101\n    level: 9\n    if_matched_sid: 4242\n    frequency: 3\n"
        "    timeframe: 60\n    description: x\n",
    )
    assert "rule 100101: if_matched_sid: rule 4242 does not exist" in message


def test_missing_decoder(tmp_path: Path) -> None:
    message = refused(
        tmp_path, "  - id: 100101\n    level: 3\n    decoded_as: nosuch\n    description: x\n"
    )
    assert "rule 100101: decoded_as: no decoder named 'nosuch'" in message


def test_missing_parent_decoder(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("decoders:\n  - name: child\n    parent: nosuch\n")
    with pytest.raises(RuleLoadError, match="decoder child: parent decoder 'nosuch' does not"):
        load_ruleset([tmp_path])


def test_duplicate_id(tmp_path: Path) -> None:
    message = refused(tmp_path, "  - id: 100100\n    level: 3\n    description: again\n")
    assert "rule 100100: id already used" in message


def test_frequency_without_timeframe(tmp_path: Path) -> None:
    message = refused(
        tmp_path,
        "  - id: 100101\n    level: 9\n    if_matched_sid: 100100\n    frequency: 3\n"
        "    description: x\n",
    )
    assert "rule 100101: a frequency rule needs a 'timeframe'" in message


def test_parents_in_a_loop(tmp_path: Path) -> None:
    message = refused(
        tmp_path,
        "  - id: 100101\n    level: 3\n    if_sid: 100102\n    description: x\n"
        "  - id: 100102\n    level: 3\n    if_sid: 100101\n    description: y\n",
    )
    assert "lead back to itself" in message


def test_bad_network(tmp_path: Path) -> None:
    message = refused(
        tmp_path,
        "  - id: 100101\n    level: 3\n    if_sid: 100100\n    srcip: 300.1.1.1\n"
        "    description: x\n",
    )
    assert "rule 100101: srcip: '300.1.1.1' is not an address" in message


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(RuleLoadError, match="no rule file"):
        load_ruleset([tmp_path])


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_bytes(b"rules: []\n\xff\xfe")
    with pytest.raises(RuleLoadError, match="not UTF-8"):
        load_ruleset([tmp_path])

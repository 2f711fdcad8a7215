"""Every shipped rule against its samples; the rules file's own checks."""

from pathlib import Path

import pytest

from rampart.scan import Detector, RulesError, load_rules, shannon_entropy
from tests.scan.samples import ALNUM, SAMPLES, fake

RULES = load_rules()
DETECTOR = Detector(RULES)


def found(text: str, path: str) -> list[str]:
    return [match.rule.id for match in DETECTOR.find(text.encode(), path)]


def test_every_rule_has_samples_and_there_are_at_least_40() -> None:
    assert len(RULES.rules) >= 40
    assert sorted(SAMPLES) == sorted(rule.id for rule in RULES.rules)


@pytest.mark.parametrize("rule_id", sorted(SAMPLES))
def test_the_positive_sample_is_found_by_its_rule_alone(rule_id: str) -> None:
    (text, path), _ = SAMPLES[rule_id]
    assert found(text, path) == [rule_id]


@pytest.mark.parametrize("rule_id", sorted(SAMPLES))
def test_the_negative_sample_is_not_found_by_its_rule(rule_id: str) -> None:
    _, (text, path) = SAMPLES[rule_id]
    assert rule_id not in found(text, path)


def test_the_secret_is_the_credential_not_the_assignment() -> None:
    value = fake(ALNUM, 32)
    [match] = DETECTOR.find(f'API_KEY = "{value}"  # prod\n'.encode(), "settings.py")
    assert match.secret == value.encode()
    assert (match.line, match.rule.id) == (1, "generic-secret")


def test_lines_are_counted_and_a_key_is_reported_on_its_header() -> None:
    (key, _), _ = SAMPLES["private-key"]
    text = f"first\nsecond\n{key}\n"
    [match] = DETECTOR.find(text.encode(), "keys/id_ec")
    assert match.line == 3
    assert match.secret.decode() in key.splitlines()[1]


def test_an_allow_comment_silences_its_line_only() -> None:
    (line, path), _ = SAMPLES["github-token"]
    text = f"{line}  # rampart:allow (a revoked test token)\n{line}\n"
    assert [m.line for m in DETECTOR.find(text.encode(), path)] == [2]


@pytest.mark.parametrize(
    "text",
    [
        'API_KEY = "aaaaaaaaaaaaaaaa1"',  # low entropy
        "secret = settings.production.database_password_1",  # a dotted name
        "token = make_token_for_user_2024",  # snake_case identifier
        'password: "ENC[AES256_GCM,data:Zm9vYmFyYmF6cXV4,iv:abc,tag:def,type:str]"',  # sops
        'SECRET_KEY = get_secret_key_from_vault_2("name")',
        'API_TOKEN = "your_api_token_here_12345"',
    ],
)
def test_placeholders_code_and_encrypted_values_are_not_secrets(text: str) -> None:
    assert found(text, "settings.yaml") == []


def test_specific_rules_win_over_the_generic_one() -> None:
    (line, _), _ = SAMPLES["github-token"]
    token = line.split()[-1]
    assert found(f'GITHUB_TOKEN = "{token}"', "ci.py") == ["github-token"]


def test_password_assignment_is_for_configuration_files_only() -> None:
    assert found('password = "hunter2-in-code"', "app.py") == []
    assert found('password = "hunter2-in-code"', "app.ini") == ["password-assignment"]


def test_entropy() -> None:
    assert shannon_entropy(b"") == 0
    assert shannon_entropy(b"aaaa") == 0
    assert shannon_entropy(b"abcd") == 2
    assert 3.3 < shannon_entropy(b"not-a-config-file") < 3.4


def rules_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message.removeprefix(f"{path}: ")


GOOD = """
[[rule]]
id = "demo-token"
description = "demo token"
regex = '''demo_(?P<secret>[a-z0-9]{20})'''
keywords = ["demo_"]
"""


def test_a_small_rules_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(GOOD)
    rules = load_rules(path)
    assert [rule.id for rule in rules.rules] == ["demo-token"]
    hit = Detector(rules).find(b"x = DEMO_abcdefghij0123456789", "a")
    assert hit == []  # keywords are case-insensitive, the regex is not
    [match] = Detector(rules).find(b"x = demo_abcdefghij0123456789", "a")
    assert match.secret == b"abcdefghij0123456789"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("[a-z0-9]{20})", "[a-z0-9]{20}"), "rule 'demo-token': regex does not compile"),
        (('keywords = ["demo_"]', "keywords = []"), "rule 'demo-token': 'keywords' must be"),
        (('keywords = ["demo_"]', 'keywords = ["demo_"]\nentropy = 9'), "'entropy' must be"),
        (('keywords = ["demo_"]', 'keywords = ["demo_"]\ncolour = 1'), "unknown key 'colour'"),
        (('keywords = ["demo_"]', 'keywords = ["demo_"]\nscope = "line2"'), "'scope' must be"),
        (('keywords = ["demo_"]', 'keywords = ["demo_"]\nsecret_group = "x"'), "no group named"),
        (('id = "demo-token"', 'id = "Demo Token"'), "rule 1: 'id' must be lowercase"),
        (
            ('keywords = ["demo_"]', "keywords = [\"demo_\"]\n[rule.allow]\nregexes = ['(']"),
            "rule 'demo-token': allow: regexes does not compile",
        ),
    ],
)
def test_a_bad_rule_is_one_line_naming_file_and_rule(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    assert expected in rules_error(tmp_path, GOOD.replace(*change))


def test_duplicate_ids_empty_files_and_bad_toml(tmp_path: Path) -> None:
    assert rules_error(tmp_path, GOOD + GOOD) == "rule 'demo-token': the id is used twice"
    assert rules_error(tmp_path, "") == "no [[rule]] entries"
    assert rules_error(tmp_path, "[[rule]\n").startswith("not valid TOML")
    with pytest.raises(RulesError, match="cannot read the rules"):
        load_rules(tmp_path / "missing.toml")

"""The engine's semantics on a small rule set: parents, conditions, frequency, quiet periods."""

from pathlib import Path

import pytest

from rampart.hids.engine import LogEngine
from rampart.hids.ruleset import load_ruleset

RULES = r"""
decoders:
  - name: app
    program: app
  - name: app-login
    parent: app
    prematch: '^login '
    regex: '^login (?P<result>ok|failed) user=(?P<user>\S+) ip=(?P<srcip>\S+)'
rules:
  - id: 200000
    level: 0
    decoded_as: app
    groups: [app]
    description: app
  - id: 200001
    level: 5
    if_sid: 200000
    fields: {result: '^failed$'}
    groups: [app, login_failed]
    description: 'login failed for $(user) from {srcip}'
  - id: 200002
    level: 3
    if_sid: 200000
    fields: {result: '^ok$'}
    groups: [app, login_ok]
    description: 'login of {user}'
  - id: 200003
    level: 9
    if_sid: 200002
    srcip: ['192.0.2.0/24', '!192.0.2.128/25']
    description: 'login from the low half of the test net: $(srcip)'
  - id: 200004
    level: 10
    if_matched_sid: 200001
    frequency: 3
    timeframe: 60
    same_source_ip: true
    ignore: 30
    groups: [app, brute_force]
    description: '3 failures from $(srcip) ($(nosuch))'
  - id: 200005
    level: 11
    if_sid: 200002
    if_matched_group: login_failed
    frequency: 2
    timeframe: 600
    same_user: true
    description: '$(user) logged in after failures'
  - id: 200006
    level: 7
    if_sid: 200000
    match: ['panic', 'fatal']
    regex: 'code=\d+'
    ignore: 100
    description: 'app crashed'
"""


@pytest.fixture
def engine(tmp_path: Path) -> LogEngine:
    (tmp_path / "app.yaml").write_text(RULES)
    return LogEngine(load_ruleset([tmp_path]), alert_level=1)


def line(second: int, text: str) -> str:
    return f"Nov 16 10:{second // 60:02d}:{second % 60:02d} host app[1]: {text}"


def failed(second: int, ip: str = "203.0.113.1", user: str = "bob") -> str:
    return line(second, f"login failed user={user} ip={ip}")


def rule_of(engine: LogEngine, text: str) -> int | None:
    verdict = engine.analyse(text)
    return verdict.rule.id if verdict.rule else None


def test_description_quotes_fields_both_ways(engine: LogEngine) -> None:
    event = engine.process(failed(0))
    assert event is not None
    assert event.description == "login failed for bob from 203.0.113.1"


def test_frequency_counts_per_source(engine: LogEngine) -> None:
    assert rule_of(engine, failed(0)) == 200001
    assert rule_of(engine, failed(1, ip="198.51.100.1")) == 200001
    assert rule_of(engine, failed(2)) == 200001
    third = engine.analyse(failed(3))
    assert third.rule is not None and third.rule.id == 200004
    assert third.event is not None
    assert third.event.description == "3 failures from 203.0.113.1 (-)"
    # The other source has two: its third fires too, on its own count.
    assert rule_of(engine, failed(4, ip="198.51.100.1")) == 200001
    assert rule_of(engine, failed(5, ip="198.51.100.1")) == 200004


def test_frequency_window_slides(engine: LogEngine) -> None:
    assert rule_of(engine, failed(0)) == 200001
    assert rule_of(engine, failed(10)) == 200001
    assert rule_of(engine, failed(100)) == 200001  # the first two are out of the 60 s window
    assert rule_of(engine, failed(110)) == 200001
    assert rule_of(engine, failed(120)) == 200004


def test_quiet_period_after_firing(engine: LogEngine) -> None:
    for second in range(3):
        engine.analyse(failed(second))
    # Three more within 30 s of the alert: counted again, but the rule is quiet.
    assert [rule_of(engine, failed(s)) for s in (3, 4, 5)] == [200001, 200001, 200001]
    assert rule_of(engine, failed(40)) == 200004  # quiet period over, window full


def test_quiet_period_of_a_plain_rule(engine: LogEngine) -> None:
    assert rule_of(engine, line(0, "panic code=3")) == 200006
    assert rule_of(engine, line(50, "fatal code=4")) == 200000
    assert rule_of(engine, line(101, "fatal code=4")) == 200006


def test_match_and_regex_both_needed(engine: LogEngine) -> None:
    assert rule_of(engine, line(0, "panic without a code")) == 200000
    assert rule_of(engine, line(0, "code=1 but calm")) == 200000


def test_source_networks_with_exclusion(engine: LogEngine) -> None:
    assert rule_of(engine, line(0, "login ok user=a ip=192.0.2.10")) == 200003
    assert rule_of(engine, line(0, "login ok user=a ip=192.0.2.200")) == 200002
    assert rule_of(engine, line(0, "login ok user=a ip=2001:db8::1")) == 200002
    assert rule_of(engine, line(0, "login ok user=a ip=not-an-ip")) == 200002


def test_success_after_failures_by_user(engine: LogEngine) -> None:
    engine.analyse(failed(0, ip="203.0.113.7", user="carol"))
    assert rule_of(engine, line(5, "login ok user=carol ip=198.51.100.9")) == 200002
    engine.analyse(failed(6, ip="203.0.113.8", user="carol"))
    engine.analyse(failed(7, ip="203.0.113.9", user="carol"))
    assert rule_of(engine, line(8, "login ok user=carol ip=198.51.100.9")) == 200005
    assert rule_of(engine, line(9, "login ok user=dave ip=198.51.100.9")) == 200002


def test_no_decoder_no_rule(engine: LogEngine) -> None:
    verdict = engine.analyse("Nov 16 10:00:00 host other[1]: login failed user=x ip=1.2.3.4")
    assert verdict.decoder is None and verdict.rule is None and not verdict.alert


def test_alert_level_is_a_floor(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(RULES)
    engine = LogEngine(load_ruleset([tmp_path]), alert_level=6)
    assert engine.process(failed(0)) is None
    verdict = engine.analyse(line(1, "panic code=1"))
    assert verdict.alert and verdict.event is not None and verdict.event.level == 7


def test_a_flood_of_sources_stays_bounded(
    engine: LogEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rampart.hids import correlation

    monkeypatch.setattr(correlation, "MAX_KEYS", 10)
    for host in range(200):
        engine.analyse(failed(host % 60, ip=f"198.51.100.{host % 250}"))
    windows = engine._state._windows[200004]
    assert 0 < len(windows) <= 10
    # The most recent sources are the ones kept, and still counted.
    assert rule_of(engine, failed(59, ip="198.51.100.199")) == 200001
    assert rule_of(engine, failed(59, ip="198.51.100.199")) == 200004


MANY_TEXTS = r"""
decoders:
  - name: app
    program: app
    regex: 'user=(?P<user>\S+) ip=(?P<srcip>\S+) port=(?P<port>\d+)'
rules:
  - id: 200100
    level: 0
    decoded_as: app
    description: app
  - id: 200101
    level: 6
    if_sid: 200100
    match: ['a.b', '(x)', 'c|d', '[e]', 'f+']
    description: '100% odd: $(user) from $(srcip):{port} ($(nosuch))'
"""


@pytest.mark.parametrize("text", ["a.b", "(x)", "c|d", "[e]", "f+"])
def test_a_long_match_list_is_plain_text(tmp_path: Path, text: str) -> None:
    """Five texts are one regex inside: their regex characters must stay plain text."""
    (tmp_path / "app.yaml").write_text(MANY_TEXTS)
    engine = LogEngine(load_ruleset([tmp_path]), alert_level=1)
    event = engine.process(line(0, f"{text} user=al ip=192.0.2.1 port=22"))
    assert event is not None and event.rule_id == 200101
    assert event.description == "100% odd: al from 192.0.2.1:22 (-)"
    for near_miss in ("aXb", "x", "c", "e", "ff"):
        assert rule_of(engine, line(1, f"{near_miss} user=al ip=192.0.2.1 port=22")) == 200100

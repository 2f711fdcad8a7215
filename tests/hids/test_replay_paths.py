"""``hids replay``'s block loop (``LogEngine.alerts``) against the line-by-line path.

The replay command judges whole blocks with the syslog header read inline
and repeated messages remembered; ``judge`` with nothing remembered goes
through ``SyslogParser.parse``, a Header, decoding and the rule walk for
every line. Both must find the same rule, fields and time for every line,
with the same correlation state, on a generated log that holds every
shipped sample plus the odd shapes (long lines, bad dates, no program).
"""

import json
import random
from pathlib import Path
from typing import Any

import yaml

from rampart.hids.engine import MAX_LINE, LogEngine
from rampart.hids.ruleset import RuleSet, load_ruleset
from tests.conftest import run_rampart

SAMPLES: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "samples.yaml").read_text())
_CUT = "Nov 16 00:00:05 web1 sshd[4]: Invalid user {} from 192.0.2.5 port 12"
ODD_LINES = [
    _CUT.format("b" * (MAX_LINE + 1 - len(_CUT.format("")))),  # the cut takes the port's 2
    "",
    "Foo 16 00:00:05 web1 sshd[1]: Failed password for root from 192.0.2.1 port 1 ssh2",
    "Nov 16 00:00:05 web1 just a message without a program",
    "Nov  6 00:00:05 web1 sshd: Failed password for root from 192.0.2.2 port 2 ssh2",
    "Nov 16 00:00:05.123456 web1 sshd[9]: Invalid user x from 192.0.2.3 port 3",
    "2026-11-25T23:15:20+00:00 web1 no program here",
    "Nov 16 00:00:05 web1 sshd[4]: Failed password for "
    + "a" * MAX_LINE
    + " from 192.0.2.4 port 4 ssh2",
    "Nov 16 00:00:05 web1 sshd[4]: " + "x" * (MAX_LINE + 10),
]


def generated_log(seed: int, rounds: int = 12) -> list[str]:
    """Every sample (repeats kept in order) several times, addresses varied, odd lines mixed in."""
    rng = random.Random(seed)
    episodes: list[list[str]] = []
    for sample in SAMPLES:
        lines = list(sample["lines"]) if "lines" in sample else [sample["line"]]
        episodes.append(lines * int(sample.get("repeat", 1)))
    log: list[str] = []
    for _ in range(rounds):
        rng.shuffle(episodes)
        for episode in episodes:
            address = f"198.51.100.{rng.randrange(1, 4)}"
            log += [line.replace("203.0.113.50", address) for line in episode]
        log += rng.sample(ODD_LINES, 3)
    return log


def _line_by_line(ruleset: RuleSet, log: list[str], level: int) -> list[tuple[Any, ...]]:
    """The plain path: a Header per line, every line decoded and judged (nothing remembered)."""
    engine = LogEngine(ruleset, alert_level=level, clock=lambda: 1e9, remember=0)
    found = []
    for line in log:
        rule, fields, stamp = engine.judge(line)
        if rule is not None and rule.level >= level:
            present = {name: value for name, value in fields.items() if value is not None}
            found.append((line, rule.id, present, stamp))
    return found


def _by_blocks(ruleset: RuleSet, log: list[str], level: int, size: int) -> list[tuple[Any, ...]]:
    engine = LogEngine(ruleset, alert_level=level, clock=lambda: 1e9)
    found = []
    for start in range(0, len(log), size):
        for line, rule, fields, stamp in engine.alerts(log[start : start + size]):
            present = {name: value for name, value in fields.items() if value is not None}
            found.append((line, rule.id, present, stamp))
    return found


def test_block_loop_finds_what_the_line_path_finds() -> None:
    ruleset = load_ruleset()
    log = generated_log(seed=6)
    for level in (1, 3, 10):
        expected = _line_by_line(ruleset, log, level)
        for size in (1, 7, len(log)):
            assert _by_blocks(ruleset, log, level, size) == expected, (level, size)
    found = _line_by_line(ruleset, log, 1)
    assert len({rule_id for _, rule_id, _, _ in found}) >= 40
    assert any(rule_id == 1120 for _, rule_id, _, _ in found)  # a frequency rule fired


def test_replay_command_matches_the_line_path(tmp_path: Path) -> None:
    log = [line for line in generated_log(seed=7, rounds=4) if line[:3] == "Nov"]
    path = tmp_path / "auth.log"
    path.write_text("\n".join(log) + "\n")
    config = tmp_path / "rampart.toml"
    config.write_text("")
    result = run_rampart(
        ["hids", "replay", str(path), "--json", "--min-level", "1"],
        env={"RAMPART_CONFIG": str(config)},
    )
    assert result.returncode == 0, result.stderr
    events = json.loads(result.stdout)["events"]
    shown = [(e["log"][:80], e["rule_id"], e["fields"], e["time"]) for e in events]
    expected = _line_by_line(load_ruleset(), log, 1)
    assert shown == [(line[:80], rule, fields, stamp) for line, rule, fields, stamp in expected]

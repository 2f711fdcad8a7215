"""``rampart hids logtest`` and ``replay`` as a user runs them (a child process)."""

import json
from pathlib import Path

from tests.conftest import run_rampart

FAILED = (
    "Nov 16 00:00:{:02d} web1 sshd[2300]: Failed password for admin from 203.0.113.90 port 4 ssh2"
)


def no_config(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "rampart.toml"
    config.write_text("")
    return {"RAMPART_CONFIG": str(config)}


def test_logtest_shows_the_three_phases(tmp_path: Path) -> None:
    result = run_rampart(["hids", "logtest", "--line", FAILED.format(5)], env=no_config(tmp_path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "phase 1, pre-decoding:" in out and "program: sshd[2300]" in out
    assert "phase 2, decoding:" in out and "decoder: sshd-failed" in out
    assert "srcip: 203.0.113.90" in out
    assert "phase 3, filtering:" in out and "rule: 1101 (level 5)" in out
    assert "alert: yes" in out


def test_logtest_reads_stdin_and_correlates(tmp_path: Path) -> None:
    lines = "".join(FAILED.format(second) + "\n" for second in range(6))
    result = run_rampart(["hids", "logtest", "--json"], env=no_config(tmp_path), input_text=lines)
    assert result.returncode == 0, result.stderr
    records = [json.loads(text) for text in result.stdout.splitlines()]
    assert [r["filtering"]["rule_id"] for r in records] == [1101] * 5 + [1120]
    last = records[-1]
    assert last["predecoding"]["host"] == "web1" and last["predecoding"]["program"] == "sshd"
    assert last["decoding"] == {
        "decoder": "sshd-failed",
        "fields": {"method": "password", "user": "admin", "srcip": "203.0.113.90", "port": "4"},
    }
    assert last["filtering"]["level"] == 10 and last["alert"] is True


def test_logtest_line_without_rule(tmp_path: Path) -> None:
    result = run_rampart(
        ["hids", "logtest", "--json", "--line", "just some text"], env=no_config(tmp_path)
    )
    record = json.loads(result.stdout)
    assert record["decoding"]["decoder"] is None
    assert record["filtering"] is None and record["alert"] is False


def test_replay_prints_alerts_and_summary(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    body = "".join(FAILED.format(second) + "\n" for second in range(6))
    body += "Nov 16 00:01:00 web1 CRON[1]: pam_unix(cron:session): session closed for user root\n"
    log.write_bytes(body.encode() + b"\xff\xfe broken \x00 bytes\n")
    result = run_rampart(["hids", "replay", str(log)], env=no_config(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sum(" rule 1101: " in text for text in lines) == 5
    assert any("level 10 rule 1120: sshd: brute force" in text for text in lines)
    assert "8 lines, 6 alerts at level 3 or more" in result.stdout
    assert "  level 10: 1" in result.stdout


def test_replay_json_and_min_level(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("".join(FAILED.format(second) + "\n" for second in range(6)))
    result = run_rampart(
        ["hids", "replay", str(log), "--json", "--min-level", "10"], env=no_config(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["lines"] == 6 and report["alerts"] == 1 and report["alert_level"] == 10
    assert report["by_level"] == {"10": 1}
    assert report["by_rule"]["1120"]["count"] == 1
    (event,) = report["events"]
    assert event["rule_id"] == 1120 and event["fields"]["srcip"] == "203.0.113.90"
    assert event["location"] == str(log)


def test_replay_with_other_rules(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "mine.yaml").write_text(
        "rules:\n  - id: 100000\n    level: 4\n    regex: 'hello'\n    description: greeting\n"
    )
    log = tmp_path / "app.log"
    log.write_text("hello world\nbye\n")
    result = run_rampart(
        ["hids", "replay", str(log), "--rules", str(rules), "--json", "--summary-only"],
        env=no_config(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["by_rule"] == {
        "100000": {"count": 1, "level": 4, "description": "greeting"}
    }


def test_rules_from_the_config_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "mine.yaml").write_text(
        "rules:\n  - id: 100000\n    level: 2\n    match: 'x'\n    description: an x\n"
    )
    config = tmp_path / "rampart.toml"
    config.write_text(f'[hids]\nrules_dirs = ["{rules}"]\nalert_level = 2\n')
    result = run_rampart(
        ["hids", "logtest", "--json", "--line", "x"], env={"RAMPART_CONFIG": str(config)}
    )
    assert json.loads(result.stdout)["alert"] is True


def test_bad_rules_one_line_exit_2(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bad.yaml").write_text(
        "rules:\n  - id: 100000\n    level: 3\n    if_sid: 4242\n    description: x\n"
    )
    result = run_rampart(
        ["hids", "logtest", "--rules", str(rules), "--line", "x"], env=no_config(tmp_path)
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert f"{rules / 'bad.yaml'}: rule 100000: if_sid: rule 4242 does not exist" in result.stderr


def test_missing_file_and_bad_level(tmp_path: Path) -> None:
    missing = run_rampart(["hids", "replay", str(tmp_path / "nope.log")], env=no_config(tmp_path))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    assert "Traceback" not in missing.stderr
    level = run_rampart(
        ["hids", "logtest", "--min-level", "16", "--line", "x"], env=no_config(tmp_path)
    )
    assert level.returncode == 2 and "--min-level 16" in level.stderr

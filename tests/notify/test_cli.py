"""``rampart alerts list | send | test-email`` as a user runs them, and bad settings."""

import json
import time
from pathlib import Path

import pytest

from tests.conftest import run_rampart
from tests.notify.conftest import SmtpServer, email_config, event, make_dispatcher


def _env(tmp_path: Path, config: str) -> dict[str, str]:
    path = tmp_path / "rampart.toml"
    path.write_text(config)
    return {"RAMPART_CONFIG": str(path), "RAMPART_STATE_DIR": str(tmp_path / "state")}


def _email(port: int, extra: str = "") -> str:
    return (
        "[alerts.email]\nenabled = true\nhost = '127.0.0.1'\n"
        f"port = {port}\nto = ['ops@example.org']\ndigest_interval = '1s'\n{extra}"
    )


def test_list_send_and_test_email(smtp: SmtpServer, tmp_path: Path) -> None:
    env = _env(tmp_path, _email(smtp.port))
    result = run_rampart(["alerts", "test-email"], env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("rampart: error: SMTP 127.0.0.1:")
    assert result.stderr.count("\n") == 1

    # The daemon stored two alerts a minute ago, while the server was down.
    daemon = make_dispatcher({"email": email_config(smtp.port)}, tmp_path / "state")
    with daemon as alerts:
        alerts.publish(event(8), now=time.time() - 60)
        alerts.publish(event(4, rule_id=5501), now=time.time() - 60)
    listed = run_rampart(["alerts", "list", "--json", "--min-level", "5"], env=env)
    assert listed.returncode == 0, listed.stderr
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["rule_id"], r["level"]) for r in records] == [(5710, 8)]
    text = run_rampart(["alerts", "list"], env=env).stdout
    assert "level 4, rule 5501" in text and "level 8, rule 5710" in text

    smtp.start()
    sent = run_rampart(["alerts", "test-email"], env=env)
    assert sent.returncode == 0, sent.stderr
    assert "test message" in str(smtp.inbox.messages[0]["Subject"])
    report = json.loads(run_rampart(["alerts", "send", "--json"], env=env).stdout)
    assert report["channels"]["email"] == {"sent": 1, "queued": 0, "error": None, "next_try": None}
    assert "digest of 1 alert(s)" in str(smtp.inbox.messages[1]["Subject"])


def test_a_password_comes_from_a_file_and_is_never_printed(tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text("hunter2-very-secret\n")
    env = _env(tmp_path, _email(1, "username = 'rampart'\npassword_env = 'NOT_SET_ANYWHERE'\n"))
    result = run_rampart(["alerts", "test-email"], env=env)
    assert result.returncode == 2
    assert "environment variable NOT_SET_ANYWHERE is not set" in result.stderr
    env = _env(tmp_path, _email(1, f"username = 'rampart'\npassword_file = '{secret}'\n"))
    result = run_rampart(["alerts", "test-email"], env=env)
    assert result.returncode == 2  # nothing listens on port 1
    assert "hunter2" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("config", "said"),
    [
        ("[[alerts.webhooks]]\nname = 'x'\nurl = 'ftp://example.org/'\n", "http:// or https://"),
        ("[[alerts.webhooks]]\nname = 'x'\nurl = 'file:///etc/passwd'\n", "http:// or https://"),
        ("[alerts.email]\nto = ['ops@example.org>, evil@example.com']\n", "not an e-mail"),
        ('[alerts.email]\nsubject_prefix = "x\\r\\nBcc: a@b.c"\n', "line breaks"),
        ("[alerts.email]\nenabled = true\n", "no recipient"),
        (
            "[alerts.email]\nhost = 'smtp.example.org'\nusername = 'u'\npassword_env = 'P'\n",
            "password in clear text",
        ),
        ("[alerts]\nmin_level = 16\n", "alerts.min_level"),
        ("[alerts.responses.x]\ntype = 'exec'\nprogram = 'notify'\n", "absolute path"),
        (
            "[alerts.responses.x]\ntype = 'exec'\nprogram = '/bin/echo'\n"
            "args = ['{srcip.__class__}']\n",
            "only {srcip}",
        ),
    ],
)
def test_bad_settings_are_one_line(tmp_path: Path, config: str, said: str) -> None:
    result = run_rampart(["alerts", "list"], env=_env(tmp_path, config))
    assert result.returncode == 2
    assert said in result.stderr
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "state").exists()


def test_a_jsonl_file_in_a_missing_folder_is_refused_before_anything_is_stored(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path, f"[alerts]\njsonl = '{tmp_path}/missing/alerts.json'\n")
    result = run_rampart(["alerts", "send"], env=env)
    assert result.returncode == 2
    assert "alerts.jsonl: folder" in result.stderr and "does not exist" in result.stderr
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["alerts", "list", "--since", "soon"], "--since 'soon'"),
        (["alerts", "list", "--min-level", "16"], "a level is 0-15"),
        (["alerts", "list", "--limit", "0"], "--limit must be 1 or more"),
        (["alerts", "test-email"], "names no recipient"),
        (["alerts", "prune", "--older-than", "soon"], "--older-than: 'soon' is not a duration"),
        (["alerts", "prune", "--older-than", "0"], "--older-than must be more than 0"),
    ],
)
def test_bad_arguments_are_one_line(tmp_path: Path, args: list[str], said: str) -> None:
    result = run_rampart(args, env=_env(tmp_path, ""))
    assert result.returncode == 2
    assert said in result.stderr
    assert result.stderr.count("\n") == 1

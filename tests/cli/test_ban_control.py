"""``rampart ban add | list | status | remove | flush`` as a user runs them (dry-run backend)."""

import json
from pathlib import Path

import pytest

from tests.conftest import run_rampart


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "rampart.toml"
    config.write_text(
        '[ban]\nbackend = "log"\nprotect_ssh_sessions = false\n'
        '[ban.jails.sshd]\nfilter = "sshd"\nlogpath = ["/var/log/auth.log"]\n'
        'ignoreip = ["192.0.2.0/24"]\n'
    )
    return {"RAMPART_CONFIG": str(config), "RAMPART_STATE_DIR": str(tmp_path / "state")}


def test_add_list_status_remove(env: dict[str, str]) -> None:
    added = run_rampart(["ban", "add", "198.51.100.7", "--for", "1h"], env=env)
    assert added.returncode == 0, added.stderr
    assert "banned 198.51.100.7/32 (jail manual)" in added.stdout
    added = run_rampart(["ban", "add", "2001:db8::/64", "--jail", "sshd"], env=env)
    assert added.returncode == 0, added.stderr

    listed = [
        json.loads(line)
        for line in run_rampart(["ban", "list", "--json"], env=env).stdout.splitlines()
    ]
    assert {(b["target"], b["jail"]) for b in listed} == {
        ("198.51.100.7/32", "manual"),
        ("2001:db8::/64", "sshd"),
    }
    assert all(0 < b["remaining"] <= 3600 for b in listed)

    status = json.loads(run_rampart(["ban", "status", "--json"], env=env).stdout)
    assert status["daemon"] == "not running"
    assert status["jails"]["sshd"]["bans"] == 1
    assert status["jails"]["manual"]["bans"] == 1
    assert status["jails"]["sshd"]["maxretry"] == 5

    removed = run_rampart(["ban", "remove", "198.51.100.7"], env=env)
    assert removed.returncode == 0, removed.stderr
    flushed = run_rampart(["ban", "flush", "--jail", "sshd"], env=env)
    assert flushed.returncode == 0 and "lifted 1 ban" in flushed.stdout
    assert run_rampart(["ban", "list"], env=env).stdout.strip() == "no bans in force"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["ban", "add", "198.51.100.300"], "not an IP address"),
        (["ban", "add", "198.51.100.7; rm -rf /"], "not an IP address"),
        (["ban", "add", "192.0.2.9"], "ignoreip"),
        (["ban", "add", "192.0.2.9", "--force"], "ignoreip"),
        (["ban", "add", "198.51.100.7", "--for", "soon"], "--for"),
        (["ban", "add", "198.51.100.7", "--jail", "nope"], "no jail 'nope'"),
        (["ban", "status", "nope"], "no jail 'nope'"),
        (["ban", "remove", "not-an-ip"], "not an IP address"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    env: dict[str, str], args: list[str], said: str
) -> None:
    result = run_rampart(args, env=env)
    assert result.returncode == 2
    assert said in result.stderr
    assert result.stderr.count("\n") == 1
    assert run_rampart(["ban", "list"], env=env).stdout.strip() == "no bans in force"

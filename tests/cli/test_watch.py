"""``rampart watch`` as a user starts it: no configuration, a dry run, a clean stop."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

AUTH_LOG = Path("/var/log/auth.log")


@pytest.mark.skipif(
    not AUTH_LOG.exists() and not os.path.exists("/usr/bin/journalctl"),
    reason="neither /var/log/auth.log nor journalctl: this host has no sshd log to follow",
)
def test_with_no_config_it_protects_sshd_from_whatever_log_the_host_has(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RAMPART_CONFIG"}
    env["RAMPART_STATE_DIR"] = str(tmp_path / "state")
    process = subprocess.Popen(
        [sys.executable, "-m", "rampart.cli.main", "watch", "--dry-run"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stderr is not None
    ready = ""
    deadline = time.monotonic() + 30
    while "ready" not in ready and time.monotonic() < deadline:
        ready = process.stderr.readline()
        if not ready:
            break
    expected = f"sshd (file:{AUTH_LOG})" if AUTH_LOG.exists() else "sshd (journal:sshd)"
    try:
        assert expected in ready, ready
    finally:
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=15)
    assert process.returncode == 0, rest
    assert "Traceback" not in rest


def test_a_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "rampart.toml"
    config.write_text('[ban.jails.sshd]\nmaxretry = "many"\n')
    result = subprocess.run(
        [sys.executable, "-m", "rampart.cli.main", "--config", str(config), "watch"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "ban.jails.sshd.maxretry" in result.stderr

"""``rampart ssh harden`` against a real sshd on a free loopback port."""

import dataclasses
import importlib
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rampart.ssh import HARDENED, HardenError, HardenPlan, dropin_path, harden, set_option
from rampart.ssh.harden import banner, effective
from rampart.system import run

# the module, not the function of the same name that rampart.ssh exports
harden_module = importlib.import_module("rampart.ssh.harden")
SSHD = shutil.which("sshd", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
needs_sshd = pytest.mark.skipif(
    SSHD is None or os.geteuid() != 0, reason="needs root and sshd (apt-get install openssh-server)"
)
PRIVSEP_DIR = Path("/run/sshd")


# --- the text editor, no sshd needed ---------------------------------------

EDITED = """\
# top comment
Include /etc/ssh/sshd_config.d/*.conf
permitrootlogin yes   # old
#PasswordAuthentication yes
PermitRootLogin prohibit-password
Match User backup
    PermitRootLogin yes
    MaxAuthTries 10
"""


def test_set_option_replaces_first_comments_duplicates_and_spares_match() -> None:
    text = set_option(EDITED, "PermitRootLogin", "no")
    text = set_option(text, "MaxAuthTries", "3")
    assert text == (
        "# top comment\n"
        "Include /etc/ssh/sshd_config.d/*.conf\n"
        "PermitRootLogin no\n"
        "#PasswordAuthentication yes\n"
        "# rampart: PermitRootLogin prohibit-password\n"
        "MaxAuthTries 3\n"
        "Match User backup\n"
        "    PermitRootLogin yes\n"
        "    MaxAuthTries 10\n"
    )


def test_set_option_appends_without_match_and_reads_equals_sign() -> None:
    assert set_option("Port 22", "MaxAuthTries", "3") == "Port 22\nMaxAuthTries 3\n"
    assert set_option("MaxAuthTries=6\n", "maxauthtries", "3") == "maxauthtries 3\n"


def test_dropin_goes_where_the_first_include_reads() -> None:
    assert dropin_path(EDITED) == Path("/etc/ssh/sshd_config.d/00-rampart.conf")
    assert dropin_path("Include extra.conf\n") is None
    assert dropin_path("Port 22\n") is None


# --- a real sshd --------------------------------------------------------------


@dataclass
class Sshd:
    config: Path
    port: int
    process: "subprocess.Popen[bytes]"
    homes: Path  # an account home with a key
    empty: Path  # an account home without one


@pytest.fixture
def privsep_dir() -> Iterator[None]:
    made = not PRIVSEP_DIR.exists()
    if made:
        PRIVSEP_DIR.mkdir(mode=0o755)
    yield
    if made:
        PRIVSEP_DIR.rmdir()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def weak_config(tmp_path: Path, port: int, extra: str = "") -> str:
    return (
        f"# a weak test sshd\n"
        f"{extra}"
        f"Port {port}\n"
        f"ListenAddress 127.0.0.1\n"
        f"HostKey {tmp_path / 'host_ed25519'}\n"
        f"PidFile {tmp_path / 'sshd.pid'}\n"
        "PermitRootLogin yes\n"
        "# passwords welcome\n"
        "PasswordAuthentication yes\n"
        "MaxAuthTries 6\n"
        "Match Address 192.0.2.0/24\n"
        "    PasswordAuthentication yes\n"
        "    MaxAuthTries 10\n"
    )


def start_sshd(tmp_path: Path, text: str) -> Iterator[Sshd]:
    assert SSHD is not None
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "host_ed25519")])
    config = tmp_path / "sshd_config"
    config.write_text(text)
    port = int(text.split("Port ", 1)[1].split()[0])
    homes = tmp_path / "alice"
    (homes / ".ssh").mkdir(parents=True)
    (homes / ".ssh" / "authorized_keys").write_text("ssh-ed25519 AAAA test\n")
    empty = tmp_path / "nobody"
    empty.mkdir()
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.DEVNULL)
    try:
        banner(("127.0.0.1", port), 10.0)
        yield Sshd(config, port, process, homes, empty)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


@pytest.fixture
def sshd(tmp_path: Path, privsep_dir: None) -> Iterator[Sshd]:
    yield from start_sshd(tmp_path, weak_config(tmp_path, _free_port()))


def wanted() -> dict[str, str]:
    return {key.lower(): value for key, value in HARDENED}


@needs_sshd
def test_harden_changes_file_reloads_and_sshd_still_answers(sshd: Sshd) -> None:
    done = harden(sshd.config, homes=[sshd.empty, sshd.homes])
    # X11Forwarding and PermitEmptyPasswords are already "no" by sshd's defaults
    assert [str(c) for c in done.changes] == [
        "PermitRootLogin yes -> no",
        "PasswordAuthentication yes -> no",
        "KbdInteractiveAuthentication yes -> no",
        "MaxAuthTries 6 -> 3",
        "LoginGraceTime 120 -> 30",
    ]
    values = effective("sshd", sshd.config)
    assert {k: values[k][0] for k in wanted()} == wanted()
    assert banner(("127.0.0.1", sshd.port), 5.0).startswith("SSH-2.0-")
    assert sshd.process.poll() is None
    text = sshd.config.read_text()
    assert "# a weak test sshd\n" in text and "# passwords welcome\n" in text
    assert text.endswith(
        "Match Address 192.0.2.0/24\n    PasswordAuthentication yes\n    MaxAuthTries 10\n"
    )
    assert sshd.config.with_name("sshd_config.rampart-bak").read_text() == done.old_text
    assert harden(sshd.config, homes=[sshd.homes]).changes == ()
    # the running sshd took the new file: it offers only public keys now
    assert "Permission denied (publickey)." in offered_methods(sshd.port)


def offered_methods(port: int) -> str:
    """What a real ssh client is told when it has no key to offer."""
    result = run(
        [
            "ssh",
            "-p",
            str(port),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "IdentityFile=/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "nobody@127.0.0.1",
            "true",
        ],
        check=False,
        timeout=10.0,
    )
    return result.stderr


@needs_sshd
def test_invalid_change_is_caught_before_writing(sshd: Sshd) -> None:
    before = sshd.config.read_text()
    broken = (*HARDENED, ("MaxStartups", "not-a-number"))
    with pytest.raises(HardenError, match=r"would not load.*nothing was changed"):
        harden(sshd.config, homes=[sshd.homes], settings=broken)
    assert sshd.config.read_text() == before


@needs_sshd
def test_sshd_t_failure_after_writing_is_rolled_back(
    sshd: Sshd, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plan that passed its check but writes a file sshd -t rejects (the test hook)."""
    before = sshd.config.read_text()
    real_plan = harden_module.plan

    def broken_plan(*args: Any, **kwargs: Any) -> HardenPlan:
        good: HardenPlan = real_plan(*args, **kwargs)
        return dataclasses.replace(good, new_text="MaxStartups not-a-number\n" + good.new_text)

    monkeypatch.setattr(harden_module, "plan", broken_plan)
    with pytest.raises(
        HardenError, match=r"Invalid MaxStartups.*previous configuration was restored"
    ):
        harden(sshd.config, homes=[sshd.homes])
    assert sshd.config.read_text() == before
    assert banner(("127.0.0.1", sshd.port), 5.0).startswith("SSH-2.0-")


@needs_sshd
def test_failed_banner_check_rolls_back_and_reloads(sshd: Sshd) -> None:
    before = sshd.config.read_text()
    assert "publickey,password,keyboard-interactive" in offered_methods(sshd.port)
    with pytest.raises(HardenError, match=r"no SSH banner.*restored and sshd reloaded"):
        harden(
            sshd.config, homes=[sshd.homes], check_address=("127.0.0.1", _free_port()), timeout=2.0
        )
    assert sshd.config.read_text() == before
    assert effective("sshd", sshd.config)["permitrootlogin"] == ["yes"]
    # reloaded again with the old file: passwords are offered again
    assert "publickey,password,keyboard-interactive" in offered_methods(sshd.port)
    assert banner(("127.0.0.1", sshd.port), 5.0).startswith("SSH-2.0-")


@needs_sshd
def test_password_off_is_refused_without_keys_and_forced(sshd: Sshd) -> None:
    before = sshd.config.read_text()
    with pytest.raises(HardenError, match="refusing to turn off password logins"):
        harden(sshd.config, homes=[sshd.empty])
    assert sshd.config.read_text() == before
    done = harden(sshd.config, homes=[sshd.empty], force=True)
    assert any(c.keyword == "PasswordAuthentication" for c in done.changes)
    assert effective("sshd", sshd.config)["passwordauthentication"] == ["no"]


@needs_sshd
def test_dry_run_changes_nothing(sshd: Sshd) -> None:
    before = sshd.config.read_text()
    done = harden(sshd.config, homes=[sshd.homes], dry_run=True)
    assert sshd.config.read_text() == before
    assert not sshd.config.with_name("sshd_config.rampart-bak").exists()
    assert "-PermitRootLogin yes\n+PermitRootLogin no\n" in done.diff()


@needs_sshd
def test_dropin_when_an_include_sets_weaker_values_first(tmp_path: Path, privsep_dir: None) -> None:
    included = tmp_path / "sshd_config.d"
    included.mkdir()
    (included / "50-cloud-init.conf").write_text("PasswordAuthentication yes\nMaxAuthTries 8\n")
    text = weak_config(tmp_path, _free_port(), extra=f"Include {included}/*.conf\n")
    for server in start_sshd(tmp_path, text):
        done = harden(server.config, homes=[server.homes])
        dropin = included / "00-rampart.conf"
        assert done.dropin == dropin
        assert "PasswordAuthentication no\n" in dropin.read_text()
        assert "MaxAuthTries 3\n" in dropin.read_text()
        assert (
            (included / "50-cloud-init.conf").read_text().startswith("PasswordAuthentication yes")
        )
        values = effective("sshd", server.config)
        assert {k: values[k][0] for k in wanted()} == wanted()
        assert banner(("127.0.0.1", server.port), 5.0).startswith("SSH-2.0-")


def test_cli_dry_run_prints_the_diff(tmp_path: Path) -> None:
    from tests.conftest import run_rampart

    if SSHD is None or os.geteuid() != 0:
        pytest.skip("needs root and sshd")
    made = not PRIVSEP_DIR.exists()
    if made:
        PRIVSEP_DIR.mkdir(mode=0o755)
    try:
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "host_ed25519")])
        config = tmp_path / "sshd_config"
        config.write_text(weak_config(tmp_path, 2222))
        before = config.read_text()
        result = run_rampart(["ssh", "harden", "--config", str(config), "--dry-run", "--force"])
        assert result.returncode == 0, result.stderr
        assert "+PermitRootLogin no" in result.stdout
        assert config.read_text() == before
    finally:
        if made:
            PRIVSEP_DIR.rmdir()

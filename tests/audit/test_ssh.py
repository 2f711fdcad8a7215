"""SSH checks over the real ``sshd -T`` of test configurations (never a running sshd)."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from rampart.audit import Check, Facts, Status, Unavailable, load_checks, run_audit
from rampart.audit.collectors.host import collect_sshd
from rampart.system import run

SSHD = shutil.which("sshd", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
needs_sshd = pytest.mark.skipif(
    SSHD is None, reason="sshd is not installed (apt-get install openssh-server)"
)
PRIVSEP_DIR = Path("/run/sshd")

HARDENED = """\
Port 2222
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
MaxAuthTries 3
AllowGroups ssh-users
AllowUsers alice bob
AllowUsers carol
"""
WEAK = """\
Port 22
PermitRootLogin prohibit-password
PasswordAuthentication yes
KbdInteractiveAuthentication yes
MaxAuthTries 6
"""


@pytest.fixture
def privsep_dir() -> Iterator[None]:
    """sshd -T as root wants /run/sshd, which only the ssh service creates; made as it does."""
    made = os.geteuid() == 0 and not PRIVSEP_DIR.exists()
    if made:
        PRIVSEP_DIR.mkdir(mode=0o755)
    yield
    if made:
        PRIVSEP_DIR.rmdir()


@pytest.fixture
def host_key(tmp_path: Path) -> Path:
    key = tmp_path / "host_ed25519"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
    return key


def sshd_facts(tmp_path: Path, host_key: Path, text: str) -> Facts:
    config = tmp_path / "sshd_config"
    config.write_text(text)
    return Facts({"sshd": lambda: collect_sshd(config=config, host_key=host_key)})


def ssh_checks() -> list[Check]:
    return [check for check in load_checks() if check.meta.id.startswith("SSH-")]


def results(facts: Facts) -> dict[str, list[tuple[Status, str, str]]]:
    by_check: dict[str, list[tuple[Status, str, str]]] = {}
    for finding in run_audit(facts, ssh_checks()).findings:
        by_check.setdefault(finding.check, []).append(
            (finding.status, finding.resource, finding.evidence)
        )
    return by_check


@needs_sshd
@pytest.mark.usefixtures("privsep_dir")
def test_sshd_t_is_read_with_repeated_keys(tmp_path: Path, host_key: Path) -> None:
    config = sshd_facts(tmp_path, host_key, HARDENED).get("sshd")
    assert config["port"] == ["2222"]
    assert config["allowusers"] == ["alice", "bob", "carol"]
    assert config["permitrootlogin"] == ["no"]
    assert "hostkey" in config and config["hostkey"] == [str(host_key)]


@needs_sshd
@pytest.mark.usefixtures("privsep_dir")
def test_a_hardened_sshd_passes_every_check(tmp_path: Path, host_key: Path) -> None:
    found = results(sshd_facts(tmp_path, host_key, HARDENED))
    assert sorted(found) == [f"SSH-00{n}" for n in range(1, 7)]
    for check, findings in found.items():
        assert [status for status, _, _ in findings] == [Status.PASS], (check, findings)
    assert found["SSH-001"] == [(Status.PASS, "sshd port 2222", "not the default port")]
    assert "AllowGroups ssh-users" in found["SSH-006"][0][2]


@needs_sshd
@pytest.mark.usefixtures("privsep_dir")
def test_a_weak_sshd_fails_every_check(tmp_path: Path, host_key: Path) -> None:
    found = results(sshd_facts(tmp_path, host_key, WEAK))
    for check, findings in found.items():
        assert [status for status, _, _ in findings] == [Status.FAIL], (check, findings)
    assert found["SSH-001"][0][1] == "sshd port 22"
    # sshd -T spells prohibit-password by its old name; either way root gets in with a key.
    assert found["SSH-002"][0][2] in (
        "PermitRootLogin without-password",
        "PermitRootLogin prohibit-password",
    )
    assert found["SSH-005"][0][2] == "MaxAuthTries 6"


@needs_sshd
@pytest.mark.usefixtures("privsep_dir")
def test_a_listen_address_with_port_22_counts_whatever_port_says(
    tmp_path: Path, host_key: Path
) -> None:
    text = "Port 2222\nListenAddress 127.0.0.1:22\nListenAddress 127.0.0.1\n"
    found = results(sshd_facts(tmp_path, host_key, text))
    assert [(s, r) for s, r, _ in found["SSH-001"]] == [
        (Status.FAIL, "sshd port 22"),
        (Status.PASS, "sshd port 2222"),
    ]


@needs_sshd
@pytest.mark.usefixtures("privsep_dir")
def test_authentication_methods_publickey_shuts_out_passwords(
    tmp_path: Path, host_key: Path
) -> None:
    text = WEAK + "AuthenticationMethods publickey\n"
    found = results(sshd_facts(tmp_path, host_key, text))
    assert found["SSH-003"][0][0] is Status.PASS
    assert found["SSH-004"][0][0] is Status.PASS


@needs_sshd
@pytest.mark.usefixtures("privsep_dir")
def test_sshd_failure_skips_the_checks_with_its_message(tmp_path: Path) -> None:
    facts = sshd_facts(tmp_path, tmp_path / "no-such-key", HARDENED)
    with pytest.raises(Unavailable, match="Unable to load host key"):
        facts.get("sshd")
    report = run_audit(facts, ssh_checks())
    assert {f.status for f in report.findings} == {Status.SKIPPED}
    assert all("no hostkeys available" in (f.reason or "") for f in report.findings)


def test_sshd_missing_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match=r"^sshd is not installed$"):
        collect_sshd(sshd=str(tmp_path / "sshd"), config=tmp_path / "sshd_config")

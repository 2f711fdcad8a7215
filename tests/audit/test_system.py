"""System checks over real files: sudoers, apt.conf.d, SUID and world-writable walks."""

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from rampart.audit import Check, Facts, Finding, Status, Unavailable, load_checks, run_audit
from rampart.audit.collectors.host import (
    COLLECTORS,
    collect_apt_periodic,
    collect_sudoers,
    collect_suid_files,
    collect_world_writable,
)
from rampart.system import run


def check(check_id: str) -> Check:
    return next(c for c in load_checks() if c.meta.id == check_id)


def findings(check_id: str, facts: Facts) -> list[Finding]:
    return run_audit(facts, [check(check_id)]).findings


def test_every_ssh_and_system_check_loads_with_its_id() -> None:
    loaded = {c.meta.id: c for c in load_checks()}
    for check_id in [f"SSH-00{n}" for n in range(1, 7)] + [f"SYS-00{n}" for n in range(1, 5)]:
        assert check_id in loaded, check_id
    assert {loaded[f"SSH-00{n}"].meta.practice for n in range(1, 7)} == {"3"}
    assert [loaded[f"SYS-00{n}"].meta.practice for n in range(1, 5)] == ["8", "0", "12", "12"]
    assert all(loaded[i].meta.fix for i in loaded if i[:3] in ("SSH", "SYS"))
    assert set(COLLECTORS) == {"sshd", "sudoers", "apt_periodic", "suid_files", "world_writable"}


# --- SYS-001 sudoers ------------------------------------------------------------

SUDOERS = """\
# deploy ALL=(ALL) NOPASSWD: ALL   (a comment, not a grant)
Defaults env_reset
Defaults:deploy !requiretty
Cmnd_Alias EVERYTHING = ALL
Cmnd_Alias RESTART = /usr/bin/systemctl restart app
%sudo ALL=(ALL:ALL) ALL
deploy ALL=(ALL) NOPASSWD: ALL
bob ALL = (root) NOPASSWD: EVERYTHING
carol ALL=(root) NOPASSWD: RESTART, /usr/bin/journalctl
dave ALL=(root) NOPASSWD: /bin/ls, PASSWD: ALL
erin ALL = (root) NOPASSWD:SETENV: /bin/true, \\
    ALL
#1000 ALL=(ALL) NOPASSWD: ALL
this is = = :: ,, (not sudoers at all
@includedir /etc/sudoers.d
"""


def sudoers_tree(tmp_path: Path) -> tuple[Path, Path]:
    main = tmp_path / "sudoers"
    main.write_text(SUDOERS)
    drop_ins = tmp_path / "sudoers.d"
    drop_ins.mkdir()
    (drop_ins / "90-cloud-init-users").write_text("admin ALL=(ALL) NOPASSWD:ALL\n")
    (drop_ins / "50-ops").write_text("%ops ALL=(ALL) ALL\n")
    (drop_ins / "README.txt").write_text("x ALL=(ALL) NOPASSWD: ALL\n")  # sudo skips: a dot
    (drop_ins / "ops~").write_text("y ALL=(ALL) NOPASSWD: ALL\n")  # sudo skips: a backup
    return main, drop_ins


def test_sudoers_lines_keep_file_and_number(tmp_path: Path) -> None:
    main, drop_ins = sudoers_tree(tmp_path)
    lines = collect_sudoers(sudoers=main, drop_ins=drop_ins)
    assert {line.file for line in lines} == {
        str(main),
        str(drop_ins / "50-ops"),
        str(drop_ins / "90-cloud-init-users"),
    }
    erin = next(line for line in lines if line.text.startswith("erin"))
    assert (erin.number, erin.text) == (11, "erin ALL = (root) NOPASSWD:SETENV: /bin/true, ALL")
    assert not any("comment" in line.text for line in lines)


def test_nopasswd_all_is_one_finding_per_line(tmp_path: Path) -> None:
    main, drop_ins = sudoers_tree(tmp_path)
    facts = Facts({"sudoers": lambda: collect_sudoers(sudoers=main, drop_ins=drop_ins)})
    found = {(f.status, f.resource) for f in findings("SYS-001", facts)}
    assert found == {
        (Status.FAIL, f"{main}:7"),  # deploy
        (Status.FAIL, f"{main}:8"),  # bob, through an alias of ALL
        (Status.FAIL, f"{main}:11"),  # erin: the tag carries over to ALL
        (Status.FAIL, f"{main}:13"),  # a user by uid
        (Status.FAIL, f"{drop_ins / '90-cloud-init-users'}:1"),
        (Status.PASS, str(drop_ins / "50-ops")),
    }


def test_sudoers_missing_or_unreadable_is_skipped(tmp_path: Path) -> None:
    facts = Facts({"sudoers": lambda: collect_sudoers(sudoers=tmp_path / "none")})
    [skipped] = findings("SYS-001", facts)
    assert skipped.status is Status.SKIPPED
    assert skipped.reason == f"{tmp_path / 'none'} does not exist (is sudo installed?)"
    (tmp_path / "dir").mkdir()
    with pytest.raises(Unavailable, match="cannot read"):
        collect_sudoers(sudoers=tmp_path / "dir", drop_ins=tmp_path / "none.d")


# --- SYS-002 automatic updates ----------------------------------------------------


def apt_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    conf = tmp_path / "apt.conf.d"
    conf.mkdir()
    for name, text in files.items():
        (conf / name).write_text(text)
    return conf


def test_automatic_updates_configured(tmp_path: Path) -> None:
    conf = apt_dir(
        tmp_path,
        {
            "10periodic": 'APT::Periodic::Update-Package-Lists "0"; // off, for now\n',
            "20auto-upgrades": (
                "/* written by dpkg-reconfigure */\n"
                'APT::Periodic::Update-Package-Lists "1";\n'
                'APT {\n  Periodic {\n    Unattended-Upgrade "1";\n  };\n};\n'
            ),
            "99off.bak": 'APT::Periodic::Unattended-Upgrade "0";\n',  # APT skips it
            "50unattended-upgrades": (
                'Unattended-Upgrade::Origins-Pattern {\n  "origin=Debian,label=Debian";\n};\n'
            ),
        },
    )
    # dpkg itself is surely installed: the real dpkg-query answers for it.
    apt = collect_apt_periodic(conf_dir=conf, package="dpkg")
    assert apt.settings == {"update-package-lists": "1", "unattended-upgrade": "1"}
    assert apt.origins["unattended-upgrade"] == str(conf / "20auto-upgrades")
    facts = Facts({"apt_periodic": lambda: apt})
    found = [(f.status, f.resource) for f in findings("SYS-002", facts)]
    assert found == [
        (Status.PASS, "package dpkg"),
        (Status.PASS, "APT::Periodic::Update-Package-Lists"),
        (Status.PASS, "APT::Periodic::Unattended-Upgrade"),
    ]


def test_automatic_updates_missing(tmp_path: Path) -> None:
    conf = apt_dir(tmp_path, {"20auto-upgrades": 'APT::Periodic::Update-Package-Lists "1";\n'})
    apt = collect_apt_periodic(conf_dir=conf, package="rampart-no-such-package")
    assert not apt.installed
    found = [
        (f.status, f.resource, f.evidence)
        for f in findings("SYS-002", Facts({"apt_periodic": lambda: apt}))
    ]
    assert found == [
        (Status.FAIL, "package rampart-no-such-package", "not installed"),
        (
            Status.PASS,
            "APT::Periodic::Update-Package-Lists",
            f'"1" (in {conf / "20auto-upgrades"})',
        ),
        (Status.FAIL, "APT::Periodic::Unattended-Upgrade", "unset"),
    ]


def test_no_dpkg_query_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="program not found"):
        collect_apt_periodic(conf_dir=tmp_path, dpkg_query=str(tmp_path / "dpkg-query"))


# --- SYS-003 setuid/setgid --------------------------------------------------------


def special_tree(tmp_path: Path) -> tuple[Path, Path, Path]:
    """bin/ with one packaged setgid file, one stray setuid file; local/ with one more."""
    bin_dir, local, info = tmp_path / "bin", tmp_path / "local", tmp_path / "info"
    for directory in (bin_dir, local / "bin", info):
        directory.mkdir(parents=True)
    for path, mode in (
        (bin_dir / "packaged", 0o2755),
        (bin_dir / "stray", 0o4755),
        (bin_dir / "plain", 0o755),
        (local / "bin" / "tool", 0o4755),
    ):
        path.write_text("#!/bin/sh\n")
        os.chmod(path, mode)
    (bin_dir / "link-to-stray").symlink_to(bin_dir / "stray")
    # dpkg lists a path through a symlinked directory, as with merged /usr (/bin/su).
    (tmp_path / "merged").symlink_to(bin_dir)
    (info / "fakepkg:amd64.list").write_text(f"/.\n{tmp_path}/merged\n{tmp_path}/merged/packaged\n")
    return bin_dir, local, info


def test_unexpected_setid_files(tmp_path: Path) -> None:
    bin_dir, local, info = special_tree(tmp_path)
    suid = collect_suid_files(
        roots=[str(bin_dir), str(local), str(tmp_path / "merged")],
        dpkg_info=info,
        local_prefixes=[str(local)],
    )
    assert suid.walk.roots == [str(bin_dir), str(local)], "the symlinked root is walked once"
    found = {
        (f.status, f.resource): f.evidence
        for f in findings("SYS-003", Facts({"suid_files": lambda: suid}))
    }
    assert found == {
        (
            Status.PASS,
            str(bin_dir / "packaged"),
        ): f"setgid (uid {os.getuid()}, gid {os.getgid()}), shipped by fakepkg",
        (
            Status.FAIL,
            str(bin_dir / "stray"),
        ): f"setuid (uid {os.getuid()}, gid {os.getgid()}), shipped by no package",
        (
            Status.FAIL,
            str(local / "bin" / "tool"),
        ): f"setuid (uid {os.getuid()}, gid {os.getgid()}), in a local directory",
    }


def test_no_dpkg_database_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="no dpkg database"):
        collect_suid_files(roots=[str(tmp_path)], dpkg_info=tmp_path / "info")


def test_a_walk_out_of_time_is_skipped_not_passed(tmp_path: Path) -> None:
    bin_dir, _, info = special_tree(tmp_path)
    suid = collect_suid_files(roots=[str(bin_dir)], dpkg_info=info, time_limit=0)
    [finding] = findings("SYS-003", Facts({"suid_files": lambda: suid}))
    assert (finding.status, finding.resource) == (Status.SKIPPED, str(bin_dir))
    assert finding.reason is not None and finding.reason.startswith("stopped after 0 s")


# --- SYS-004 world-writable --------------------------------------------------------


def test_world_writable_files_and_directories(tmp_path: Path) -> None:
    etc, usr = tmp_path / "etc", tmp_path / "usr"
    (etc / "open").mkdir(parents=True)
    (etc / "shared").mkdir()
    (usr / "lib").mkdir(parents=True)
    (etc / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (etc / "writable.conf").write_text("x\n")
    os.chmod(etc / "writable.conf", 0o666)  # noqa: S103  (what the check must find)
    os.chmod(etc / "open", 0o777)  # noqa: S103  (what the check must find)
    os.chmod(etc / "shared", 0o1777)  # noqa: S103  (what the check must find)
    (etc / "link").symlink_to("passwd")  # symlinks are always 0777: not a finding
    walk = collect_world_writable(roots=[str(etc), str(usr), str(usr / "lib")])
    assert walk.roots == [str(etc), str(usr)]
    found = [
        (f.status, f.resource, f.evidence)
        for f in findings("SYS-004", Facts({"world_writable": lambda: walk}))
    ]
    assert set(found) == set(
        [
            (
                Status.FAIL,
                str(etc / "open"),
                "world-writable directory without sticky bit, mode drwxrwxrwx",
            ),
            (Status.FAIL, str(etc / "writable.conf"), "world-writable file, mode -rw-rw-rw-"),
            (Status.PASS, str(usr), "nothing world-writable (1 entries looked at)"),
        ]
    )


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs mounted inside the walked tree (needs root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    point = tmp_path / "etc" / "mnt"
    point.mkdir(parents=True)
    run(["mount", "-t", "tmpfs", "-o", "size=1m", "rampart-test", str(point)])
    yield point
    run(["umount", str(point)])


def test_walks_do_not_cross_filesystems(tmp_path: Path, mounted: Path) -> None:
    (mounted / "elsewhere").write_text("x\n")
    os.chmod(mounted / "elsewhere", 0o666)  # noqa: S103  (what the check must find)
    walk = collect_world_writable(roots=[str(tmp_path / "etc")])
    assert walk.found == []
    assert stat.S_IMODE(os.stat(mounted / "elsewhere").st_mode) == 0o666

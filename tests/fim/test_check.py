"""``rampart fim init|check|update`` on a real tree: what is detected, what is not re-read."""

import os
import socket
import stat
from pathlib import Path

import pytest

from rampart.config import load_settings
from rampart.fim import Fim
from rampart.fim import baseline as store
from tests.conftest import run_rampart
from tests.fim.conftest import FimSite, changes


def test_a_fresh_baseline_checks_clean_without_rehashing(site: FimSite) -> None:
    code, out, err = site.run("init")
    assert code == 0, err
    assert "baseline" in out
    code, report = site.report("check")
    assert code == 0
    assert report["changes"] == []
    assert report["paths"] == 7  # tree, etc, bin, 2 configs, tool, tool-link
    assert report["hashed_files"] == 0, "unchanged files keep their recorded hash"
    code, report = site.report("check", "--full")
    assert code == 0
    assert report["hashed_files"] == 3, "--full re-hashes every regular file"


def test_added_deleted_and_modified_files_are_reported(site: FimSite) -> None:
    site.run("init")
    (site.root / "etc" / "app.conf").write_text("port = 8080\nuser = www\n")
    (site.root / "etc" / "hosts").unlink()
    (site.root / "bin" / "dropper").write_text("#!/bin/sh\n")
    code, report = site.report("check")
    assert code == 1
    found = changes(report)
    modified = found[str(site.root / "etc" / "app.conf")]
    assert modified["status"] == "changed"
    assert modified["rule_id"] == 550 and modified["level"] == 7
    assert {"hash", "size", "mtime", "ctime"} <= set(modified["attributes"])
    assert modified["old"]["hash"] != modified["new"]["hash"]
    assert "-port = 80" in modified["diff"] and "+port = 8080" in modified["diff"]
    deleted = found[str(site.root / "etc" / "hosts")]
    assert (deleted["status"], deleted["rule_id"], deleted["level"]) == ("deleted", 553, 7)
    added = found[str(site.root / "bin" / "dropper")]
    assert (added["status"], added["rule_id"], added["level"]) == ("added", 554, 5)
    assert report["summary"] == {"changed": 1, "package": 0, "added": 1, "deleted": 1}
    assert report["hashed_files"] == 2, "only the new and the modified file are read"


def test_a_content_change_with_the_old_mtime_is_caught_by_ctime(site: FimSite) -> None:
    target = site.root / "bin" / "tool"
    site.run("init")
    before = target.stat()
    with open(target, "r+b") as handle:  # same size, same inode, old mtime put back
        handle.write(b"\x7fELX")
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    code, report = site.report("check")
    assert code == 1
    change = changes(report)[str(target)]
    assert set(change["attributes"]) == {"ctime", "hash"}
    assert report["hashed_files"] == 1


def test_permissions_and_touch(site: FimSite) -> None:
    site.run("init")
    os.chmod(site.root / "bin" / "tool", 0o4755)  # noqa: S103 (the change to detect)
    os.utime(site.root / "etc" / "hosts")
    code, report = site.report("check")
    assert code == 1
    found = changes(report)
    setuid = found[str(site.root / "bin" / "tool")]
    assert setuid["attributes"] == ["mode", "ctime"]
    assert (setuid["old"]["mode"], setuid["new"]["mode"]) == ("0755", "4755")
    touched = found[str(site.root / "etc" / "hosts")]
    assert "hash" not in touched["attributes"] and "mtime" in touched["attributes"]
    assert touched["level"] == 3, "same content, new times: a low level"
    assert report["hashed_files"] == 2, "a new ctime (chmod too) means: read it again"


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_owner_change(site: FimSite) -> None:
    site.run("init")
    os.chown(site.root / "etc" / "app.conf", 65534, 65534)
    _code, report = site.report("check")
    change = changes(report)[str(site.root / "etc" / "app.conf")]
    assert {"uid", "gid"} <= set(change["attributes"])
    assert (change["new"]["uid"], change["new"]["gid"]) == (65534, 65534)


def test_symlink_target_and_special_files(site: FimSite) -> None:
    fifo = site.root / "etc" / "pipe"
    os.mkfifo(fifo)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(site.root / "etc" / "sock"))
    try:
        site.run("init")
        link = site.root / "bin" / "tool-link"
        link.unlink()
        os.symlink("/bin/sh", link)
        code, report = site.report("check", "--full")  # a FIFO is never opened: no hang
        found = changes(report)
        assert set(found) == {str(link)}
        assert "target" in found[str(link)]["attributes"]
        assert found[str(link)]["new"]["target"] == "/bin/sh"
    finally:
        sock.close()
    code, report = site.report("update")
    assert code == 0
    assert report["paths"] == 9


def test_update_accepts_the_current_state(site: FimSite) -> None:
    site.run("init")
    (site.root / "etc" / "hosts").write_text("10.0.0.1 db\n")
    code, report = site.report("update")
    assert code == 0
    assert changes(report)[str(site.root / "etc" / "hosts")]["status"] == "changed"
    code, report = site.report("check")
    assert (code, report["changes"]) == (0, [])
    # the diff of the next change starts from the accepted content
    (site.root / "etc" / "hosts").write_text("10.0.0.2 db\n")
    code, report = site.report("check")
    diff = changes(report)[str(site.root / "etc" / "hosts")]["diff"]
    assert "-10.0.0.1 db" in diff and "+10.0.0.2 db" in diff


def test_paths_limit_check_and_update_to_part_of_the_tree(site: FimSite) -> None:
    site.run("init")
    (site.root / "etc" / "hosts").write_text("changed\n")
    (site.root / "bin" / "tool").write_text("changed\n")
    _code, report = site.report("check", "--paths", str(site.root / "etc"))
    assert set(changes(report)) == {str(site.root / "etc" / "hosts")}
    site.report("update", "--paths", str(site.root / "etc"))
    _code, report = site.report("check")
    assert set(changes(report)) == {str(site.root / "bin" / "tool")}, "bin was not accepted"


def test_excluded_paths_and_include_globs(site: FimSite) -> None:
    site.configure(f'exclude = ["{site.root}/etc/hosts", "*.tmp"]\n')
    site.run("init")
    (site.root / "etc" / "hosts").write_text("ignored\n")
    (site.root / "etc" / "x.tmp").write_text("ignored\n")
    code, report = site.report("check")
    assert (code, report["changes"]) == (0, [])
    site.configure('include = ["*.conf"]\n')
    site.run("init")
    code, report = site.report("check")
    assert report["paths"] == 4  # tree, etc, bin (directories are always walked), app.conf


def test_copies_are_private_and_secrets_never_copied(site: FimSite) -> None:
    (site.root / "etc" / "server.key").write_text("-----BEGIN PRIVATE KEY-----\n")
    site.run("init")
    directory = site.state / "fim"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    copies = sorted((directory / "copies").iterdir())
    assert len(copies) == 2  # app.conf and hosts; not the key, not bin/
    assert all(stat.S_IMODE(copy.stat().st_mode) == 0o600 for copy in copies)
    assert all(b"PRIVATE KEY" not in copy.read_bytes() for copy in copies)
    assert stat.S_IMODE((directory / "baseline.sqlite").stat().st_mode) == 0o600


def test_text_report(site: FimSite) -> None:
    site.run("init")
    (site.root / "etc" / "app.conf").write_text("port = 22\n")
    code, out, _ = site.run("check", child=True)
    assert code == 1
    assert f"changed  {site.root}/etc/app.conf" in out
    assert "+port = 22" in out
    assert "1 changed, 0 package, 0 added, 0 deleted" in out
    code, _, _ = site.run("check", "--fail-on", "8")
    assert code == 0, "nothing at level 8 or above"


def test_blake3_baseline(site: FimSite) -> None:
    pytest.importorskip("blake3")
    site.configure('hash = "blake3"\n')
    site.run("init")
    (site.root / "bin" / "tool").write_bytes(b"other")
    code, report = site.report("check")
    assert report["hash"] == "blake3"
    change = changes(report)[str(site.root / "bin" / "tool")]
    assert len(change["new"]["hash"]) == 64 and "hash" in change["attributes"]
    site.configure()
    code, _out, err = site.run("check")
    assert code == 2
    assert "hashed with blake3" in err and "update --full" in err


def test_gentle_settings_are_accepted(site: FimSite) -> None:
    """A child process: nice 19 and the idle I/O class would stay with the test runner."""
    site.configure('max_rate = "100000 files/s"\n')
    site.config.write_text(
        site.config.read_text().replace("nice = 0", "nice = 19").replace('"none"', '"idle"')
    )
    code, _out, err = site.run("init", child=True)
    assert code == 0, err
    code, out, err = site.run("check", "--full", "--json", child=True)
    assert code == 0, err
    assert '"hashed_files": 3' in out


def test_update_can_change_the_hash_algorithm(site: FimSite) -> None:
    pytest.importorskip("blake3")
    site.run("init")
    site.configure('hash = "blake3"\n')
    code, _out, err = site.run("update", "--paths", str(site.root / "etc"))
    assert code == 2 and "update all of it" in err, "half a baseline in each algorithm"
    code, report = site.report("update")
    assert code == 0 and report["hashed_files"] == 3, "every file re-hashed"
    code, report = site.report("check")
    assert (code, report["changes"], report["hash"]) == (0, [], "blake3")


def test_update_without_paths_forgets_paths_no_longer_configured(
    site: FimSite, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "file").write_text("x")
    site.configure(paths=(site.root, other))
    site.run("init")
    site.configure()
    _code, report = site.report("update")
    assert report["paths"] == 7
    site.configure(paths=(site.root, other))
    _code, _out, err = site.run("check")
    assert f"{other}: not in the baseline" in err


def test_a_file_recorded_unreadable_is_read_again(site: FimSite) -> None:
    """Its fingerprint alone proves nothing about its content: every check tries it again."""
    site.run("init")
    path = site.state / "fim" / "baseline.sqlite"
    accepted = store.load(path)
    tool = str(site.root / "bin" / "tool")
    accepted.entries[tool] = accepted.entries[tool]._replace(digest=None)  # as if unreadable
    store.save(path, accepted.entries.items(), accepted.algorithm, accepted.roots)
    code, report = site.report("check")
    assert (code, report["changes"], report["hashed_files"]) == (0, [], 1)


def test_the_report_gives_hids_events(site: FimSite) -> None:
    """What the daemon and the alerts get: rampart.hids.Event values, one per change."""
    settings = load_settings(site.config)
    fim = Fim(settings.fim, site.state, processes=site.processes)
    fim.init()
    (site.root / "etc" / "app.conf").write_text("port = 1\n")
    (site.root / "etc" / "hosts").unlink()
    events = {event.location: event for event in fim.check().events()}
    changed = events[str(site.root / "etc" / "app.conf")]
    assert (changed.rule_id, changed.level, changed.groups) == (
        550,
        7,
        ("syscheck", "fim", "changed"),
    )
    assert changed.fields["path"] == str(site.root / "etc" / "app.conf")
    assert "+port = 1" in changed.detail
    deleted = events[str(site.root / "etc" / "hosts")]
    assert (deleted.rule_id, deleted.level, deleted.description) == (553, 7, "File deleted")


def test_hostile_names_and_contents_cannot_forge_the_text_report(site: FimSite) -> None:
    """A newline or an undecodable byte in a name, an escape sequence in a file: all escaped."""
    forged = b"rampart fim check: 0 changed"  # a name cannot hold "/", it can hold this
    hostile = os.fsdecode(bytes(site.root / "etc") + b"/x\xff\n" + forged)
    Path(hostile).write_text("a = 1\n")
    site.run("init")
    Path(hostile).write_text("a = \x1b[31m2\n")
    env = {
        "RAMPART_CONFIG": str(site.config),
        "RAMPART_STATE_DIR": str(site.state),
        "LC_ALL": "C.UTF-8",  # a strict UTF-8 terminal: undecodable bytes must not crash it
    }
    result = run_rampart(["fim", "check"], env=env)
    assert result.returncode == 1, result.stderr
    assert "\x1b" not in result.stdout
    assert "x\\xff\\nrampart fim check: 0 changed" in result.stdout
    assert not any(line.startswith(forged.decode()) for line in result.stdout.splitlines())
    assert "+a = \\x1b[31m2" in result.stdout
    _code, report = site.report("check")
    assert set(changes(report)) == {hostile}, "JSON keeps the real name (surrogate escapes)"


def test_full_check_reads_everything_and_still_shows_diffs(site: FimSite) -> None:
    site.run("init")
    (site.root / "etc" / "app.conf").write_text("port = 8443\nuser = www\n")
    code, report = site.report("check", "--full")
    assert code == 1 and report["hashed_files"] == 3
    change = changes(report)[str(site.root / "etc" / "app.conf")]
    assert "+port = 8443" in change["diff"]
    assert report["paths"] == 7

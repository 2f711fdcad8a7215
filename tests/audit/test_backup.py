"""Backup checks over a real restic repository and real backup files in a temporary folder."""

import os
import shutil
import time
from pathlib import Path

import pytest

from rampart.audit import Check, Facts, Finding, Status, Unavailable, load_checks, run_audit
from rampart.audit.collectors.backup import (
    COLLECTORS,
    collect_backups,
    parse_snapshot_times,
)
from rampart.system import run

RESTIC = shutil.which("restic")
needs_restic = pytest.mark.skipif(
    RESTIC is None, reason="restic is not installed (apt-get install restic)"
)
DAY = 86400.0


def backup_checks() -> list[Check]:
    return [check for check in load_checks() if check.meta.id.startswith("BAK-")]


def findings(facts: Facts) -> dict[str, list[Finding]]:
    by_check: dict[str, list[Finding]] = {}
    for finding in run_audit(facts, backup_checks()).findings:
        by_check.setdefault(finding.check, []).append(finding)
    return by_check


def facts_of(**kwargs: object) -> Facts:
    return Facts({"backups": lambda: collect_backups(**kwargs)})  # type: ignore[arg-type]


@pytest.fixture
def restic_repo(tmp_path: Path) -> tuple[str, Path]:
    """A restic repository holding one snapshot of a small folder."""
    assert RESTIC is not None
    password = tmp_path / "restic-password"
    password.write_text("correct horse battery staple\n")
    repository = str(tmp_path / "repo")
    data = tmp_path / "data"
    data.mkdir()
    (data / "db.sql").write_text("CREATE TABLE t (id int);\n")
    common = [RESTIC, "--repo", repository, "--password-file", str(password), "--no-cache"]
    run([*common, "init"], timeout=120)
    run([*common, "backup", str(data)], timeout=120)
    return repository, password


def test_the_checks_load_with_their_ids_and_practice() -> None:
    loaded = {c.meta.id: c for c in backup_checks()}
    assert sorted(loaded) == ["BAK-001", "BAK-002"]
    assert {c.meta.practice for c in loaded.values()} == {"4"}
    assert all(c.meta.fix for c in loaded.values())
    assert set(COLLECTORS) == {"backups"}


def test_nothing_configured_fails_bak_001_and_skips_bak_002() -> None:
    found = findings(facts_of())
    assert [(f.status, f.resource) for f in found["BAK-001"]] == [(Status.FAIL, "backups")]
    assert "restic_repository or backup_files" in found["BAK-001"][0].evidence
    assert "restic init" in found["BAK-001"][0].fix
    [skipped] = found["BAK-002"]
    assert skipped.status is Status.SKIPPED
    assert skipped.reason == "no backup configured ([audit] restic_repository or backup_files)"


@needs_restic
def test_a_fresh_restic_snapshot_passes(restic_repo: tuple[str, Path]) -> None:
    repository, password = restic_repo
    facts = facts_of(restic_repository=repository, restic_password_file=password)
    backups = facts.get("backups")
    [source] = backups.sources
    assert source.error is None and source.detail == "1 snapshot"
    assert source.newest is not None and abs(time.time() - source.newest) < 600
    found = findings(facts)
    assert [(f.status, f.resource) for f in found["BAK-001"]] == [(Status.PASS, "backups")]
    assert [(f.status, f.resource) for f in found["BAK-002"]] == [
        (Status.PASS, f"restic {repository}")
    ]


@needs_restic
def test_a_restic_snapshot_older_than_the_limit_fails(restic_repo: tuple[str, Path]) -> None:
    repository, password = restic_repo
    facts = facts_of(
        restic_repository=repository,
        restic_password_file=password,
        max_age=60.0,
        clock=lambda: time.time() + 3 * DAY,
    )
    [failed] = findings(facts)["BAK-002"]
    assert failed.status is Status.FAIL
    assert failed.evidence.startswith("last backup 3.0 days ago, allowed 60 s")


@needs_restic
def test_restic_variables_in_the_environment_do_not_leak_in(
    restic_repo: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repository, password = restic_repo
    monkeypatch.setenv("RESTIC_PASSWORD_COMMAND", "false")  # would clash with --password-file
    monkeypatch.setenv("RESTIC_REPOSITORY", str(tmp_path / "elsewhere"))
    [source] = collect_backups(restic_repository=repository, restic_password_file=password).sources
    assert source.error is None and source.detail == "1 snapshot"


@needs_restic
def test_an_empty_restic_repository_fails(tmp_path: Path) -> None:
    assert RESTIC is not None
    password = tmp_path / "pw"
    password.write_text("pw\n")
    repository = str(tmp_path / "empty")
    run([RESTIC, "-r", repository, "--password-file", str(password), "--no-cache", "init"])
    [failed] = findings(facts_of(restic_repository=repository, restic_password_file=password))[
        "BAK-002"
    ]
    assert (failed.status, failed.evidence) == (Status.FAIL, "no backup at all (no snapshot)")


@needs_restic
def test_a_wrong_password_skips_with_restics_message(
    restic_repo: tuple[str, Path], tmp_path: Path
) -> None:
    repository, _ = restic_repo
    wrong = tmp_path / "wrong"
    wrong.write_text("not it\n")
    found = findings(facts_of(restic_repository=repository, restic_password_file=wrong))
    assert found["BAK-001"][0].status is Status.PASS
    [skipped] = found["BAK-002"]
    assert (skipped.status, skipped.resource) == (Status.SKIPPED, f"restic {repository}")
    assert skipped.reason == "restic: wrong password or no key found"


def test_restic_missing_skips_bak_002(tmp_path: Path) -> None:
    password = tmp_path / "pw"
    password.write_text("pw\n")
    facts = facts_of(
        restic_repository=str(tmp_path / "repo"),
        restic_password_file=password,
        restic=str(tmp_path / "no-restic"),
    )
    [skipped] = findings(facts)["BAK-002"]
    assert skipped.status is Status.SKIPPED
    assert skipped.reason == f"{tmp_path / 'no-restic'}: program not found (is it installed?)"


def test_a_repository_without_password_file_or_with_credentials_in_its_url() -> None:
    [source] = collect_backups(restic_repository="rest:https://bob:hunter2@backup.example/").sources
    assert source.name == "restic rest:https://…@backup.example/"
    assert source.error == "no password file ([audit] restic_password_file)"
    [source] = collect_backups(restic_repository="--help", restic_password_file=Path("/")).sources
    assert source.error is not None and "not a repository location" in source.error


def test_backup_file_globs_use_the_newest_file(tmp_path: Path) -> None:
    dumps = tmp_path / "dumps"
    (dumps / "2024").mkdir(parents=True)
    old, new = dumps / "2024" / "db-old.sql.gz", dumps / "2024" / "db-new.sql.gz"
    old.write_bytes(b"x" * 10)
    new.write_bytes(b"x" * 3000)
    now = time.time()
    os.utime(old, (now - 10 * DAY, now - 10 * DAY))
    os.utime(new, (now - 3600, now - 3600))
    stale = tmp_path / "etc.tar"
    stale.write_bytes(b"")
    os.utime(stale, (now - 5 * DAY, now - 5 * DAY))
    patterns = [f"{dumps}/**/*.sql.gz", str(stale), f"{tmp_path}/nothing-*.tar"]
    facts = facts_of(backup_files=patterns, max_age=DAY, clock=lambda: now)
    found = findings(facts)
    assert found["BAK-001"][0].status is Status.PASS
    by_resource = {f.resource: f for f in found["BAK-002"]}
    fresh = by_resource[f"backup files {dumps}/**/*.sql.gz"]
    assert fresh.status is Status.PASS
    assert fresh.evidence == f"last backup 60 min ago, allowed 24.0 h; newest {new}, 2.9 KiB"
    assert by_resource[f"backup files {stale}"].status is Status.FAIL
    assert "5.0 days ago" in by_resource[f"backup files {stale}"].evidence
    missing = by_resource[f"backup files {tmp_path}/nothing-*.tar"]
    assert (missing.status, missing.evidence) == (Status.FAIL, "no backup at all (no file matches)")


def test_snapshot_times_parse_restic_json() -> None:
    text = '[{"time": "2024-05-01T10:00:00.123456789+02:00", "id": "ab"}]'
    assert parse_snapshot_times(text) == [1714550400.123456]
    assert parse_snapshot_times("null") == []
    with pytest.raises(ValueError, match="not JSON"):
        parse_snapshot_times("Fatal: nope")


def test_a_bad_configuration_makes_the_collector_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "rampart.toml"
    config.write_text("[audit]\nbackup_max_age = 'soon'\n")
    monkeypatch.setenv("RAMPART_CONFIG", str(config))
    with pytest.raises(Unavailable):
        COLLECTORS["backups"]()


def test_the_configured_collector_reads_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dump = tmp_path / "dump.sql"
    dump.write_text("--\n")
    config = tmp_path / "rampart.toml"
    config.write_text(f'[audit]\nbackup_files = ["{dump}"]\nbackup_max_age = "1h"\n')
    monkeypatch.setenv("RAMPART_CONFIG", str(config))
    backups = COLLECTORS["backups"]()
    assert backups.max_age == 3600.0
    assert [s.name for s in backups.sources] == [f"backup files {dump}"]

"""Bad input gets one line and exit 2, and nothing is written."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fim.conftest import FimSite


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_check_without_a_baseline(site: FimSite) -> None:
    code, _, err = site.run("check", child=True)
    assert code == 2
    assert "no baseline yet" in one_line(err) and "rampart fim init" in err


def test_a_corrupt_baseline(site: FimSite) -> None:
    site.run("init")
    baseline = site.state / "fim" / "baseline.sqlite"
    baseline.write_bytes(b"not sqlite at all" * 100)
    for command in ("check", "update"):
        code, _, err = site.run(command, child=True)
        assert code == 2
        assert "baseline" in one_line(err)
    assert baseline.read_bytes() == b"not sqlite at all" * 100, "update wrote nothing"


def test_a_truncated_baseline(site: FimSite) -> None:
    site.run("init")
    baseline = site.state / "fim" / "baseline.sqlite"
    baseline.write_bytes(baseline.read_bytes()[:5000])
    code, _, err = site.run("check", child=True)
    assert code == 2
    assert "baseline" in one_line(err)


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ('hash = "md5"', "fim.hash"),
        ('paths = ["relative/dir"]', "fim.paths"),
        ('max_rate = "fast"', "fim.max_rate"),
        ("nice = 40", "fim.nice"),
        ("colour = 1", "fim.colour"),
    ],
)
def test_bad_configuration(site: FimSite, setting: str, key: str) -> None:
    site.config.write_text(f"[fim]\n{setting}\n")
    code, _, err = site.run("init", child=(key == "fim.hash"))
    assert code == 2
    assert key in one_line(err)
    assert not (site.state / "fim").exists()


def test_relative_paths_argument(site: FimSite) -> None:
    code, _, err = site.run("init", "--paths", "etc", child=True)
    assert code == 2
    assert "--paths" in one_line(err)


def test_a_missing_root_is_a_note_not_a_failure(site: FimSite, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    site.configure().__class__  # noqa: B018 (keep the defaults)
    site.config.write_text(
        site.config.read_text().replace(
            f'paths = ["{site.root}"]', f'paths = ["{site.root}", "{missing}"]'
        )
    )
    code, _out, err = site.run("init")
    assert code == 0, err
    assert f"{missing}: does not exist" in err


def test_an_unreadable_file_is_listed(site: FimSite) -> None:
    """As root, the child runs without the capabilities that read past permissions."""
    secret = site.root / "etc" / "secret"
    secret.write_text("x")
    secret.chmod(0)
    if os.geteuid() != 0:
        _code, report = site.report("init")
    else:
        env = {**os.environ, "RAMPART_CONFIG": str(site.config),
               "RAMPART_STATE_DIR": str(site.state)}  # fmt: skip
        result = subprocess.run(
            ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--",
             sys.executable, "-m", "rampart.cli.main", "fim", "init", "--json"],
            capture_output=True, text=True, env=env, check=False, timeout=120,
        )  # fmt: skip
        assert result.returncode in (0, 1), result.stderr
        report = json.loads(result.stdout)
    assert any(str(secret) in error for error in report["errors"])

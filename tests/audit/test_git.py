"""GIT-001 over real repositories built in a temporary folder (fake credentials only)."""

import shutil
from pathlib import Path

import pytest

from rampart.audit import Check, Facts, Finding, Status, Unavailable, load_checks, run_audit
from rampart.audit.collectors.git import (
    COLLECTORS,
    RULES,
    collect_git_secrets,
    find_secrets,
    is_placeholder,
    redact,
    scan_repository,
)
from rampart.system import run

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed (apt-get install git)")

# Obviously fake: AWS's documentation example and made-up tokens of the right shape.
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # noqa: S105  (AWS docs example)
GITHUB_TOKEN = "ghp_" + "FakeToken0123456789abcdefghijklmnopqr"[:36]
SLACK_TOKEN = "xoxb-" + "1234567890-fake-slack-token"
PASSWORD = "Tr0ub4dor&3-not-real"  # noqa: S105  (fake)
KEY_BODY = "MIIEowIBAAKCAQEAfakefakefakefakefakefakefakefakefakefakefakefake"
PRIVATE_KEY = f"-----BEGIN RSA PRIVATE KEY-----\n{KEY_BODY}\n-----END RSA PRIVATE KEY-----\n"
SECRETS = (AWS_KEY_ID, AWS_SECRET, GITHUB_TOKEN, SLACK_TOKEN, PASSWORD, KEY_BODY)


def git(repo: Path, *args: str) -> str:
    assert GIT is not None
    return run([GIT, "-C", str(repo), *args], timeout=60).stdout.strip()


def commit(repo: Path, files: dict[str, str | None], message: str) -> str:
    """Write (or, for None, delete) files and commit them; the new commit's id."""
    for name, text in files.items():
        path = repo / name
        if text is None:
            git(repo, "rm", "-q", name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def new_repo(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "test@example.invalid")
    git(path, "config", "user.name", "rampart test")
    git(path, "config", "commit.gpgsign", "false")
    return path


def git_check() -> Check:
    return next(c for c in load_checks() if c.meta.id == "GIT-001")


def findings(facts: Facts) -> list[Finding]:
    return run_audit(facts, [git_check()]).findings


def facts_of(*repositories: Path) -> Facts:
    return Facts({"git_secrets": lambda: collect_git_secrets(repositories=repositories)})


@pytest.fixture
def leaky(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A repository whose secrets were all removed again; the commits that added them."""
    repo = new_repo(tmp_path / "leaky")
    commits = {"readme": commit(repo, {"README.md": "# app\n"}, "start")}
    commits["aws"] = commit(
        repo,
        {
            "deploy/settings.py": f'REGION = "eu-west-1"\nKEY_ID = "{AWS_KEY_ID}"\n',
            "deploy/credentials": f"[default]\naws_secret_access_key = {AWS_SECRET}\n",
        },
        "deploy",
    )
    commits["key"] = commit(repo, {"keys/id_rsa": PRIVATE_KEY}, "a key")
    commits["config"] = commit(
        repo,
        {
            "config/app.ini": f'[db]\nuser = "app"\npassword = "{PASSWORD}"\n',
            "config/example.yaml": 'db:\n  password: "changeme"\n  passwd: ${DB_PASSWORD}\n',
            "src/login.py": 'password = "not-a-config-file"\n',
        },
        "config",
    )
    commit(
        repo,
        {
            "deploy/settings.py": 'REGION = "eu-west-1"\nKEY_ID = os.environ["KEY_ID"]\n',
            "deploy/credentials": None,
            "keys/id_rsa": None,
            "config/app.ini": '[db]\nuser = "app"\npassword = "${DB_PASSWORD}"\n',
        },
        "remove the secrets",
    )
    git(repo, "checkout", "-q", "-b", "feature")
    commits["tokens"] = commit(
        repo, {"ci/.env": f"GITHUB_TOKEN={GITHUB_TOKEN}\nSLACK={SLACK_TOKEN}\n"}, "tokens"
    )
    commit(repo, {"ci/.env": None}, "oops")
    git(repo, "checkout", "-q", "main")
    return repo, commits


@needs_git
def test_secrets_removed_later_are_found_in_history_on_every_branch(
    leaky: tuple[Path, dict[str, str]],
) -> None:
    repo, commits = leaky
    found = findings(facts_of(repo))
    assert {f.status for f in found} == {Status.FAIL}
    where = sorted((f.resource.removeprefix(f"{repo}:"), f.evidence.split(",")[0]) for f in found)
    short = {name: sha[:12] for name, sha in commits.items()}
    assert where == sorted(
        [
            (f"{short['aws']}:deploy/settings.py:2", "AWS access key id"),
            (f"{short['aws']}:deploy/credentials:2", "AWS secret access key"),
            (f"{short['key']}:keys/id_rsa:1", "private key"),
            (f"{short['config']}:config/app.ini:3", "password assignment"),
            (f"{short['tokens']}:ci/.env:1", "GitHub token"),
            (f"{short['tokens']}:ci/.env:2", "Slack token"),
        ]
    )
    by_rule = {f.evidence.split(",")[0]: f for f in found}
    assert by_rule["AWS access key id"].evidence == "AWS access key id, AKIA… (20 chars)"
    assert by_rule["password assignment"].evidence == "password assignment, Tr0u… (20 chars)"
    assert all(f.severity.name == "CRITICAL" and "rotate" in f.fix for f in found)


@needs_git
def test_no_secret_text_reaches_a_finding(leaky: tuple[Path, dict[str, str]]) -> None:
    repo, _ = leaky
    for finding in findings(facts_of(repo)):
        shown = " ".join(str(value) for value in finding.record().values())
        for secret in SECRETS:
            assert secret not in shown
            assert secret[:8] not in shown


@needs_git
def test_a_secret_committed_twice_is_reported_once_at_its_first_commit(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "twice")
    first = commit(repo, {"a.env": f"KEY={AWS_KEY_ID}\n"}, "one")
    commit(repo, {"a.env": f"# the key\nKEY={AWS_KEY_ID}  # prod\n"}, "changed its line")
    other = commit(repo, {"b.env": f"KEY={AWS_KEY_ID}\n"}, "another file")
    found = findings(facts_of(repo))
    assert sorted(f.resource for f in found) == sorted(
        [f"{repo}:{first[:12]}:a.env:1", f"{repo}:{other[:12]}:b.env:1"]
    )


@needs_git
def test_diff_lines_that_look_like_headers_and_unusual_names(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "odd")
    sha = commit(
        repo,
        {"notes/caf\u00e9 notes.txt": f"++ b/decoy\n@@ -1 +1 @@\nid {AWS_KEY_ID}\n"},
        "odd",
    )
    [secret] = scan_repository(repo).secrets
    assert (secret.commit, secret.file, secret.line) == (sha, "notes/caf\u00e9 notes.txt", 3)


@needs_git
def test_a_clean_repository_passes_and_placeholders_are_not_secrets(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "clean")
    commit(
        repo,
        {
            "settings.toml": 'password = "changeme"\n',
            ".env": "DB_PASSWORD=\nAPI_PASSWORD=${API_PASSWORD}\nADMIN_PASSWORD=<admin password>\n",
            "app.yaml": (
                "passwd: xxx\npassword: '{{ vault_db_password }}'\npassword_file: /run/pw\n"
            ),
            "keys/README": "put your -----BEGIN PUBLIC KEY----- here\n",
        },
        "placeholders",
    )
    commit(repo, {"settings.toml": 'password = "${PASSWORD}"\n'}, "still a placeholder")
    found = findings(facts_of(repo))
    assert [(f.status, f.resource, f.evidence) for f in found] == [
        (Status.PASS, str(repo), "no credentials in 2 commits on all refs")
    ]


@needs_git
def test_an_empty_repository_passes(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "empty")
    assert scan_repository(repo).secrets == []
    assert [f.status for f in findings(facts_of(repo))] == [Status.PASS]


@needs_git
def test_a_path_that_is_not_a_repository_is_skipped_naming_it(
    tmp_path: Path, leaky: tuple[Path, dict[str, str]]
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(Unavailable, match=f"^{plain} is not a git repository"):
        scan_repository(plain)
    missing = tmp_path / "missing"
    found = findings(facts_of(plain, missing, leaky[0]))
    skipped = [(f.resource, f.reason) for f in found if f.status is Status.SKIPPED]
    assert [resource for resource, _ in skipped] == [str(plain), str(missing)]
    assert all(reason and "is not a git repository" in reason for _, reason in skipped)
    assert sum(f.status is Status.FAIL for f in found) == 6


def test_no_repository_configured_skips_with_the_reason() -> None:
    [finding] = findings(facts_of())
    assert finding.status is Status.SKIPPED
    assert finding.reason == "no git repositories configured ([audit] git_repositories)"


def test_git_missing_is_a_skip_per_repository(tmp_path: Path) -> None:
    scans = collect_git_secrets(repositories=[tmp_path], git=str(tmp_path / "no-git"))
    assert scans[0].error == f"{tmp_path / 'no-git'}: program not found (is it installed?)"


def test_the_configured_collector_reads_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "rampart.toml"
    config.write_text("[audit]\n")
    monkeypatch.setenv("RAMPART_CONFIG", str(config))
    with pytest.raises(Unavailable, match="no git repositories configured"):
        COLLECTORS["git_secrets"]()


def test_rules_are_one_list_of_names_and_patterns() -> None:
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names)) >= 6
    assert all(rule.pattern.pattern for rule in RULES)


@pytest.mark.parametrize(
    ("line", "path", "rule"),
    [
        (f"key: {AWS_KEY_ID}", "x.py", "AWS access key id"),
        ("ASIAABCDEFGHIJKLMNOP", "x", "AWS access key id"),
        (f'"aws_secret_access_key": "{AWS_SECRET}"', "c.json", "AWS secret access key"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "k", "private key"),
        ("-----BEGIN PRIVATE KEY-----", "k", "private key"),
        ("-----BEGIN PGP PRIVATE KEY BLOCK-----", "k.asc", "private key"),
        (f"token = '{GITHUB_TOKEN}'", "x.py", "GitHub token"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "x", "GitHub token"),
        (f"SLACK={SLACK_TOKEN}", "x.sh", "Slack token"),
        ('"password": "s3cret-value"', "app.json", "password assignment"),
        ("DB_PASSWORD=s3cret-value", ".env.production", "password assignment"),
        ("  passwd: s3cret-value", "conf/db.yml", "password assignment"),
    ],
)
def test_each_rule_matches_its_shape(line: str, path: str, rule: str) -> None:
    assert [m.rule for m in find_secrets(line, path)] == [rule]


@pytest.mark.parametrize(
    ("line", "path"),
    [
        ("AKIAIOSFODNN7EXAMPL", "x"),  # one short
        ("-----BEGIN PUBLIC KEY-----", "k"),
        ('password = "hunter2-but-in-code"', "app.py"),  # code, not configuration
        ("password_file = /run/secrets/db", "app.ini"),
        ('password = ""', "app.ini"),
        ("password = changeme", "app.ini"),
        ("password: ${DB_PASSWORD:-x}", "a.yaml"),
        ("password: !vault |", "a.yaml"),
        ('password = "<your password>"', "a.toml"),
        ("password = %(db_password)s", "a.cfg"),
    ],
)
def test_near_misses_and_placeholders_are_not_secrets(line: str, path: str) -> None:
    assert list(find_secrets(line, path)) == []


def test_redaction_shows_little() -> None:
    assert redact(AWS_KEY_ID) == "AKIA… (20 chars)"
    assert redact("hunter2") == "… (7 chars)"
    assert is_placeholder("xxxx") and is_placeholder("YOUR_PASSWORD") and not is_placeholder("x9")

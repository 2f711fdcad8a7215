"""Credentials in git (practice 13): nothing readable committed, on any branch, ever.

Reads the "git_secrets" facts: every line ever added to each configured
repository, matched against the rules ``rampart scan`` shares. A secret
removed in a later commit is still in the history, so it still fails.
"""

from collections.abc import Iterable
from dataclasses import replace

from rampart.audit.collectors.git import RepositoryScan
from rampart.audit.interface import Check, CheckMeta, Facts, Finding, Severity


class GitCredentials(Check):
    meta = CheckMeta(
        "GIT-001",
        "credentials committed in a git repository",
        "13",
        Severity.CRITICAL,
        "rotate the credential first (it stays in every clone's history), then keep it "
        "encrypted (`rampart vault`) or in the environment; rewrite history "
        "(`git filter-repo --replace-text`) only after rotating",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        scans: list[RepositoryScan] = facts.get("git_secrets")
        for scan in scans:
            if scan.error is not None:
                yield replace(self.skipped(scan.error), resource=scan.path)
            elif not scan.secrets:
                commits = f"{scan.commits} commit{'s' if scan.commits != 1 else ''}"
                yield self.passed(scan.path, f"no credentials in {commits} on all refs")
            for secret in scan.secrets:
                yield self.failed(
                    f"{scan.path}:{secret.commit[:12]}:{secret.file}:{secret.line}",
                    f"{secret.rule}, {secret.redacted}",
                )

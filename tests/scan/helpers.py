"""Running the real ``rampart scan`` in a folder, and small git repositories."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed (apt-get install git)")


def rampart_scan(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``rampart scan ARGS`` in ``cwd``, as a user (or a pre-commit hook) runs it."""
    return subprocess.run(
        [sys.executable, "-m", "rampart.cli.main", "scan", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        timeout=120,
        check=False,
    )


def git(repo: Path, *args: str) -> str:
    assert GIT is not None
    done = subprocess.run(
        [GIT, "-C", str(repo), *args], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def new_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "test@example.invalid")
    git(path, "config", "user.name", "rampart test")
    git(path, "config", "commit.gpgsign", "false")
    return path


def commit(repo: Path, files: dict[str, str | None], message: str) -> str:
    """Write (or, for None, delete) files and commit them; the new commit's id."""
    for name, text in files.items():
        if text is None:
            git(repo, "rm", "-q", name)
            continue
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")

"""The few git questions the vault asks, through rampart.system.run."""

from pathlib import Path

from rampart.system import CommandError, run


def toplevel(start: Path) -> Path | None:
    try:
        out = run(["git", "-C", str(start), "rev-parse", "--show-toplevel"], timeout=10)
    except CommandError:
        return None
    return Path(out.stdout.strip())


def is_tracked(root: Path, relative: str) -> bool:
    result = run(["git", "-C", str(root), "ls-files", "--error-unmatch", "--", relative],
                 check=False, timeout=10)
    return result.returncode == 0


def staged(root: Path) -> set[str]:
    """Paths (relative to ``root``) added or changed in the index."""
    try:
        out = run(["git", "-C", str(root), "diff", "--cached", "--name-only", "-z",
                   "--diff-filter=ACMR"], timeout=30)
    except CommandError:
        return set()
    return {name for name in out.stdout.split("\0") if name}


def staged_text(root: Path, relative: str) -> str | None:
    """The staged content of a file, or None when it is not text."""
    try:
        return run(["git", "-C", str(root), "show", f":{relative}"], timeout=30).stdout
    except (CommandError, UnicodeDecodeError):
        return None


def untrack(root: Path, relative: str) -> None:
    run(["git", "-C", str(root), "rm", "--cached", "--quiet", "--", relative], timeout=30)


def hook_path(root: Path, name: str) -> Path:
    out = run(["git", "-C", str(root), "rev-parse", "--git-path", f"hooks/{name}"], timeout=10)
    path = Path(out.stdout.strip())
    return path if path.is_absolute() else root / path

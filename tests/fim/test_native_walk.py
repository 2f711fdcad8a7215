"""The C walk of ``rampart fim check`` sees exactly what the Python walker sees."""

import contextlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from rampart.fim import native
from tests.fim.conftest import FimSite

COMPARE = Path(__file__).with_name("compare_walks.py")

needs_native = pytest.mark.skipif(
    native._walk is None, reason="rampart.fim._walk is not built (no C compiler at install)"
)


def _make_tree(root: Path) -> None:
    """Files, links, special files, hostile names, excluded and unreadable directories."""
    for directory in ("etc/app", "usr/bin", "usr/lib/deep/er/still", "skip/inner", "var/cache"):
        (root / directory).mkdir(parents=True)
    for name in ("etc/app/app.conf", "etc/passwd", "usr/bin/tool", "skip/inner/x", "var/a.swp"):
        (root / name).write_text(name)
    (root / "usr/lib/deep/er/still/lib.so").write_bytes(b"\0" * 100)
    os.symlink("../etc/passwd", root / "usr/passwd-link")
    os.symlink("/nonexistent/target", root / "usr/dangling")
    os.symlink("../etc", root / "usr/etc-link")  # a link to a directory: recorded, not entered
    os.mkfifo(root / "var/fifo")
    with socket.socket(socket.AF_UNIX) as listener, contextlib.suppress(OSError):
        listener.bind(str(root / "var/sock"))  # OSError: a temporary dir too deep for AF_UNIX
    if os.geteuid() == 0:
        os.mknod(root / "var/null", 0o600 | 0o020000, os.makedev(1, 3))
    odd = os.fsencode(root) + b"/var/caf\xe9-\xff\xfe"  # not UTF-8
    with open(odd, "wb") as handle:
        handle.write(b"odd")
    (root / "var" / "new\nline").write_text("newline")
    (root / "var" / "star*name").write_text("a literal star")
    (root / "var" / "é-utf8.conf").write_text("utf-8")
    closed = root / "var/closed"  # cannot be listed
    (closed / "sub").mkdir(parents=True)
    (closed / "hidden").write_text("x")
    closed.chmod(0)
    listable = root / "var/listable"  # listed, but its entries cannot be stat'ed
    listable.mkdir()
    (listable / "entry").write_text("x")
    listable.chmod(0o600)


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "tree"
    _make_tree(root)
    mounted = root / "mnt"
    mounted.mkdir()
    was_mounted = False
    if os.geteuid() == 0 and shutil.which("mount"):
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mounted)],
            capture_output=True,
            check=False,
        )
        was_mounted = result.returncode == 0
        if was_mounted:
            (mounted / "dir").mkdir()
            (mounted / "dir" / "on-tmpfs").write_text("other file system")
    yield root
    if was_mounted:
        subprocess.run(["umount", str(mounted)], check=False)
    for directory in (root / "var/closed", root / "var/listable"):
        directory.chmod(0o700)


def _compare(root: Path, exclude: list[str], include: list[str], one_fs: bool) -> Any:
    """Both walks in a child that cannot read past permissions (as root too, when it can)."""
    command = [sys.executable, str(COMPARE), json.dumps([str(root), exclude, include, one_fs])]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("setpriv (util-linux) is needed to drop the capabilities as root")
        command = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--", *command]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@needs_native
@pytest.mark.parametrize(
    ("exclude", "include", "one_fs"),
    [
        ([], [], True),
        ([], [], False),
        (["*/skip", "*.swp", "*/var/cache", "*/star*name"], [], True),
        (["*/skip/*"], ["*.conf", "*/bin/*", "*\xe9*"], True),
        (["*/mnt"], ["*/caf*"], False),
    ],
)
def test_native_and_python_walks_agree(
    tree: Path, exclude: list[str], include: list[str], one_fs: bool
) -> None:
    """Same paths in the same order, same errors, same paths left over as gone."""
    report = _compare(tree, exclude, include, one_fs)
    assert report["usable"]
    for name, result in report["results"].items():
        assert result["native"] == result["python"], name
        threaded, python = result["threads"], result["python"]
        assert threaded["walked"] == python["walked"], name
        for what in ("candidates", "errors", "left"):
            assert sorted(threaded[what]) == sorted(python[what]), (name, what)
    python = report["results"]["empty"]["python"]
    assert python["walked"] == len(python["candidates"]) > 5
    if os.geteuid() != 0 or shutil.which("setpriv"):
        errors = "\n".join(python["errors"])
        assert "closed: cannot list" in errors
        assert "listable/entry" in errors
    on_tmpfs = any("on-tmpfs" in path for path in python["candidates"])
    if (tree / "mnt" / "dir").exists():  # mounted: entered only across file systems
        assert on_tmpfs == (not one_fs and "*/mnt" not in exclude)


def test_only_star_globs_use_the_native_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    """``?`` and ``[...]`` match characters in Python: those configurations walk in Python."""
    monkeypatch.setenv(native.ENV_SWITCH, "1")
    built = native._walk is not None
    assert native.usable(("*.swp", "/etc/mtab"), ()) is built
    assert native.usable(("/etc/?tab",), ()) is False
    assert native.usable((), ("*.[ch]",)) is False
    monkeypatch.setenv(native.ENV_SWITCH, "0")
    assert native.usable((), ()) is False


@needs_native
def test_check_reports_the_same_with_either_walk(site: FimSite) -> None:
    """Added, deleted, changed, re-typed: the whole report is the same."""
    site.run("init")
    (site.root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\nnew:x:1000:\n")
    (site.root / "bin" / "tool").unlink()
    (site.root / "etc" / "added").write_text("new")
    (site.root / "etc" / "hosts").chmod(0o600)
    reports = {}
    for switch in ("1", "0"):
        os.environ[native.ENV_SWITCH] = switch
        try:
            code, report = site.report("check")
        finally:
            del os.environ[native.ENV_SWITCH]
        report.pop("seconds")
        reports[switch] = (code, report)
    assert reports["1"] == reports["0"]
    assert reports["1"][0] == 1
    assert {change["status"] for change in reports["1"][1]["changes"]} >= {"added", "deleted"}


@needs_native
def test_init_records_the_same_baseline_with_either_walk(site: FimSite) -> None:
    """Worker processes list whole subtrees with the C walk: the same rows, hashes included."""
    deep = site.root / "usr" / "lib" / "deep" / "er"
    deep.mkdir(parents=True)
    (deep / "lib.so").write_bytes(bytes(range(256)) * 1000)
    (deep / "a.swp").write_text("excluded by the default globs")
    os.symlink("lib.so", deep / "lib-link")
    os.mkfifo(deep / "fifo")
    (deep / "new\nline").write_text("x")
    with open(os.fsencode(deep) + b"/caf\xe9", "wb") as handle:
        handle.write(b"not UTF-8")
    site.configure('exclude = ["*.swp"]\n')
    baselines = {}
    for switch in ("1", "0"):
        os.environ[native.ENV_SWITCH] = switch
        try:
            code, report = site.report("init")
        finally:
            del os.environ[native.ENV_SWITCH]
        assert (code, report["errors"]) == (0, [])
        with closing(sqlite3.connect(site.state / "fim" / "baseline.sqlite")) as connection:
            baselines[switch] = sorted(connection.execute("SELECT * FROM files"))
    assert baselines["1"] == baselines["0"]
    paths = [row[0] for row in baselines["1"]]
    assert os.fsencode(deep) + b"/caf\xe9" in paths
    assert os.fsencode(deep / "a.swp") not in paths

"""A watched tree, a state dir and a configuration in a temporary folder, and the real CLI."""

import contextlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rampart.cli.main import main
from tests.conftest import run_rampart


@dataclass
class FimSite:
    """The tree ``root`` watched by ``rampart fim`` with its own config and state dir."""

    root: Path
    state: Path
    config: Path
    dpkg: Path
    processes: int = 1

    def configure(self, extra: str = "", paths: tuple[Path, ...] = ()) -> None:
        roots = ", ".join(f'"{path}"' for path in (paths or (self.root,)))
        self.config.write_text(
            "[fim]\n"
            f"paths = [{roots}]\n"
            f'diff_paths = ["{self.root}/etc/*"]\n'
            f'dpkg_info = "{self.dpkg}"\n'
            f"processes = {self.processes}\n"
            "nice = 0\n"
            'ionice = "none"\n' + extra
        )

    def run(self, *args: str, child: bool = False) -> tuple[int, str, str]:
        """``rampart fim ARGS``: in this process (quick), or as a child process (exit, stderr)."""
        env = {"RAMPART_CONFIG": str(self.config), "RAMPART_STATE_DIR": str(self.state)}
        if child:
            result = run_rampart(["fim", *args], env=env)
            return result.returncode, result.stdout, result.stderr
        out, err = io.StringIO(), io.StringIO()
        saved = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(["fim", *args])
                except SystemExit as exit_:  # argparse
                    code = int(exit_.code or 0)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        return code, out.getvalue(), err.getvalue()

    def report(self, *args: str) -> tuple[int, dict[str, Any]]:
        code, out, err = self.run(*args, "--json")
        assert code in (0, 1), err
        return code, json.loads(out)


def changes(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The report's changes by path relative to nothing (absolute)."""
    return {change["path"]: change for change in report["changes"]}


@pytest.fixture(params=[1, 2], ids=["one-process", "two-processes"])
def site(tmp_path: Path, request: pytest.FixtureRequest) -> FimSite:
    """The tree, walked by one process or by two worker processes (the two code paths)."""
    root = tmp_path / "tree"
    (root / "etc").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "etc" / "app.conf").write_text("port = 80\nuser = www\n")
    (root / "etc" / "hosts").write_text("127.0.0.1 localhost\n")
    (root / "bin" / "tool").write_bytes(b"\x7fELF" + bytes(range(256)) * 64)
    os.chmod(root / "bin" / "tool", 0o755)  # noqa: S103 (a program)
    os.symlink("tool", root / "bin" / "tool-link")
    dpkg = tmp_path / "dpkg" / "info"
    dpkg.mkdir(parents=True)
    made = FimSite(root, tmp_path / "state", tmp_path / "rampart.toml", dpkg, request.param)
    made.configure()
    return made

"""A file dpkg replaced with its package's recorded content: a package update, no intrusion."""

import hashlib
import os
from pathlib import Path

from rampart.fim.packages import PackageIndex, spellings
from tests.fim.conftest import FimSite, changes

NEW_TOOL = b"\x7fELF version 2 of the tool"


def md5sums_line(path: Path, content: bytes) -> str:
    """dpkg's format: the hex MD5, two spaces, the path without its leading slash."""
    return f"{hashlib.md5(content).hexdigest()}  {str(path).lstrip('/')}\n"  # noqa: S324


def test_a_package_upgrade_is_a_low_level_event(site: FimSite) -> None:
    tool = site.root / "bin" / "tool"
    (site.dpkg / "tool:amd64.md5sums").write_text(md5sums_line(tool, NEW_TOOL))
    (site.dpkg / "tool:amd64.list").write_text(f"/.\n{tool}\n")
    site.run("init")
    replacement = tool.with_name(".tool.dpkg-new")  # how dpkg installs: write, then rename
    replacement.write_bytes(NEW_TOOL)
    os.chmod(replacement, 0o755)  # noqa: S103 (a program)
    os.rename(replacement, tool)
    code, report = site.report("check")
    change = changes(report)[str(tool)]
    assert (change["status"], change["rule_id"], change["level"]) == ("package", 551, 2)
    assert change["package"] == "tool"
    assert {"hash", "inode"} <= set(change["attributes"])
    assert report["summary"]["package"] == 1 and report["summary"]["changed"] == 0
    assert code == 1 and site.run("check", "--fail-on", "3")[0] == 0


def test_content_not_from_the_package_stays_an_intrusion(site: FimSite) -> None:
    tool = site.root / "bin" / "tool"
    (site.dpkg / "tool.md5sums").write_text(md5sums_line(tool, NEW_TOOL))
    site.run("init")
    tool.write_bytes(b"\x7fELF trojaned")
    change = changes(site.report("check")[1])[str(tool)]
    assert (change["status"], change["rule_id"], change["level"]) == ("changed", 550, 7)


def test_a_package_file_made_setuid_is_not_excused(site: FimSite) -> None:
    tool = site.root / "bin" / "tool"
    (site.dpkg / "tool.md5sums").write_text(md5sums_line(tool, NEW_TOOL))
    site.run("init")
    tool.write_bytes(NEW_TOOL)
    os.chmod(tool, 0o4755)  # noqa: S103 (the attack)
    change = changes(site.report("check")[1])[str(tool)]
    assert change["status"] == "changed" and change["level"] == 7
    assert "mode" in change["attributes"]


def test_a_file_a_package_adds_is_a_package_event(site: FimSite) -> None:
    site.run("init")
    plugin = site.root / "bin" / "plugin.so"
    (site.dpkg / "tool.md5sums").write_text(md5sums_line(plugin, b"plugin"))
    plugin.write_bytes(b"plugin")
    change = changes(site.report("check")[1])[str(plugin)]
    assert (change["status"], change["level"], change["package"]) == ("package", 2, "tool")


def test_conffiles_from_the_status_file(site: FimSite) -> None:
    conf = site.root / "etc" / "app.conf"
    shipped = b"port = 443\n"
    (site.dpkg.parent / "status").write_text(
        "Package: app\nStatus: install ok installed\nConffiles:\n"
        f" {conf} {hashlib.md5(shipped).hexdigest()}\n"  # noqa: S324
        "Description: an app\n"
    )
    site.run("init")
    conf.write_bytes(shipped)
    change = changes(site.report("check")[1])[str(conf)]
    assert (change["status"], change["package"]) == ("package", "app")
    assert "+port = 443" in change["diff"], "the diff is still shown"


def test_merged_usr_spellings() -> None:
    assert spellings("/bin/ls") == ("/bin/ls", "/usr/bin/ls")
    assert spellings("/usr/lib/x86_64-linux-gnu/libc.so.6") == (
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/lib/x86_64-linux-gnu/libc.so.6",
    )
    assert spellings("/usr/share/doc") == ("/usr/share/doc",)
    assert spellings("/binary") == ("/binary",)


def test_merged_usr_and_diversions(tmp_path: Path) -> None:
    info = tmp_path / "info"
    info.mkdir()
    ls_sum, real_sum, wrapper_sum = "1" * 32, "2" * 32, "3" * 32
    (info / "coreutils.md5sums").write_text(f"{ls_sum}  bin/ls\n")
    (info / "real.md5sums").write_text(f"{real_sum}  usr/bin/tool\n")
    (info / "wrapper.md5sums").write_text(f"{wrapper_sum}  usr/bin/tool\n")
    # wrapper diverts real's /usr/bin/tool to /usr/bin/tool.real and ships its own
    (tmp_path / "diversions").write_text("/usr/bin/tool\n/usr/bin/tool.real\nwrapper\n")
    index = PackageIndex(info)
    assert index.expected("/usr/bin/ls") == [("coreutils", ls_sum)]
    assert index.expected("/usr/bin/tool") == [("wrapper", wrapper_sum)]
    assert index.expected("/usr/bin/tool.real") == [("real", real_sum)]
    assert index.expected("/usr/bin/other") == []


def test_debian_real_database() -> None:
    """On a Debian host: /usr/bin/ls is coreutils' and has the recorded sum."""
    info = Path("/var/lib/dpkg/info")
    if not (info / "coreutils.md5sums").is_file():
        import pytest

        pytest.skip("not a Debian host with coreutils")
    index = PackageIndex(info)
    assert index.owner("/usr/bin/ls") == "coreutils"
    assert index.package_update("/usr/bin/ls") == "coreutils"

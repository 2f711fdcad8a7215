"""``rampart audit --sarif FILE --html FILE``: whole files, beside the terminal output."""

import json
from html.parser import HTMLParser
from pathlib import Path

from tests.conftest import run_rampart

VOID = {"meta", "br", "hr", "img", "input", "link"}


class Balanced(HTMLParser):
    """Fails on an end tag that does not close the innermost open element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.seen: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.add(tag)
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()


def test_sarif_and_html_files_beside_json_output(tmp_path: Path) -> None:
    sarif, page = tmp_path / "audit.sarif", tmp_path / "audit.html"
    done = run_rampart(["audit", "--json", "--sarif", str(sarif), "--html", str(page)])
    assert done.returncode == 0, done.stderr
    assert "score_rule" in json.loads(done.stdout)
    log = json.loads(sarif.read_text(encoding="utf-8"))
    assert log["version"] == "2.1.0"
    assert log["runs"][0]["tool"]["driver"]["name"] == "rampart"
    parser = Balanced()
    parser.feed(page.read_text(encoding="utf-8"))
    parser.close()
    assert parser.open == [] and {"html", "body", "style"} <= parser.seen
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.html", "audit.sarif"]


def test_a_report_in_a_missing_directory_is_refused_before_the_audit(tmp_path: Path) -> None:
    target = tmp_path / "absent" / "audit.sarif"
    done = run_rampart(["audit", "--sarif", str(target), "--html", str(tmp_path / "ok.html")])
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert "no such directory" in line and str(target) in line
    assert list(tmp_path.iterdir()) == []

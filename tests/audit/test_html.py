"""The HTML report: one self-contained page, grouped by practice, everything escaped."""

import io
from collections.abc import Iterable
from html.parser import HTMLParser

from rampart.audit import (
    AuditReport,
    Check,
    CheckMeta,
    Facts,
    Finding,
    Mute,
    Severity,
    Unavailable,
    run_audit,
)
from rampart.audit.engine import SCORE_RULE
from rampart.audit.html import write_html

EVIL = "<script>alert(1)</script>"
QUOTED = "user \"bob\" 'o'reilly' & <co>"


class UserCheck(Check):
    meta = CheckMeta(
        "TST-201", "no login shell", "12", Severity.HIGH, "usermod -s /usr/sbin/nologin"
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        for name, shell in facts.get("users"):
            yield self.failed(name, shell) if shell == EVIL else self.passed(name, shell)


class PortCheck(Check):
    meta = CheckMeta("TST-202", "sshd is not on port 22", "3", Severity.MEDIUM, "set Port 2222")

    def run(self, facts: Facts) -> Iterable[Finding]:
        yield self.failed("port 22", "sshd listens on 22")


class ToolCheck(Check):
    meta = CheckMeta("TST-203", "inventory tool present", "0", Severity.LOW, "apt-get install x")

    def run(self, facts: Facts) -> Iterable[Finding]:
        facts.get("tool")
        return []


class CloudCheck(Check):
    meta = CheckMeta("TST-204", "trail is on", "10", Severity.CRITICAL, "aws cloudtrail ...")

    def run(self, facts: Facts) -> Iterable[Finding]:
        yield self.passed("trail main", "logging")


def missing() -> object:
    raise Unavailable("tool <x> is not installed")


def report() -> AuditReport:
    facts = Facts(
        {"users": lambda: [(QUOTED, EVIL), ("alice", "/usr/sbin/nologin")], "tool": missing}
    )
    mutes = [Mute("TST-202", "*", "legacy <clients> & partners")]
    return run_audit(facts, [UserCheck(), PortCheck(), ToolCheck(), CloudCheck()], mutes)


class Page(HTMLParser):
    """What a browser would see: the tags, their attributes and the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.headings: list[str] = []
        self.cells: list[str] = []
        self.text: list[str] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(attrs)
        self._open.append(tag)
        if tag in ("h2", "td"):
            (self.headings if tag == "h2" else self.cells).append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            del self._open[len(self._open) - 1 - self._open[::-1].index(tag) :]

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if "h2" in self._open:
            self.headings[-1] += data
        elif "td" in self._open:
            self.cells[-1] += data


def render(audit: AuditReport) -> tuple[str, Page]:
    out = io.StringIO()
    write_html(audit, out)
    page = Page()
    page.feed(out.getvalue())
    page.close()
    return out.getvalue(), page


def test_attacker_text_is_escaped_and_reads_back_unchanged() -> None:
    html, page = render(report())
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "script" not in page.tags
    assert '"bob"' not in html and "'o'reilly'" not in html
    assert "&quot;bob&quot;" in html and "&#x27;o&#x27;reilly&#x27;" in html
    assert EVIL in page.cells and QUOTED in page.cells, "the browser shows the text as it was"
    assert "legacy <clients> & partners" in page.cells
    assert "tool <x> is not installed" in page.cells


def test_self_contained_no_script_nothing_fetched() -> None:
    html, page = render(report())
    assert html.startswith("<!DOCTYPE html>")
    assert {"script", "link", "img", "iframe", "object", "embed"}.isdisjoint(page.tags)
    assert "style" in page.tags
    assert all(name not in ("src", "href", "action") for name, _ in page.attributes)
    assert "url(" not in html and "@import" not in html


def test_score_and_rule_at_the_top_then_practices_in_order() -> None:
    audit = report()
    html, page = render(audit)
    assert audit.score is not None
    text = "".join(page.text)
    assert f"score {audit.score}/100" in text
    assert SCORE_RULE in text
    assert html.index(SCORE_RULE) < html.index("<section>")
    assert page.headings == [
        "0. Check what you have (0 of 1 passed)",
        "3. SSH off port 22 (0 of 1 passed)",
        "10. Cloud audit trail (1 of 1 passed)",
        "12. Unprivileged service users (1 of 2 passed)",
    ]


def test_each_finding_shows_every_field() -> None:
    _, page = render(report())
    rows = [page.cells[i : i + 8] for i in range(0, len(page.cells), 8)]
    by_check = {row[2]: row for row in rows if row[0] != "pass"}
    assert by_check["TST-201"] == [
        "fail",
        "high",
        "TST-201",
        "no login shell",
        QUOTED,
        EVIL,
        "usermod -s /usr/sbin/nologin",
        "",
    ]
    assert by_check["TST-202"][0] == "muted"
    assert by_check["TST-202"][7] == "legacy <clients> & partners"
    assert by_check["TST-203"][0] == "skipped"
    twelve = [row for row in rows if row[2] == "TST-201"]
    assert [row[0] for row in twelve] == ["fail", "pass"], "worst first within a practice"


def test_an_empty_report_is_a_page_too() -> None:
    html, page = render(AuditReport())
    assert "score n/a" in "".join(page.text)
    assert html.rstrip().endswith("</html>")

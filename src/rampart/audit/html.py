"""The audit as one self-contained HTML page: inline CSS, no script, nothing fetched.

Grouped by practice and ordered as the terminal report. Every piece of text
that comes from a finding is escaped: evidence and resources carry what the
host holds (user names, file names, banners), which an attacker may choose.
"""

from collections.abc import Iterable
from html import escape
from typing import TextIO

from rampart import __version__
from rampart.audit.engine import SCORE_RULE, AuditReport
from rampart.audit.interface import Finding, Status
from rampart.audit.report import _ORDER, PRACTICES, _practice_key

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 70em;
  padding: 0 1em; color: #1b1f24; }
h1 { margin-bottom: .2em; }
.score { font-size: 2.2em; font-weight: 700; }
.rule, .muted-text { color: #57606a; font-size: .9em; }
table { border-collapse: collapse; width: 100%; margin-bottom: 1.5em; }
th, td { text-align: left; vertical-align: top; padding: .35em .5em;
  border-bottom: 1px solid #d0d7de; }
th { background: #f6f8fa; }
td.text { white-space: pre-wrap; overflow-wrap: anywhere; }
.status { font-weight: 700; text-transform: uppercase; font-size: .85em; }
.status-fail { color: #cf222e; }
.status-muted { color: #9a6700; }
.status-skipped { color: #57606a; }
.status-pass { color: #1a7f37; }
.severity-critical, .severity-high { font-weight: 700; }
"""
_HEADINGS = ("Status", "Severity", "Check", "Title", "Resource", "Evidence", "Fix", "Reason")


def write_html(report: AuditReport, out: TextIO) -> None:
    """Write the whole report as one HTML document."""
    counts = report.counts()
    score = "n/a (nothing passed or failed)" if report.score is None else f"{report.score}/100"
    out.write(
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>rampart audit: {_e(score)}</title>\n"
        f"<style>{_STYLE}</style>\n</head>\n<body>\n"
        f'<h1>rampart audit</h1>\n<p class="rule">rampart {_e(__version__)}</p>\n'
        f'<p class="score">score {_e(score)}</p>\n'
        f"<p>{counts['pass']} passed, {counts['fail']} failed, {counts['skipped']} skipped, "
        f'{counts["muted"]} muted</p>\n<p class="rule">{_e(SCORE_RULE)}</p>\n'
    )
    groups: dict[str, list[Finding]] = {}
    for finding in report.findings:
        groups.setdefault(finding.practice, []).append(finding)
    if not groups:
        out.write("<p>No checks ran.</p>\n")
    for practice in sorted(groups, key=_practice_key):
        findings = sorted(
            groups[practice], key=lambda f: (_ORDER[f.status], -f.severity, f.check, f.resource)
        )
        passed = sum(1 for f in findings if f.status is Status.PASS)
        title = PRACTICES.get(practice, "")
        heading = f"{practice}. {title}" if title else practice
        out.write(
            f"<section>\n<h2>{_e(heading)} "
            f'<span class="muted-text">({passed} of {len(findings)} passed)</span></h2>\n'
            "<table>\n<thead><tr>"
            + "".join(f"<th>{_e(name)}</th>" for name in _HEADINGS)
            + "</tr></thead>\n<tbody>\n"
        )
        for finding in findings:
            out.write(_row(finding))
        out.write("</tbody>\n</table>\n</section>\n")
    out.write("</body>\n</html>\n")


def _row(finding: Finding) -> str:
    status = finding.status.value
    severity = finding.severity.name.lower()
    cells: Iterable[str] = (
        f'<td class="status status-{_e(status)}">{_e(status)}</td>',
        f'<td class="severity-{_e(severity)}">{_e(severity)}</td>',
        f"<td>{_e(finding.check)}</td>",
        f"<td>{_e(finding.title)}</td>",
        f'<td class="text">{_e(finding.resource)}</td>',
        f'<td class="text">{_e(finding.evidence)}</td>',
        f'<td class="text">{_e(finding.fix)}</td>',
        f'<td class="text">{_e(finding.reason or "")}</td>',
    )
    return "<tr>" + "".join(cells) + "</tr>\n"


def _e(text: str) -> str:
    return escape(text, quote=True)

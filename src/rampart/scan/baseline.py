"""The baseline: findings a team has looked at and accepted, by fingerprint.

A JSON file (``rampart scan --baseline FILE --update-baseline`` writes it)
lists each accepted finding's fingerprint (sha256 of the rule id and the
secret, never the secret) with its rule and place for the reader. A finding
whose fingerprint is listed is not reported, wherever the secret moves.
"""

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from rampart.errors import UsageError
from rampart.files import write_atomically
from rampart.scan.finding import Finding

FORMAT = "rampart-scan-baseline/1"


def read_baseline(path: Path) -> frozenset[str]:
    """The accepted fingerprints in ``path`` (none if it does not exist yet), or UsageError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return frozenset()
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot read the baseline: {error}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{path}: the baseline is not JSON (line {error.lineno})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise UsageError(f'{path}: not a rampart scan baseline (no "format": "{FORMAT}")')
    entries = document.get("findings")
    if not isinstance(entries, list):
        raise UsageError(f'{path}: the baseline has no "findings" list')
    accepted = set()
    for number, entry in enumerate(entries, 1):
        digest = entry.get("fingerprint") if isinstance(entry, dict) else None
        if not isinstance(digest, str) or len(digest) != 64:
            raise UsageError(f'{path}: finding {number} has no valid "fingerprint"')
        accepted.add(digest.lower())
    return frozenset(accepted)


def write_baseline(path: Path, findings: Iterable[Finding]) -> None:
    """Accept ``findings``: replace ``path`` atomically with their fingerprints."""
    unique = {finding.fingerprint: finding for finding in findings}
    ordered = sorted(unique.values(), key=lambda f: (f.path, f.line, f.rule_id))
    entries = [
        {"fingerprint": f.fingerprint, "rule": f.rule_id, "path": f.path, "line": f.line}
        for f in ordered
    ]

    def write(out: TextIO) -> None:
        json.dump({"format": FORMAT, "findings": entries}, out, indent=2)
        out.write("\n")

    write_atomically(path, write, mode=0o644)

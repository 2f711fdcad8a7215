"""Finding secrets in bytes: one keyword pass, then only the rules it selects.

Text is never decoded whole. The bytes are lowercased once (ASCII only, so
offsets do not move) and one Aho-Corasick pass finds every rule's keywords.
A rule runs only if one of its keywords is there, and then only on the lines
that hold one (unless its keyword may be anywhere in the file). Where two
rules find the same characters, the earlier rule in the file wins, so a
GitHub token is not also "a high-entropy value assigned to a token".
"""

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from ahocorasick_rs import BytesAhoCorasick

from rampart.scan.rules import Rule, RuleSet

ALLOW_MARK = b"rampart:allow"
"""A line containing this is never reported (write it in a comment on that line)."""


@dataclass(frozen=True)
class Match:
    """A secret in a text: the line its match starts on, the secret's byte offsets, itself."""

    rule: Rule
    line: int
    start: int
    end: int
    secret: bytes = field(repr=False)


def shannon_entropy(data: bytes) -> float:
    """Bits per character of ``data`` (0 for empty): random base64 is near 6, words near 3."""
    if not data:
        return 0.0
    size = len(data)
    return -sum(count / size * math.log2(count / size) for count in Counter(data).values())


class Detector:
    """The compiled rules; :meth:`find` is all a scanner needs."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        keywords: dict[bytes, list[int]] = {}
        for index, rule in enumerate(rules.rules):
            for keyword in rule.keywords:
                keywords.setdefault(keyword, []).append(index)
        self._keyword_rules = list(keywords.values())
        self._automaton = BytesAhoCorasick(list(keywords))

    def find(self, data: bytes, path: str) -> list[Match]:
        """The secrets in ``data``, the contents (or added lines) of ``path``, in text order."""
        if self.rules.allow.path(path):
            return []
        hits = self._automaton.find_matches_as_indexes(data.lower(), overlapping=True)
        if not hits:
            return []
        windows: dict[int, set[tuple[int, int]]] = {}
        lines: dict[int, tuple[int, int]] = {}
        for keyword, start, end in hits:
            for index in self._keyword_rules[keyword]:
                rule = self.rules.rules[index]
                if rule.whole_file:
                    windows[index] = {(0, len(data))}
                    continue
                line = lines.get(start)
                if line is None:
                    line_end = data.find(b"\n", end)
                    line_end = len(data) if line_end < 0 else line_end
                    line = (data.rfind(b"\n", 0, start) + 1, line_end)
                    lines[start] = line
                windows.setdefault(index, set()).add(line)
        accepted: list[Match] = []
        for index in sorted(windows):
            rule = self.rules.rules[index]
            if not rule.applies_to(path):
                continue
            for match in self._matches(rule, data, sorted(windows[index])):
                if not any(match.start < m.end and m.start < match.end for m in accepted):
                    accepted.append(match)
        accepted.sort(key=lambda match: match.start)
        return accepted

    def _matches(self, rule: Rule, data: bytes, windows: list[tuple[int, int]]) -> Iterator[Match]:
        for window_start, window_end in windows:
            for hit in rule.pattern.finditer(data, window_start, window_end):
                group = rule.secret_group
                if group is not None and hit.group(group) is not None:
                    start, end = hit.span(group)
                else:
                    start, end = hit.span()
                secret = data[start:end]
                stripped = secret.strip()
                if not stripped:
                    continue
                start += len(secret) - len(secret.lstrip())
                end = start + len(stripped)
                if rule.entropy and shannon_entropy(stripped) < rule.entropy:
                    continue
                if rule.allow.secret(stripped) or self.rules.allow.secret(stripped):
                    continue
                # the line of the match itself (a key's header, not its body; not a newline before)
                text = hit.group()
                first = hit.start() + len(text) - len(text.lstrip())
                line_start = data.rfind(b"\n", 0, first) + 1
                line_end = data.find(b"\n", end)
                if ALLOW_MARK in data[line_start : line_end if line_end >= 0 else len(data)]:
                    continue
                yield Match(rule, data.count(b"\n", 0, first) + 1, start, end, stripped)

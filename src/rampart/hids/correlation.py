"""Correlation state: frequency windows per source or user, quiet periods, source networks.

A frequency rule keeps, per key (its source address and/or user), the times
of the last ``frequency`` matches of what it watches; it fires when they all
fall within its timeframe, then starts counting afresh. Keys and quiet
periods are bounded (:data:`MAX_KEYS`): a flood of addresses costs the
oldest ones, never the memory.
"""

import ipaddress
from collections import deque

from rampart.hids.decoder import Fields
from rampart.hids.rule import Rule

#: Keys (sources, users) remembered per frequency rule and quiet periods kept, at most.
MAX_KEYS = 100_000


class Correlation:
    """The state a rule set's judgements depend on, beyond the line itself."""

    def __init__(self) -> None:
        self._windows: dict[int, dict[str, deque[float]]] = {}
        self._quiet: dict[tuple[int, str], float] = {}

    def allows(self, rule: Rule, fields: Fields, stamp: float) -> bool:
        """Whether ``rule``'s source networks, quiet period and frequency let it match now."""
        if (rule.srcip_in or rule.srcip_not_in) and not _source_allowed(rule, fields):
            return False
        if rule.ignore > 0:
            until = self._quiet.get((rule.id, _quiet_key(rule, fields)))
            if until is not None and until > stamp:
                return False
        return not rule.composite or self._frequent(rule, fields, stamp)

    def _frequent(self, rule: Rule, fields: Fields, stamp: float) -> bool:
        """Whether ``rule``'s window for this source/user holds ``frequency`` matches now."""
        key = _group_key(rule, fields)
        if key is None:
            return False
        window = self._windows.get(rule.id, {}).get(key)
        if window is None:
            return False
        _expire(window, stamp - rule.timeframe)
        if len(window) < rule.frequency:
            return False
        window.clear()  # counted once: the next alert needs `frequency` new matches
        return True

    def count(
        self, watchers: tuple[Rule, ...], fields: Fields, stamp: float, fed: set[int]
    ) -> None:
        """Add this match to the windows of ``watchers`` (each once per line: ``fed``)."""
        for watcher in watchers:
            if watcher.id in fed:
                continue
            fed.add(watcher.id)
            key = _group_key(watcher, fields)
            if key is None:
                continue
            windows = self._windows.get(watcher.id)
            if windows is None:
                windows = self._windows[watcher.id] = {}
            window = windows.get(key)
            if window is None:
                if len(windows) >= MAX_KEYS:
                    _forget_oldest(windows)
                window = windows[key] = deque(maxlen=watcher.frequency)
            window.append(stamp)

    def start_quiet(self, rule: Rule, fields: Fields, stamp: float) -> None:
        """``rule`` fired: it stays silent for its ``ignore`` seconds (per key)."""
        if len(self._quiet) >= MAX_KEYS:
            self._quiet = {key: until for key, until in self._quiet.items() if until > stamp}
            if len(self._quiet) >= MAX_KEYS:
                self._quiet.clear()
        self._quiet[(rule.id, _quiet_key(rule, fields))] = stamp + rule.ignore


def _group_key(rule: Rule, fields: Fields) -> str | None:
    """The window a match counts in: its source and/or user; None when one is missing."""
    if rule.same_source_ip:
        source = fields.get("srcip")
        if not source:
            return None
        if not rule.same_user:
            return source
        user = fields.get("user") or fields.get("dstuser")
        return f"{source}\0{user}" if user else None
    if rule.same_user:
        return fields.get("user") or fields.get("dstuser") or None
    return ""


def _quiet_key(rule: Rule, fields: Fields) -> str:
    """Quiet periods are per group key for frequency rules, else per source address."""
    if rule.composite:
        return _group_key(rule, fields) or ""
    return fields.get("srcip") or ""


def _source_allowed(rule: Rule, fields: Fields) -> bool:
    source = fields.get("srcip")
    if not source:
        return False
    try:
        address = ipaddress.ip_address(source.strip("[]"))
    except ValueError:
        return False
    if rule.srcip_in and not any(address in network for network in rule.srcip_in):
        return False
    return not any(address in network for network in rule.srcip_not_in)


def _expire(window: deque[float], oldest: float) -> None:
    while window and window[0] < oldest:
        window.popleft()


def _forget_oldest(windows: dict[str, deque[float]]) -> None:
    """Drop the tenth of the keys that came first: an address flood must not fill the memory."""
    for key in list(windows)[: max(1, len(windows) // 10)]:
        del windows[key]

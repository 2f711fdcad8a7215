"""Counting failures in a window, ban lengths for repeat offenders, what is banned."""

import pytest

from rampart.ban import parse_target
from rampart.ban.jail import FailureCounter, ban_length, ban_target
from rampart.config import validate_settings

T = 1_800_000_000.0


def jail(**values: object):  # type: ignore[no-untyped-def]
    return validate_settings({"ban": {"jails": {"j": values}}}).ban.jails["j"]


def test_maxretry_within_findtime_then_a_fresh_count() -> None:
    counter = FailureCounter(maxretry=3, findtime=60)
    target = parse_target("192.0.2.7")
    assert counter.add(target, T, T) == 1
    assert counter.add(target, T + 10, T + 10) == 2
    assert counter.add(target, T + 20, T + 20) == 3
    assert len(counter) == 0, "reaching maxretry starts a new count"
    assert counter.add(target, T + 21, T + 21) == 1


def test_failures_older_than_findtime_fall_out_of_the_window() -> None:
    counter = FailureCounter(maxretry=3, findtime=60)
    target = parse_target("192.0.2.7")
    counter.add(target, T, T)
    counter.add(target, T + 30, T + 30)
    assert counter.add(target, T + 70, T + 70) == 2, "the first one is 70 s old"
    assert counter.add(target, T - 100, T + 70) == 0, "a failure logged long ago never counts"


def test_memory_is_bounded_and_the_stalest_are_forgotten() -> None:
    counter = FailureCounter(maxretry=5, findtime=600, max_tracked=100)
    for n in range(1000):
        counter.add(parse_target(f"10.0.{n // 256}.{n % 256}"), T + n * 0.01, T + n * 0.01)
    assert 90 <= len(counter) <= 100
    assert counter.forgotten + len(counter) == 1000
    newest = parse_target("10.0.3.231")  # n = 999
    assert counter.add(newest, T + 10, T + 10) == 2


def test_ipv4_and_ipv6_keys_never_collide() -> None:
    counter = FailureCounter(maxretry=2, findtime=600)
    counter.add(parse_target("0.0.0.1"), T, T)
    assert counter.add(parse_target("::1"), T, T) == 1


def test_ban_length_plain_permanent_and_increments() -> None:
    assert ban_length(jail(bantime="10m"), 5) == 600
    assert ban_length(jail(bantime=-1), 0) is None
    doubling = jail(bantime=60, increment={"enabled": True, "maxtime": "10m"})
    assert [ban_length(doubling, n) for n in range(5)] == [60, 120, 240, 480, 600]
    listed = jail(bantime=60, increment={"enabled": True, "multipliers": "1 5 30"})
    assert [ban_length(listed, n) for n in range(4)] == [60, 300, 1800, 1800]


@pytest.mark.parametrize(
    ("host", "prefix", "expected"),
    [
        ("192.0.2.7", 64, "192.0.2.7/32"),
        ("2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"),
        ("2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6/128"),
        ("::ffff:192.0.2.7", 64, "192.0.2.7/32"),
        ("198.51.100.0/24", 64, "198.51.100.0/24"),
        ("attacker.example", 64, None),
    ],
)
def test_ban_target(host: str, prefix: int, expected: str | None) -> None:
    target = ban_target(host, prefix)
    assert (None if target is None else target.with_prefixlen) == expected

"""Ban values: strict parsing of who is banned, and expiry."""

import ipaddress

import pytest

from rampart.ban import Ban, parse_target
from rampart.errors import UsageError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.7", "192.0.2.7/32"),
        (" 2001:DB8::1 ", "2001:db8::1/128"),
        ("2001:db8:1:2::/64", "2001:db8:1:2::/64"),
    ],
)
def test_parse_target(text: str, expected: str) -> None:
    assert str(parse_target(text)) == expected


@pytest.mark.parametrize(
    "text", ["", "192.0.2.300", "192.0.2.7/24", "example.org", "1.2.3.4; rm -rf /", "::1/129"]
)
def test_parse_target_refuses_anything_else(text: str) -> None:
    with pytest.raises(UsageError, match="not an IP address or network"):
        parse_target(text)


def test_expiry() -> None:
    target = ipaddress.ip_network("192.0.2.7")
    timed = Ban(target, "sshd", banned_at=100.0, expires_at=160.0)
    forever = Ban(target, "sshd", banned_at=100.0, expires_at=None)
    assert timed.active(159.0) and not timed.active(160.0)
    assert timed.remaining(130.0) == 30.0 and timed.remaining(500.0) == 0.0
    assert forever.active(1e12) and forever.remaining(1e12) is None

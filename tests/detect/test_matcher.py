"""The matching engine's parts: tags, addresses, combined regexes, multi-line buffers."""

import re
import socket
import time
from pathlib import Path

import pytest

from rampart.detect import Filter, FilterError, LineMatcher, Outcome, load_filter
from rampart.detect.address import canonical_address
from rampart.detect.combine import anchored_at_start, combine
from rampart.detect.regex import FilterRegex
from rampart.detect.tags import translate
from tests.conftest import needs_fail2ban
from tests.detect.test_fail2ban_samples import FILTER_DIR, SAMPLES_DIR, TEST_NOW, sample_filters


def test_host_tag_captures_ipv4_ipv6_and_names() -> None:
    host = re.compile(translate("from <HOST> port"))
    assert host.search("from 192.0.2.1 port")["ip4"] == "192.0.2.1"  # type: ignore[index]
    assert host.search("from [2001:db8::1] port")["ip6"] == "2001:db8::1"  # type: ignore[index]
    assert host.search("from ::ffff:192.0.2.9 port")["ip4"] == "192.0.2.9"  # type: ignore[index]
    assert host.search("from mail.example.org port")["dns"] == "mail.example.org"  # type: ignore[index]
    addresses_only = re.compile(translate("from <HOST> port", use_dns="no"))
    assert addresses_only.search("from mail.example.org port") is None


def test_custom_tags_become_named_groups() -> None:
    pattern = translate(
        "<F-USER>\\S+</F-USER> <F-ID>x</F-ID> <F-PORT/> <F-CUSTOM>y</F-CUSTOM> <FOO>"
    )
    assert "(?P<user>" in pattern and "(?P<fid>" in pattern and "(?P<fport>" in pattern
    assert "(?P<custom>y)" in pattern
    assert pattern.endswith("<FOO>")  # unknown tags stay as they are


def test_global_flags_inside_a_group_become_local() -> None:
    assert re.compile(translate("^((?i)failed) from <ADDR>")).search("FAILED from 192.0.2.1")


@pytest.mark.parametrize(
    ("text", "family", "prefix", "expected"),
    [
        ("2001:DB8:0::1", socket.AF_INET6, None, "2001:db8::1"),
        ("::ffff:192.0.2.7", socket.AF_INET6, None, "192.0.2.7"),
        ("192.0.2.77", None, 24, "192.0.2.0/24"),
        ("999.1.1.1", socket.AF_INET, None, "999.1.1.1"),  # not an address: kept as written
    ],
)
def test_canonical_address(
    text: str, family: int | None, prefix: int | None, expected: str
) -> None:
    assert canonical_address(text, family, prefix) == expected


def test_broken_regex_is_a_filter_error() -> None:
    with pytest.raises(FilterError, match="cannot compile"):
        FilterRegex("^unclosed ( <HOST>")


def test_combined_regex_takes_the_first_match_in_order() -> None:
    regexes = [FilterRegex(r"^a (?P<fid>\w+)$"), FilterRegex(r"^a (?P<fid>b)(?P<x>\w*)$")]
    combined = combine(regexes)
    assert combined is not None
    assert combined.first("a bc\n") == (0, {"fid": "bc"})
    assert combined.first("zzz\n") is None


def test_unanchored_regexes_are_not_combined() -> None:
    assert not anchored_at_start(r"foo ^bar")
    assert not anchored_at_start(r"^a|b")
    assert combine([FilterRegex(r"^a <HOST>"), FilterRegex(r"b <HOST>")]) is None


@needs_fail2ban
@pytest.mark.parametrize("name", sample_filters())
def test_combined_and_one_by_one_agree_on_fail2ban_samples(name: str) -> None:
    compiled = Filter(load_filter(name, (FILTER_DIR,)))
    if compiled.combined is None:
        return  # multi-line or not expressible: the one-by-one loop is all there is
    one_by_one = Filter(load_filter(name, (FILTER_DIR,)))
    one_by_one.combined = None
    text = (SAMPLES_DIR / name).read_text("utf-8", "replace").splitlines()
    fast = LineMatcher(compiled, now=lambda: TEST_NOW)
    slow = LineMatcher(one_by_one, now=lambda: TEST_NOW)
    for lineno, line in enumerate(text, 1):
        assert fast.process(lineno, line) == slow.process(lineno, line), line


def _spec(tmp_path: Path, body: str) -> Filter:
    conf = tmp_path / "crafted.conf"
    conf.write_text("[Definition]\n" + body)
    return Filter(load_filter(str(conf)))


def test_multi_line_failure_with_skipped_lines(tmp_path: Path) -> None:
    compiled = _spec(
        tmp_path,
        "failregex = ^ login attempt id=(?P<cid>\\d+)<SKIPLINES>^ id=(?P=cid) from <HOST> failed$\n"
        "maxlines = 4\n",
    )
    matcher = LineMatcher(compiled, now=time.time)
    lines = [
        "2026-11-25 10:00:00 login attempt id=7",
        "2026-11-25 10:00:01 unrelated noise",
        "2026-11-25 10:00:02 id=7 from 192.0.2.44 failed",
    ]
    outcomes = [matcher.process(n, line) for n, line in enumerate(lines, 1)]
    assert [outcome for outcome, _ in outcomes] == [Outcome.MISSED, Outcome.MISSED, Outcome.MATCHED]
    [failure] = outcomes[2][1]
    assert failure.host == "192.0.2.44"
    # The skipped noise line is not part of the failure's matched lines.
    assert [timed[2] for timed in failure.fields["matches"]] == [
        " login attempt id=7",
        " id=7 from 192.0.2.44 failed",
    ]


def test_a_failregex_without_host_or_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FilterError, match="captures no host or id"):
        _spec(tmp_path, "failregex = ^something failed$\n")


def test_an_invalid_datepattern_is_refused_at_once(tmp_path: Path) -> None:
    with pytest.raises(FilterError, match="datepattern"):
        _spec(tmp_path, "failregex = ^x <HOST>$\ndatepattern = %Y-%m-%d (unclosed\n")


@needs_fail2ban
def test_a_failure_does_not_change_when_its_connection_goes_on() -> None:
    matcher = LineMatcher(Filter(load_filter("sshd", (FILTER_DIR,))), now=time.time)
    prefix = "Nov 25 13:54:0{} web1 sshd[77]: Failed password for {} from 192.0.2.8 port 4000 ssh2"
    _, [first] = matcher.process(1, prefix.format(1, "root"))
    _, [second] = matcher.process(2, prefix.format(2, "admin"))
    assert (first.user, second.user) == ("root", "admin")
    assert first.fields["users"] == {"root"}
    assert second.fields["users"] == {"root", "admin"}
    assert [line[1] for line in first.fields["matches"]] == ["Nov 25 13:54:01"]

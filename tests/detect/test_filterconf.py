"""Filter files read as Fail2ban reads them: crafted filters, then Fail2ban itself as oracle.

Where Fail2ban is installed, each crafted filter is also read by Fail2ban's
own ``FilterReader`` and the two results must be equal; the oracle test does
the same for every filter in ``/etc/fail2ban/filter.d`` with the options its
sample logs use.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from rampart.detect.errors import FilterError
from rampart.detect.filterconf import (
    DEFAULT_FILTER_DIRS,
    FilterSpec,
    find_filter,
    load_filter,
    parse_filter_ref,
)

FAIL2BAN_LIB = Path("/usr/lib/python3/dist-packages")
FAIL2BAN_CONFIG = Path("/etc/fail2ban")
SAMPLE_LOGS = FAIL2BAN_LIB / "fail2ban" / "tests" / "files" / "logs"
# Files in filter.d that hold only shared definitions for other filters.
NOT_FILTERS = {"common"}
_LOG_OPTIONS = re.compile(r"^#+ ?(failJSON|(?:file|filter)Options|addFILE):(.+)$")

Outcome = dict[str, Any] | str


def _fail2ban_reader() -> Any:
    """Fail2ban's FilterReader class, or None when Fail2ban is not installed."""
    if not (FAIL2BAN_LIB / "fail2ban" / "client" / "filterreader.py").is_file():
        return None
    added = str(FAIL2BAN_LIB) not in sys.path
    if added:
        sys.path.append(str(FAIL2BAN_LIB))
    try:
        from fail2ban.client.filterreader import FilterReader  # type: ignore[import-not-found]
    finally:
        if added:  # keep Debian's packages from shadowing missing ones in other tests
            sys.path.remove(str(FAIL2BAN_LIB))
    return FilterReader


def _fail2ban_outcome(basedir: Path, name: str, options: Mapping[str, str]) -> Outcome:
    """What Fail2ban sends its server for this filter, in FilterSpec's terms."""
    reader = _fail2ban_reader()(name, "jail", dict(options), basedir=str(basedir))
    try:
        reader.read()
        reader.getOptions({})
        stream = reader.convert()
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    outcome: dict[str, Any] = {"prefregex": None, "failregex": [], "ignoreregex": []}
    outcome.update({"maxlines": 1, "datepattern": None, "journalmatch": []})
    for command in stream:
        kind, key, args = command[0], command[2], command[3:]
        if key in ("addfailregex", "addignoreregex"):
            outcome[key[3:]] += args[0] if kind == "multi-set" else args
        elif key == "addjournalmatch" and args:
            outcome["journalmatch"] += ["+", *args] if outcome["journalmatch"] else args
        elif key in ("prefregex", "maxlines", "datepattern"):
            outcome[key] = args[0]
    return outcome


def _rampart_outcome(filter_dir: Path, name: str, options: Mapping[str, str]) -> Outcome:
    try:
        spec = load_filter(name, (filter_dir,), options=options)
    except FilterError:
        return "error: FilterError"
    return {
        "prefregex": spec.prefregex,
        "failregex": list(spec.failregex),
        "ignoreregex": list(spec.ignoreregex),
        "maxlines": spec.maxlines,
        "datepattern": spec.datepattern,
        "journalmatch": list(spec.journalmatch),
    }


def _agree(basedir: Path, name: str, options: Mapping[str, str]) -> None:
    """Both fail, or both give the same regexes, maxlines, datepattern, journalmatch."""
    if _fail2ban_reader() is None:
        return
    ours = _rampart_outcome(basedir / "filter.d", name, options)
    theirs = _fail2ban_outcome(basedir, name, options)
    if isinstance(ours, str) or isinstance(theirs, str):
        assert isinstance(ours, str) and isinstance(theirs, str), (ours, theirs)
    else:
        assert ours == theirs


@pytest.fixture
def filters(tmp_path: Path) -> Path:
    (tmp_path / "filter.d").mkdir()
    return tmp_path / "filter.d"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(folder: Path, ref: str, **options: str) -> FilterSpec:
    return load_filter(ref, (folder,), options=options)


# -- filter references -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("sshd", ("sshd", {})),
        ("sshd[]", ("sshd", {})),
        (
            "sshd[mode=aggressive, logtype=short]",
            ("sshd", {"mode": "aggressive", "logtype": "short"}),
        ),
        ("x[a=\"1, 2\", b='c]d',c= e ,]", ("x", {"a": "1, 2", "b": "c]d", "c": "e"})),
        ("x[a=1][b=2]", ("x", {"a": "1", "b": "2"})),
        (" x [a=<HOST>] ", ("x", {"a": "<HOST>"})),
    ],
)
def test_parse_filter_ref(ref: str, expected: tuple[str, dict[str, str]]) -> None:
    assert parse_filter_ref(ref) == expected


@pytest.mark.parametrize(
    "ref", ["", "[a=1]", "sshd[mode=x", "sshd[mode]", "sshd[mode = x]", 'x[a="1"b]', "x[a=1]y]"]
)
def test_malformed_ref_is_a_filter_error(ref: str) -> None:
    with pytest.raises(FilterError, match="filter reference"):
        parse_filter_ref(ref)


# -- files, includes, overrides --------------------------------------------------------


def test_includes_before_and_after_in_order(filters: Path) -> None:
    write(filters, "common.conf", "[DEFAULT]\nword = common\nlater = no\n")
    write(filters, "sub/extra.conf", "[DEFAULT]\nextra = yes\n")
    write(filters, "tail.conf", "[DEFAULT]\nlater = tail\n")
    write(
        filters,
        "f.conf",
        "[INCLUDES]\nbefore = common.conf\n         sub/extra.conf\nafter = tail.conf\n"
        "[DEFAULT]\nlater = own\n"
        "[Definition]\nfailregex = ^%(word)s %(extra)s %(later)s <HOST>$\n",
    )
    assert load(filters, "f").failregex == ("^common yes tail <HOST>$",)
    _agree(filters.parent, "f", {})


def test_include_loop_is_skipped(filters: Path) -> None:
    write(filters, "a.conf", "[INCLUDES]\nbefore = f.conf\n[DEFAULT]\nv = a\n")
    write(filters, "f.conf", "[INCLUDES]\nafter = a.conf\n[Definition]\nfailregex = %(v)s\n")
    assert load(filters, "f").failregex == ("a",)
    _agree(filters.parent, "f", {})


def test_missing_include_is_an_error_but_a_missing_local_is_not(filters: Path) -> None:
    write(filters, "f.conf", "[INCLUDES]\nafter = f-extra.local\n[Definition]\nfailregex = x\n")
    assert load(filters, "f").failregex == ("x",)
    write(filters, "g.conf", "[INCLUDES]\nbefore = nowhere.conf\n[Definition]\nfailregex = x\n")
    with pytest.raises(FilterError, match=r"g\.conf.*nowhere\.conf"):
        load(filters, "g")


def test_local_and_drop_in_directory_order(filters: Path) -> None:
    write(filters, "f.conf", "[Definition]\nfailregex = base\nprefregex = conf\n")
    write(filters, "f.d/2.conf", "[Definition]\nprefregex = d2conf\ndatepattern = d2conf\n")
    write(filters, "f.d/1.conf", "[Definition]\nprefregex = d1conf\nmaxlines = 3\n")
    write(filters, "f.local", "[Definition]\nprefregex = local\ndatepattern = local\n")
    write(filters, "f.d/0.local", "[Definition]\nignoreregex = d0local\n")
    spec = load(filters, "f")
    assert (spec.prefregex, spec.datepattern, spec.maxlines) == ("local", "local", 3)
    assert spec.ignoreregex == ("d0local",)
    _agree(filters.parent, "f", {})


def test_known_extends_a_value_from_a_local(filters: Path) -> None:
    write(filters, "common.conf", "[DEFAULT]\npre = ^prefix\n")
    write(
        filters,
        "f.conf",
        "[INCLUDES]\nbefore = common.conf\n[Definition]\nfailregex = %(pre)s first <HOST>\n",
    )
    write(filters, "f.local", "[Definition]\nfailregex = %(known/failregex)s\n  second <HOST>\n")
    assert load(filters, "f").failregex == ("^prefix first <HOST>", "second <HOST>")
    _agree(filters.parent, "f", {})


def test_default_and_section_references(filters: Path) -> None:
    write(
        filters,
        "f.conf",
        "[DEFAULT]\nword = from-default\n[other]\nword = from-other\n"
        "[Definition]\nword = own\n"
        "failregex = %(word)s %(default/word)s %(other/word)s %(__name__)s 100%%\n",
    )
    assert load(filters, "f").failregex == ("own from-default from-other Definition 100%",)
    _agree(filters.parent, "f", {})


def test_capitalised_section_reference_fails_as_in_fail2ban(filters: Path) -> None:
    """Fail2ban looks ``%(Other/x)s`` up lower-cased, so only lower-case sections resolve."""
    write(filters, "f.conf", "[Other]\nword = x\n[Definition]\nfailregex = %(Other/word)s\n")
    with pytest.raises(FilterError, match=r"%\(Other/word\)s is not defined"):
        load(filters, "f")
    _agree(filters.parent, "f", {})


def test_init_values_reach_definition_tags_and_callers_override_them(filters: Path) -> None:
    write(
        filters,
        "f.conf",
        "[Init]\nuser = root\nport = 22\n"
        "[Definition]\nfailregex = ^<user>@<HOST>:<port>$\nmaxlines = <lines>\nlines = 2\n",
    )
    spec = load(filters, "f[port=2222]")
    assert spec.failregex == ("^root@<HOST>:2222$",)
    assert (spec.maxlines, dict(spec.options)) == (2, {"port": "2222", "user": "root"})
    _agree(filters.parent, "f", {"port": "2222"})


def test_caller_options_replace_definition_options(filters: Path) -> None:
    write(filters, "f.conf", "[Definition]\nfailregex = old <HOST>\nmaxlines = 1\n")
    spec = load(filters, "f[maxlines=4]", failregex="new <HOST>")
    assert (spec.failregex, spec.maxlines) == (("new <HOST>",), 4)
    _agree(filters.parent, "f", {"failregex": "new <HOST>", "maxlines": "4"})


def test_nested_tags_and_unknown_tags_left_alone(filters: Path) -> None:
    write(
        filters,
        "f.conf",
        "[Init]\nmode = normal\n[Definition]\n"
        "normal-re = ^<F-USER>\\S+</F-USER> from <HOST>$\n"
        "aggressive-re = <normal-re>\n  ^bad <ADDR>$\n"
        "failregex = <<mode>-re>\n  <SKIPLINES>^end <IP4>$\n",
    )
    assert load(filters, "f").failregex == (
        "^<F-USER>\\S+</F-USER> from <HOST>$",
        "<SKIPLINES>^end <IP4>$",
    )
    aggressive = load(filters, "f[mode=aggressive]").failregex
    assert aggressive[:2] == ("^<F-USER>\\S+</F-USER> from <HOST>$", "^bad <ADDR>$")
    _agree(filters.parent, "f", {})
    _agree(filters.parent, "f", {"mode": "aggressive"})


def test_regex_lines_split_like_fail2ban(filters: Path) -> None:
    write(
        filters,
        "f.conf",
        "[Definition]\nfailregex = ^one <HOST>$\n\n"
        "  # a commented line\n  ^two;three <HOST>$ ; a comment\n\n  ^four <HOST>$\n"
        "ignoreregex =\n"
        "journalmatch = _SYSTEMD_UNIT=a.service + _COMM=a\n  SYSLOG_IDENTIFIER='b c'\n",
    )
    spec = load(filters, "f")
    assert spec.failregex == ("^one <HOST>$", "^two;three <HOST>$", "^four <HOST>$")
    assert spec.ignoreregex == ()
    assert spec.journalmatch == (
        "_SYSTEMD_UNIT=a.service",
        "+",
        "_COMM=a",
        "+",
        "SYSLOG_IDENTIFIER=b c",
    )
    _agree(filters.parent, "f", {})


def test_path_reference_and_search_order(filters: Path, tmp_path: Path) -> None:
    first = tmp_path / "first"
    write(first, "f.conf", "[Definition]\nfailregex = first\n")
    write(filters, "f.conf", "[Definition]\nfailregex = second\n")
    assert find_filter("f", (first, filters)) == first / "f.conf"
    assert load_filter("f", (first, filters)).failregex == ("first",)
    spec = load_filter(filters / "f.conf")
    assert (spec.name, spec.path, spec.failregex) == ("f", filters / "f.conf", ("second",))
    assert load_filter(f"{filters / 'f.conf'}[x=1]").options == {"x": "1"}


def test_default_dirs_end_with_fail2ban() -> None:
    assert DEFAULT_FILTER_DIRS[-1] == FAIL2BAN_CONFIG / "filter.d"
    assert DEFAULT_FILTER_DIRS[0].parts[-2:] == ("rules", "filter.d")


# -- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[Definition]\na = %(b)s\nb = %(a)s\nfailregex = %(a)s\n", r"f\.conf.*failregex.*nest"),
        ("[Definition]\nfailregex = %(nowhere)s\n", r"f\.conf.*failregex.*%\(nowhere\)s"),
        ("[Definition]\nfailregex = 5%\n", r"f\.conf.*failregex"),
        ("[Definition]\nfailregex = <a>\na = x<a>\n", r"f\.conf.*<a>"),
        ("[Definition]\nfailregex = x\nfailregex = y\n", r"f\.conf:3.*twice"),
        ("failregex = x\n", r"f\.conf:1.*section"),
        ("[Definition]\njournalmatch = A='b\n", r"f\.conf.*journalmatch"),
    ],
)
def test_bad_filters_raise_filter_error(filters: Path, text: str, message: str) -> None:
    write(filters, "f.conf", text)
    with pytest.raises(FilterError, match=message):
        load(filters, "f")
    _agree(filters.parent, "f", {})


def test_bad_maxlines_is_an_error_where_fail2ban_only_warns(filters: Path) -> None:
    write(filters, "f.conf", "[Definition]\nfailregex = x\nmaxlines = many\n")
    with pytest.raises(FilterError, match=r"f\.conf.*maxlines"):
        load(filters, "f")


def test_chained_known_references_fail_as_in_fail2ban(filters: Path) -> None:
    write(filters, "f.conf", "[Definition]\nfailregex = a\n")
    write(filters, "f.d/1.conf", "[Definition]\nfailregex = %(known/failregex)s\n  b\n")
    write(filters, "f.local", "[Definition]\nfailregex = %(known/failregex)s\n  c\n")
    with pytest.raises(FilterError, match="nest"):
        load(filters, "f")
    _agree(filters.parent, "f", {})


def test_missing_and_unreadable_filters(filters: Path) -> None:
    with pytest.raises(FilterError, match="'nope' not found"):
        load(filters, "nope")
    with pytest.raises(FilterError, match="filter name"):
        load(filters, "..")
    with pytest.raises(FilterError, match="no such filter file"):
        load_filter(filters / "nope.conf")
    (filters / "bin.conf").write_bytes(b"[Definition]\nfailregex = \xff\n")
    with pytest.raises(FilterError, match=r"bin\.conf: cannot read"):
        load(filters, "bin")


# -- Fail2ban's own filters as oracle --------------------------------------------------


def _sample_log_options(name: str) -> Iterator[dict[str, str]]:
    """Option sets the sample logs of ``name`` test with (as samplestestcase reads them)."""
    logs, common, index = [name], {}, 0
    while index < len(logs):
        path = SAMPLE_LOGS / logs[index]
        index += 1
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            found = _LOG_OPTIONS.match(line)
            if not found or found.group(1) == "failJSON":
                continue
            data = json.loads(found.group(2))
            if found.group(1) == "fileOptions":
                common = data
            elif found.group(1) == "addFILE":
                logs.append(data)
            else:
                for entry in data if isinstance(data, list) else [data]:
                    merged = {**common, **entry}
                    yield {k: str(v) for k, v in merged.items() if not k.startswith("test.")}


def _oracle_cases() -> list[tuple[str, dict[str, str]]]:
    folder = FAIL2BAN_CONFIG / "filter.d"
    if not folder.is_dir():
        return []
    cases: list[tuple[str, dict[str, str]]] = []
    for conf in sorted(folder.glob("*.conf")):
        name = conf.stem
        if name in NOT_FILTERS:
            continue
        for options in [{}, {"logtype": "journal"}, *_sample_log_options(name)]:
            if (name, options) not in cases:
                cases.append((name, options))
    return cases


ORACLE_CASES = _oracle_cases()


@pytest.mark.skipif(
    not ORACLE_CASES or _fail2ban_reader() is None,
    reason="fail2ban is not installed (apt-get install fail2ban): no filters to compare with",
)
@pytest.mark.parametrize(
    ("name", "options"),
    ORACLE_CASES or [("none", {})],
    ids=[f"{n}{json.dumps(o, sort_keys=True) if o else ''}" for n, o in ORACLE_CASES] or None,
)
def test_every_fail2ban_filter_reads_as_fail2ban_reads_it(
    name: str, options: dict[str, str]
) -> None:
    """Same result, or both fail: only selinux-common does, a part meant to be included."""
    ours = _rampart_outcome(FAIL2BAN_CONFIG / "filter.d", name, options)
    theirs = _fail2ban_outcome(FAIL2BAN_CONFIG, name, options)
    if isinstance(theirs, str):
        assert (name, ours) == ("selinux-common", "error: FilterError"), theirs
    else:
        assert ours == theirs


def test_oracle_covers_every_filter() -> None:
    if not ORACLE_CASES:
        pytest.skip("fail2ban is not installed: /etc/fail2ban/filter.d is missing")
    names = {name for name, _ in ORACLE_CASES}
    on_disk = {p.stem for p in (FAIL2BAN_CONFIG / "filter.d").glob("*.conf")} - NOT_FILTERS
    assert names == on_disk
    assert len(names) > 80
    assert os.path.isdir(FAIL2BAN_CONFIG / "filter.d" / "ignorecommands")

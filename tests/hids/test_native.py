"""The native replay loop (``rampart.hids._native``) against the Python engine, exactly.

Both run on the same rule set and lines, each with its own correlation
state, and must give the same alerts: rule, fields (None included, in the
same order), time, and the same alert text. Inputs: every shipped sample
with the odd shapes, a generated auth.log, bad bytes (invalid UTF-8, NUL,
control bytes, non-ASCII digits in the date, CRLF, 1 MB lines) and a fuzz of
mutated sample lines. The replay command is compared byte for byte with
``RAMPART_NATIVE=0``.
"""

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rampart.cli.hids import _AlertLines
from rampart.hids import native
from rampart.hids.engine import LogEngine
from rampart.hids.ruleset import RuleSet, load_ruleset
from rampart.sources.replay import read_blocks, split_block
from tests.conftest import run_rampart
from tests.hids.test_replay_paths import ODD_LINES, SAMPLES, generated_log

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not native.available(),
    reason=f"native HIDS loop unavailable: {native.LOAD_ERROR or 'RAMPART_NATIVE=0'}",
)


def _python(ruleset: RuleSet, log: list[str], level: int, size: int) -> list[tuple[Any, ...]]:
    engine = LogEngine(ruleset, alert_level=level, clock=lambda: 1e9)
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(log), size):
        block = log[start : start + size]
        found += [
            (line, rule.id, fields, stamp) for line, rule, fields, stamp in engine.alerts(block)
        ]
    return found


def _native(ruleset: RuleSet, log: list[str], level: int, size: int) -> list[tuple[Any, ...]]:
    replay = native.NativeReplay(LogEngine(ruleset, alert_level=level, clock=lambda: 1e9))
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(log), size):
        block = log[start : start + size]
        found += [
            (line, rule.id, fields, stamp) for line, rule, fields, stamp in replay.alerts(block)
        ]
    return found


def _texts(ruleset: RuleSet, log: list[str], level: int) -> tuple[str, str, list[int], list[int]]:
    """The alert text and rule ids of both paths over ``log`` (in blocks of 1,000 lines)."""
    engine = LogEngine(ruleset, alert_level=level, clock=lambda: 1e9)
    replay = native.NativeReplay(LogEngine(ruleset, alert_level=level, clock=lambda: 1e9))
    lines = _AlertLines()
    python_text, native_text = [], []
    python_ids: list[int] = []
    native_ids: list[int] = []
    for start in range(0, len(log), 1000):
        block = log[start : start + 1000]
        found = engine.alerts(block)
        python_ids += [rule.id for _, rule, _, _ in found]
        python_text.append(lines.text(found))
        ids, text = replay.alert_text(block)
        native_ids += ids
        native_text.append(text)
    return "".join(python_text), "".join(native_text), python_ids, native_ids


def _assert_same(ruleset: RuleSet, log: list[str], level: int = 1) -> None:
    expected = _python(ruleset, log, level, len(log) or 1)
    assert _native(ruleset, log, level, len(log) or 1) == expected
    python_text, native_text, python_ids, native_ids = _texts(ruleset, log, level)
    assert native_ids == python_ids
    assert native_text == python_text


def test_the_shipped_rules_go_native() -> None:
    assert native.native_replay(LogEngine(load_ruleset())) is not None


def test_samples_and_odd_lines_in_blocks_of_every_size() -> None:
    ruleset = load_ruleset()
    log = generated_log(seed=11)
    for level in (1, 3, 10):
        expected = _python(ruleset, log, level, len(log))
        for size in (1, 7, len(log)):
            assert _native(ruleset, log, level, size) == expected, (level, size)
    found = _python(ruleset, log, 1, len(log))
    assert len({rule_id for _, rule_id, _, _ in found}) >= 40
    assert any(rule_id == 1120 for _, rule_id, _, _ in found)  # a frequency rule fired
    _assert_same(ruleset, log)


def test_each_sample_alone() -> None:
    ruleset = load_ruleset()
    for sample in SAMPLES:
        lines = list(sample["lines"]) if "lines" in sample else [sample["line"]]
        _assert_same(ruleset, lines * int(sample.get("repeat", 1)))


def test_a_generated_auth_log(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gen_authlog.py"), str(path), "--lines", "30000"],
        check=True,
    )
    log = [line for block in read_blocks(path) for line in split_block(block)]
    for level in (1, 5):
        python_text, native_text, python_ids, native_ids = _texts(load_ruleset(), log, level)
        assert native_ids == python_ids
        assert native_text == python_text
        assert len(python_ids) > 5000


_BAD = [
    "Nov 16 00:00:05 web1 sshd[1]: Failed password for j\u00f6rg from 192.0.2.1 port 1 ssh2",
    "Nov 16 00:00:05 web1 sshd[1]: Failed password for root from 192.0.2.1\x1c port 1 ssh2",
    "Nov 16 00:00:05 web1 sshd[1]: Failed password for ro\x00ot from 192.0.2.1 port 1 ssh2",
    "Nov 16 00:00:05 web1 sshd[1]: Failed password for \ufffd\ufffd from 192.0.2.1 port 1 ssh2",
    "Nov \u0661\u0666 00:00:05 web1 sshd[1]: Invalid user x from 192.0.2.1 port 1",
    "Nov 16 00:00:05 w\u00e9b1 sshd[1]: Invalid user x from 192.0.2.1 port 1",
    "Nov 16 00:00:05 web1 s\u00dfhd[1]: Invalid user x from 192.0.2.1 port 1",
    "Nov 16 00:00:05\u00a0web1 sshd[1]: Invalid user x from 192.0.2.1 port 1",
    "Nov 16 00:00:05 web1\x1fsshd[1]: Invalid user x from 192.0.2.1 port 1",
    "Nov 16 00:00:05 web1 sshd[\u0661]: Invalid user x from 192.0.2.1 port 1",
    "Nov 16 00:00:05.\u0661 web1 sshd[1]: Invalid user x from 192.0.2.1 port 1",
    "Nov 16 00:00:05 web1 sshd[1]: Invalid user \u0661\u0662 from 192.0.2.\u0661 port 1",
    "Nov 16 00:00:05 web1 sshd[12345678901]: Invalid user x from 192.0.2.1 port 1",
    "Nov 16 00:00:05 " + "h" * 256 + " sshd[1]: Invalid user x from 192.0.2.1 port 1",
    "Nov 16 00:00:05 web1 " + "p" * 65 + "[1]: Invalid user x from 192.0.2.1 port 1",
    "Nov 16 00:00:05 web1 sshd[1]:Invalid user x from 192.0.2.1 port 1",
    "Nov 16 00:00:05 web1 sshd[]: Invalid user x from 192.0.2.1 port 1",
    "Nov 16 00:00:05 web1 sshd[1] Invalid user x from 192.0.2.1 port 1",
    "Nov 16 00:00:05\tweb1 sshd[1]: Invalid user x from 192.0.2.1 port 1",
    "Nov 1 00:00:05 web1 sshd[1]: Invalid user x from 192.0.2.1 port 1",
    "Feb 30 00:00:05 web1 sshd[1]: Invalid user x from 192.0.2.1 port 1",
    "Nov 00 00:00:05 web1 sshd[1]: Invalid user x from 192.0.2.1 port 1",
    "Dec 31 23:59:59 web1 sshd[1]: Invalid user x from 192.0.2.1 port 1",
    "Jan 01 99:99:99 web1 sshd[1]: Invalid user x from 192.0.2.1 port 1",
    "Xyz 16 00:00:05 web1 sshd[1]: Invalid user x from 192.0.2.1 port 1",
    "Nov 123 00:00:05 web1 sshd[1]: Invalid user x from 192.0.2.1 port 1",
    "Nov 16 00:00:05.1234567890 web1 sshd[1]: Invalid user x from 192.0.2.1 port 1",
    "Nov 16 00:00:05 web1 sshd[1]: "
    + "Failed password for root from 192.0.2.9 port 9 ssh2" * 30000,
    "Nov 16 00:00:05 web1 sshd[1]: Failed password for r\u00f6\u00f6t" + "\u00e9" * 20000,
]


def test_bad_bytes_from_a_file(tmp_path: Path) -> None:
    raw = b"\n".join(line.encode() for line in _BAD) + b"\r\n"
    raw += b"Nov 16 00:00:06 web1 sshd[2]: Failed password for \xff\xfe from 192.0.2.2 port 2"
    raw += b" ssh2\r\n"
    raw += b"Nov 16 00:00:07 web1 sshd[2]: Invalid user \xc3 from 192.0.2.2 port 2\r\r\n"
    raw += b"\x00" * 100 + b"\n" + bytes(range(256)) + b"\n" + b"Nov 16 00:00:08 web1 sshd[2]:"
    path = tmp_path / "bad.log"
    path.write_bytes(raw * 3)
    log = [line for block in read_blocks(path) for line in split_block(block)]
    _assert_same(load_ruleset(), log)


def _mutate(rng: random.Random, line: str) -> str:
    alphabet = " :[]0123456789.\t\x00\x1c\u00e9\u0661\ufffdabcXYZ-"
    chars = list(line)
    for _ in range(rng.randrange(1, 4)):
        where = rng.randrange(len(chars) + 1)
        action = rng.randrange(3)
        if action == 0:
            chars.insert(where, rng.choice(alphabet))
        elif action == 1 and chars:
            del chars[min(where, len(chars) - 1)]
        elif chars:
            chars[min(where, len(chars) - 1)] = rng.choice(alphabet)
    return "".join(chars)


def test_fuzz_of_mutated_lines() -> None:
    rng = random.Random(5)
    pool = [line for sample in SAMPLES for line in sample.get("lines", [sample.get("line", "")])]
    pool += ODD_LINES[1:7]
    log = []
    for _ in range(4000):
        line = rng.choice(pool)
        log.append(_mutate(rng, line) if rng.random() < 0.7 else line)
    _assert_same(load_ruleset(), log)


def test_a_pattern_pcre2_may_read_otherwise_keeps_python(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "rules:\n"
        "  - id: 9100\n"
        "    level: 5\n"
        "    description: end\n"
        "    regex: 'done\\Z'\n"
        "    groups: [test]\n"
    )
    assert native.native_replay(LogEngine(load_ruleset([rules]))) is None
    for pattern, same in (
        (r"Failed \w+ for (?P<user>\S+)", True),
        (r"x\Z", False),
        (r"a{,3}", False),
        (r"a{ 3}", False),
        (r"a{x}", False),
        (r"a{2,3}b{4}c{5,}\{", True),
        (r"a[:b]", False),
        ("caf\u00e9", False),
        (r"\N{EM DASH}", False),
    ):
        assert native.same_in_pcre2(re.compile(pattern)) is same, pattern


def _replay(path: Path, tmp_path: Path, *args: str, native_on: bool) -> str:
    config = tmp_path / "rampart.toml"
    config.write_text("")
    env = {"RAMPART_CONFIG": str(config), "RAMPART_NATIVE": "1" if native_on else "0"}
    result = run_rampart(["hids", "replay", str(path), "--min-level", "1", *args], env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_replay_command_prints_the_same_with_and_without_native(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    dated = [line for line in generated_log(seed=8, rounds=3) if line[:4] == "Nov "]
    lines = dated + _BAD[:12]  # lines without a date would be judged at the clock's time
    path.write_text("\n".join(lines) + "\n")
    on = _replay(path, tmp_path, native_on=True).splitlines()
    off = _replay(path, tmp_path, native_on=False).splitlines()
    timing = [i for i, line in enumerate(off) if " lines/s)" in line]
    assert timing and [i for i, line in enumerate(on) if " lines/s)" in line] == timing
    del on[timing[0]], off[timing[0]]
    assert on == off
    assert len(on) > 100
    as_json = [
        json.loads(_replay(path, tmp_path, "--json", native_on=flag)) for flag in (True, False)
    ]
    for record in as_json:
        del record["seconds"]
    assert as_json[0] == as_json[1]


def _block_texts(ruleset: RuleSet, path: Path, block_size: int) -> tuple[Any, Any]:
    """Lines, rule ids and alert text of both paths, block by block as ``hids replay`` reads."""
    engine = LogEngine(ruleset, alert_level=1, clock=lambda: 1e9)
    replay = native.NativeReplay(LogEngine(ruleset, alert_level=1, clock=lambda: 1e9))
    shown = _AlertLines()
    python: list[Any] = []
    ours: list[Any] = []
    for block in read_blocks(path, block_size):
        lines = split_block(block)
        found = engine.alerts(lines)
        python.append((len(lines), [rule.id for _, rule, _, _ in found], shown.text(found)))
        ours.append(replay.block_text(block))
    return python, ours


@pytest.mark.parametrize(
    "tail",
    [b"", b"\n", b"\r\n", b"\n\n\n", b"\r\r\n\r", b"Nov 16 00:00:09 web1 sshd[3]: Invalid user z"],
)
def test_blocks_cut_into_lines_in_c(tmp_path: Path, tail: bytes) -> None:
    dated = [line for line in generated_log(seed=9, rounds=2) if line.isascii()]
    raw = "\r\n".join(dated[:300]).encode() + b"\n\n" + "\n".join(dated[300:]).encode() + tail
    path = tmp_path / "auth.log"
    path.write_bytes(raw)
    for block_size in (1 << 20, 4096):
        python, ours = _block_texts(load_ruleset(), path, block_size)
        assert ours == python
    path.write_bytes(
        raw + b"\nNov 16 00:00:09 web1 sshd[3]: Invalid user \xc3\xa9 from 192.0.2.1\n"
    )
    python, ours = _block_texts(load_ruleset(), path, 1 << 20)  # not ASCII: split in Python
    assert ours == python
    assert sum(count for count, _, _ in ours) > 300


#: Every condition the shipped rules use little or not at all: source networks, ``user``,
#: quiet periods, frequency per user and per source and user, match lists, field tests,
#: ``program`` rules, generic decoders, a description with a missing field and a ``%``.
_RULES = r"""decoders:
  - name: app
    program: [app]
    regex: 'from (?P<srcip>\S+) user (?P<user>\S*)(?: as (?P<dstuser>\S*))?'
  - name: app-login
    parent: app
    prematch: '^login '
    regex: 'code=(?P<code>\d+)|(?P<status>ok|fail)'
  - name: any
    prematch: 'GENERIC'
    regex: '(?P<url>/\S+)'

rules:
  - id: 9010
    level: 2
    program: [app]
    ignore: 5
    match: 'code=2'
    description: 'app program {srcip}'
  - id: 9000
    level: 0
    decoded_as: app
    description: app
  - id: 9001
    level: 4
    if_sid: 9000
    srcip: ['10.0.0.0/8', '!10.9.0.0/16', '2001:db8::/32']
    description: 'inside %s $(srcip) {user} $(nope)'
  - id: 9002
    level: 5
    if_sid: 9000
    user: 'r[oO]+t|admin|'
    ignore: 30
    description: 'root-ish {user} {dstuser}'
  - id: 9003
    level: 6
    if_sid: 9000
    decoded_as: app-login
    match: ['aa', 'bb', 'cc', 'dd', 'ee', 'fail']
    fields: {code: '^4\d\d$'}
    description: 'login fail $(code) $(status)'
  - id: 9004
    level: 10
    if_matched_sid: 9003
    frequency: 3
    timeframe: 60
    same_user: true
    ignore: 20
    description: 'many fails for {user}'
  - id: 9005
    level: 11
    if_matched_group: app_fail
    frequency: 2
    timeframe: 120
    same_source_ip: true
    same_user: true
    description: 'group fails {srcip} {user}'
  - id: 9006
    level: 3
    if_sid: 9000
    match: 'login '
    groups: [app_fail]
    description: 'login seen'
  - id: 9007
    level: 7
    program: [other]
    regex: 'boom (\d+)'
    description: 'other boom'
  - id: 9008
    level: 8
    decoded_as: any
    description: 'generic {url}'
"""
_USERS = ["root", "r\u00f6ot", "admin", "", "bob", "al\u00efce", "x\x1cy"]
_ADDRESSES = ["10.1.2.3", "10.9.1.1", "192.0.2.1", "2001:db8::1", "[10.1.1.1]", "10.1.2.3.4"]
_ADDRESSES += ["\u0661.1.1.1", "fe80::1%eth0"]


def _app_line(rng: random.Random) -> str:
    stamp = f"Nov 16 10:{rng.randrange(10):02d}:{rng.randrange(60):02d} web1"
    kind = rng.randrange(5)
    if kind == 0:
        code = rng.choice(["401", "200", "4a1", "403"])
        return (
            f"{stamp} app[1]: login from {rng.choice(_ADDRESSES)} user {rng.choice(_USERS)}"
            f" as {rng.choice(_USERS)} code={code} {rng.choice(['ok', 'fail', 'aa'])}"
        )
    if kind == 1:
        return f"{stamp} app: from {rng.choice(_ADDRESSES)} user {rng.choice(_USERS)}"
    if kind == 2:
        return f"{stamp} other[2]: boom {rng.randrange(100)}"
    if kind == 3:
        return f"{stamp} foo: GENERIC /path/{rng.randrange(9)} x"
    return f"GENERIC /no/header {rng.randrange(9)}"


def test_state_and_conditions_on_rules_of_our_own(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(_RULES)
    ruleset = load_ruleset([tmp_path])
    assert native.native_replay(LogEngine(ruleset)) is not None
    for seed in (1, 2):
        rng = random.Random(seed)
        log = sorted((_app_line(rng) for _ in range(3000)), key=lambda line: line[:15])
        log = [_mutate(rng, line) if rng.random() < 0.2 else line for line in log]
        _assert_same(ruleset, log)
    fired = {rule_id for _, rule_id, _, _ in _python(ruleset, log, 1, len(log))}
    assert fired >= {9001, 9002, 9003, 9004, 9005, 9006, 9007, 9008, 9010}


def test_the_core_refuses_tables_that_do_not_fit() -> None:
    tables = native._Tables(LogEngine(load_ruleset()))
    good = tables.arguments()
    core = native._native
    assert core is not None
    broken: list[dict[str, Any]] = [
        {"decoders": ((-1, -1, 99999, ()),)},
        {"generic": (12345,)},
        {"special_fields": (0, 1, 999)},
        {"by_program": ()},
        {"rules": ((None,),)},
        {"matchers": ((7, b"", b"", re.compile(""), (), (), False),)},
        {"matchers": ((0, b"(unclosed", b"", re.compile("x"), (), (), False),)},
    ]
    for change in broken:
        with pytest.raises((ValueError, TypeError, core.Unsupported)):
            core.Engine(**{**good, **change})
    engine = core.Engine(**good)
    with pytest.raises(RuntimeError):
        engine.__init__(**good)
    with pytest.raises(TypeError):
        engine.block("not \u00e4scii")
    with pytest.raises(TypeError):
        engine.alerts([b"bytes"], True)


def test_a_regex_past_pcre2s_limits_is_decided_by_python(tmp_path: Path) -> None:
    """16,000 repeats of a group overflow PCRE2's JIT stack: the Python pattern decides."""
    (tmp_path / "deep.yaml").write_text(
        "decoders:\n"
        "  - name: deep\n"
        "    program: [deep]\n"
        "    regex: '^(?:(?P<x>x)|y)*(?P<end>z)'\n"
        "rules:\n"
        "  - id: 9000\n"
        "    level: 5\n"
        "    decoded_as: deep\n"
        "    regex: '^(?:(x)|y)*z'\n"
        "    description: 'deep {x} {end}'\n"
    )
    ruleset = load_ruleset([tmp_path])
    log = ["Nov 16 00:00:05 web1 deep[1]: " + "x" * n + tail for n in (10, 16000) for tail in "zq"]
    _assert_same(ruleset, log)
    assert len(_python(ruleset, log, 1, len(log))) == 2


_ZONE_CHECK = """
import json, sys
from rampart.hids.engine import LogEngine
from rampart.hids.native import NativeReplay
from rampart.hids.ruleset import load_ruleset
days = ["Mar 29", "Mar 30", "Oct  4", "Oct  5", "Oct 25", "Oct 26", "Apr  5", "Apr  6"]
days += ["Mar  8", "Nov  1", "Feb 29", "Jan  1", "Dec 31"]
lines = [
    f"{day} {hour:02d}:{minute:02d}:07 web1 sshd[1]: Invalid user x from 192.0.2.1 port 1"
    for day in days for hour in range(0, 5) for minute in range(0, 60, 5)
]
ruleset = load_ruleset()
python = LogEngine(ruleset, alert_level=1).alerts(lines)
native = NativeReplay(LogEngine(ruleset, alert_level=1)).alerts(lines)
print(json.dumps([[stamp for _, _, _, stamp in found] for found in (python, native)]))
"""


@pytest.mark.parametrize(
    "zone", ["Europe/Berlin", "Australia/Lord_Howe", "America/St_Johns", "UTC"]
)
def test_rsyslog_dates_around_changes_of_offset(zone: str) -> None:
    """The native minute epoch (localtime_r, mktime near a change) is Python's time.mktime."""
    if not Path("/usr/share/zoneinfo", zone).exists():
        pytest.skip(f"no tzdata for {zone}")
    result = subprocess.run(
        [sys.executable, "-c", _ZONE_CHECK],
        capture_output=True,
        text=True,
        env={**os.environ, "TZ": zone},
        check=True,
        timeout=60,
    )
    python, ours = json.loads(result.stdout)
    assert len(python) == 13 * 5 * 12
    assert ours == python

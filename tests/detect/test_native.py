"""The native core gives exactly what the Python matcher gives.

Three levels: the regexes alone (every single-line filter of Fail2ban's
corpus, each sample line and mutations of it, through PCRE2 and through
``re``), whole files (a generated auth.log, corpus lines re-dated as syslog,
bad bytes, odd line ends, a fuzz of mutated logs) through ``scan_file`` on
both paths, and the CLI's output on both paths.
"""

import json
import random
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from rampart.detect import DateDetector, Filter, load_filter, scan_file
from rampart.detect import native as native_module
from rampart.detect.matcher import ignore_first
from rampart.detect.native import NotNative, check_dates, core_plan
from tests.conftest import needs_fail2ban, run_rampart
from tests.detect.test_fail2ban_samples import FILTER_DIR, TEST_NOW, sample_filters, walk_samples

ROOT = Path(__file__).resolve().parents[2]
SSHD = FILTER_DIR / "sshd.conf"

needs_core = pytest.mark.skipif(
    native_module._native is None,
    reason=f"the native core is not built: {native_module.LOAD_ERROR}",
)


def test_native_core_is_built_where_a_compiler_is() -> None:
    """CI builds the core (``pip install -e .``); only a host without gcc may lack it."""
    if shutil.which("gcc") is None:
        pytest.skip("no gcc: the native core is optional there")
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        pytest.skip("no Python headers (python3-dev): the native core is optional there")
    assert native_module._native is not None, native_module.LOAD_ERROR


# ---- the regexes alone ------------------------------------------------------


def reference_match(compiled: Filter, text: str) -> tuple[str, int, dict[str, str]]:
    """LineMatcher's regex steps on a cut text: ignoreregex, prefregex, failregexes."""
    ignores = [regex.pattern for regex in compiled.ignoreregex]
    if ignore_first(len(ignores), len(compiled.failregex)) and any(
        regex.search(text) for regex in ignores
    ):
        return "ignored", -1, {}
    prefix: dict[str, Any] = {}
    if compiled.prefregex is not None:
        found = compiled.prefregex.pattern.search(text)
        if found is None:
            return "missed", -1, {}
        prefix = compiled.prefregex.groups(found)
        content = prefix.pop("content", None)
        if content:
            text = content + "\n"
    index, fields = -1, {}
    for number, regex in enumerate(compiled.failregex):
        match = regex.pattern.search(text)
        if match is not None:
            index, fields = number, regex.groups(match)
            break
    if index < 0:
        return "missed", -1, {}
    if ignores and any(regex.search(text) for regex in ignores):
        return "ignored", -1, {}
    merged = {**prefix, **fields}
    return "matched", index, {k: v for k, v in merged.items() if v is not None}


def native_match(core: Any, names: tuple[str, ...], text: str) -> tuple[str, int, dict[str, str]]:
    kind, index, values = core.match(text.encode())
    if kind != "matched":
        return kind, -1, {}
    return kind, index, {names[field]: value.decode() for field, value in values.items()}


def _core(plan: native_module.CorePlan) -> Any:
    assert native_module._native is not None
    return native_module._native.Core(
        **plan.arguments,
        skip_comments=True,
        minute=lambda first, last, span: None,
        want_failures=False,
    )


def _mutations(line: str, rng: random.Random) -> list[str]:
    words = line.split(" ")
    out = []
    for _ in range(4):
        chars = list(line)
        choice = rng.randrange(5)
        if choice == 0 and chars:
            del chars[rng.randrange(len(chars))]
        elif choice == 1:
            chars.insert(rng.randrange(len(chars) + 1), chr(rng.randrange(32, 127)))
        elif choice == 2 and len(words) > 2:
            i = rng.randrange(len(words))
            chars = list(" ".join([*words[:i], words[i], *words[i:]]))
        elif choice == 3:
            chars = list(" ".join(rng.sample(words, len(words))))
        else:
            chars = list(line.swapcase())
        out.append("".join(chars))
    return out


def printable(text: str) -> bool:
    return all(" " <= char <= "~" or char == "\t" for char in text)


@needs_core
@pytest.mark.parametrize("name", sample_filters())
def test_regexes_agree_with_python_on_corpus(name: str, fail2ban_clock: None) -> None:
    """PCRE2 (as the core runs it) and ``re`` give the same match, index and fields."""
    rng = random.Random(name)
    cores: dict[int, tuple[Any, tuple[str, ...], DateDetector] | None] = {}
    refusals: list[str] = []
    compared = 0
    problems = []
    for sample in walk_samples(name):
        for _filter_name, matcher, _options in sample.matchers:
            compiled = matcher.filter
            key = id(compiled)
            if key not in cores:
                try:
                    plan = core_plan(compiled)
                    detector = compiled.detector(now=lambda: TEST_NOW)
                    cores[key] = (_core(plan), plan.fields, detector)
                except NotNative as refusal:
                    cores[key] = None
                    refusals.append(str(refusal))
            entry = cores[key]
            if entry is None:
                continue
            core, names, detector = entry
            for line in [sample.line, *_mutations(sample.line, rng)]:
                found = detector.find(line)
                cut = line if found is None else line[: found[0]] + line[found[1] :]
                if not printable(cut):
                    continue  # the core leaves such lines to Python
                text = cut + "\n"
                want = reference_match(compiled, text)
                got = native_match(core, names, text)
                if got[0] == "copy":
                    continue  # content not ending the line: the core leaves it to Python
                compared += 1
                if got != want:
                    where = f"{sample.file}:{sample.lineno}: {line!r}"
                    problems.append(f"{where}\n  re: {want}\n  pcre2: {got}")
    if cores and all(entry is None for entry in cores.values()):
        # Not a filter the core takes: the core says why, and Python matches it
        # (tests/detect/test_fail2ban_samples.py checks that path on this corpus).
        assert refusals and all(refusals), f"{name}: refused without a reason"
        return
    assert not problems, "\n".join(problems[:10])
    assert compared > 0


@needs_core
@needs_fail2ban
def test_most_corpus_filters_are_native() -> None:
    """The equivalence test above must cover most filters, not skip them."""
    taken = 0
    for name in sample_filters():
        try:
            core_plan(Filter(load_filter(name, (FILTER_DIR,))))
            taken += 1
        except NotNative:
            pass
    assert taken >= 60, taken


# ---- whole files ----------------------------------------------------------------


def outcome(compiled: Filter, path: Path, *, native: bool | None) -> tuple[Any, ...]:
    """Everything a scan reports, and (last) the engine that ran it."""
    records: list[dict[str, Any]] = []
    report = scan_file(
        compiled,
        path,
        on_failure=lambda failure: records.append(failure.record()),
        now=lambda: TEST_NOW + 86400 * 120,
        native=native,
    )
    counts = (report.lines, report.matched, report.ignored, report.missed, report.failures)
    why = report.fallback_reason
    return counts, dict(report.hosts), dict(report.regex_hits), records, (report.engine, why)


def assert_same(
    compiled: Filter, path: Path, *, engine: str | None = "native", name: str = ""
) -> None:
    """Both paths agree; ``engine``: the path the automatic choice must take."""
    *python, _ = outcome(compiled, path, native=False)
    *auto, (used, why) = outcome(compiled, path, native=None)
    assert auto == python, name
    if engine is not None:
        assert used == engine, f"{name}: {why}"


@pytest.fixture(scope="module")
def sshd() -> Filter:
    if not SSHD.is_file():
        pytest.skip("Fail2ban's filters are not installed (apt-get install fail2ban)")
    return Filter(load_filter("sshd", (FILTER_DIR,)))


@pytest.fixture(scope="module")
def authlog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("native") / "auth.log"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gen_authlog.py"), str(path), "--lines", "20000"],
        check=True,
        capture_output=True,
    )
    return path


@needs_core
def test_generated_authlog_same_failures(sshd: Filter, authlog: Path) -> None:
    counts, hosts, hits, records, engine = outcome(sshd, authlog, native=True)
    assert counts[4] > 1000 and len(hosts) > 10  # the log holds real work
    assert engine == ("native", None)
    assert (counts, hosts, hits, records) == outcome(sshd, authlog, native=False)[:4]


_MONTH_NAMES = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec"
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES.split(" "), 1)}
_SYSLOG = re.compile(r"(\w{3}) +(\d+) (\d\d:\d\d:\d\d)(.*)")


@needs_core
@pytest.mark.parametrize("zone", ["", "+01:00", "Z", "-0500", "UTC"])
@pytest.mark.parametrize("fraction", ["", ".123456"])
def test_iso_timestamps_same_failures(
    sshd: Filter, authlog: Path, tmp_path: Path, zone: str, fraction: str
) -> None:
    """rsyslog's high-precision format (``2025-11-16T00:00:41.123456+01:00``) stays native."""
    lines = []
    for line in authlog.read_text().splitlines()[:6000]:
        found = _SYSLOG.match(line)
        assert found is not None
        month, day, clock, rest = found.groups()
        lines.append(f"2025-{_MONTHS[month]:02d}-{int(day):02d}T{clock}{fraction}{zone}{rest}")
    path = tmp_path / "iso.log"
    path.write_text("\n".join(lines) + "\n")
    assert_same(sshd, path)


@needs_core
@needs_fail2ban
def test_corpus_lines_as_syslog_same_failures(tmp_path: Path, fail2ban_clock: None) -> None:
    """Each filter's sample lines, re-dated ``Nov 16 HH:MM:SS``, scanned on both paths."""
    checked = []
    for name in sample_filters():
        compiled = Filter(load_filter(name, (FILTER_DIR,)))
        try:
            check_dates(compiled)
            core_plan(compiled)
        except NotNative:
            continue  # not a filter the core takes: the Python matcher runs it
        detector = compiled.detector(now=lambda: TEST_NOW)
        lines = []
        for second, sample in enumerate(walk_samples(name)):
            found = detector.find(sample.line)
            rest = sample.line if found is None else sample.line[found[1] :]
            if found is not None and found[0] != 0:
                continue
            if not rest.startswith((" ", "\t")):
                rest = " " + rest  # "10:00:00NOTICE" would not be a syslog timestamp
            minute, sec = divmod(second % 3600, 60)
            lines.append(f"Nov 16 10:{minute:02d}:{sec:02d}{rest}")
        path = tmp_path / f"{name}.log"
        path.write_text("\n".join(lines) + "\n", "utf-8")
        engine = "native" if all(printable(line) for line in lines) else None
        assert_same(compiled, path, engine=engine, name=name)
        checked.append(name)
    assert len(checked) >= 40, checked


@needs_core
@pytest.mark.parametrize(
    ("case", "engine"),
    [
        ("empty", "native"),
        ("crlf", "native"),
        ("no-final-newline", "native"),
        ("nul-in-candidate", "python"),
        ("nul-elsewhere", "native"),
        ("bad-utf8-in-candidate", "python"),
        ("bad-utf8-elsewhere", "native"),
        ("megabyte-line", "native"),
        ("megabyte-candidate", "native"),
        ("comment-and-blank", "native"),
        ("undated-candidate", "python"),
        ("random-bytes", None),
    ],
)
def test_bad_input_same_result(
    sshd: Filter, authlog: Path, tmp_path: Path, case: str, engine: str | None
) -> None:
    head = authlog.read_bytes()[:200_000]
    head = head[: head.rfind(b"\n") + 1]
    fail = b"Nov 16 00:10:00 web1 sshd[77]: Failed password for root from 192.0.2.9 port 1 ssh2"
    cases = {
        "empty": b"",
        "crlf": head.replace(b"\n", b"\r\n"),
        "no-final-newline": head + fail,
        "nul-in-candidate": head + fail.replace(b"root", b"ro\x00ot") + b"\n",
        "nul-elsewhere": head + b"Nov 16 00:10:00 web1 cron[1]: \x00\x00\n" + fail + b"\n",
        "bad-utf8-in-candidate": head + fail.replace(b"root", b"r\xffot") + b"\n" + head,
        "bad-utf8-elsewhere": head + b"Nov 16 00:10:00 web1 cron[1]: \xff\xfe\n" + head,
        "megabyte-line": head + b"Nov 16 00:10:00 web1 x: " + b"a" * (1 << 20) + b"\n" + head,
        "megabyte-candidate": fail + b" " + b"x" * (1 << 20) + b"\n" + fail + b"\n",
        "comment-and-blank": b"# Failed password for root\n\n" + head,
        "undated-candidate": head + fail[16:] + b"\n",
        "random-bytes": random.Random(5).randbytes(300_000),
    }
    path = tmp_path / f"{case}.log"
    path.write_bytes(cases[case])
    assert_same(sshd, path, engine=engine)
    if engine == "python":
        with pytest.raises(NotNative):
            scan_file(sshd, path, native=True, now=lambda: TEST_NOW)


@needs_core
def test_fuzz_mutated_logs_same_result(sshd: Filter, authlog: Path, tmp_path: Path) -> None:
    """Mutated auth.log lines (text and bytes): both paths, same counts and failures."""
    rng = random.Random(2024)
    lines = authlog.read_bytes().splitlines(keepends=True)[:4000]
    for round_number in range(8):
        mutated = []
        for line in rng.sample(lines, 400):
            roll = rng.random()
            if roll < 0.15:
                position = rng.randrange(len(line))
                line = line[:position] + bytes([rng.randrange(256)]) + line[position + 1 :]
            elif roll < 0.3:
                position = rng.randrange(len(line))
                line = line[:position] + line[position + rng.randrange(1, 20) :]
            elif roll < 0.4:
                line = line.replace(b" from ", b" from  ", 1)
            elif roll < 0.45:
                line = rng.randbytes(rng.randrange(1, 200)) + b"\n"
            mutated.append(line)
        path = tmp_path / f"fuzz{round_number}.log"
        path.write_bytes(b"".join(mutated))
        assert_same(sshd, path, engine=None)


# ---- the command line -----------------------------------------------------------------


@needs_core
def test_cli_json_identical_on_both_paths(authlog: Path) -> None:
    if not SSHD.is_file():
        pytest.skip("Fail2ban's filters are not installed (apt-get install fail2ban)")
    args = ["ban", "test", "--json", "--now", str(TEST_NOW + 86400 * 120), str(authlog), str(SSHD)]
    native_run = run_rampart(args)
    python_run = run_rampart(args, env={"RAMPART_NATIVE": "0"})
    assert native_run.returncode == python_run.returncode == 0, native_run.stderr
    assert native_run.stdout == python_run.stdout
    assert len(native_run.stdout.splitlines()) > 1000
    json.loads(native_run.stdout.splitlines()[0])
    summary = run_rampart(["ban", "test", str(authlog), str(SSHD)])
    assert "Engine: native\n" in summary.stdout

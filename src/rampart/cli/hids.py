"""``rampart hids logtest|replay``: try the log rules on lines, or run a whole file through them."""

import argparse
import contextlib
import functools
import gc
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rampart.errors import UsageError

if TYPE_CHECKING:  # the engine is imported when a command runs, not when the CLI starts
    from rampart.hids.decoder import Fields
    from rampart.hids.engine import LogEngine, Verdict
    from rampart.hids.rule import Rule


def register(commands: "argparse._SubParsersAction[Any]") -> None:
    parser = commands.add_parser(
        "hids",
        help="host intrusion detection: log rules with levels 0-15 (OSSEC's analysis)",
        description="Host intrusion detection: test and replay the log rules.",
    )
    sub = parser.add_subparsers(dest="hids_command", metavar="COMMAND", required=True)

    logtest = sub.add_parser(
        "logtest",
        help="show how lines are pre-decoded, decoded and judged (ossec-logtest)",
        description="Read lines (stdin or --line) and show, for each, the three phases: "
        "pre-decoding (time, host, program), decoding (decoder, fields) and "
        "filtering (rule, level, groups, alert or not). Correlation state is kept "
        "from line to line, so frequency rules fire as they would in the daemon.",
    )
    logtest.add_argument("--line", action="append", metavar="TEXT", help="a line (repeatable)")
    logtest.add_argument(
        "--journal", action="store_true", help="lines are journald entries ('host prog[pid]: msg')"
    )
    _common(logtest)
    logtest.set_defaults(handler=run_logtest)

    replay = sub.add_parser(
        "replay",
        help="run a whole log file through the rules; print the alerts and a summary",
        description="Run FILE through the rules, print each alert on one line, then the "
        "number of lines and the alerts per level and per rule.",
    )
    replay.add_argument("file", type=Path, metavar="FILE")
    replay.add_argument(
        "--summary-only", action="store_true", help="print the summary, not each alert"
    )
    _common(replay)
    replay.set_defaults(handler=run_replay)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rules",
        action="append",
        type=Path,
        metavar="DIR",
        help="rule folder to use instead of the configured ones (repeatable)",
    )
    parser.add_argument(
        "--min-level",
        type=int,
        metavar="N",
        help="alert from this level (1-15; default: [hids] alert_level, 3)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _engine(args: argparse.Namespace) -> "LogEngine":
    from rampart.config import load_settings
    from rampart.hids.engine import LogEngine
    from rampart.hids.ruleset import SHIPPED_RULES_DIR, load_ruleset

    settings = load_settings(args.config).hids
    level = args.min_level if args.min_level is not None else settings.alert_level
    if not 1 <= level <= 15:
        raise UsageError(f"--min-level {level}: use a level from 1 to 15")
    dirs = args.rules or settings.rules_dirs or (SHIPPED_RULES_DIR,)
    return LogEngine(load_ruleset(dirs), alert_level=level)


def _stdin_lines() -> Iterator[str]:
    for raw in sys.stdin.buffer:
        yield raw.decode("utf-8", "replace").rstrip("\r\n")


# -- logtest ------------------------------------------------------------------------


def run_logtest(args: argparse.Namespace) -> int:
    engine = _engine(args)
    lines = args.line if args.line is not None else _stdin_lines()
    for line in lines:
        verdict = engine.analyse(line, "stdin", journal=args.journal)
        if args.json:
            print(json.dumps(_verdict_record(line, verdict)), flush=True)
        else:
            _print_verdict(line, verdict, sys.stdout)
    return 0


def _verdict_record(line: str, verdict: "Verdict") -> dict[str, Any]:
    header, rule = verdict.header, verdict.rule
    return {
        "line": line,
        "predecoding": {
            "time": header.time,
            "host": header.host,
            "program": header.program,
            "pid": header.pid,
            "message": header.message,
        },
        "decoding": {"decoder": verdict.decoder, "fields": verdict.fields},
        "filtering": None
        if rule is None
        else {
            "rule_id": rule.id,
            "level": rule.level,
            "description": rule.describe(verdict.fields),
            "groups": list(rule.groups),
        },
        "alert": verdict.alert,
    }


def _print_verdict(line: str, verdict: "Verdict", out: TextIO) -> None:
    record = _verdict_record(line, verdict)
    pre = record["predecoding"]
    when = _iso(pre["time"]) if pre["time"] is not None else "(none)"
    out.write(f"line: {line!r}\n")
    out.write("phase 1, pre-decoding:\n")
    out.write(f"    time: {when}\n    host: {pre['host'] or '(none)'}\n")
    out.write(f"    program: {pre['program'] or '(none)'}")
    out.write(f"{'[' + pre['pid'] + ']' if pre['pid'] else ''}\n")
    out.write(f"    message: {pre['message']!r}\n")
    out.write("phase 2, decoding:\n")
    if verdict.decoder is None:
        out.write("    no decoder\n")
    else:
        out.write(f"    decoder: {verdict.decoder}\n")
        for name, value in verdict.fields.items():
            out.write(f"    {name}: {value}\n")
    out.write("phase 3, filtering:\n")
    rule = record["filtering"]
    if rule is None:
        out.write("    no rule matched\n")
    else:
        out.write(f"    rule: {rule['rule_id']} (level {rule['level']})\n")
        out.write(f"    description: {rule['description']}\n")
        out.write(f"    groups: {', '.join(rule['groups']) or '(none)'}\n")
    out.write(f"alert: {'yes' if verdict.alert else 'no'}\n\n")
    out.flush()


def _iso(stamp: float) -> str:
    return _iso_second(int(stamp))


@functools.lru_cache(maxsize=64)
def _iso_second(second: int) -> str:
    """Local ISO-8601 time; cached, as a log's lines mostly share their second."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(second))


# -- replay -------------------------------------------------------------------------


@contextlib.contextmanager
def _no_cycle_collector() -> Iterator[None]:
    """Python's cycle collector off while a file is replayed: it cost a tenth of the time.

    The loop makes no reference cycles (strings, tuples, dicts, match objects),
    so reference counting frees everything it drops; the collector would only
    scan, again and again, the rule set and the verdicts kept.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _AlertLines:
    """Alerts as ``hids replay`` prints them, one line each, with the repeated parts cached."""

    def __init__(self) -> None:
        self._stamps: dict[int, str] = {}  # a second, in ISO-8601
        self._labels: dict[int, str] = {}  # a rule's level and id as printed

    def text(self, found: "list[tuple[str, Rule, Fields, float]]") -> str:
        stamps, labels = self._stamps, self._labels
        shown: list[str] = []
        for _, rule, fields, stamp in found:
            second = int(stamp)
            when = stamps.get(second)
            if when is None:
                if len(stamps) > 4096:
                    stamps.clear()
                when = stamps[second] = _iso_second(second)
            label = labels.get(rule.id)
            if label is None:
                label = labels[rule.id] = f" level {rule.level:>2} rule {rule.id}: "
            shown.append(when + label + rule.describe(fields) + "\n")
        return "".join(shown)


def run_replay(args: argparse.Namespace) -> int:
    from rampart.hids.native import native_replay
    from rampart.hids.runner import event_record
    from rampart.sources.replay import read_blocks, split_block

    location = str(args.file)
    show, as_json = not args.summary_only, args.json
    hits: list[int] = []
    events: list[dict[str, Any]] = []
    lines = 0
    write = sys.stdout.write
    alert_lines = _AlertLines()
    with _no_cycle_collector():
        engine = _engine(args)
        floor = engine.alert_level
        native = native_replay(engine)
        started = time.monotonic()
        for block in read_blocks(args.file):
            if native is not None and not as_json:
                count, ids, text = native.block_text(block)
                lines += count
                hits += ids
                if show:
                    write(text)
                continue
            texts = split_block(block)
            lines += len(texts)
            found = engine.alerts(texts) if native is None else native.alerts(texts)
            hits += [rule.id for _, rule, _, _ in found]
            if not show:
                continue
            if as_json:
                events += [
                    event_record(engine.event(rule, fields, stamp, location, text))
                    for text, rule, fields, stamp in found
                ]
            elif found:
                write(alert_lines.text(found))
    seconds = time.monotonic() - started
    rules = engine.ruleset.rules
    by_rule = Counter(hits)
    by_level: Counter[int] = Counter()
    for rule_id, count in by_rule.items():
        by_level[rules[rule_id].level] += count
    summary = {
        "file": location,
        "lines": lines,
        "alerts": len(hits),
        "alert_level": floor,
        "seconds": round(seconds, 3),
        "by_level": {str(level): by_level[level] for level in sorted(by_level)},
        "by_rule": {
            str(rule_id): {
                "count": count,
                "level": rules[rule_id].level,
                "description": rules[rule_id].spec.description,
            }
            for rule_id, count in by_rule.most_common()
        },
    }
    if as_json:
        print(json.dumps({**summary, "events": events} if show else summary))
        return 0
    rate = lines / seconds if seconds > 0 else 0.0
    print(
        f"{lines} lines, {len(hits)} alerts at level {floor} or more, "
        f"in {seconds:.2f} s ({rate:,.0f} lines/s)"
    )
    for level in sorted(by_level, reverse=True):
        print(f"  level {level:>2}: {by_level[level]}")
    for rule_id, count in by_rule.most_common():
        rule = rules[rule_id]
        print(f"  rule {rule_id} (level {rule.level}): {count}  {rule.spec.description}")
    return 0

"""How fast `rampart ban test` could be at best: the cost of Fail2ban's regexes alone.

rampart must run a filter's own regexes (to find what Fail2ban finds), with
Python's `re` (to find it exactly as Fail2ban does). This measures that
floor on the benchmark log: the prefregex and the combined failregexes, run
once on each line that can match (the prefilter's candidates), timestamps
already cut, nothing else. Dividing fail2ban-regex's time by it gives the
largest ratio any CPython implementation of the same matching can reach.

    .venv/bin/python bench/regex_floor.py [LOG]   # default: the log bench_filter.py cached
"""

import json
import sys
import time
from pathlib import Path

from rampart.detect import Filter, load_filter
from rampart.detect.dates import DateDetector
from rampart.detect.prefilter import candidate_line_starts, fewer_needles
from rampart.sources.replay import read_blocks

OUT = Path(__file__).resolve().parent / "out"


def candidate_lines(compiled: Filter, log: Path) -> list[str]:
    needles = compiled.needles
    if needles is None:
        raise SystemExit("this filter has no prefilter; the floor is every line")
    lines: list[str] = []
    searched: frozenset[str] | None = None
    for block in read_blocks(log):
        searched = searched or fewer_needles(needles, block[: 1 << 20])
        for start in candidate_line_starts(block, searched):
            end = block.find("\n", start)
            lines.append(block[start:end] if end >= 0 else block[start:])
    return lines


def main() -> int:
    logs = sorted(OUT.glob("auth-1000000-*.log"))
    log = Path(sys.argv[1]) if len(sys.argv) > 1 else (logs[-1] if logs else None)
    if log is None or not log.is_file():
        print("no log: run bench/bench_filter.py first or name one", file=sys.stderr)
        return 2
    compiled = Filter(load_filter("/etc/fail2ban/filter.d/sshd.conf"))
    if compiled.prefregex is None or compiled.combined is None:
        print("sshd filter without prefregex or combined failregexes", file=sys.stderr)
        return 2
    lines = candidate_lines(compiled, log)
    dates = DateDetector(compiled.spec.datepattern)
    texts = []
    for line in lines:
        found = dates.find(line)
        texts.append(line if found is None else line[: found[0]] + line[found[1] :])
    prefix, combined = compiled.prefregex.pattern, compiled.combined.pattern
    started = time.process_time()
    for text in texts:
        match = prefix.search(text + "\n")
        if match is not None:
            combined.match(match.group("content") + "\n")
    floor = time.process_time() - started
    print(f"log: {log} ({len(lines):,} candidate lines)")
    print(f"regex floor: {floor:.2f} CPU s for prefregex + failregexes on the candidates")
    result = OUT / "bench_filter.json"
    if result.is_file():
        anchor = json.loads(result.read_text()).get("fail2ban", {})
        seconds = anchor.get("cpu_seconds") or anchor.get("cpu_s")
        if seconds:
            print(f"fail2ban-regex took {seconds:.1f} CPU s: at best {seconds / floor:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

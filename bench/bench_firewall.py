"""Benchmark planning and applying the ``[firewall]`` policy while 100,000 bans are live.

Why: an operator changes the host firewall on a machine that already bans
many addresses; the change must stay quick (goal: nftables plan + apply well
under a second) and must not disturb the bans. The same policy also goes
through the iptables backend (``iptables-restore``, bans in ipsets), side by
side.

For each backend, in a fresh network namespace of its own:

1. The ban backend is installed (jail ``sshd``, port 2222) and 100,000 bans
   are loaded in one ``restore()`` (80,000 IPv4 addresses, 20,000 IPv6 /64s):
   ``NftablesBans`` (sets in ``table inet rampart``) or ``IptablesBans``
   (ipsets matched from the raw table).
2. A typical policy (ssh 2222 from anywhere, 80 and 443, 5432 from one /24,
   every early drop on) is planned and applied ``--runs N`` times:
   ``rampart.firewall.apply.plan`` / ``apply`` (one ``nft -f`` batch, the SSH
   lockout guard included, no confirmation) and
   ``rampart.firewall.policy_iptables.plan`` / ``apply`` (one
   ``iptables-restore --noflush`` per IP version, guard included). Each run
   is timed in this process (wall seconds, ``time.perf_counter``); the first
   run starts from no policy, the others replace it with itself.
3. Afterwards the bans are counted again (they must all still be there) and
   the policy's rules are looked for in the live ruleset.

Run: ``.venv/bin/python bench/bench_firewall.py [--runs N] [--bans N]``.
Needs root, ``ip``, ``nft``, ``iptables-restore``/``ip6tables-restore`` and
``ipset``. ``SSH_CONNECTION`` is cleared for the run (the guard would
otherwise look at the caller's session, which is not in the namespace).
Results: a table on stdout and ``bench/out/bench_firewall.json``. Exit status:
0 measured, 2 a tool is missing or a step failed. Namespaces are removed at
exit.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rampart.ban.types import Ban
from rampart.config import FirewallSettings
from rampart.firewall import BanScope, FirewallError, IptablesBans, NftablesBans, policy_iptables
from rampart.firewall import apply as nft_apply
from rampart.system import CommandError, run

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
GOAL_SECONDS = 1.0
SSH_PORT = 2222
TYPICAL = {
    "allow": [
        {"port": SSH_PORT},
        {"port": 80},
        {"port": 443},
        {"port": 5432, "sources": ["198.51.100.0/24"]},
    ],
    "early_drop": {"conn_limit": 100},
}


class Failed(Exception):
    """A tool is missing or a step failed (exit 2)."""


def make_bans(count: int, now: float) -> list[Ban]:
    """``count`` bans of jail sshd: four fifths IPv4 addresses, the rest IPv6 /64s."""
    four = count * 4 // 5
    base4 = int(ipaddress.IPv4Address("10.0.0.0"))
    base6 = int(ipaddress.IPv6Address("2001:db8:1000::"))
    targets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = [
        ipaddress.IPv4Network(base4 + i) for i in range(four)
    ]
    targets += [ipaddress.IPv6Network((base6 + (i << 64), 64)) for i in range(count - four)]
    return [Ban(t, "sshd", now, now + 86400) for t in targets]


@contextlib.contextmanager
def namespace(name: str) -> Iterator[str]:
    run(["ip", "netns", "add", name])
    try:
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        yield name
    finally:
        with contextlib.suppress(CommandError):
            run(["ip", "netns", "delete", name])


def timed(step: Callable[[], object]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def summary(seconds: list[float]) -> dict[str, float]:
    return {"median": statistics.median(seconds), "max": max(seconds), "min": min(seconds)}


def ns_run(ns: str, argv: list[str]) -> str:
    return run(["ip", "netns", "exec", ns, *argv], timeout=120).stdout


def nft_ban_count(ns: str) -> int:
    text = ns_run(ns, ["nft", "-j", "list", "sets", "inet"])
    total = 0
    for item in json.loads(text)["nftables"]:
        found = item.get("set")
        if found and found.get("table") == "rampart":
            listed = ns_run(ns, ["nft", "-j", "list", "set", "inet", "rampart", found["name"]])
            for entry in json.loads(listed)["nftables"]:
                if "set" in entry:
                    total += len(entry["set"].get("elem", []))
    return total


def ipset_ban_count(ns: str) -> int:
    total = 0
    for line in ns_run(ns, ["ipset", "list", "-t"]).splitlines():
        if line.startswith("Number of entries:"):
            total += int(line.split(":")[1])
    return total


def bench_backend(
    tool: str, ns: str, bans: list[Ban], policy: FirewallSettings, runs: int, now: float
) -> dict[str, Any]:
    """Load the bans, then time plan and apply ``runs`` times; check the result."""
    backend = NftablesBans(netns=ns) if tool == "nftables" else IptablesBans(netns=ns)
    backend.install([BanScope("sshd", ((SSH_PORT, SSH_PORT),))])
    load = timed(lambda: backend.restore(bans, now))
    plans: list[float] = []
    applies: list[float] = []
    with tempfile.TemporaryDirectory(prefix="rampart-bench-fw-") as state:
        for _ in range(runs):
            if tool == "nftables":
                plans.append(timed(lambda: nft_apply.plan(policy, netns=ns)))
                applies.append(timed(lambda: nft_apply.apply(policy, Path(state), netns=ns)))
            else:
                plans.append(timed(lambda: policy_iptables.plan(policy, netns=ns)))
                applies.append(timed(lambda: policy_iptables.apply(policy, Path(state), netns=ns)))
    if tool == "nftables":
        count = nft_ban_count(ns)
        live = nft_apply.live_table(ns)
        in_place = "ip saddr 198.51.100.0/24 tcp dport 5432 accept" in live
    else:
        count = ipset_ban_count(ns)
        live = ns_run(ns, ["iptables-save"])
        in_place = "-s 198.51.100.0/24 -p tcp -m tcp --dport 5432 -j ACCEPT" in live
        in_place = in_place and live.count("-A INPUT -j RAMPART-FW-IN") == 1
    if count != len(bans):
        raise Failed(f"{tool}: {count} bans live after the runs, {len(bans)} expected")
    if not in_place:
        raise Failed(f"{tool}: the policy is not in the live ruleset after apply")
    return {
        "tool": tool,
        "ban_load_seconds": load,
        "bans_live": count,
        "plan_seconds": plans,
        "apply_seconds": applies,
        "plan": summary(plans),
        "apply": summary(applies),
    }


def version_of(argv: list[str]) -> str:
    try:
        return run(argv).stdout.strip().splitlines()[0]
    except (CommandError, IndexError):
        return "?"


def print_table(results: list[dict[str, Any]]) -> None:
    nft = next(r for r in results if r["tool"] == "nftables")
    print(
        f"{'tool':<26} {'bans load s':>11} {'plan s (med/max)':>18} {'apply s (med/max)':>18}"
        f" {'plan+apply s':>12} {'ratio':>6}"
    )
    for r in results:
        both = r["plan"]["median"] + r["apply"]["median"]
        ratio = both / (nft["plan"]["median"] + nft["apply"]["median"])
        label = "nftables (nft -f)" if r["tool"] == "nftables" else "iptables-restore + ipset"
        print(
            f"{label:<26} {r['ban_load_seconds']:>11.3f}"
            f" {r['plan']['median']:>8.3f}/{r['plan']['max']:<8.3f}"
            f" {r['apply']['median']:>9.3f}/{r['apply']['max']:<8.3f}"
            f" {both:>12.3f} {ratio:>6.2f}"
        )
    print("ratio: plan+apply median ÷ nftables' (higher is slower)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="plan+apply runs per tool")
    parser.add_argument("--bans", type=int, default=100_000, help="bans loaded first")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_firewall: needs root (network namespaces)", file=sys.stderr)
        return 2
    missing = [
        p
        for p in ("ip", "nft", "iptables-restore", "ip6tables-restore", "ipset")
        if shutil.which(p) is None
    ]
    if missing:
        print(f"bench_firewall: missing {', '.join(missing)} (make test-deps)", file=sys.stderr)
        return 2
    os.environ["SSH_CONNECTION"] = ""
    for number in (signal.SIGTERM, signal.SIGHUP):  # unwind: the namespaces get removed
        signal.signal(number, lambda signum, frame: sys.exit(2))
    with contextlib.suppress(OSError):
        load = os.getloadavg()[0]
        if load > 0.5:
            print(f"warning: load average {load:.2f}: other work slows both tools")
    now = time.time()
    policy = FirewallSettings.model_validate(TYPICAL)
    bans = make_bans(args.bans, now)
    results: list[dict[str, Any]] = []
    try:
        for tool in ("nftables", "iptables"):
            with namespace(f"rpbench{os.getpid()}-{tool[:3]}") as ns:
                print(f"{tool}: {len(bans):,} bans, then {args.runs} plan+apply runs ...")
                results.append(bench_backend(tool, ns, bans, policy, args.runs, now))
    except (Failed, FirewallError, CommandError) as error:
        print(f"bench_firewall: {error}", file=sys.stderr)
        return 2
    print()
    print_table(results)
    nft = results[0]
    total = nft["plan"]["median"] + nft["apply"]["median"]
    verdict = "met" if total < GOAL_SECONDS else "MISSED"
    print(f"goal: nftables plan+apply median {total:.3f} s < {GOAL_SECONDS:g} s: {verdict}")
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / "bench_firewall.json"
    data = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "node": platform.node(),
            "kernel": platform.release(),
            "cpus": os.cpu_count(),
            "nft": version_of(["nft", "--version"]),
            "iptables": version_of(["iptables", "--version"]),
            "ipset": version_of(["ipset", "--version"]),
        },
        "bans": len(bans),
        "runs": args.runs,
        "policy": TYPICAL,
        "goal_seconds": GOAL_SECONDS,
        "goal_met": total < GOAL_SECONDS,
        "results": results,
    }
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

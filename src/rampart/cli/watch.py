"""``rampart watch``: the ban daemon in the foreground (systemd runs it so)."""

import argparse
import logging
import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any


def register(commands: "argparse._SubParsersAction[Any]") -> None:
    parser = commands.add_parser(
        "watch",
        help="the daemon: bans from the jails' logs, the HIDS (rules, FIM, rootcheck), alerts",
        description="Run the daemon in the foreground until SIGTERM or Ctrl-C.",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="log the bans and responses it would make; change nothing in the firewall",
    )
    parser.set_defaults(handler=run_watch)


def _setup_logging() -> None:
    """journald stamps lines itself; a terminal or a file gets the time."""
    under_journald = "JOURNAL_STREAM" in os.environ
    layout = "%(levelname)s %(message)s"
    if not under_journald:
        layout = "%(asctime)s " + layout
    logging.basicConfig(level=logging.INFO, format=layout, stream=sys.stderr)


def run_watch(args: argparse.Namespace) -> int:
    from rampart.config import load_settings
    from rampart.daemon import build_watcher

    _setup_logging()
    settings = load_settings(args.config)
    watcher = build_watcher(settings, dry_run=args.dry_run)
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("rampart.watch").info("signal %d: stopping", signum)
        stop.set()

    def request_reload(_signum: int, _frame: FrameType | None) -> None:
        watcher.reload_requested.set()  # the HIDS rules are read again by the main loop

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGHUP, request_reload)
    try:
        started = time.monotonic()
        restored = watcher.start()
        jails = ", ".join(f"{n} ({', '.join(s.sources)})" for n, s in watcher.jails.items())
        if watcher.hids_sources:
            jails += f"; hids: {', '.join(watcher.hids_sources)}"
        print(
            f"rampart watch: ready: {restored} bans restored in "
            f"{time.monotonic() - started:.2f} s; jails: {jails}",
            file=sys.stderr,
            flush=True,
        )
        watcher.run(stop)
    finally:
        watcher.store.close()
    return 0

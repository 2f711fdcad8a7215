"""``rampart audit``: until the audit lands, say so and list the parts."""

import argparse
from typing import Any

from rampart import PARTS, __version__


def register(commands: "argparse._SubParsersAction[Any]") -> None:
    parser = commands.add_parser("audit", help="check this host against the security practices")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    print(f"rampart {__version__}")
    print("The audit is not written yet; these are rampart's parts:")
    width = max(len(name) for name, _ in PARTS)
    for name, purpose in PARTS:
        print(f"  {name:<{width}}  {purpose}")
    print("Working now: `rampart ban test LOG FILTER` (a faster fail2ban-regex).")
    return 0

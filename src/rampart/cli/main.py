"""``rampart``: the entry point and the one place errors become exit codes.

Exit codes: 0 fine, 1 findings at or above ``--fail-on``, 2 usage or
configuration error, 70 a bug in rampart (one line; ``RAMPART_DEBUG=1``
shows the traceback). A :class:`~rampart.errors.RampartError` is printed as one
line on stderr, never as a traceback. Subcommands import their parts lazily so
that ``rampart ban test`` does not pay for the audit's imports.
"""

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from rampart import __version__
from rampart.cli import alerts, audit, ban, fim, firewall, hids, scan, ssh, vault, watch
from rampart.errors import RampartError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
EXIT_INTERNAL = 70  # EX_SOFTWARE: rampart itself is wrong, not its input


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"rampart: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rampart",
        description="Secure a small team's servers and AWS account: audit, detect, ban, harden.",
    )
    parser.add_argument("--version", action="version", version=f"rampart {__version__}")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="configuration file (default: $RAMPART_CONFIG or /etc/rampart/rampart.toml)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    audit.register(commands)
    ban.register(commands)
    watch.register(commands)
    firewall.register(commands)
    ssh.register(commands)
    hids.register(commands)
    fim.register(commands)
    alerts.register(commands)
    vault.register(commands)
    scan.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = args.handler(args)
    except RampartError as error:
        print(f"rampart: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``| head``): not an error worth a traceback.
        sys.stderr.close()
        return EXIT_OK
    except Exception as error:  # a bug: one line, the traceback only on request
        if os.environ.get("RAMPART_DEBUG"):
            raise
        print(
            f"rampart: internal error: {type(error).__name__}: {error} "
            "(set RAMPART_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return code


if __name__ == "__main__":
    raise SystemExit(main())

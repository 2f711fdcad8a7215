"""``rampart ban import-fail2ban``: Fail2ban's jails as rampart configuration."""

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from rampart.errors import UsageError

DEFAULT_FAIL2BAN_DIR = "/etc/fail2ban"


def register(ban_commands: "argparse._SubParsersAction[Any]") -> None:
    parser = ban_commands.add_parser(
        "import-fail2ban",
        help="turn Fail2ban's jails into rampart's configuration",
        description=(
            "Read Fail2ban's jail configuration as Fail2ban reads it and print its enabled "
            "jails as rampart TOML. What cannot be carried over is listed on stderr."
        ),
    )
    parser.add_argument(
        "directory",
        metavar="DIR",
        nargs="?",
        default=DEFAULT_FAIL2BAN_DIR,
        help=f"Fail2ban's configuration folder (default {DEFAULT_FAIL2BAN_DIR})",
    )
    parser.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write the TOML to FILE (atomically) instead of printing it",
    )
    parser.add_argument("--force", action="store_true", help="replace FILE if it exists")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object: jails, notes and toml"
    )
    parser.set_defaults(handler=run_import)


def run_import(args: argparse.Namespace) -> int:
    from rampart.ban.fail2ban_import import import_fail2ban

    if args.force and not args.output:
        raise UsageError("--force only goes with --output FILE")
    result = import_fail2ban(Path(args.directory))
    if args.output:
        write_new_file(Path(args.output), result.toml, replace=args.force)
    if args.json:
        record = {"jails": list(result.jails), "notes": list(result.notes), "toml": result.toml}
        sys.stdout.write(json.dumps(record, indent=2) + "\n")
        return 0
    for note in result.notes:
        print(f"rampart: not carried over: {note}", file=sys.stderr)
    if args.output:
        jails = ", ".join(result.jails) or "no jail"
        print(f"rampart: wrote {args.output} ({jails})", file=sys.stderr)
    else:
        sys.stdout.write(result.toml)
    return 0


def write_new_file(path: Path, text: str, *, replace: bool = False, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` whole or not at all; an existing file only if ``replace``.

    The text goes to a temporary file beside ``path``, which then takes its
    name: a reader never sees half a file. Without ``replace`` the name is
    taken with a hard link, which fails if the file appeared meanwhile.
    """
    if path.is_dir():
        raise UsageError(f"{path}: is a directory; give a file name")
    if path.exists() and not replace:
        raise UsageError(f"{path}: exists already; add --force to replace it")
    folder = path.parent
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as error:
        raise UsageError(f"{path}: cannot write in {folder}: {error.strerror}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        if replace:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)
    except FileExistsError:
        raise UsageError(f"{path}: exists already; add --force to replace it") from None
    except OSError as error:
        raise UsageError(f"{path}: cannot write: {error.strerror}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)

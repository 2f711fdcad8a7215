"""``rampart ssh harden``: key-only logins, no root, few tries (practice 3)."""

import argparse
from pathlib import Path
from typing import Any


def register(commands: "argparse._SubParsersAction[Any]") -> None:
    parser = commands.add_parser("ssh", help="harden sshd (practice 3)")
    actions = parser.add_subparsers(dest="ssh_command", metavar="ACTION", required=True)
    harden = actions.add_parser(
        "harden",
        help="no root login, no passwords, 3 tries; validated, reloaded, verified or rolled back",
        description=(
            "Set PermitRootLogin, PasswordAuthentication, KbdInteractiveAuthentication, "
            "PermitEmptyPasswords, X11Forwarding to no, MaxAuthTries 3, LoginGraceTime 30. "
            "The new file is checked with sshd -t, sshd is reloaded and a real connection "
            "must get the SSH banner; on any failure the old file is put back."
        ),
    )
    harden.add_argument(
        "--config",
        dest="sshd_config",
        type=Path,
        default=Path("/etc/ssh/sshd_config"),
        metavar="FILE",
        help="the sshd configuration (default: /etc/ssh/sshd_config)",
    )
    harden.add_argument("--dry-run", action="store_true", help="print the diff; change nothing")
    harden.add_argument(
        "--force",
        action="store_true",
        help="turn off password logins even when no account has an authorized_keys file",
    )
    harden.set_defaults(handler=run_harden)


def run_harden(args: argparse.Namespace) -> int:
    from rampart.ssh import harden

    done = harden(args.sshd_config, dry_run=args.dry_run, force=args.force)
    if not done.changes:
        print(f"{args.sshd_config}: already hardened, nothing to change")
    elif args.dry_run:
        print(done.diff(), end="")
    else:
        for change in done.changes:
            print(f"changed: {change}")
        if done.dropin is not None:
            print(f"wrote {done.dropin} (an included file set weaker values first)")
    return 0

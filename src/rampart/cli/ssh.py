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

    move = actions.add_parser(
        "move-port",
        help="make sshd listen on NEW too (firewall opened, verified); 'confirm' drops the old",
        description=(
            "Add Port NEW next to the old Port lines, check with sshd -t, open NEW in the "
            "rampart firewall (when its table is loaded), reload sshd and check the SSH banner "
            "on NEW and the old port; on any failure everything is put back. The old port is "
            "dropped only by 'rampart ssh confirm', after you logged in on NEW."
        ),
    )
    move.add_argument("new_port", type=int, metavar="NEW", help="the new port (1-65535)")
    move.add_argument(
        "--config",
        dest="sshd_config",
        type=Path,
        default=Path("/etc/ssh/sshd_config"),
        metavar="FILE",
        help="the sshd configuration (default: /etc/ssh/sshd_config)",
    )
    move.add_argument("--netns", metavar="NAME", help="sshd and firewall in this namespace")
    move.set_defaults(handler=run_move_port)

    keep = actions.add_parser("confirm", help="after move-port: drop the old port from sshd")
    keep.set_defaults(handler=run_confirm)


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


def run_move_port(args: argparse.Namespace) -> int:
    from rampart.config import load_settings
    from rampart.ssh import move_port

    settings = load_settings(args.config)
    done = move_port(
        args.new_port,
        config_path=args.sshd_config,
        state_dir=settings.state_dir,
        firewall=settings.firewall,
        netns=args.netns,
    )
    old = ", ".join(map(str, done.old_ports))
    print(f"sshd listens on {old} and {done.new_port}; add this to ~/.ssh/config:\n")
    print(done.snippet)
    print(
        f"rampart's firewall keeps port {done.new_port} open from now on (in every apply). "
        f"Log in on port {done.new_port}, then run 'rampart ssh confirm' to drop port {old}."
    )
    return 0


def run_confirm(args: argparse.Namespace) -> int:
    import ipaddress

    from rampart.config import load_settings
    from rampart.firewall.policy import allows
    from rampart.ssh import confirm_move

    settings = load_settings(args.config)
    done = confirm_move(settings.state_dir)
    old = ", ".join(map(str, done.old_ports))
    print(f"sshd now listens on {done.new_port} only (port {old} dropped)")
    anyone = ipaddress.ip_address("192.0.2.1")
    policy = settings.firewall
    still = [p for p in done.old_ports if policy.inbound == "drop" and allows(policy, anyone, p)]
    if still:
        print(f"[firewall] in rampart.toml still allows {still}: remove it and apply")
    return 0

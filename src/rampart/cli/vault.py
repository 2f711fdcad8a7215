"""``rampart vault``: credentials encrypted in git, readable by the admins (practice 13)."""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

_ACTIONS: list[tuple[str, str]] = [
    ("init", "set up .vault/ in this repository with a first admin"),
    ("admins", "add, remove or list the admins (age or SSH public keys)"),
    ("register", "encrypt files and record them in the vault"),
    ("edit", "decrypt to a private file, run $EDITOR, encrypt back"),
    ("cat", "print a registered file's plaintext"),
    ("decrypt-all", "write every whole-file secret's plaintext (for deploys)"),
    ("shred-all", "overwrite and delete every whole-file secret's plaintext"),
    ("status", "plaintext present or staged, files behind the admin list"),
    ("rekey", "re-encrypt every file with a new data key for exactly the admin list"),
    ("install-hook", "a git pre-commit hook that refuses plaintext secrets"),
    ("pre-commit", "the check the git hook runs on staged files"),
    ("import-blackbox", "move a blackbox repository's files into the vault (uses gpg)"),
]


def register(commands: "argparse._SubParsersAction[Any]") -> None:
    parser = commands.add_parser(
        "vault",
        help="credentials encrypted in git, sops-compatible (practice 13)",
        description=(
            "YAML, JSON, .env and INI files are encrypted value by value in the sops "
            "format (sops -d opens them); other files are encrypted whole into FILE.vault. "
            "Admins are age keys or SSH public keys (ed25519, RSA)."
        ),
    )
    _add_common(parser, None)
    # the same options after the action too ('rampart vault cat F --identity K')
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, argparse.SUPPRESS)
    actions = parser.add_subparsers(dest="vault_command", metavar="ACTION", required=True)
    made = {
        name: actions.add_parser(name, help=text, description=text, parents=[common])
        for name, text in _ACTIONS
    }
    made["init"].add_argument("--admin", metavar="KEY",
                              help="first admin: a public key or a .pub file (default: yours)")
    made["init"].add_argument("--name", help="the first admin's name")
    admins = made["admins"].add_subparsers(dest="admins_command", metavar="ACTION", required=True)
    add = admins.add_parser("add", help="add an admin; every file is re-wrapped for them",
                            parents=[common])
    add.add_argument("key", metavar="KEY", help="age1... key, SSH public key, or a .pub file")
    add.add_argument("--name", help="a short name (default: the key's comment)")
    add.add_argument("--json", action="store_true", help="report as JSON")
    remove = admins.add_parser("remove", help="remove an admin; every file gets a new data key",
                               parents=[common])
    remove.add_argument("who", metavar="NAME|KEY")
    remove.add_argument("--json", action="store_true", help="report as JSON")
    listing = admins.add_parser("list", help="the admins", parents=[common])
    listing.add_argument("--json", action="store_true", help="report as JSON")
    made["register"].add_argument("files", nargs="+", type=Path, metavar="FILE")
    made["register"].add_argument("--json", action="store_true", help="report as JSON")
    made["edit"].add_argument("file", type=Path, metavar="FILE")
    made["cat"].add_argument("file", type=Path, metavar="FILE")
    made["decrypt-all"].add_argument("--to", type=Path, metavar="DIR",
                                     help="write every file (structured ones too) under DIR")
    made["install-hook"].add_argument("--force", action="store_true",
                                      help="replace a pre-commit hook rampart did not write")
    made["import-blackbox"].add_argument("source", nargs="?", type=Path, default=Path("."),
                                         metavar="DIR", help="the blackbox repository (default: .)")
    for name in ("decrypt-all", "shred-all", "status", "rekey", "import-blackbox", "install-hook",
                 "pre-commit", "init", "edit"):
        made[name].add_argument("--json", action="store_true", help="report as JSON")
    parser.set_defaults(handler=run_vault)


def _add_common(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument("--repo", type=Path, metavar="DIR", default=default,
                        help="the repository (default: the nearest one with .vault/)")
    parser.add_argument("--identity", type=Path, metavar="FILE", default=default,
                        help="age identity file or SSH private key (default: $RAMPART_VAULT_KEY, "
                        "~/.ssh/id_ed25519, ~/.config/sops/age/keys.txt)")


def run_vault(args: argparse.Namespace) -> int:
    from rampart.cli import vault_actions

    action = args.vault_command.replace("-", "_")
    if action == "admins":
        action = f"admins_{args.admins_command}"
    handler = getattr(vault_actions, f"run_{action}")
    code: int = handler(args)
    return code


def emit(args: argparse.Namespace, data: Any, lines: list[str]) -> None:
    """Print ``data`` as JSON with --json, else ``lines``."""
    if getattr(args, "json", False):
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for line in lines:
            print(line)

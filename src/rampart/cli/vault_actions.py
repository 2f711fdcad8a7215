"""The handlers of ``rampart vault``: build the Vault, call it, print (see cli/vault.py)."""

import argparse
import sys
from pathlib import Path

from rampart.cli.vault import emit
from rampart.vault import Recipient, Vault, VaultError, load_identity
from rampart.vault.keys import Identity
from rampart.vault.registry import Admin, check_name, find_root


def _vault(args: argparse.Namespace) -> Vault:
    return Vault(find_root(args.repo or Path.cwd()))


def _identity(args: argparse.Namespace) -> Identity:
    return load_identity(args.identity)


def _key_and_name(text: str, name: str | None) -> tuple[Recipient, str]:
    """A recipient given inline or as a file, and its name (default: the SSH comment)."""
    source = text
    candidate = Path(text)
    if len(text) < 4096 and "\n" not in text and candidate.is_file():
        try:
            source = candidate.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise VaultError(f"{candidate}: cannot read the public key: {error}") from None
    recipient = Recipient.parse(source)
    words = source.split()
    default = words[2] if len(words) > 2 and recipient.text.startswith("ssh-") else None
    chosen = name or default or (candidate.stem if candidate.is_file() else None)
    if chosen is None:
        raise VaultError("give the admin a name with --name")
    return recipient, check_name(chosen)


def _default_name(identity: Identity) -> str:
    """The SSH key's comment (user@host) when there is one, else the login name."""
    import getpass

    try:
        words = identity.path.with_name(identity.path.name + ".pub").read_text().split()
    except OSError:
        words = []
    return words[2] if len(words) > 2 else getpass.getuser()


def run_init(args: argparse.Namespace) -> int:
    from rampart.vault import gitrepo

    # --repo names the folder exactly; without it, the git repository around here
    root = args.repo.resolve() if args.repo else (gitrepo.toplevel(Path.cwd()) or Path.cwd())
    if args.admin:
        recipient, name = _key_and_name(args.admin, args.name)
    else:
        identity = _identity(args)
        if not identity.public:
            raise VaultError(f"{identity.path}: no public key beside it; pass --admin KEY")
        recipient = identity.public[0]
        name = check_name(args.name or _default_name(identity))
    vault = Vault.init(root, [Admin(name, recipient)])
    emit(args, {"root": str(vault.root), "admin": name, "recipient": recipient.text},
         [f"vault set up in {vault.root / '.vault'} with admin {name} ({recipient.short})"])
    return 0


def run_admins_add(args: argparse.Namespace) -> int:
    vault = _vault(args)
    recipient, name = _key_and_name(args.key, args.name)
    count = vault.add_admin(name, recipient, _identity(args) if vault.entries() else None)
    emit(args, {"added": name, "recipient": recipient.text, "files": count},
         [f"{name} is an admin; {count} file(s) re-wrapped for them"])
    return 0


def run_admins_remove(args: argparse.Namespace) -> int:
    vault = _vault(args)
    exposures = vault.remove_admin(args.who, _identity(args))
    data = {"removed": args.who, "rotate": [{"file": e.file, "keys": list(e.keys)}
                                            for e in exposures]}
    lines = [f"{args.who} removed; every file re-encrypted with a new data key."]
    if exposures:
        lines.append(f"{args.who} could read these credentials; rotate them:")
        lines += [f"  {e.file}: {', '.join(e.keys) or '(whole file)'}" for e in exposures]
    emit(args, data, lines)
    return 0


def run_admins_list(args: argparse.Namespace) -> int:
    admins = _vault(args).admins()
    emit(args, [{"name": a.name, "recipient": a.recipient.text} for a in admins],
         [f"{a.name}  {a.recipient.text}" for a in admins])
    return 0


def run_register(args: argparse.Namespace) -> int:
    vault = _vault(args)
    done = []
    for path in args.files:
        entry, notes = vault.register(path)
        done.append({"file": entry.relative, "encrypted": entry.encrypted_relative,
                     "mode": "whole-file" if entry.whole_file else "values", "notes": notes})
    lines = [f"registered {d['file']} -> {d['encrypted']}" for d in done]
    lines += [f"warning: {note}" for d in done for note in d["notes"]]
    emit(args, done, lines)
    return 0


def run_edit(args: argparse.Namespace) -> int:
    from rampart.vault.edit import edit

    changed = edit(_vault(args), args.file, _identity(args))
    emit(args, {"file": str(args.file), "changed": changed},
         [f"{args.file}: {'encrypted and saved' if changed else 'no change'}"])
    return 0


def run_cat(args: argparse.Namespace) -> int:
    data = _vault(args).plaintext(args.file, _identity(args))
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    return 0


def run_decrypt_all(args: argparse.Namespace) -> int:
    written = _vault(args).decrypt_all(_identity(args), args.to)
    emit(args, {"written": written}, [f"decrypted {name}" for name in written]
         or ["nothing to decrypt"])
    return 0


def run_shred_all(args: argparse.Namespace) -> int:
    removed = _vault(args).shred_all()
    emit(args, {"shredded": removed}, [f"shredded {name}" for name in removed]
         or ["no plaintext to shred"])
    return 0


def run_status(args: argparse.Namespace) -> int:
    from rampart.vault.status import describe, vault_status

    statuses = vault_status(_vault(args))
    emit(args, [s.to_json() for s in statuses],
         [describe(s) for s in statuses] or ["no files registered"])
    return 1 if any(s.needs_attention for s in statuses) else 0


def run_rekey(args: argparse.Namespace) -> int:
    vault = _vault(args)
    exposures = vault.rekey(_identity(args))
    data = {"files": len(vault.entries()),
            "rotate": [{"file": e.file, "keys": list(e.keys)} for e in exposures]}
    lines = [f"{len(vault.entries())} file(s) re-encrypted with new data keys"]
    if exposures:
        lines.append("former admins could read these credentials; rotate them:")
        lines += [f"  {e.file}: {', '.join(e.keys) or '(whole file)'}" for e in exposures]
    emit(args, data, lines)
    return 0


def run_install_hook(args: argparse.Namespace) -> int:
    from rampart.vault.hook import install_hook

    vault = _vault(args)
    hook = install_hook(vault.root, force=args.force)
    emit(args, {"hook": str(hook)}, [f"installed {hook}"])
    return 0


def run_pre_commit(args: argparse.Namespace) -> int:
    from rampart.vault.hook import check_staged, run_scanner, scanner_available

    refusals = check_staged(_vault(args))
    scan_code, scan_output = (run_scanner() if scanner_available() else (0, ""))
    data = {"refused": [{"file": r.file, "reason": r.reason} for r in refusals],
            "scanner": {"ran": scanner_available(), "exit": scan_code, "output": scan_output}}
    lines = [f"rampart vault: refusing {r.file}: {r.reason}" for r in refusals]
    if scan_code == 1:
        lines += [scan_output, "rampart scan: secrets found in staged files"]
    elif scan_code != 0:
        lines += [scan_output, f"rampart scan --staged failed (exit {scan_code}): fix it first"]
    if lines:
        lines.append("commit refused (fix the above, or 'git commit --no-verify' if you are sure)")
    if getattr(args, "json", False):
        emit(args, data, [])
    else:
        for line in lines:
            print(line, file=sys.stderr)
    return 1 if refusals or scan_code != 0 else 0


def run_import_blackbox(args: argparse.Namespace) -> int:
    from rampart.vault.blackbox import import_blackbox

    vault = _vault(args)
    done = import_blackbox(vault, args.source)
    lines = [f"imported {name}" for name in done.files]
    lines += [f"warning: {note}" for note in done.notes]
    if done.gpg_admins:
        lines.append("blackbox admins (GnuPG) to add again with an age or SSH key: "
                     + ", ".join(done.gpg_admins))
    emit(args, {"imported": done.files, "gpg_admins": done.gpg_admins, "notes": done.notes},
         lines)
    return 0

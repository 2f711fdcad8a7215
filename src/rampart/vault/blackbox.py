"""``import-blackbox``: move a StackExchange blackbox repository into the vault.

blackbox keeps ``.blackbox/blackbox-admins.txt`` (GnuPG key ids),
``.blackbox/blackbox-files.txt`` (plaintext paths) and ``FILE.gpg`` beside
each. Each file is decrypted with ``gpg`` (the caller's GnuPG keyring) into a
private folder, registered in the vault (encrypted for the vault's admins),
and its ``.gpg`` is removed. The GnuPG admins are listed so that each can be
added again with an age or SSH key.
"""

from dataclasses import dataclass, field
from pathlib import Path

from rampart.system import run
from rampart.vault import gitrepo
from rampart.vault.errors import VaultError
from rampart.vault.registry import relative_to_root
from rampart.vault.secure import private_directory, write_bytes_atomically
from rampart.vault.vault import Vault

_BLACKBOX_DIRS = (".blackbox", "keyrings/live")
GPG_TIMEOUT = 60.0


@dataclass
class Imported:
    files: list[str] = field(default_factory=list)
    gpg_admins: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _blackbox_dir(root: Path) -> Path:
    for name in _BLACKBOX_DIRS:
        if (root / name / "blackbox-files.txt").is_file():
            return root / name
    raise VaultError(f"{root}: no .blackbox/blackbox-files.txt (not a blackbox repository?)")


def _lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip()]


def import_blackbox(vault: Vault, source: Path) -> Imported:
    """Decrypt every blackbox file with gpg and register it; all decrypted before any change."""
    config = _blackbox_dir(source)
    done = Imported(gpg_admins=_lines(config / "blackbox-admins.txt"))
    names = _lines(config / "blackbox-files.txt")
    for name in names:
        if name.startswith("/") or ".." in Path(name).parts:
            raise VaultError(f"{config / 'blackbox-files.txt'}: unsafe path {name!r}")
    registered = {entry.relative for entry in vault.entries()}
    imported_before = [
        name for name in names
        if relative_to_root(vault.root, source / name) in registered
        and not (source / (name + ".gpg")).exists()
    ]
    names = [name for name in names if name not in imported_before]  # a re-run goes on
    with private_directory() as scratch:
        plain: dict[str, bytes] = {}
        for index, name in enumerate(names):
            encrypted = source / (name + ".gpg")
            if not encrypted.is_file():
                raise VaultError(f"{encrypted}: listed by blackbox but missing")
            out = scratch / f"{index}.plain"
            run(["gpg", "--batch", "--yes", "--quiet", "--output", str(out), "--decrypt",
                 str(encrypted)], timeout=GPG_TIMEOUT)
            plain[name] = out.read_bytes()
        for name, data in plain.items():
            target = source / name
            relative_to_root(vault.root, target)  # inside the vault's repository
            existed = target.exists()
            write_bytes_atomically(target, data, mode=0o600)
            try:
                entry, notes = vault.register(target)
            except VaultError:
                if not existed:
                    target.unlink(missing_ok=True)
                raise
            done.notes += notes
            done.files.append(entry.relative)
            _remove_gpg(vault.root, source / (name + ".gpg"))
    return done


def _remove_gpg(root: Path, path: Path) -> None:
    relative = relative_to_root(root, path)
    if gitrepo.toplevel(root) and gitrepo.is_tracked(root, relative):
        run(["git", "-C", str(root), "rm", "--quiet", "--", relative], timeout=30)
    else:
        path.unlink(missing_ok=True)

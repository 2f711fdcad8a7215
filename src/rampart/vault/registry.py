"""The vault's own files in the repository: ``.vault/admins`` and ``.vault/files``.

Both are plain lines so that a change shows in review: ``NAME RECIPIENT``
for each admin (an age key or an SSH public key) and one path per registered
file, relative to the repository's top. A ``.sops.yaml`` with the same
recipients lets the sops tool create files for the same admins.
"""

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from rampart.files import write_atomically
from rampart.vault.errors import VaultError
from rampart.vault.formats import format_of
from rampart.vault.keys import Recipient, same_key

VAULT_DIR = ".vault"
BLOB_SUFFIX = ".vault"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
_SOPS_CONFIG_MARK = "# written by 'rampart vault'; edit the admins with 'rampart vault admins'"


@dataclass(frozen=True)
class Admin:
    name: str
    recipient: Recipient


@dataclass(frozen=True)
class Entry:
    """A registered file: where its plaintext lives and where the encrypted copy is."""

    relative: str
    kind: str

    @property
    def whole_file(self) -> bool:
        return self.kind == "binary"

    @property
    def encrypted_relative(self) -> str:
        return self.relative + BLOB_SUFFIX if self.whole_file else self.relative


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise VaultError(f"admin name {name!r}: use letters, digits and ._@+- (no spaces)")
    return name


def find_root(start: Path) -> Path:
    """The nearest folder upwards from ``start`` that holds ``.vault/``."""
    for folder in [start.resolve(), *start.resolve().parents]:
        if (folder / VAULT_DIR).is_dir():
            return folder
    raise VaultError(f"{start}: no vault here or above (run 'rampart vault init')")


def relative_to_root(root: Path, path: Path) -> str:
    """``path`` as a clean relative path inside the repository, or an error."""
    absolute = (Path.cwd() / path).resolve() if not path.is_absolute() else path.resolve()
    try:
        relative = absolute.relative_to(root)
    except ValueError:
        raise VaultError(f"{path}: outside the vault's repository {root}") from None
    text = PurePosixPath(relative).as_posix()
    if text in (".", "") or text.startswith(VAULT_DIR + "/") or "\n" in text:
        raise VaultError(f"{path}: cannot be registered")
    return text


class Registry:
    """Reads and writes ``.vault/admins`` and ``.vault/files`` under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = root / VAULT_DIR

    def admins(self) -> list[Admin]:
        admins = []
        for number, line in self._lines("admins"):
            name, _, key = line.partition(" ")
            try:
                admins.append(Admin(name, Recipient.parse(key)))
            except VaultError as error:
                raise VaultError(f"{self.folder / 'admins'}:{number}: {error}") from None
        return admins

    def entries(self) -> list[Entry]:
        return [Entry(line, format_of(Path(line))) for _, line in self._lines("files")]

    def entry(self, path: Path) -> Entry:
        relative = relative_to_root(self.root, path)
        if relative.endswith(BLOB_SUFFIX):
            relative = relative[: -len(BLOB_SUFFIX)]
        for entry in self.entries():
            if entry.relative == relative:
                return entry
        raise VaultError(f"{path}: not registered in the vault (use 'rampart vault register')")

    def save_admins(self, admins: list[Admin]) -> None:
        for index, admin in enumerate(admins):
            if any(same_key(admin.recipient.text, o.recipient.text) for o in admins[:index]):
                raise VaultError(f"admin {admin.name}: the same key is listed twice")
        lines = [f"{a.name} {a.recipient.text}" for a in admins]
        self._write("admins", "# NAME RECIPIENT (age1... or ssh-ed25519/ssh-rsa public key)", lines)
        self._write_sops_config(admins)

    def save_entries(self, entries: list[Entry]) -> None:
        self._write("files", "# files encrypted by 'rampart vault', relative to this repository",
                    sorted({e.relative for e in entries}))

    def _lines(self, name: str) -> list[tuple[int, str]]:
        path = self.folder / name
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as error:
            raise VaultError(f"{path}: cannot read: {error.strerror}") from None
        return [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1)
                if line.strip() and not line.lstrip().startswith("#")]

    def _write(self, name: str, header: str, lines: list[str]) -> None:
        self.folder.mkdir(exist_ok=True)
        text = "\n".join([header, *lines]) + "\n"
        write_atomically(self.folder / name, lambda out: out.write(text), mode=0o644)

    def _write_sops_config(self, admins: list[Admin]) -> None:
        path = self.root / ".sops.yaml"
        if path.exists() and _SOPS_CONFIG_MARK not in path.read_text(encoding="utf-8"):
            return  # the team's own sops configuration: leave it alone
        keys = ",".join(a.recipient.text for a in admins)
        text = f"{_SOPS_CONFIG_MARK}\ncreation_rules:\n  - age: >-\n      {keys}\n"
        write_atomically(path, lambda out: out.write(text), mode=0o644)


def add_to_gitignore(root: Path, relative: str) -> bool:
    """Append ``/relative`` to the top .gitignore unless it is listed; True if added."""
    path = root / ".gitignore"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    wanted = "/" + _gitignore_escape(relative)
    if wanted in text.splitlines() or relative in text.splitlines():
        return False
    new = text + ("" if not text or text.endswith("\n") else "\n") + wanted + "\n"
    write_atomically(path, lambda out: out.write(new), mode=0o644)
    return True


def _gitignore_escape(relative: str) -> str:
    """A path as a literal .gitignore pattern (wildcards, '!', '#' and end spaces escaped)."""
    escaped = re.sub(r"([*?\[\\])", r"\\\1", relative)
    if escaped[:1] in ("!", "#"):
        escaped = "\\" + escaped
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return escaped


def remove_from_gitignore(root: Path, relative: str) -> None:
    """Drop lines naming exactly ``relative`` (an encrypted file must be committable)."""
    path = root / ".gitignore"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return
    names = (relative, "/" + relative, "/" + _gitignore_escape(relative))
    kept = [line for line in lines if line.strip() not in names]
    if kept != lines:
        text = "".join(line + "\n" for line in kept)
        write_atomically(path, lambda out: out.write(text), mode=0o644)

"""The ``sops`` block: who can open the data key, when, and the encrypted MAC."""

from dataclasses import dataclass, field
from typing import Any

from rampart.vault.errors import IntegrityError, VaultError

FORMAT_VERSION = "3.11.0"  # the sops release whose format rampart writes
DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"
_RULE_KEYS = ("unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex")
_UNSUPPORTED = ("unencrypted_comment_regex", "encrypted_comment_regex", "shamir_threshold")
_OTHER_KEY_KINDS = ("kms", "gcp_kms", "azure_kv", "hc_vault", "pgp")


@dataclass(frozen=True)
class AgeEntry:
    """The data key wrapped for one recipient."""

    recipient: str
    enc: str


@dataclass(frozen=True)
class Rules:
    """Which values stay in clear text (sops' suffix and regex options)."""

    unencrypted_suffix: str | None = DEFAULT_UNENCRYPTED_SUFFIX
    encrypted_suffix: str | None = None
    unencrypted_regex: str | None = None
    encrypted_regex: str | None = None
    mac_only_encrypted: bool = False


@dataclass(frozen=True)
class Metadata:
    age: tuple[AgeEntry, ...]
    lastmodified: str
    mac: str
    version: str = FORMAT_VERSION
    rules: Rules = field(default_factory=Rules)
    other_kinds: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The block in sops' key order, ready for YAML or JSON."""
        out: dict[str, Any] = {
            "age": [{"recipient": entry.recipient, "enc": entry.enc} for entry in self.age],
            "lastmodified": self.lastmodified,
            "mac": self.mac,
        }
        if self.rules.mac_only_encrypted:
            out["mac_only_encrypted"] = True
        for name in _RULE_KEYS:
            value = getattr(self.rules, name)
            if value is not None:
                out[name] = value
        out["version"] = self.version
        return out

    @classmethod
    def from_dict(cls, block: object, where: str) -> "Metadata":
        if not isinstance(block, dict):
            raise IntegrityError(f"{where}: the sops metadata block is not a mapping")
        version = str(block.get("version", ""))
        if not version.startswith("3."):
            raise VaultError(
                f"{where}: unknown sops format version {version!r} (rampart reads 3.x)"
            )
        for name in _UNSUPPORTED:
            if block.get(name):
                raise VaultError(f"{where}: sops option {name} is not supported by rampart")
        if "key_groups" in block:
            raise VaultError(f"{where}: sops key groups (Shamir) are not supported by rampart")
        if not block.get("mac") or not block.get("lastmodified"):
            raise IntegrityError(f"{where}: sops metadata has no mac or lastmodified (truncated?)")
        entries = []
        for item in block.get("age") or []:
            if not isinstance(item, dict) or not item.get("recipient") or not item.get("enc"):
                raise IntegrityError(f"{where}: a sops age entry lacks recipient or enc")
            entries.append(AgeEntry(str(item["recipient"]), str(item["enc"])))
        rules = Rules(
            **{name: _optional_str(block.get(name)) for name in _RULE_KEYS},
            mac_only_encrypted=block.get("mac_only_encrypted") in (True, "true", "True"),
        )
        if all(getattr(rules, name) is None for name in _RULE_KEYS):
            rules = Rules(unencrypted_suffix=None, mac_only_encrypted=rules.mac_only_encrypted)
        others = tuple(kind for kind in _OTHER_KEY_KINDS if block.get(kind))
        return cls(
            age=tuple(entries),
            lastmodified=str(block["lastmodified"]),
            mac=str(block["mac"]),
            version=version,
            rules=rules,
            other_kinds=others,
        )


def _optional_str(value: object) -> str | None:
    return None if value in (None, "") else str(value)

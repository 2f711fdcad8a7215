"""The vault's errors: each one line for the operator, exit status 2."""

from rampart.errors import RampartError


class VaultError(RampartError):
    """A vault operation cannot go on (bad file, bad key, bad setup)."""


class KeyError_(VaultError):
    """No usable identity, or a recipient that is not a valid age or SSH key."""


class IntegrityError(VaultError):
    """An encrypted file was truncated or changed: a value or the MAC does not verify."""

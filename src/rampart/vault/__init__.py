"""rampart's vault: credentials in git, encrypted value by value in sops' format.

Other parts use :class:`Vault` (a repository's admins and files),
:func:`load_identity` and :class:`Recipient`; the rest are details.
"""

from rampart.vault.errors import IntegrityError, KeyError_, VaultError
from rampart.vault.keys import Identity, Recipient, load_identity
from rampart.vault.vault import Exposure, Vault

__all__ = [
    "Exposure",
    "Identity",
    "IntegrityError",
    "KeyError_",
    "Recipient",
    "Vault",
    "VaultError",
    "load_identity",
]

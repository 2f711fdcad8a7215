"""Store: where bans (and later alerts) outlive the process that made them."""

from rampart.store.bans import BanStore, StoreError

__all__ = ["BanStore", "StoreError"]

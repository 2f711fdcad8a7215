"""Store: where bans outlive the process that made them (alerts: rampart.notify.store)."""

from rampart.store.bans import BanStore, StoreError

__all__ = ["BanStore", "StoreError"]

"""Notify: alerts stored (SQLite, JSON lines) and delivered by e-mail and webhooks."""

from rampart.notify.dispatcher import Dispatcher
from rampart.notify.interface import Channel, DeliveryError
from rampart.notify.store import AlertStore, AlertStoreError, StoredAlert

__all__ = ["AlertStore", "AlertStoreError", "Channel", "DeliveryError", "Dispatcher", "StoredAlert"]

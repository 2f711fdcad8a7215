"""What every alert channel is: a name, a minimum level, and a way to deliver what is due."""

from abc import ABC, abstractmethod

from rampart.errors import RampartError
from rampart.hids.event import Event
from rampart.notify.store import AlertStore


class DeliveryError(RampartError):
    """A server refused or could not be reached: the alerts stay queued and are retried."""


class Channel(ABC):
    """E-mail or a webhook. Alerts are queued in the store; :meth:`deliver` sends what is due."""

    name: str
    min_level: int

    def wants(self, event: Event) -> bool:
        return event.level >= self.min_level

    def immediate(self, event: Event) -> bool:
        """Whether ``event`` goes out at the next flush rather than in a digest."""
        return True

    @abstractmethod
    def deliver(self, store: AlertStore, now: float) -> None:
        """Send the queued alerts that are due and mark them sent; DeliveryError if it fails."""

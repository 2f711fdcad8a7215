"""HIDS: log rules with levels 0-15, file integrity and rootkit checks, all as events."""

from rampart.hids.event import MAX_LEVEL, MIN_LEVEL, Event

__all__ = ["MAX_LEVEL", "MIN_LEVEL", "Event"]

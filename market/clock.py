"""The clock seam: strategy and broker code read time only from a :class:`Clock`.

``daemon/`` holds the live implementation; the simulated one lives here because every feed
(simulator, replay, history) drives market time from snapshot timestamps.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Current market time, timezone-aware (UTC)."""
        ...


class SimulatedClock:
    """Market time set by the feed: it is the timestamp of the latest snapshot."""

    __slots__ = ("_now",)

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs a timezone-aware start")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance_to(self, ts: datetime) -> None:
        """Move market time forward; time never runs backwards."""
        if ts < self._now:
            raise ValueError(
                f"clock cannot go back from {self._now.isoformat()} to {ts.isoformat()}"
            )
        self._now = ts

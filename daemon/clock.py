"""The live clock: wall time, beside ``market.clock.SimulatedClock``.

Market time is simulated in every mode (SPEC section 4); the live clock paces the feed in
`alvh run` and times operational things (uptime, snapshot age). It is the one seam for wall
time, so tests can swap it for a fake.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime


class LiveClock:
    """Wall-clock time (UTC) and a monotonic timer, with an awaitable sleep."""

    __slots__ = ()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

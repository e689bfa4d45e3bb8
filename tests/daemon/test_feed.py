"""The `run` feed paces market time against the wall through the live-clock seam."""

from __future__ import annotations

from datetime import date

from daemon.service import _feed
from market.simulator import Simulator, SimulatorConfig


class FakeClock:
    """A wall clock that only moves when the feed sleeps; it records every sleep."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


class CountingPipeline:
    """Stands in for the pipeline: records what it is fed and stops the feed at ``limit``."""

    recovering = False

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.snaps: list[object] = []

    def process(self, snap: object) -> None:
        self.snaps.append(snap)
        if len(self.snaps) >= self.limit:
            raise StopAsyncIteration


async def test_feed_waits_one_cadence_per_snapshot_and_skips_the_night() -> None:
    sim = Simulator(SimulatorConfig(cadence_minutes=30), seed=1, start=date(2025, 1, 2))
    clock = FakeClock()
    pipeline = CountingPipeline(limit=20)  # 15 snapshots on 2025-01-02, then 5 on 2025-01-03
    try:
        await _feed(sim, pipeline, time_scale=60.0, cadence_s=1800.0, clock=clock)  # type: ignore[arg-type]
    except StopAsyncIteration:
        pass
    # 30 market minutes at 60x = 30 wall seconds between snapshots; 16:00 -> 16:15 close is 15 s;
    # the night from 16:15 to 09:30 costs one cadence step (30 s), not 17 hours.
    assert clock.sleeps[:13] == [30.0] * 13
    assert clock.sleeps[13] == 15.0
    assert clock.sleeps[14] == 30.0
    assert len(pipeline.snaps) == 20

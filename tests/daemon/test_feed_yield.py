"""Behind schedule (a high time scale), the `run` feed still lets the event loop run: signals,
the API and the recorder's flush are never starved, and yielding changes no snapshot."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from daemon_process import RunningDaemon

from daemon.cli import main
from daemon.service import BEHIND_SLICE_S, FAST_FORWARD_CHUNK, _feed
from market.simulator import Simulator, SimulatorConfig
from market.snapshot import MarketSnapshot


class BehindClock:
    """A wall clock a day past the feed's schedule from its second reading on (86,400 one-minute
    snapshots to catch up at 60x), then ``step_s`` later at each reading (0: too coarse to move
    between snapshots). The feed must never wait on it."""

    def __init__(self, step_s: float) -> None:
        self._readings: Iterator[float] = itertools.chain([0.0], itertools.count(86400.0, step_s))

    def monotonic(self) -> float:
        return next(self._readings)

    async def sleep(self, seconds: float) -> None:
        raise AssertionError(f"the feed waited {seconds} s while a day behind schedule")


class FeedDone(Exception):
    """Ends a feed that would otherwise run to the end of the calendar."""


class CountingPipeline:
    """Stands in for the pipeline: keeps what it is fed and ends the feed at ``limit``."""

    recovering = False

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.snaps: list[MarketSnapshot] = []

    def process(self, snap: MarketSnapshot) -> None:
        self.snaps.append(snap)
        if len(self.snaps) >= self.limit:
            raise FeedDone


def _market() -> Simulator:
    return Simulator(SimulatorConfig(cadence_minutes=1), seed=1, start=date(2025, 1, 2))


async def _feed_beside_another_task(
    clock: BehindClock, limit: int
) -> tuple[CountingPipeline, list[int]]:
    """Run a behind-schedule feed (60x, one-minute cadence) to ``limit`` snapshots beside a task
    that notes, each time it gets to run, how many snapshots have gone through."""
    pipeline = CountingPipeline(limit)
    seen: list[int] = []

    async def other() -> None:
        while True:
            seen.append(len(pipeline.snaps))
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    try:
        await _feed(_market(), pipeline, time_scale=60.0, cadence_s=60.0, clock=clock)  # type: ignore[arg-type]
    except FeedDone:
        pass
    finally:
        task.cancel()
    return pipeline, seen


def _longest_run(seen: list[int], limit: int) -> int:
    """The most snapshots the feed processed without another task getting to run."""
    marks = [0, *seen, limit]
    return max(b - a for a, b in itertools.pairwise(marks))


async def test_a_feed_behind_schedule_yields_at_least_every_chunk_of_snapshots() -> None:
    limit = 3 * FAST_FORWARD_CHUNK
    pipeline, seen = await _feed_beside_another_task(BehindClock(step_s=0.0), limit)
    assert len(pipeline.snaps) == limit
    assert _longest_run(seen, limit) <= FAST_FORWARD_CHUNK


async def test_a_feed_behind_schedule_yields_every_slice_of_wall_time() -> None:
    # each reading 0.6 slice later: a slice has passed every other snapshot
    limit = 200
    pipeline, seen = await _feed_beside_another_task(BehindClock(0.6 * BEHIND_SLICE_S), limit)
    assert len(pipeline.snaps) == limit
    assert _longest_run(seen, limit) <= 3


async def test_yielding_behind_schedule_changes_no_snapshot_nor_their_order() -> None:
    limit = 2 * FAST_FORWARD_CHUNK
    pipeline, seen = await _feed_beside_another_task(BehindClock(0.6 * BEHIND_SLICE_S), limit)
    assert len(seen) >= limit // 3  # it did yield, many times
    expected = list(itertools.islice(_market().snapshots(None), limit))
    assert [(s.seq, s.ts, s.spx, s.vix) for s in pipeline.snaps] == [
        (s.seq, s.ts, s.spx, s.vix) for s in expected
    ]


async def test_a_feed_behind_schedule_can_be_cancelled_within_a_chunk() -> None:
    """What SIGTERM does to `run`: the stop task gets to run, and cancels the feed."""
    pipeline = CountingPipeline(limit=3 * FAST_FORWARD_CHUNK)
    feed = asyncio.create_task(
        _feed(_market(), pipeline, time_scale=60.0, cadence_s=60.0, clock=BehindClock(0.0))  # type: ignore[arg-type]
    )

    async def stop() -> None:
        feed.cancel()

    await asyncio.gather(stop(), feed, return_exceptions=True)
    assert feed.cancelled()
    assert 0 < len(pipeline.snaps) <= FAST_FORWARD_CHUNK


def test_run_at_a_huge_time_scale_serves_the_api_and_stops_cleanly_on_sigterm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text("[market]\ncadence_minutes = 1\n")
    state = tmp_path / "state"
    # 1e9 market seconds a wall second: the feed is always behind, on any machine
    with RunningDaemon(state, cfg, "--time-scale", "1e9") as daemon:
        status = daemon.wait_for_snapshots(2000, timeout=10)
        assert daemon.get("/health")["status"] == "ok"
        t0 = time.monotonic()
        done = daemon.stop(timeout=5)
        stop_s = time.monotonic() - t0
    assert done.returncode == 0, done.stderr[-2000:]
    assert stop_s < 5
    stopped = done.lines[-1]
    assert stopped["event"] == "daemon_stopped"
    assert stopped["snapshots"] >= status["snapshots"]
    capsys.readouterr()
    assert main(["ledger", "verify", "--state-dir", str(state)]) == 0

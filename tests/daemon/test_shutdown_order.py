"""SIGTERM stops `alvh run` in stages: intake first (no snapshot is processed once the signal
has been handled), then the drain (where market time stopped is committed), then the wall-clock
jobs and the API, then the ledger."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from daemon_process import free_port

from daemon.cli import main
from daemon.config import load_config
from daemon.pipeline import Pipeline
from daemon.runner import RunSpec, prepare, simulated_market
from daemon.scheduler import OpsScheduler
from daemon.service import run_daemon
from daemon.statedir import StateDir
from market.snapshot import MarketSnapshot

SLOW_STOP_S = 0.2
"""How long the fake scheduler and API shutdowns take: at a time scale of 1e9 a feed still
running would get through thousands of snapshots meanwhile."""


async def eventually(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def _control_events(ledger_path: Path) -> list[tuple[str, int]]:
    """(kind, position) of every committed control event, read on a connection of our own."""
    with sqlite3.connect(ledger_path) as conn:
        rows = conn.execute("SELECT kind, position FROM control_events ORDER BY event_id")
        return [(str(kind), int(position)) for kind, position in rows]


async def test_sigterm_stops_intake_first_then_drains_then_stops_the_api_and_scheduler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = load_config(
        None,
        {
            "market": {"cadence_minutes": 1},
            "runtime": {"time_scale": 1e9},  # always behind schedule: never idle between snapshots
            "api": {"port": free_port()},
        },
    )
    spec = RunSpec("calm", 1, date(2025, 1, 2))
    processed: list[int] = []
    after_stop: list[int] = []
    stop_handled: list[int] = []
    """Snapshots processed when the SIGTERM handler ran (set once it has)."""
    during_stop: dict[str, dict[str, Any]] = {}
    ledger_path = tmp_path / "state" / "ledger.sqlite"

    process = Pipeline.process

    def counting_process(self: Pipeline, snap: MarketSnapshot) -> None:
        if stop_handled:
            after_stop.append(snap.seq)
        processed.append(snap.seq)
        process(self, snap)

    monkeypatch.setattr(Pipeline, "process", counting_process)

    loop = asyncio.get_running_loop()
    add_signal_handler = loop.add_signal_handler

    def noting_add_signal_handler(sig: int, callback: Callable[..., object], *args: Any) -> None:
        if sig != signal.SIGTERM:
            add_signal_handler(sig, callback, *args)
            return

        def handled(*a: Any) -> None:
            stop_handled.append(len(processed))
            callback(*a)

        add_signal_handler(sig, handled, *args)

    monkeypatch.setattr(loop, "add_signal_handler", noting_add_signal_handler)

    def slow(step: str, stop: Callable[..., Any]) -> Callable[..., Any]:
        async def slow_stop(self: Any) -> None:
            seen = {"snapshots": len(processed), "controls": _control_events(ledger_path)}
            await asyncio.sleep(SLOW_STOP_S)
            during_stop[step] = {**seen, "snapshots_after": len(processed)}
            await stop(self)

        return slow_stop

    monkeypatch.setattr(OpsScheduler, "shutdown", slow("scheduler", OpsScheduler.shutdown))
    monkeypatch.setattr(web.AppRunner, "cleanup", slow("api", web.AppRunner.cleanup))

    with StateDir(tmp_path / "state") as state:
        assert state.ledger_path == ledger_path
        daemon = asyncio.create_task(run_daemon(config, spec, state, new=False))
        await eventually(lambda: len(processed) >= 2000 or daemon.done())
        assert not daemon.done()
        os.kill(os.getpid(), signal.SIGTERM)
        assert await asyncio.wait_for(daemon, 20) == 0

    # intake stopped when the signal was handled, not once the rest had shut down
    assert stop_handled and after_stop == []
    last = processed[-1]
    assert len(processed) == stop_handled[0]
    # drained before the scheduler and the API stopped: the stop marker was already committed
    # at the last snapshot processed, and the feed stayed stopped while they shut down
    for step in ("scheduler", "api"):
        seen = during_stop[step]
        assert seen["controls"][-1] == ("stop", last), step
        assert seen["snapshots"] == seen["snapshots_after"] == len(processed), step

    capsys.readouterr()
    assert main(["ledger", "verify", "--state-dir", str(tmp_path / "state")]) == 0

    # a resume re-derives the same fills and catches up exactly where market time stopped
    with StateDir(tmp_path / "state") as state:
        prepared = prepare(config, spec, state, resume=True)
        pipeline = prepared.pipeline
        recorded_fills = len(prepared.ledger.fills())
        try:
            for snap in simulated_market(prepared).snapshots(None):
                process(pipeline, snap)
                if not pipeline.recovering:
                    break
            assert prepared.engine.ticks == last + 1
            assert prepared.engine.broker.stats.fills == recorded_fills > 0
        finally:
            pipeline.close()
            prepared.ledger.close()

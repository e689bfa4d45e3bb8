"""The two drivers of the pipeline: `simulate` (batch, as fast as it can) and `run` (daemon).

Both build the same :class:`Engine` over a ledger in a locked state directory; only the feed's
pacing and the lifecycle differ.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import structlog
from aiohttp import web

from brokers.ledger import Ledger, LedgerError
from daemon.api import build_app
from daemon.bus import EventBus
from daemon.clock import LiveClock
from daemon.config import AppConfig
from daemon.engine import Engine
from daemon.statedir import StateDir
from market.calendar import trading_calendar
from market.clock import SimulatedClock
from market.simulator import Simulator

log = structlog.get_logger("alvh.daemon")

ALVH_VERSION = "0.1.0"
EX_SOFTWARE = 70
EX_OSERR = 71


@dataclass(frozen=True, slots=True)
class RunSpec:
    scenario: str | None
    seed: int
    start: date


def make_bus(config: AppConfig) -> EventBus:
    """The pipeline's bus: a failed ledger write stops the run instead of being contained."""
    return EventBus(config.runtime.bus_queue_size, fatal=(LedgerError, sqlite3.Error))


def _open_ledger(config: AppConfig, state: StateDir, spec: RunSpec) -> Ledger:
    """Open the ledger and pin the run: seed, scenario, start, cadence and the full effective
    config (as JSON: every field, not just the ones a file changed)."""
    ledger = Ledger.open(state.ledger_path)
    ledger.record_run(
        seed=spec.seed,
        scenario=spec.scenario,
        start=spec.start.isoformat(),
        cadence_minutes=config.market.cadence_minutes,
        alvh_version=ALVH_VERSION,
        config_text=config.model_dump_json(indent=2),
    )
    return ledger


def _clock_for(start: date) -> SimulatedClock:
    cal = trading_calendar()
    open_ts, _ = cal.session_hours(cal.session_on_or_after(start))
    return SimulatedClock(open_ts)


# -- simulate ----------------------------------------------------------------------------------


def simulate(config: AppConfig, spec: RunSpec, days: int, state: StateDir) -> dict[str, Any]:
    """Run ``days`` sessions of the simulated market through the pipeline; return the summary."""
    ledger = _open_ledger(config, state, spec)
    try:
        bus = make_bus(config)
        engine = Engine(config, ledger, bus, _clock_for(spec.start))
        sim = Simulator(config.market, seed=spec.seed, start=spec.start, scenario=spec.scenario)
        dispatch = bus.dispatch
        for snap in sim.snapshots(days):
            dispatch(snap)
        engine.finish()
        return engine.summary()
    finally:
        ledger.close()


# -- run ---------------------------------------------------------------------------------------


async def _feed(
    sim: Simulator, bus: EventBus, time_scale: float, cadence_s: float, clock: LiveClock
) -> None:
    """Put snapshots on the bus, market time advancing ``time_scale`` x wall time.

    Nights, weekends and holidays are skipped: the wait before a snapshot is the in-session
    gap from the previous one, never more than one cadence step.
    """
    prev: datetime | None = None
    next_wall = clock.monotonic()
    for snap in sim.snapshots(None):
        if prev is not None:
            gap = min((snap.ts - prev).total_seconds(), cadence_s)
            next_wall += gap / time_scale
            delay = next_wall - clock.monotonic()
            if delay > 0:
                await clock.sleep(delay)
        await bus.put(snap)
        prev = snap.ts


async def run_daemon(config: AppConfig, spec: RunSpec, state: StateDir) -> int:
    """The daemon: feed, bus dispatcher and API until SIGTERM/SIGINT; returns the exit code."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    archived = state.archive_ledger()
    if archived is not None:
        log.warning(
            "ledger_archived",
            state_dir=str(state.path),
            archive=str(archived),
            reason="recovery is not implemented yet; starting a fresh ledger",
        )
    ledger = _open_ledger(config, state, spec)
    bus = make_bus(config)
    engine = Engine(config, ledger, bus, _clock_for(spec.start))
    sim = Simulator(config.market, seed=spec.seed, start=spec.start, scenario=spec.scenario)

    runner = web.AppRunner(build_app(engine), shutdown_timeout=5.0, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.api.host, config.api.port)
    try:
        await site.start()
    except OSError as exc:
        log.error("api_bind_failed", host=config.api.host, port=config.api.port, error=str(exc))
        await runner.cleanup()
        ledger.close()
        return EX_OSERR
    log.info(
        "daemon_started",
        state_dir=str(state.path),
        api=f"http://{config.api.host}:{config.api.port}",
        scenario=spec.scenario,
        seed=spec.seed,
        start=spec.start.isoformat(),
        time_scale=config.runtime.time_scale,
    )

    dispatcher = asyncio.create_task(bus.run(), name="bus-dispatcher")
    feed = asyncio.create_task(
        _feed(
            sim, bus, config.runtime.time_scale, config.market.cadence_minutes * 60.0, LiveClock()
        ),
        name="feed",
    )
    stopper = asyncio.create_task(stop.wait(), name="stop-signal")
    done, _ = await asyncio.wait({stopper, feed, dispatcher}, return_when=asyncio.FIRST_COMPLETED)
    exit_code = 0
    for task in done - {stopper}:
        failure = task.exception()
        if failure is not None:
            log.error("task_failed", task=task.get_name(), exc_info=failure)
            exit_code = EX_SOFTWARE
    log.info("daemon_stopping", snapshots=engine.ticks)
    feed.cancel()
    stopper.cancel()
    if not dispatcher.done():
        await bus.stop()
        try:
            await asyncio.wait_for(dispatcher, timeout=10.0)
        except Exception as exc:  # the drain itself failed: report, still shut down in order
            log.error("task_failed", task=dispatcher.get_name(), exc_info=exc)
            exit_code = EX_SOFTWARE
    await asyncio.gather(feed, stopper, return_exceptions=True)
    await runner.cleanup()
    engine.finish()
    ledger.close()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)
    log.info("daemon_stopped", snapshots=engine.ticks, equity=round(engine.broker.equity(), 2))
    return exit_code

"""The two drivers of the pipeline: `simulate` (batch, as fast as it can) and `run` (daemon).

Both build the same :class:`Engine` over a ledger in a state directory; only the feed's pacing
and the lifecycle differ.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from brokers.ledger import Ledger
from daemon.api import build_app
from daemon.bus import EventBus
from daemon.clock import LiveClock
from daemon.config import AppConfig
from daemon.engine import Engine
from market.calendar import trading_calendar
from market.clock import SimulatedClock
from market.simulator import Simulator

log = structlog.get_logger("alvh.daemon")

LEDGER_NAME = "ledger.sqlite"
ALVH_VERSION = "0.1.0"


class StateDirError(Exception):
    """The state directory cannot be used as asked (exit 73, EX_CANTCREAT)."""


@dataclass(frozen=True, slots=True)
class RunSpec:
    scenario: str | None
    seed: int
    start: date


def ledger_path(state_dir: Path) -> Path:
    return state_dir / LEDGER_NAME


def _open_ledger(config: AppConfig, config_text: str, state_dir: Path, spec: RunSpec) -> Ledger:
    state_dir.mkdir(parents=True, exist_ok=True)
    ledger = Ledger.open(ledger_path(state_dir))
    ledger.record_run(
        seed=spec.seed,
        scenario=spec.scenario,
        start=spec.start.isoformat(),
        cadence_minutes=config.market.cadence_minutes,
        alvh_version=ALVH_VERSION,
        config_text=config_text,
    )
    return ledger


def _first_session(start: date) -> date:
    return trading_calendar().session_on_or_after(start)


def _clock_for(start: date) -> SimulatedClock:
    open_ts, _ = trading_calendar().session_hours(_first_session(start))
    return SimulatedClock(open_ts)


# -- simulate ----------------------------------------------------------------------------------


def prepare_batch_state_dir(state_dir: Path | None) -> tuple[Path, bool]:
    """Return the state dir to use and whether it is a new temporary one.

    A state dir that already holds a ledger is refused: resuming comes with recovery.
    """
    if state_dir is None:
        return Path(tempfile.mkdtemp(prefix="alvh-simulate-")), True
    if ledger_path(state_dir).exists():
        raise StateDirError(
            f"--state-dir {state_dir} already holds a ledger ({LEDGER_NAME}); resuming a run is "
            "not supported yet: pass an empty or new directory"
        )
    return state_dir, False


def simulate(
    config: AppConfig, config_text: str, spec: RunSpec, days: int, state_dir: Path
) -> dict[str, Any]:
    """Run ``days`` sessions of the simulated market through the pipeline; return the summary."""
    ledger = _open_ledger(config, config_text, state_dir, spec)
    try:
        bus = EventBus(config.runtime.bus_queue_size)
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


def archive_existing_ledger(state_dir: Path) -> Path | None:
    """Move an existing ledger (and its WAL files) to ``archive/<UTC stamp>/``; return where."""
    path = ledger_path(state_dir)
    if not path.exists():
        return None
    stamp = datetime.now().astimezone().strftime("%Y%m%dT%H%M%S%z")
    target = state_dir / "archive" / stamp
    target.mkdir(parents=True, exist_ok=False)
    for suffix in ("", "-wal", "-shm"):
        p = Path(str(path) + suffix)
        if p.exists():
            shutil.move(str(p), target / p.name)
    return target


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


async def run_daemon(config: AppConfig, config_text: str, spec: RunSpec, state_dir: Path) -> int:
    """The daemon: feed, bus dispatcher and API until SIGTERM/SIGINT; returns the exit code."""
    archived = archive_existing_ledger(state_dir)
    if archived is not None:
        log.warning(
            "ledger_archived",
            state_dir=str(state_dir),
            archive=str(archived),
            reason="recovery is not implemented yet; starting a fresh ledger",
        )
    ledger = _open_ledger(config, config_text, state_dir, spec)
    bus = EventBus(config.runtime.bus_queue_size)
    engine = Engine(config, ledger, bus, _clock_for(spec.start))
    sim = Simulator(config.market, seed=spec.seed, start=spec.start, scenario=spec.scenario)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    runner = web.AppRunner(build_app(engine), shutdown_timeout=5.0, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.api.host, config.api.port)
    try:
        await site.start()
    except OSError as exc:
        log.error("api_bind_failed", host=config.api.host, port=config.api.port, error=str(exc))
        await runner.cleanup()
        ledger.close()
        return 71
    log.info(
        "daemon_started",
        state_dir=str(state_dir),
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
        if task.exception() is not None:
            log.error("task_failed", task=task.get_name(), exc_info=task.exception())
            exit_code = 70
    log.info("daemon_stopping", snapshots=engine.ticks)
    feed.cancel()
    stopper.cancel()
    if not dispatcher.done():
        await bus.stop()
        await asyncio.wait_for(dispatcher, timeout=10.0)
    await asyncio.gather(feed, stopper, return_exceptions=True)
    await runner.cleanup()
    engine.finish()
    ledger.close()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)
    log.info("daemon_stopped", snapshots=engine.ticks, equity=round(engine.broker.equity(), 2))
    return exit_code

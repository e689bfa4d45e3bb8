"""The daemon: `alvh run` over a state directory, paced against the wall, until a signal.

It prepares the same pipeline as `simulate` (fresh, resumed or adopted, see
:mod:`daemon.runner`), serves the API, and tells systemd the truth: READY=1 only when serving
and caught up, WATCHDOG=1 from the event loop, RELOADING=1 / READY=1 around SIGHUP, STOPPING=1.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from brokers.ledger import LedgerError
from brokers.recovery import Divergence
from daemon.api import build_app
from daemon.backup import backup_ledger
from daemon.clock import LiveClock
from daemon.config import AppConfig, ConfigError
from daemon.engine import Control, Engine
from daemon.metrics import Metrics
from daemon.pipeline import Pipeline
from daemon.recording import FLUSH_INTERVAL_S, Recorder
from daemon.runner import (
    EX_DIVERGED,
    EX_IOERR,
    EX_OSERR,
    EX_SOFTWARE,
    RunSpec,
    prepare,
    simulated_market,
    start_recording,
)
from daemon.scheduler import OpsScheduler
from daemon.sdnotify import Notifier, watchdog_interval, watchdog_task
from daemon.statedir import StateDir
from market.simulator import Simulator

log = structlog.get_logger("alvh.daemon")


EXTEND_TIMEOUT_USEC = 30_000_000
"""While recovering, each chunk asks systemd for 30 s more before READY=1."""
FAST_FORWARD_CHUNK = 500
"""Snapshots re-derived between two yields to the event loop while recovering, and the most the
feed processes behind schedule without one."""
BEHIND_SLICE_S = 0.005
"""Wall seconds the feed runs behind schedule before it yields to the event loop (signals, API,
the recorder's flush): one yield costs ~3 us, a snapshot through the pipeline ~70 us."""


async def _feed(
    sim: Simulator,
    pipeline: Pipeline,
    time_scale: float,
    cadence_s: float,
    clock: LiveClock,
    notify: Notifier | None = None,
    stopping: asyncio.Event | None = None,
) -> None:
    """Feed snapshots through the pipeline, market time advancing ``time_scale`` x wall time.

    While recovering, snapshots go through as fast as they can, yielding to the event loop every
    ``FAST_FORWARD_CHUNK`` (the API and signals stay live). Then nights, weekends and holidays
    are skipped: the wait before a snapshot is the in-session gap from the previous one, never
    more than one cadence step. Behind schedule (a high ``time_scale``) the feed catches up
    without waiting, but yields every ``BEHIND_SLICE_S`` of wall time or ``FAST_FORWARD_CHUNK``
    snapshots, whichever comes first. Snapshots are processed on the loop between awaits, so an
    API command never waits behind a backlog of snapshots; a yield changes which snapshot a
    command lands on, never which snapshots are processed or their order.

    ``stopping`` is the intake gate: once it is set the feed returns before the next snapshot.
    A snapshot goes through the pipeline without an await, so the feed stops between two
    snapshots, never inside one, and none is processed after the stop signal was handled.
    """
    prev: datetime | None = None
    next_wall = clock.monotonic()
    yielded_at = next_wall
    since_yield = 0
    for snap in sim.snapshots(None):
        if stopping is not None and stopping.is_set():
            return
        if pipeline.recovering:
            pipeline.process(snap)
            since_yield += 1
            if since_yield >= FAST_FORWARD_CHUNK:
                since_yield = 0
                if notify is not None:
                    notify.extend_timeout(EXTEND_TIMEOUT_USEC)
                await asyncio.sleep(0)
            next_wall = clock.monotonic()
            prev = snap.ts
            continue
        if prev is not None:
            gap = min((snap.ts - prev).total_seconds(), cadence_s)
            next_wall += gap / time_scale
            now = clock.monotonic()
            delay = next_wall - now
            if delay > 0:
                await clock.sleep(delay)
                yielded_at, since_yield = next_wall, 0
            elif since_yield >= FAST_FORWARD_CHUNK or now - yielded_at >= BEHIND_SLICE_S:
                await asyncio.sleep(0)
                yielded_at, since_yield = clock.monotonic(), 0
            if stopping is not None and stopping.is_set():
                return
        pipeline.process(snap)
        since_yield += 1
        prev = snap.ts


API_SHUTDOWN_TIMEOUT_S = 5.0
"""Seconds aiohttp waits for in-flight API requests on shutdown before it cancels them."""
API_STOP_TIMEOUT_S = API_SHUTDOWN_TIMEOUT_S + 2.0
"""Seconds the API's whole shutdown may take (in-flight requests, then its cleanup)."""
SCHEDULER_STOP_TIMEOUT_S = 2.0
"""Seconds the wall-clock jobs' shutdown may take (it does not wait for a running job)."""


async def _within(step: str, stopping: Awaitable[None], timeout_s: float) -> None:
    """Await one shutdown step for at most ``timeout_s``; past it, log and go on stopping."""
    try:
        async with asyncio.timeout(timeout_s):
            await stopping
    except TimeoutError:
        log.warning("shutdown_step_timed_out", step=step, timeout_s=timeout_s)


async def _flush_recording(recorder: Recorder, clock: LiveClock) -> None:
    """Hand the recorder's buffered lines to the OS every second, even when the feed is slow."""
    while True:
        await clock.sleep(FLUSH_INTERVAL_S)
        recorder.flush()


BACKUPS_KEPT = 14
"""Daily ledger backups kept in ``<state dir>/backups``."""
API_TOKEN_ENV = "ALVH_API_TOKEN"
API_TOKEN_CREDENTIAL = "alvh-api-token"
"""systemd credential name (``LoadCredential=alvh-api-token:/etc/alvh/api-token``)."""


def api_token(env: Mapping[str, str] | None = None) -> str | None:
    """The bearer token for POST requests: ``ALVH_API_TOKEN``, else the systemd credential
    ``alvh-api-token`` in ``$CREDENTIALS_DIRECTORY``; None leaves every POST refused (401)."""
    env = os.environ if env is None else env
    token = env.get(API_TOKEN_ENV, "").strip()
    if token:
        return token
    directory = env.get("CREDENTIALS_DIRECTORY")
    if directory:
        path = Path(directory) / API_TOKEN_CREDENTIAL
        if path.is_file():
            return path.read_text(encoding="utf-8").strip() or None
    return None


class DailyReport:
    """The operator's end-of-day line: the account, per-layer P&L, and what changed since the
    previous report (fills, equity)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._fills = engine.broker.stats.fills
        self._equity = engine.broker.equity()

    async def report(self) -> None:
        engine = self._engine
        portfolio = engine.broker.portfolio
        equity = engine.broker.equity()
        fills = engine.broker.stats.fills
        snap = engine.last_snapshot
        log.info(
            "daily_report",
            market_ts=snap.ts.isoformat() if snap is not None else None,
            regime=engine.state.regime.value,
            equity=round(equity, 2),
            equity_change=round(equity - self._equity, 2),
            cash=round(portfolio.cash, 2),
            realized_by_layer={k: round(portfolio.realized_pnl(k), 2) for k in portfolio.layers()},
            fees=round(portfolio.fees_paid, 2),
            fills_since_last_report=fills - self._fills,
            open_positions=len(portfolio.open_positions()),
            margin_requirement=round(portfolio.requirement(), 2),
            halted_layers=dict(engine.halted),
        )
        self._fills, self._equity = fills, equity


def _status_line(engine: Engine) -> str:
    snap = engine.last_snapshot
    market = (
        f"{snap.ts:%Y-%m-%d %H:%M}Z VIX {snap.vix:.2f}" if snap is not None else "no market yet"
    )
    return (
        f"{market} {engine.state.regime.value} equity {engine.broker.equity():,.0f}"
        f" positions {len(engine.broker.portfolio.open_positions())}"
    )


async def run_daemon(
    config: AppConfig,
    spec: RunSpec,
    state: StateDir,
    *,
    new: bool,
    adopt: bool = False,
    expect: Mapping[str, object] | None = None,
    reload_config: Callable[[], AppConfig] | None = None,
    notifier: Notifier | None = None,
    record: Path | None = None,
) -> int:
    """The daemon: feed and API until SIGTERM/SIGINT; returns the exit code.

    A state dir holding a ledger is resumed (recovery by fast-forward) unless ``new``, which
    archives it and starts fresh. systemd hears READY=1 once the API listens and any recovery
    has caught up (EXTEND_TIMEOUT_USEC while it fast-forwards), WATCHDOG=1 from the event loop,
    RELOADING=1 / READY=1 around a SIGHUP reload (``reload_config`` re-reads the config source;
    its hot-reloadable part applies between two snapshots), and STOPPING=1 on shutdown.
    ``record``: write the run (from its start, recovery included) to that session file.
    """
    notify = notifier if notifier is not None else Notifier.from_environment()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    resume = state.has_ledger() and not new
    if new:
        archived = state.archive_ledger()
        if archived is not None:
            log.warning(
                "ledger_archived", state_dir=str(state.path), archive=str(archived), reason="--new"
            )
    prepared = prepare(config, spec, state, resume=resume, adopt=adopt and resume, expect=expect)
    engine, ledger, pipeline = prepared.engine, prepared.ledger, prepared.pipeline
    recorder: Recorder | None = None
    if record is not None:
        try:
            recorder = start_recording(prepared, record, "run")
        except BaseException:
            ledger.close()
            raise
    # The live daemon waits for an operator's resume after a risk halt (SPEC section 9): `alvh run`
    # sets strategy.risk.auto_resume false in its config (daemon/cli_commands.py), stored with the ledger.
    # Every log line of this process carries the run it belongs to (stable across restarts).
    structlog.contextvars.bind_contextvars(run_id=ledger.runs()[0]["run_id"], pid=os.getpid())
    market = simulated_market(prepared)

    def ready() -> None:
        notify.ready(_status_line(engine))
        log.info("daemon_ready", snapshots=engine.ticks)

    pipeline.on_caught_up = ready

    def reload() -> dict[str, Any]:
        if stop.is_set():  # READY=1 after STOPPING=1 would tell systemd a lie
            return {"error": "the daemon is stopping"}
        if reload_config is None:
            return {"error": "no config source to reload from"}
        notify.reloading()
        try:
            new_config = reload_config()
        except ConfigError as exc:
            log.error("config_reload_failed", errors=exc.errors)
            notify.ready(_status_line(engine))
            return {"error": "invalid config", "errors": exc.errors}
        changed = engine.control(Control("reload", {"config": new_config.model_dump_json()}))
        notify.ready(_status_line(engine))
        return changed

    loop.add_signal_handler(signal.SIGHUP, reload)

    metrics = Metrics(engine)
    engine.order_latency = metrics.observe_snapshot_to_order
    app = build_app(
        engine,
        metrics=metrics,
        token=api_token(),
        ready=lambda: engine.ticks > 0 and not pipeline.recovering and not engine.feed_stale(),
        reload=reload,
        stopping=stop.is_set,  # from the stop signal on, no control lands after the stop marker
    )
    runner = web.AppRunner(app, shutdown_timeout=API_SHUTDOWN_TIMEOUT_S, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.api.host, config.api.port)
    try:
        await site.start()
    except OSError as exc:
        log.error("api_bind_failed", host=config.api.host, port=config.api.port, error=str(exc))
        await runner.cleanup()
        if recorder is not None:
            recorder.close()
        ledger.close()
        return EX_OSERR
    log.info(
        "daemon_started",
        state_dir=str(state.path),
        api=f"http://{config.api.host}:{config.api.port}",
        mode="resume" if resume else "new",
        scenario=prepared.spec.scenario,
        seed=prepared.spec.seed,
        start=prepared.spec.start.isoformat(),
        time_scale=config.runtime.time_scale,
    )
    if not pipeline.recovering:
        ready()

    ops = OpsScheduler()
    ops.add_backup(
        lambda: backup_ledger(
            ledger.path, state.path / "backups", keep=BACKUPS_KEPT, now=datetime.now(UTC)
        )
    )

    async def heartbeat() -> None:
        notify.status(_status_line(engine))  # `systemctl status alvh` shows it
        log.info(
            "heartbeat",
            status=_status_line(engine),
            snapshots=engine.ticks,
            halted_layers=dict(engine.halted),
        )

    ops.add_heartbeat(heartbeat)
    ops.add_daily_report(DailyReport(engine).report)
    ops.start()

    background: set[asyncio.Task[None]] = set()
    interval = watchdog_interval()
    if interval is not None:
        background.add(asyncio.create_task(watchdog_task(notify, interval), name="watchdog"))
    live = LiveClock()
    if recorder is not None:
        background.add(asyncio.create_task(_flush_recording(recorder, live), name="recorder"))
    feed = asyncio.create_task(
        _feed(
            market,
            pipeline,
            config.runtime.time_scale,
            prepared.config.market.cadence_minutes * 60.0,
            live,
            notify,
            stop,
        ),
        name="feed",
    )
    stopper = asyncio.create_task(stop.wait(), name="stop-signal")
    done, _ = await asyncio.wait({stopper, feed}, return_when=asyncio.FIRST_COMPLETED)
    exit_code = 0
    failure = feed.exception() if feed in done else None
    if isinstance(failure, LedgerError | sqlite3.Error):
        # Trading stops (the feed is gone) but the API stays up to say so, until the operator
        # stops the daemon: nothing that is not in the ledger may happen.
        engine.fatal = f"ledger write failed: {failure}"
        log.error("ledger_write_failed", error=str(failure), exc_info=failure)
        notify.status(f"UNHEALTHY: {engine.fatal}")
        await stopper
        exit_code = EX_IOERR
        failure = None
    # 1. Stop intake. The signal handler closed the feed's gate (`stop`) before anything else
    # ran, so the feed has processed no snapshot since; cancelling it only ends its wait for
    # the next one (a snapshot is processed without an await: never cut in two).
    stop.set()  # also when the feed ended by itself: the gate stays closed
    notify.stopping()
    feed.cancel()
    stopper.cancel()
    await asyncio.gather(feed, stopper, return_exceptions=True)
    try:
        if failure is not None:
            if isinstance(failure, Divergence):
                log.error("recovery_diverged", mismatch=str(failure))
                exit_code = EX_DIVERGED
            else:
                log.error("task_failed", task=feed.get_name(), exc_info=failure)
                exit_code = EX_SOFTWARE
        recovering = pipeline.recovering
        pipeline.close()
        log.info("daemon_stopping", snapshots=engine.ticks)
        # 2. Drain: commit where market time stopped (a restart resumes from here, not from
        # the last fill) and hand the session file's buffered lines to the OS.
        if exit_code == 0 and not recovering and engine.last_snapshot is not None:
            engine.control(Control("stop", {"reason": "signal"}))
        if recorder is not None:
            recorder.flush()
    finally:
        # 3. Stop the wall-clock jobs and the API, each within its time limit.
        await _within("scheduler", ops.shutdown(), SCHEDULER_STOP_TIMEOUT_S)
        await _within("api", runner.cleanup(), API_STOP_TIMEOUT_S)
        # 4. Cancel what is left, then close the resources in reverse order of opening.
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if recorder is not None:
            recorder.close()
        ledger.close()
        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("daemon_stopped", snapshots=engine.ticks, equity=round(engine.broker.equity(), 2))
    return exit_code

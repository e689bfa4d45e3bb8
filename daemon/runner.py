"""Preparing the pipeline over a state directory (fresh, resumed or adopted) and the batch
driver `simulate`, which runs it as fast as it can. The daemon (`run`) is :mod:`daemon.service`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import structlog

from brokers.adopt import AdoptedBooks, rebuild_books
from brokers.ledger import Ledger, LedgerError, OrderStatus
from brokers.orders import PauseTrading
from brokers.recovery import Divergence, LedgerReplay
from daemon.bus import EventBus
from daemon.config import AppConfig, stored_config
from daemon.engine import Control, Engine, config_hash
from daemon.pipeline import Pipeline, recorded_controls
from daemon.progress import ProgressBar
from daemon.recording import Recorder, RecordingError, SessionHeader
from daemon.statedir import StateDir
from market.calendar import trading_calendar
from market.clock import SimulatedClock
from market.simulator import Simulator

log = structlog.get_logger("alvh.daemon")

ALVH_VERSION = "0.1.0"
EX_SOFTWARE = 70
EX_OSERR = 71
EX_IOERR = 74
EX_DIVERGED = 76
"""Recovery re-derived something other than the ledger holds (RestartPreventExitStatus)."""


@dataclass(frozen=True, slots=True)
class RunSpec:
    scenario: str | None
    seed: int
    start: date


def make_bus(config: AppConfig) -> EventBus:
    """The pipeline's bus: a failed ledger write stops the run instead of being contained."""
    return EventBus(config.runtime.bus_queue_size, fatal=(LedgerError, sqlite3.Error, Divergence))


HISTORY_SCENARIO = "history"
"""The scenario a history run records in its ledger (its feed is the user's files)."""


def simulated_market(prepared: Prepared) -> Simulator:
    """The simulator that re-derives and continues ``prepared``'s run; a history run's ledger
    cannot be continued from the simulator (:class:`ResumeError`, exit 64)."""
    if prepared.spec.scenario == HISTORY_SCENARIO:
        raise ResumeError(
            "this state directory holds a history run (real data, not the simulator):"
            " resume it with `alvh history --resume` and the same input files"
        )
    return Simulator(
        prepared.config.market,
        seed=prepared.spec.seed,
        start=prepared.spec.start,
        scenario=prepared.spec.scenario,
    )


class ResumeError(Exception):
    """A resume asked for something the ledger's run record contradicts (exit 64)."""


@dataclass(slots=True)
class Prepared:
    """An engine over a state directory, fresh or recovering, and the pipeline that feeds it."""

    config: AppConfig
    spec: RunSpec
    ledger: Ledger
    engine: Engine
    pipeline: Pipeline


def _start_engine(config: AppConfig, spec: RunSpec, writer: Ledger | LedgerReplay) -> Engine:
    engine = Engine(config, writer, make_bus(config), _clock_for(spec.start))
    equity = config.account.starting_equity
    writer.record_cash_movement(engine.clock.now(), "deposit", equity, equity)
    return engine


def _config_at(ledger: Ledger, position: int) -> AppConfig:
    """The config in force after feed position ``position``: its latest version up to there."""
    rows = [v for v in ledger.config_versions() if v["position"] <= position]
    return stored_config(rows[-1]["config_text"])


def _adopted_engine(
    config: AppConfig, spec: RunSpec, ledger: Ledger, writer: Ledger | LedgerReplay, upto: int
) -> tuple[Engine, AdoptedBooks, list[str]]:
    """An engine whose broker holds the ledger's books as of feed position ``upto``."""
    engine = Engine(config, writer, make_bus(config), _clock_for(spec.start))
    books = rebuild_books(ledger, engine.broker.portfolio, upto)
    engine.broker.take_over(books)
    if _paused_at(ledger, upto):
        engine.broker.on_pause_trading(PauseTrading("in force when the ledger was adopted"))
    positions = engine.broker.portfolio.open_positions()
    unmapped = [
        symbol
        for actor in (engine.condor, engine.hedge, engine.press)
        for symbol in actor.adopt(positions, books.orders)
    ]
    return engine, books, unmapped


def prepare(
    config: AppConfig,
    spec: RunSpec,
    state: StateDir,
    *,
    resume: bool,
    adopt: bool = False,
    expect: Mapping[str, object] | None = None,
    planned: Mapping[int, Iterable[Control]] | None = None,
    follow_config: bool = True,
) -> Prepared:
    """Open the state dir's ledger and build the pipeline.

    Fresh: record the run (seed, scenario, start, cadence, version) and the config at feed
    position -1. Resume: take seed, scenario, start and the initial config from the ledger
    (``expect`` holds the run-defining arguments the user gave, which must agree), replay its
    control events in place, and verify the re-derived run against it (:class:`LedgerReplay`);
    a command-line config that differs from the ledger's latest takes effect where recovery
    completes (``config_changed``). Adopt: take the ledger's books as they are and go on from
    its last feed position without re-deriving anything; a later resume re-derives only what
    came after the adopt. ``follow_config=False`` (a replay) leaves the configs to the ledger
    and the planned reloads: ``config`` is then only the fresh run's initial one.
    """
    if resume and not state.has_ledger():
        log.warning("ledger_empty_starting_fresh", ledger=str(state.ledger_path))
        resume = adopt = False
    ledger = Ledger.open(state.ledger_path)
    try:
        runs = ledger.runs()
        if resume and not runs:
            # Killed before its run record committed: nothing happened yet, start it afresh.
            log.warning("ledger_empty_starting_fresh", ledger=str(state.ledger_path))
            resume = adopt = False
        if not resume:
            ledger.record_run(
                seed=spec.seed,
                scenario=spec.scenario,
                start=spec.start.isoformat(),
                cadence_minutes=config.market.cadence_minutes,
                alvh_version=ALVH_VERSION,
                config_text=config.model_dump_json(indent=2),
                config_hash=config_hash(config),
                wall_ts=datetime.now(UTC),
            )
            engine = _start_engine(config, spec, ledger)
            return Prepared(config, spec, ledger, engine, Pipeline(engine, planned=planned))
        run = runs[0]
        recorded_spec = RunSpec(run["scenario"], int(run["seed"]), date.fromisoformat(run["start"]))
        wrong = {k: v for k, v in (expect or {}).items() if getattr(recorded_spec, k) != v}
        if wrong:
            raise ResumeError(
                f"the ledger's run is scenario={recorded_spec.scenario} seed={recorded_spec.seed}"
                f" start={recorded_spec.start}; resume it without other --scenario/--seed/--start"
            )
        if adopt:
            return _adopt(config, recorded_spec, ledger, planned)
        adopted_at = max(
            (c["position"] for c in ledger.control_events() if c["kind"] == "adopt"), default=None
        )
        controls = recorded_controls(ledger)
        if adopted_at is None:
            initial = _config_at(ledger, -1)
            replay = LedgerReplay(ledger)
            engine = _start_engine(initial, recorded_spec, replay)
            wanted = config if follow_config else None
            pipeline = Pipeline(engine, replay, controls, planned, wanted)
        else:
            initial = _config_at(ledger, adopted_at)
            replay = LedgerReplay(ledger, after=adopted_at)
            engine, _, _ = _adopted_engine(initial, recorded_spec, ledger, replay, adopted_at)
            later = {pos: c for pos, c in controls.items() if pos > adopted_at}
            wanted = config if follow_config else None
            pipeline = Pipeline(engine, replay, later, planned, wanted, skip_through=adopted_at)
        return Prepared(initial, recorded_spec, ledger, engine, pipeline)
    except BaseException:
        ledger.close()
        raise


def _paused_at(ledger: Ledger, position: int) -> bool:
    """Whether the recorded pause and resume events leave trading paused at ``position``."""
    paused = False
    for event in ledger.control_events():
        if event["position"] <= position and event["kind"] in ("pause", "resume"):
            paused = event["kind"] == "pause"
    return paused


def _adopt(
    config: AppConfig,
    spec: RunSpec,
    ledger: Ledger,
    planned: Mapping[int, Iterable[Control]] | None,
) -> Prepared:
    """`--adopt`: the ledger's positions and cash are the truth; go on from its last position."""
    position = ledger.last_position()
    engine, books, unmapped = _adopted_engine(config, spec, ledger, ledger, position)
    ledger.position = position
    ts = engine.clock.now()
    for cid in books.open_orders:
        ledger.record_order_status(cid, OrderStatus.CANCELLED, ts, "adopt")
    reset = {
        "trading_paused": engine.broker.trading_paused,
        "flatten_in_progress": "not resumed: send flatten again if it is still wanted",
        "strategy_state": "regime, cooldowns and exit bookkeeping start over from the next"
        " snapshot; an adopted hedge opens the hedge floor's window",
        "condors_taken_over": engine.condor.open_count(),
        "hedges_taken_over": engine.hedge.open_count(),
        "press_spreads_taken_over": engine.press.open_count(),
        "positions_not_managed_by_a_layer": unmapped,
        "open_orders_cancelled": books.open_orders,
    }
    engine.control(Control("adopt", {"reason": "operator"}))
    engine.ledger_writer().record_config_version(
        datetime.now(UTC), config_hash(config), config.model_dump_json(indent=2)
    )
    ledger.record_recovery(datetime.now(UTC), "adopt", 0, 0, json.dumps(reset, sort_keys=True))
    log.warning(
        "ledger_adopted",
        position=position,
        cash=round(engine.broker.portfolio.cash, 2),
        open_positions=len(engine.broker.portfolio.open_positions()),
        **reset,
    )
    return Prepared(
        config, spec, ledger, engine, Pipeline(engine, planned=planned, skip_through=position)
    )


def _clock_for(start: date) -> SimulatedClock:
    cal = trading_calendar()
    open_ts, _ = cal.session_hours(cal.session_on_or_after(start))
    return SimulatedClock(open_ts)


# -- recording ---------------------------------------------------------------------------------


def start_recording(prepared: Prepared, path: Path, source: str) -> Recorder:
    """Record the prepared run to the session file ``path`` (replaced if it exists).

    The header holds the run's seed, scenario, start and initial config (the ledger's, on a
    resume); a resume re-derives the run from its start, so the file again holds all of it.
    A run whose books were adopted cannot be replayed from snapshots: refused (exit 64).
    """
    if prepared.pipeline.adopted_through >= 0:
        raise ResumeError(
            f"--record: this run adopted its ledger's books at feed position"
            f" {prepared.pipeline.adopted_through}, so a recording of it could not be replayed;"
            " start a new run (--new) to record one"
        )
    header = SessionHeader(
        prepared.config,
        prepared.spec.seed,
        prepared.spec.scenario,
        prepared.spec.start,
        ALVH_VERSION,
        source,
        datetime.now(UTC).isoformat(),
    )
    recorder = Recorder(path, header)
    prepared.pipeline.record_to(recorder)
    return recorder


# -- simulate ----------------------------------------------------------------------------------


def simulate(
    config: AppConfig,
    spec: RunSpec,
    days: int,
    state: StateDir,
    *,
    resume: bool = False,
    adopt: bool = False,
    expect: Mapping[str, object] | None = None,
    planned: Mapping[int, Iterable[Control]] | None = None,
    record: Path | None = None,
    progress: ProgressBar | None = None,
) -> dict[str, Any]:
    """Run the simulated market through the pipeline for ``days`` sessions in all (a resume
    re-derives the sessions already run, then goes on); return the whole run's summary.

    ``record``: write the run (from its start) to that session file; a write that fails ends
    the recording, and the run, once finished, raises :class:`RecordingError`.
    """
    prepared = prepare(
        config, spec, state, resume=resume or adopt, adopt=adopt, expect=expect, planned=planned
    )
    recorder: Recorder | None = None
    try:
        if record is not None:
            recorder = start_recording(prepared, record, "simulate")
        process = prepared.pipeline.process
        market = simulated_market(prepared)
        if progress is None:
            for snap in market.snapshots(days):
                process(snap)
        else:
            progress.reset(days)
            session = None
            for snap in market.snapshots(days):
                process(snap)
                if snap.session != session:
                    session = snap.session
                    progress.advance()
            progress.close()
        prepared.pipeline.finish()
        summary = prepared.engine.summary()
    finally:
        if recorder is not None:
            recorder.close()
        prepared.pipeline.close()
        prepared.ledger.close()
    if recorder is not None and recorder.error is not None:
        raise RecordingError(f"session file {record}: {recorder.error}")
    return summary

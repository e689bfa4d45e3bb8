"""Whole-method scenario runs for the scenario tests, one per named spec and test module.

A run drives the simulator through the real pipeline (``daemon.runner.prepare``) over a fresh
state directory, captures every structured log line (each bus event becomes one, named as in
``daemon.eventlog.EVENT_NAMES``) and records, beside the log, what the market did: each
session's closing VIX, each snapshot's VIX and listed SPX expiries, keyed by the ``market_ts``
the events carry. Tests recompute the method's decisions from those inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from daemon.config import AppConfig, load_config
from daemon.runner import RunSpec, prepare
from daemon.statedir import StateDir
from market.simulator import Simulator

CADENCE_MINUTES = 15
"""Coarse enough that a 160-session run takes a second or two, fine enough for intraday exits."""
START = date(2025, 1, 2)


@dataclass(frozen=True, slots=True)
class MethodSpec:
    """One scenario run: scenario, seed, sessions and config overrides (nested dicts)."""

    scenario: str
    seed: int
    days: int
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MethodRun:
    spec: MethodSpec
    config: AppConfig
    summary: dict[str, Any]
    logs: list[dict[str, Any]]
    """Every captured log line, in the order it was written."""
    fills: list[dict[str, Any]]
    """The ledger's fill rows (``Ledger.fills``)."""
    sessions: list[date]
    closes: list[float]
    """VIX at the last snapshot of each session (the session close), by session index."""
    first_ts: list[str]
    """``market_ts`` of each session's first snapshot."""
    last_ts: list[str]
    """``market_ts`` of each session's last snapshot."""
    session_of: dict[str, int]
    """Session index of every snapshot's ``market_ts``."""
    vix_at: dict[str, float]
    spx_expiries_at: dict[str, tuple[date, ...]]

    def events(self, name: str, **match: object) -> list[dict[str, Any]]:
        """Log lines called ``name`` whose fields equal ``match``, in log order."""
        return [
            e
            for e in self.logs
            if e["event"] == name and all(e.get(k) == v for k, v in match.items())
        ]

    def position(self, event: dict[str, Any]) -> int:
        """Where ``event`` (one of :attr:`logs`) stands in the log."""
        return next(i for i, e in enumerate(self.logs) if e is event)

    def session(self, event: dict[str, Any]) -> int:
        return self.session_of[event["market_ts"]]

    def regime_before(self, event: dict[str, Any]) -> str:
        """The regime in force when ``event`` was logged (the last change logged before it)."""
        changes = [e for e in self.logs[: self.position(event)] if e["event"] == "regime_changed"]
        return str(changes[-1]["current"]) if changes else "calm"


def ts(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["market_ts"])


def is_monthly_expiry(day: date) -> bool:
    """The third Friday of its month, or the Thursday before it when that Friday is a holiday
    (Good Friday 2025 moved April's SPX monthly to 2025-04-17)."""
    first = day.replace(day=1)
    third_friday = first + timedelta(days=(4 - first.weekday()) % 7 + 14)
    return day in (third_friday, third_friday - timedelta(days=1))


def round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(out.get(key), dict) else value
    return out


def method_config(spec: MethodSpec) -> AppConfig:
    return load_config(
        None, _merge({"market": {"cadence_minutes": CADENCE_MINUTES}}, spec.overrides)
    )


def run_method(spec: MethodSpec, directory: Path) -> MethodRun:
    """Run ``spec`` through the real pipeline in a fresh state dir under ``directory``."""
    config = method_config(spec)
    run_spec = RunSpec(spec.scenario, spec.seed, START)
    sessions: list[date] = []
    closes: list[float] = []
    first_ts: list[str] = []
    last_ts: list[str] = []
    session_of: dict[str, int] = {}
    vix_at: dict[str, float] = {}
    spx_expiries_at: dict[str, tuple[date, ...]] = {}
    with StateDir(directory / "state") as state:
        p = prepare(config, run_spec, state, resume=False)
        try:
            market = Simulator(config.market, seed=spec.seed, start=START, scenario=spec.scenario)
            with capture_logs() as captured:
                for snap in market.snapshots(spec.days):
                    key = snap.ts.isoformat()
                    if not sessions or snap.session != sessions[-1]:
                        sessions.append(snap.session)
                        closes.append(snap.vix)
                        first_ts.append(key)
                        last_ts.append(key)
                    closes[-1] = snap.vix
                    last_ts[-1] = key
                    session_of[key] = len(sessions) - 1
                    vix_at[key] = snap.vix
                    spx_expiries_at[key] = snap.spx_expiries
                    p.pipeline.process(snap)
                p.pipeline.finish()
            logs = [dict(e) for e in captured]
            summary = p.engine.summary()
            fills = p.ledger.fills()
        finally:
            p.pipeline.close()
            p.ledger.close()
    return MethodRun(
        spec,
        config,
        summary,
        logs,
        fills,
        sessions,
        closes,
        first_ts,
        last_ts,
        session_of,
        vix_at,
        spx_expiries_at,
    )


class MethodRuns:
    """Runs each named spec once, on first use, for every test of a module."""

    def __init__(self, specs: dict[str, MethodSpec], directory: Path) -> None:
        self._specs = specs
        self._directory = directory
        self._runs: dict[str, MethodRun] = {}

    def __getitem__(self, name: str) -> MethodRun:
        if name not in self._runs:
            self._runs[name] = run_method(self._specs[name], self._directory / name)
        return self._runs[name]

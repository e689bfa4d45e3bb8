"""Recovery with the whole method on: a run stopped inside a STRESS episode, with the VIX hedge
and the cash press open, resumes to exactly the uninterrupted run (SPEC section 11).

Every run is a coarse (30-minute) simulation through ``daemon.runner.simulate``. The interrupted
run stops either after its first ``k`` sessions (a clean stop at a session close) or at a feed
position inside a session (an abrupt stop: no final commit, as in a crash); the resume re-derives
regimes, the RSI, the hedge beta, the press episode's budget, cooldowns and id counters from the
feed alone, and must then go on to the same fills, leg by leg, and the same summary.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from brokers.ledger import Ledger
from daemon.config import AppConfig, load_config
from daemon.engine import Control, Engine
from daemon.runner import RunSpec, simulate
from daemon.statedir import StateDir

START = date(2025, 1, 2)
SPIKE = RunSpec("spike-and-revert", 1, START)
"""STRESS over sessions 24-37; the hedge is on from session 20, the press sells at 26-28 and
both leave on the RSI at session 43; the hedge is rebuilt later and unwound back in CALM."""
GRIND = RunSpec("grind-up", 1, START)
"""The hedge is on from session 29; STRESS over sessions 71-98, the press sells at 71-73."""
SPIKE_SESSIONS = 80
GRIND_SESSIONS = 110
RELOAD_AT = 410
"""A feed position in session 27 of SPIKE: STRESS, hedge held, press entries under way."""

Planned = Mapping[int, Iterable[Control]]


def method_config(**strategy: Any) -> AppConfig:
    return load_config(None, {"market": {"cadence_minutes": 30}, "strategy": strategy})


def run(
    path: Path,
    spec: RunSpec,
    days: int,
    config: AppConfig,
    *,
    resume: bool = False,
    planned: Planned | None = None,
) -> dict[str, Any]:
    with StateDir(path) as state:
        return simulate(config, spec, days, state, resume=resume, planned=planned)


def _rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path / "ledger.sqlite") as db:
        return db.execute(sql).fetchall()


def fills(path: Path) -> list[tuple[Any, ...]]:
    """Every fill: ids, time, layer, intent, reason, quantity, price, fees, cash, feed position."""
    return _rows(
        path,
        "SELECT fill_id, order_id, client_order_id, ts, layer, intent, reason, quantity,"
        " net_price, fees, cash_after, position FROM fills ORDER BY fill_id",
    )


def fill_legs(path: Path) -> list[tuple[Any, ...]]:
    return _rows(path, "SELECT * FROM fill_legs ORDER BY fill_id, leg_index")


def settlements(path: Path) -> list[tuple[Any, ...]]:
    return _rows(
        path,
        "SELECT ts, layer, symbol, quantity, settlement_price, cash, cash_after, position"
        " FROM settlements ORDER BY settlement_id",
    )


def control_events(path: Path) -> list[tuple[Any, ...]]:
    return _rows(path, "SELECT position, kind, payload FROM control_events ORDER BY event_id")


def config_versions(path: Path) -> list[tuple[Any, ...]]:
    return _rows(path, "SELECT position, config_hash FROM config_versions ORDER BY version_id")


def open_positions(path: Path) -> dict[str, dict[str, int]]:
    """Contracts held per layer at the end of the ledger: fill legs less settlements."""
    held: dict[tuple[str, str], int] = defaultdict(int)
    for layer, symbol, quantity in _rows(
        path,
        "SELECT f.layer, l.symbol, l.quantity FROM fill_legs l JOIN fills f USING (fill_id)",
    ):
        held[layer, symbol] += quantity
    for layer, symbol, quantity in _rows(path, "SELECT layer, symbol, quantity FROM settlements"):
        held[layer, symbol] -= quantity
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for (layer, symbol), quantity in sorted(held.items()):
        if quantity:
            out[layer][symbol] = quantity
    return dict(out)


def last_regime(path: Path) -> str:
    """The regime of the last session the ledger marked."""
    rows = _rows(path, "SELECT regime FROM daily_marks ORDER BY session DESC LIMIT 1")
    return str(rows[0][0])


def assert_same_run(path: Path, whole: Path) -> None:
    assert fills(path) == fills(whole)
    assert fill_legs(path) == fill_legs(whole)
    assert settlements(path) == settlements(whole)


def stop_abruptly(
    monkeypatch: pytest.MonkeyPatch,
    path: Path,
    spec: RunSpec,
    days: int,
    config: AppConfig,
    at: int,
    planned: Planned | None = None,
) -> None:
    """Run until feed position ``at`` and die there: no cleanup, no final commit."""

    class Killed(BaseException):
        pass

    original = Engine._on_market_snapshot

    def dying(self: Engine, snap: Any) -> None:
        if snap.seq == at:
            raise Killed
        original(self, snap)

    with monkeypatch.context() as m:
        m.setattr(Engine, "_on_market_snapshot", dying)
        m.setattr(Ledger, "close", lambda self: self._conn.close())
        with pytest.raises(Killed):
            run(path, spec, days, config, planned=planned)


# -- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "sessions", "stop_after"),
    [(SPIKE, SPIKE_SESSIONS, 30), (GRIND, GRIND_SESSIONS, 78)],
    ids=["spike-and-revert", "grind-up"],
)
def test_a_run_stopped_in_stress_with_hedge_and_press_open_resumes_to_the_same_fills(
    tmp_path: Path, spec: RunSpec, sessions: int, stop_after: int
) -> None:
    config = method_config()
    whole = run(tmp_path / "whole", spec, sessions, config)
    # The run exercises every layer, and the press and the hedge close after the stop.
    assert whole["layers"]["hedge"]["opened"] >= 1 and whole["layers"]["press"]["opened"] == 3
    assert whole["regimes"]["stress_days"] > 0

    part = run(tmp_path / "parts", spec, stop_after, config)
    held = open_positions(tmp_path / "parts")
    assert last_regime(tmp_path / "parts") == "stress"
    assert part["layers"]["hedge"]["open"] == 1 and held.get("hedge")
    assert part["layers"]["press"]["open"] >= 1 and held.get("press")
    assert part["layers"]["press"]["closed"] == 0  # every press exit lies after the stop

    resumed = run(tmp_path / "parts", spec, sessions, config, resume=True)
    assert resumed == whole
    assert_same_run(tmp_path / "parts", tmp_path / "whole")
    assert open_positions(tmp_path / "parts") == open_positions(tmp_path / "whole")
    with Ledger.open(tmp_path / "parts" / "ledger.sqlite") as ledger:
        assert [r["mode"] for r in ledger.recoveries()] == ["resume"]


def test_an_abrupt_stop_between_press_entries_resumes_to_the_same_fills(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed mid-session in STRESS, two snapshots after the second press entry: the hedge's
    intraday re-check clock, the press episode's entry count and the one-entry-a-session rule
    must all come back from the feed."""
    config = method_config()
    whole = run(tmp_path / "whole", SPIKE, SPIKE_SESSIONS, config)
    entries = [
        row[11] for row in fills(tmp_path / "whole") if row[4:7] == ("press", "open", "entry")
    ]
    assert len(entries) == 3
    crash_at = entries[1] + 2
    stop_abruptly(monkeypatch, tmp_path / "crashed", SPIKE, SPIKE_SESSIONS, config, crash_at)
    held = open_positions(tmp_path / "crashed")
    assert last_regime(tmp_path / "crashed") == "stress"
    press = held.get("press", {})
    shorts = sum(-q for q in press.values() if q < 0)
    longs = sum(q for q in press.values() if q > 0)
    assert held.get("hedge") and shorts == longs >= 2  # two spreads (they may share strikes)

    resumed = run(tmp_path / "crashed", SPIKE, SPIKE_SESSIONS, config, resume=True)
    assert resumed == whole
    assert_same_run(tmp_path / "crashed", tmp_path / "whole")


@pytest.mark.parametrize("stop_after", [25, 30], ids=["stop-before-reload", "stop-after-reload"])
def test_a_hedge_ratio_reloaded_mid_run_survives_a_resume_across_it(
    tmp_path: Path, stop_after: int
) -> None:
    """``strategy.hedge.h`` reloaded at a feed position in STRESS (the hedge re-sizes at once).
    Stopped before the reload, the resume applies it as planned; stopped after it, the resume
    re-applies the recorded reload where it happened and, started with the reloaded config
    (the operator's edited file), records no further change."""
    config = method_config()
    reloaded = method_config(hedge={"h": 0.9})
    planned = {RELOAD_AT: [Control("reload", {"config": reloaded.model_dump_json()})]}

    plain = run(tmp_path / "plain", SPIKE, SPIKE_SESSIONS, config)
    whole = run(tmp_path / "whole", SPIKE, SPIKE_SESSIONS, config, planned=planned)
    # The reload changed the hedge from its position on, and nothing before it.
    before = [f for f in fills(tmp_path / "whole") if f[11] <= RELOAD_AT]
    assert before == [f for f in fills(tmp_path / "plain") if f[11] <= RELOAD_AT]
    assert fills(tmp_path / "whole") != fills(tmp_path / "plain")
    assert whole != plain
    assert [row[:2] for row in control_events(tmp_path / "whole")] == [(RELOAD_AT, "reload")]
    assert [row[0] for row in config_versions(tmp_path / "whole")] == [-1, RELOAD_AT]

    run(tmp_path / "parts", SPIKE, stop_after, config, planned=planned)
    stopped_after_reload = bool(control_events(tmp_path / "parts"))
    assert stopped_after_reload == (stop_after == 30)
    assert open_positions(tmp_path / "parts").get("hedge")
    resume_with = reloaded if stopped_after_reload else config
    resumed = run(
        tmp_path / "parts", SPIKE, SPIKE_SESSIONS, resume_with, resume=True, planned=planned
    )
    assert resumed == whole
    assert_same_run(tmp_path / "parts", tmp_path / "whole")
    assert control_events(tmp_path / "parts") == control_events(tmp_path / "whole")
    assert config_versions(tmp_path / "parts") == config_versions(tmp_path / "whole")

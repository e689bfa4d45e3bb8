"""The ledger's daily marks, which reports are drawn from, agree with the run's summary."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from brokers.ledger import Ledger
from daemon.config import load_config
from daemon.runner import RunSpec, simulate
from daemon.statedir import StateDir


def test_each_session_is_marked_in_the_regime_it_closed_in_and_the_hedge_is_sized(
    tmp_path: Path,
) -> None:
    config = load_config(None, {"market": {"cadence_minutes": 60}})
    with StateDir(tmp_path / "s") as state:
        summary = simulate(config, RunSpec("grind-up", 1, date(2025, 1, 2)), 80, state)
        with Ledger.open(state.ledger_path) as ledger:
            marks = ledger.daily_marks()
            interest = [m for m in ledger.cash_movements() if m["kind"] == "interest"]
    assert len(marks) == 80
    counted = Counter(m["regime"] for m in marks)
    assert {f"{r}_days": counted.get(r, 0) for r in ("calm", "elevated", "stress")} == summary[
        "regimes"
    ]
    assert summary["regimes"]["stress_days"] > 0  # the STRESS transition day is in the sample
    assert any(m["hedge_size"] > 0 for m in marks)  # layer 2 shows up in the marks
    layers = json.loads(marks[-1]["layer_pnl"])
    assert layers["condor"] == summary["layers"]["condor"]["realized_pnl"]
    # the layers' P&L at the close plus the interest earned so far is the account's equity
    for mark in marks:
        total = sum(json.loads(mark["layer_equity"]).values())
        earned = sum(m["amount"] for m in interest if m["position"] <= mark["position"])
        assert config.account.starting_equity + total + earned == pytest.approx(
            mark["equity"], abs=0.05
        )


def test_a_v2_ledger_gains_layer_equity_and_reads_its_old_marks(tmp_path: Path) -> None:
    import sqlite3

    from brokers.ledger_schema import _V1, MIGRATIONS

    path = tmp_path / "ledger.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(_V1)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    MIGRATIONS[1](conn)
    conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.execute(
        "INSERT INTO daily_marks (session, position, ts, equity, cash, spx, vix, regime,"
        " layer_pnl) VALUES ('2025-01-02', 5, 't', 1.0, 1.0, 5000, 15, 'calm', '{}')"
    )
    conn.commit()
    conn.close()
    with Ledger.open(path) as ledger:
        (mark,) = ledger.daily_marks()
    assert mark["layer_equity"] == "{}" and mark["equity"] == 1.0

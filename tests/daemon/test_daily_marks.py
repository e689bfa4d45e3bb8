"""The ledger's daily marks, which reports are drawn from, agree with the run's summary."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path

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
    assert len(marks) == 80
    counted = Counter(m["regime"] for m in marks)
    assert {f"{r}_days": counted.get(r, 0) for r in ("calm", "elevated", "stress")} == summary[
        "regimes"
    ]
    assert summary["regimes"]["stress_days"] > 0  # the STRESS transition day is in the sample
    assert any(m["hedge_size"] > 0 for m in marks)  # layer 2 shows up in the marks
    layers = json.loads(marks[-1]["layer_pnl"])
    assert layers["condor"] == summary["layers"]["condor"]["realized_pnl"]

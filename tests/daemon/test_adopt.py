"""`--adopt`: the ledger's books become the truth, and later resumes start from there."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from brokers.adopt import rebuild_books
from brokers.ledger import Ledger
from brokers.portfolio import Portfolio
from daemon.cli import main
from daemon.config import load_config
from daemon.runner import RunSpec, prepare
from daemon.statedir import StateDir
from market.simulator import Simulator

FAST = "[market]\ncadence_minutes = 30\n"


def test_books_rebuilt_from_the_ledger_equal_the_live_brokers_books(tmp_path: Path) -> None:
    config = load_config(None, {"market": {"cadence_minutes": 30}})
    spec = RunSpec("spike-and-revert", 2, date(2025, 1, 2))
    with StateDir(tmp_path / "s") as state:
        p = prepare(config, spec, state, resume=False)
        for snap in Simulator(
            config.market, seed=2, start=spec.start, scenario="spike-and-revert"
        ).snapshots(70):
            p.pipeline.process(snap)
        live = p.engine.broker.portfolio
        rebuilt = rebuild_books(p.ledger, Portfolio(config.account.starting_equity)).portfolio
        assert rebuilt.cash == pytest.approx(live.cash, abs=1e-6)
        assert dict(rebuilt.positions) == dict(live.positions)
        for layer in live.layers():
            assert rebuilt.realized_pnl(layer) == pytest.approx(live.realized_pnl(layer), abs=1e-6)
        assert rebuilt.fees_paid == pytest.approx(live.fees_paid)
        p.ledger.close()


def _diverged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    cfg = tmp_path / "fast.toml"
    cfg.write_text(FAST)
    state = tmp_path / "s"
    assert (
        main(
            [
                "simulate",
                "--scenario",
                "calm",
                "--seed",
                "1",
                "--days",
                "40",
                "--config",
                str(cfg),
                "--state-dir",
                str(state),
            ]
        )
        == 0
    )
    with sqlite3.connect(state / "ledger.sqlite") as db:  # a decision the code no longer makes
        db.execute(
            "UPDATE fills SET ts = '2025-01-02T14:30:00.000001+00:00' WHERE fill_id = 'F00000001'"
        )
    capsys.readouterr()
    assert (
        main(
            [
                "simulate",
                "--resume",
                "--days",
                "60",
                "--config",
                str(cfg),
                "--state-dir",
                str(state),
            ]
        )
        == 76
    )
    capsys.readouterr()
    return state, cfg


def test_adopt_goes_on_from_the_ledgers_books_and_resumes_from_the_adopt_point(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, cfg = _diverged(tmp_path, capsys)
    with Ledger.open(state / "ledger.sqlite") as ledger:
        cash_before = ledger.cash_movements()[-1]["cash_after"]
        fills_before = ledger.fill_count()
        position = ledger.last_position()
    other = tmp_path / "copy"
    shutil.copytree(state, other)

    # adopt, run to 60 sessions in one go
    assert (
        main(
            [
                "simulate",
                "--adopt",
                "--days",
                "60",
                "--json",
                "--config",
                str(cfg),
                "--state-dir",
                str(state),
            ]
        )
        == 0
    )
    whole = json.loads(capsys.readouterr().out)
    assert whole["fills"] > fills_before  # it traded on after the adopt
    with Ledger.open(state / "ledger.sqlite") as ledger:
        recovery = ledger.recoveries()[-1]
        assert recovery["mode"] == "adopt" and recovery["position"] == position
        reset = json.loads(recovery["note"])
        assert reset["condors_taken_over"] >= 1 and reset["positions_not_managed_by_a_layer"] == []
        adopt_moves = [m for m in ledger.cash_movements() if m["position"] <= position]
        assert adopt_moves[-1]["cash_after"] == cash_before
    assert main(["ledger", "verify", "--state-dir", str(state)]) == 0
    capsys.readouterr()

    # adopt, stop at 50, then a plain resume to 60: it re-derives only what followed the adopt
    assert (
        main(
            ["simulate", "--adopt", "--days", "50", "--config", str(cfg), "--state-dir", str(other)]
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(
            [
                "simulate",
                "--resume",
                "--days",
                "60",
                "--json",
                "--config",
                str(cfg),
                "--state-dir",
                str(other),
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out) == whole
    dumps = []
    for d in (state, other):
        with sqlite3.connect(d / "ledger.sqlite") as db:
            dumps.append(
                db.execute(
                    "SELECT fill_id, ts, net_price, quantity, cash_after, position"
                    " FROM fills ORDER BY fill_id"
                ).fetchall()
            )
    assert dumps[0] == dumps[1]


def test_a_resume_right_after_an_adopt_at_the_end_of_the_feed_completes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, cfg = _diverged(tmp_path, capsys)
    assert (
        main(
            [
                "simulate",
                "--adopt",
                "--days",
                "40",
                "--json",
                "--config",
                str(cfg),
                "--state-dir",
                str(state),
            ]
        )
        == 0
    )
    adopted = json.loads(capsys.readouterr().out)
    assert (
        main(
            [
                "simulate",
                "--resume",
                "--days",
                "40",
                "--json",
                "--config",
                str(cfg),
                "--state-dir",
                str(state),
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["final_cash"] == adopted["final_cash"]


def test_adopt_keeps_a_pause_in_force_and_a_broken_journal_is_a_clean_exit_76(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from daemon.engine import Control
    from daemon.runner import simulate

    config = load_config(None, {"market": {"cadence_minutes": 30}})
    spec = RunSpec("calm", 1, date(2025, 1, 2))
    with StateDir(tmp_path / "s") as state:
        simulate(config, spec, 10, state, planned={20: [Control("pause", {"reason": "t"})]})
    with StateDir(tmp_path / "s") as state:
        p = prepare(config, spec, state, resume=True, adopt=True)
        assert p.engine.broker.trading_paused
        p.ledger.close()
    with sqlite3.connect(tmp_path / "s" / "ledger.sqlite") as db:
        db.execute("UPDATE cash_movements SET cash_after = cash_after + 100 WHERE kind = 'fill'")
    capsys.readouterr()
    code = main(["simulate", "--adopt", "--days", "20", "--state-dir", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 76 and "cannot adopt" in err and "Traceback" not in err

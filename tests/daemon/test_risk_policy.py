"""Whether a risk halt resumes by itself is part of the stored config
(``strategy.risk.auto_resume``): batch runs resume at the next session, `alvh run` sets it false and
waits for an operator, and a ledger continued by the other command re-derives under the policy it
was written with (it used to diverge, exit 76)."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest
from daemon_process import RunningDaemon

from daemon.cli import main
from daemon.config import load_config
from daemon.runner import RunSpec, simulate
from daemon.statedir import StateDir

HALTING = {"market": {"cadence_minutes": 30}, "strategy": {"risk": {"daily_loss_limit": 0.005}}}
"""A daily loss limit tight enough that volmageddon (seed 1) halts once in 40 sessions."""


def _risk_policies(state: Path) -> list[tuple[int, bool]]:
    with sqlite3.connect(state / "ledger.sqlite") as db:
        rows = db.execute("SELECT position, config_text FROM config_versions").fetchall()
    return [(p, json.loads(t)["strategy"]["risk"]["auto_resume"]) for p, t in rows]


def test_a_batch_ledger_with_a_risk_halt_goes_on_under_alvh_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    with StateDir(state) as sd:
        summary = simulate(
            load_config(None, HALTING), RunSpec("volmageddon", 1, date(2025, 1, 2)), 40, sd
        )
    assert summary["risk_halts"] == 1  # and the batch run resumed at the next session
    assert _risk_policies(state) == [(-1, True)]
    cfg = tmp_path / "run.toml"
    cfg.write_text("[market]\ncadence_minutes = 30\n[strategy.risk]\ndaily_loss_limit = 0.005\n")
    with RunningDaemon(state, cfg, "--time-scale", "1e7") as daemon:
        daemon.wait_for_snapshots(summary["ticks"] + 50, timeout=30)
        done = daemon.stop(timeout=10)
    assert done.returncode == 0, done.stderr[-2000:]  # not 76: the halt re-derived as written
    policies = _risk_policies(state)
    assert policies[0] == (-1, True) and policies[-1][1] is False  # live from the catch-up on
    assert policies[-1][0] >= summary["ticks"] - 1
    capsys.readouterr()
    assert main(["ledger", "verify", "--state-dir", str(state)]) == 0


def test_alvh_run_records_that_it_waits_for_an_operator(tmp_path: Path) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text("[market]\ncadence_minutes = 30\n")
    state = tmp_path / "state"
    with RunningDaemon(state, cfg, "--time-scale", "1e7") as daemon:
        daemon.wait_for_snapshots(100, timeout=30)
        done = daemon.stop(timeout=10)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _risk_policies(state) == [(-1, False)]

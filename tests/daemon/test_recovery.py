"""Recovery by deterministic fast-forward: a resumed run is the uninterrupted run, fill for fill."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from brokers.ledger import Ledger
from brokers.recovery import Divergence
from daemon.cli import main
from daemon.config import AppConfig, load_config
from daemon.runner import RunSpec, simulate
from daemon.statedir import StateDir

SPEC = RunSpec("spike-and-revert", 2, date(2025, 1, 2))


def fast_config() -> AppConfig:
    return load_config(None, {"market": {"cadence_minutes": 30}})


def ledger_dump(path: Path) -> dict[str, list[Any]]:
    """Everything a run leaves in its ledger that must not depend on being interrupted."""
    with sqlite3.connect(path) as db:
        return {
            "fills": db.execute(
                "SELECT fill_id, order_id, client_order_id, ts, layer, intent, reason, quantity,"
                " net_price, fees, cash_after, position FROM fills ORDER BY fill_id"
            ).fetchall(),
            "legs": db.execute("SELECT * FROM fill_legs ORDER BY fill_id, leg_index").fetchall(),
            "settlements": db.execute(
                "SELECT ts, layer, symbol, quantity, settlement_price, cash, cash_after, position"
                " FROM settlements ORDER BY settlement_id"
            ).fetchall(),
            "cash": db.execute(
                "SELECT position, ts, kind, amount, cash_after, layer, symbol, ref"
                " FROM cash_movements ORDER BY movement_id"
            ).fetchall(),
            "orders": db.execute(
                "SELECT client_order_id, order_id, ts, layer, legs, quantity, status"
                " FROM orders ORDER BY client_order_id"
            ).fetchall(),
            "marks": db.execute("SELECT * FROM daily_marks ORDER BY session").fetchall(),
        }


def run_batch(state_dir: Path, days: int, *, resume: bool = False) -> dict[str, Any]:
    with StateDir(state_dir) as state:
        return simulate(fast_config(), SPEC, days, state, resume=resume)


def test_a_resumed_run_equals_the_uninterrupted_run(tmp_path: Path) -> None:
    whole = run_batch(tmp_path / "whole", 80)
    run_batch(tmp_path / "parts", 25)
    resumed = run_batch(tmp_path / "parts", 55, resume=True)
    resumed = run_batch(tmp_path / "parts", 80, resume=True)
    assert resumed == whole
    assert whole["fills"] >= 4
    assert ledger_dump(tmp_path / "parts" / "ledger.sqlite") == ledger_dump(
        tmp_path / "whole" / "ledger.sqlite"
    )
    with Ledger.open(tmp_path / "parts" / "ledger.sqlite") as ledger:
        assert [r["mode"] for r in ledger.recoveries()] == ["resume", "resume"]


def test_an_abrupt_stop_loses_nothing_and_the_resume_completes_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stop mid-run without any cleanup: uncommitted order rows are lost, as in a crash."""
    whole = run_batch(tmp_path / "whole", 60)
    fills = ledger_dump(tmp_path / "whole" / "ledger.sqlite")["fills"]
    crash_at = fills[2][11] + 3  # three snapshots after the third fill

    class Killed(BaseException):
        pass

    from daemon.engine import Engine

    original = Engine._on_market_snapshot

    def dying(self: Engine, snap: Any) -> None:
        if snap.seq == crash_at:
            raise Killed
        original(self, snap)

    with monkeypatch.context() as m:
        m.setattr(Engine, "_on_market_snapshot", dying)
        m.setattr(Ledger, "close", lambda self: self._conn.close())  # no final commit
        with pytest.raises(Killed):
            run_batch(tmp_path / "crashed", 60)
    resumed = run_batch(tmp_path / "crashed", 60, resume=True)
    assert resumed == whole
    assert ledger_dump(tmp_path / "crashed" / "ledger.sqlite") == ledger_dump(
        tmp_path / "whole" / "ledger.sqlite"
    )


def test_a_ledger_that_disagrees_with_the_feed_refuses_to_resume_and_names_the_fill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "s"
    cfg = tmp_path / "fast.toml"
    cfg.write_text("[market]\ncadence_minutes = 30\n")
    args = ["simulate", "--scenario", "calm", "--seed", "1", "--config", str(cfg)]
    assert main([*args, "--days", "40", "--state-dir", str(state)]) == 0
    with sqlite3.connect(state / "ledger.sqlite") as db:
        db.execute("UPDATE fills SET net_price = net_price + 0.05 WHERE fill_id = 'F00000002'")
    capsys.readouterr()
    code = main(
        ["simulate", "--resume", "--days", "60", "--state-dir", str(state), "--config", str(cfg)]
    )
    err = capsys.readouterr().err
    assert code == 76
    assert "F00000002" in err and "net_price" in err


def test_resume_refuses_other_run_arguments_and_needs_a_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "s"
    run_batch(state, 5)
    capsys.readouterr()
    assert (
        main(["simulate", "--resume", "--days", "6", "--seed", "9", "--state-dir", str(state)])
        == 64
    )
    assert "seed=2" in capsys.readouterr().err
    assert main(["simulate", "--resume", "--days", "6", "--state-dir", str(tmp_path / "x")]) == 73
    assert "holds no ledger" in capsys.readouterr().err


def test_new_archives_the_ledger_and_starts_fresh(tmp_path: Path) -> None:
    state = tmp_path / "s"
    run_batch(state, 5)
    assert main(["simulate", "--new", "--days", "3", "--state-dir", str(state)]) == 0
    assert len(list((state / "archive").iterdir())) == 1
    with Ledger.open(state / "ledger.sqlite") as ledger:
        assert len(ledger.runs()) == 1 and ledger.runs()[0]["seed"] == 1


def test_divergence_when_the_feed_ends_before_the_ledger_does(tmp_path: Path) -> None:
    run_batch(tmp_path / "s", 60)
    with pytest.raises(Divergence, match="feed ended"):
        run_batch(tmp_path / "s", 20, resume=True)


def test_ledger_verify_passes_a_run_and_names_what_is_wrong_after_tampering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "s"
    run_batch(state, 60)
    capsys.readouterr()
    assert main(["ledger", "verify", "--state-dir", str(state), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["counts"]["fills"] >= 4
    with sqlite3.connect(state / "ledger.sqlite") as db:
        db.execute("UPDATE cash_movements SET amount = amount + 1 WHERE movement_id = 3")
        db.execute(
            "UPDATE fill_legs SET quantity = quantity + 1 WHERE fill_id = 'F00000002'"
            " AND leg_index = 0"
        )
        db.execute("DELETE FROM orders WHERE client_order_id = 'condor-000001'")
    assert main(["ledger", "verify", "--state-dir", str(state)]) == 65
    out = capsys.readouterr().out
    assert "cash movement 3" in out
    assert "order condor-000001 is not in the ledger" in out
    with Ledger.open(state / "ledger.sqlite") as ledger:
        from brokers.ledger_verify import verify_ledger

        assert verify_ledger(ledger).open_positions  # the extra leg quantity never closed


def _crash_and_resume(tmp_path: Path, kills: int, days: int, seed: int) -> None:
    """SIGKILL `alvh simulate` at random moments, resume after each, compare with a clean run."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    base = [
        sys.executable,
        "-m",
        "daemon.cli",
        "simulate",
        "--scenario",
        "spike-and-revert",
        "--seed",
        "3",
        "--days",
        str(days),
        "--json",
    ]
    clean = subprocess.run(
        [*base, "--state-dir", str(tmp_path / "clean")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert clean.returncode == 0, clean.stderr[-2000:]
    t0 = time.monotonic()
    probe = subprocess.run(
        [*base, "--state-dir", str(tmp_path / "probe")], capture_output=True, env=env, timeout=600
    )
    duration = time.monotonic() - t0
    assert probe.returncode == 0
    rng = random.Random(seed)
    state = str(tmp_path / "crashed")
    args = [*base, "--state-dir", state]
    done = None
    for _ in range(kills):
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        time.sleep(rng.uniform(0.05, 1.0) * duration)
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=60)
        if proc.returncode == 0:  # finished before the kill landed
            done = out
        args = [*base, "--state-dir", state, "--resume"]
    final = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    assert final.returncode == 0, final.stderr[-2000:]
    assert json.loads(final.stdout) == json.loads(clean.stdout)
    if done is not None:
        assert json.loads(done) == json.loads(clean.stdout)
    a, b = (ledger_dump(tmp_path / d / "ledger.sqlite") for d in ("crashed", "clean"))
    assert a["fills"] == b["fills"] and a["legs"] == b["legs"] and a["cash"] == b["cash"]
    assert a == b


def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_fills(
    tmp_path: Path,
) -> None:
    _crash_and_resume(tmp_path, kills=3, days=40, seed=11)


@pytest.mark.slow
def test_sigkill_ten_times_over_a_long_run_then_resume_gives_the_uninterrupted_fills(
    tmp_path: Path,
) -> None:
    _crash_and_resume(tmp_path, kills=10, days=250, seed=12)


def test_pause_flatten_and_reload_survive_a_crash_and_resume_to_the_same_fills(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Controls at known feed positions; a crash between them; the resume re-applies the
    recorded ones where they happened and the rest as planned: the uninterrupted run's fills."""
    from daemon.engine import Control, Engine

    config = fast_config()
    reloaded = load_config(
        None, {"market": {"cadence_minutes": 30}, "strategy": {"condor": {"risk_per_condor": 0.02}}}
    )
    planned = {
        300: [Control("pause", {"reason": "test"})],
        310: [Control("flatten", {"reason": "test"})],
        400: [Control("resume", {"reason": "test"})],
        600: [Control("reload", {"config": reloaded.model_dump_json()})],
    }
    spec = RunSpec("calm", 4, date(2025, 1, 2))

    def run(path: Path, resume: bool = False) -> dict[str, Any]:
        with StateDir(path) as state:
            return simulate(config, spec, 80, state, resume=resume, planned=planned)

    whole = run(tmp_path / "whole")
    assert whole["exits"]["flatten"] == 2
    assert whole["rejected_orders_by_reason"] == {"trading_paused": 2}

    class Killed(BaseException):
        pass

    original = Engine._on_market_snapshot

    def dying(self: Engine, snap: Any) -> None:
        if snap.seq == 350:  # after the pause and the flatten, before the resume and reload
            raise Killed
        original(self, snap)

    with monkeypatch.context() as m:
        m.setattr(Engine, "_on_market_snapshot", dying)
        m.setattr(Ledger, "close", lambda self: self._conn.close())
        with pytest.raises(Killed):
            run(tmp_path / "crashed")
    resumed = run(tmp_path / "crashed", resume=True)
    assert resumed == whole

    def controls(path: Path) -> list[Any]:
        with sqlite3.connect(path / "ledger.sqlite") as db:
            return (
                db.execute(
                    "SELECT position, kind, payload FROM control_events ORDER BY event_id"
                ).fetchall()
                + db.execute(
                    "SELECT position, config_hash FROM config_versions ORDER BY version_id"
                ).fetchall()
            )

    assert ledger_dump(tmp_path / "crashed" / "ledger.sqlite") == ledger_dump(
        tmp_path / "whole" / "ledger.sqlite"
    )
    assert controls(tmp_path / "crashed") == controls(tmp_path / "whole")
    assert [row[:2] for row in controls(tmp_path / "whole")[:4]] == [
        (300, "pause"),
        (310, "flatten"),
        (400, "resume"),
        (600, "reload"),
    ]


def test_every_published_event_is_logged_exactly_once(tmp_path: Path) -> None:
    """The daemon's event logger is the one place published events become log lines."""
    from structlog.testing import capture_logs

    from daemon.engine import Control

    planned = {
        300: [Control("pause", {"reason": "test"})],
        310: [Control("flatten", {"reason": "test"})],
        400: [Control("resume", {"reason": "test"})],
    }
    with capture_logs() as logs, StateDir(tmp_path / "s") as state:
        summary = simulate(
            fast_config(), RunSpec("calm", 4, date(2025, 1, 2)), 40, state, planned=planned
        )
    names = [entry["event"] for entry in logs]
    fills = [entry["fill_id"] for entry in logs if entry["event"] == "fill_recorded"]
    assert len(fills) == len(set(fills)) == summary["fills"]
    assert names.count("trading_paused") == names.count("trading_resumed") == 1
    assert names.count("flatten_started") == 1
    assert names.count("order_rejected") == summary["rejected_orders"] >= 1


def test_a_decision_the_ledger_never_recorded_is_a_divergence_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    """A pause rejected an entry; without the pause the re-derived run fills it instead. The
    ledger goes on past that point, so the extra fill is a divergence, never a backdated write."""
    from daemon.engine import Control

    spec = RunSpec("calm", 4, date(2025, 1, 2))
    planned = {300: [Control("pause", {"reason": "test"})]}
    with StateDir(tmp_path / "s") as state:
        first = simulate(fast_config(), spec, 60, state, planned=planned)
    assert first["rejected_orders_by_reason"].get("trading_paused", 0) >= 1
    path = tmp_path / "s" / "ledger.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM control_events WHERE kind = 'pause'")
    before = ledger_dump(path)
    with pytest.raises(Divergence, match="does not hold"), StateDir(tmp_path / "s") as state:
        simulate(fast_config(), spec, 60, state, resume=True)
    assert ledger_dump(path) == before

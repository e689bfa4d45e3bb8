"""`alvh simulate` and `alvh run` end to end, through the real CLI entry point."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from daemon_process import RunningDaemon

from daemon.cli import main

FAST_CONFIG = """
[market]
cadence_minutes = 30
"""


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_simulate_calm_opens_and_closes_condors_and_every_fill_is_in_the_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        capsys,
        "simulate",
        "--scenario",
        "calm",
        "--seed",
        "1",
        "--days",
        "120",
        "--json",
        "--state-dir",
        str(tmp_path / "a"),
    )
    assert code == 0
    summary = json.loads(out)
    condor = summary["layers"]["condor"]
    assert condor["opened"] >= 2 and condor["closed"] >= 1
    assert summary["fills"] >= condor["opened"] + condor["closed"]
    assert summary["exits"]["credit_stop"] + summary["exits"]["dte"] >= 1
    with sqlite3.connect(tmp_path / "a" / "ledger.sqlite") as db:
        (n_fills,) = db.execute("SELECT COUNT(*) FROM fills").fetchone()
    assert n_fills == summary["fills"]
    assert summary["ticks"] == 120 * 15  # 09:30..16:00 every 30 minutes plus the 16:15 close

    # same arguments, another state dir: byte-identical summary and identical fills
    code, out2, _ = run_cli(
        capsys,
        "simulate",
        "--scenario",
        "calm",
        "--seed",
        "1",
        "--days",
        "120",
        "--json",
        "--state-dir",
        str(tmp_path / "b"),
    )
    assert code == 0 and out2 == out
    fills = []
    for d in ("a", "b"):
        with sqlite3.connect(tmp_path / d / "ledger.sqlite") as db:
            fills.append(db.execute("SELECT * FROM fills ORDER BY fill_id").fetchall())
    assert fills[0] == fills[1]


@pytest.fixture(autouse=True)
def _fast_market(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulate at 30-minute cadence in these tests (the default is one minute)."""
    cfg = tmp_path / "fast.toml"
    cfg.write_text(FAST_CONFIG)
    from daemon import config as config_module

    original = config_module.load_config
    monkeypatch.setattr(
        "daemon.cli_commands.load_config",
        lambda path=None, overrides=None: original(path if path is not None else cfg, overrides),
    )


def test_simulate_refuses_a_state_dir_that_holds_a_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "s"
    assert run_cli(capsys, "simulate", "--days", "1", "--state-dir", str(state))[0] == 0
    code, _, err = run_cli(capsys, "simulate", "--days", "1", "--state-dir", str(state))
    assert code == 73
    assert "already holds a ledger" in err and err.count("\n") == 1


def test_simulate_without_state_dir_says_where_its_temporary_dir_is(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_cli(capsys, "simulate", "--days", "1", "--json")
    assert code == 0
    line = next(ln for ln in err.splitlines() if ln.startswith("alvh: state directory: "))
    assert (Path(line.split(": ", 2)[2]) / "ledger.sqlite").exists()
    assert json.loads(out)["ticks"] == 15


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["simulate", "--days", "0"], "--days"),
        (["simulate", "--days", "3", "--seed", "x"], "--seed"),
        (["simulate", "--days", "3", "--start", "2025-13-01"], "--start"),
        (["simulate", "--days", "3", "--scenario", "nope"], "--scenario"),
        (["simulate"], "--days"),
    ],
)
def test_bad_arguments_give_one_line_naming_the_argument(
    argv: list[str], names: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 64
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and names in err and "Traceback" not in err


def test_bad_config_lists_every_invalid_field_and_exits_78(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(
        '[account]\nslippage = 3\nstarting_equity = "hunter2"\n'
        "[strategy.condor]\nmax_condors = -1\nbogus = 1\n"
    )
    code, _, err = run_cli(capsys, "simulate", "--days", "1", "--config", str(cfg))
    assert code == 78
    lines = err.strip().splitlines()
    assert any("account.slippage" in ln for ln in lines)
    assert any("strategy.condor.max_condors" in ln for ln in lines)
    assert any("strategy.condor.bogus" in ln for ln in lines)
    assert any("account.starting_equity" in ln for ln in lines)
    assert "hunter2" not in err  # values are never echoed: they may be secrets


def test_run_answers_health_and_status_and_exits_0_on_sigterm_with_json_lines(
    tmp_path: Path,
) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text(FAST_CONFIG)
    with RunningDaemon(tmp_path / "state", cfg, "--time-scale", "36000") as daemon:
        status = daemon.wait_for_snapshots(1, timeout=20)
        assert daemon.get("/health")["status"] == "ok"
        assert status["regime"] in {"calm", "elevated"}
        assert isinstance(status["vix"], float) and isinstance(status["spx"], float)
        assert status["equity"] and "open_positions" in status and "last_snapshot_age_s" in status
        done = daemon.stop()
    assert done.returncode == 0, done.stderr
    events = [line["event"] for line in done.lines]  # each stdout line is one JSON object
    assert "daemon_started" in events and events[-1] == "daemon_stopped"
    for line in done.lines:
        assert {"timestamp", "level", "event", "run_id"} <= set(line), line
        assert line["timestamp"].endswith("Z")  # UTC ISO-8601


def test_run_archives_an_existing_ledger_and_starts_fresh(tmp_path: Path) -> None:
    from daemon.statedir import StateDir

    with StateDir(tmp_path / "state") as state:
        state.ledger_path.write_bytes(b"old")
        target = state.archive_ledger()
        assert target is not None and (target / "ledger.sqlite").read_bytes() == b"old"
        assert not state.has_ledger()
        assert state.archive_ledger() is None


def test_a_second_process_cannot_take_a_locked_state_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from daemon.statedir import StateDir

    with StateDir(tmp_path / "state"):
        code, _, err = run_cli(
            capsys, "simulate", "--days", "1", "--state-dir", str(tmp_path / "state")
        )
    assert code == 73
    assert f"in use by another alvh process (pid {os.getpid()})" in err
    # released with the process (or the context): now it can be taken
    assert (
        run_cli(capsys, "simulate", "--days", "1", "--state-dir", str(tmp_path / "state"))[0] == 0
    )


def test_a_state_dir_that_cannot_be_created_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run_cli(capsys, "simulate", "--days", "1", "--state-dir", str(blocker / "x"))
    assert code == 73 and "cannot use state directory" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["simulate", "--days", "3", "--start", "1980-01-01"], "--start"),
        (["simulate", "--days", "3", "--start", "2045-01-01"], "--start"),
        (["simulate", "--days", "3", "--seed", str(2**64)], "--seed"),
        (["run", "--port", "99999"], "--port"),
        (["run", "--time-scale", "inf"], "--time-scale"),
    ],
)
def test_out_of_range_arguments_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 64 and message in err and err.count("\n") == 1


def test_a_span_past_the_calendar_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "s"
    code, _, err = run_cli(
        capsys, "simulate", "--days", "100000", "--start", "2039-06-01", "--state-dir", str(state)
    )
    assert code == 64 and "--days" in err and "calendar" in err
    assert not (state / "ledger.sqlite").exists()


@pytest.mark.parametrize("line", ["rate = nan", "rate = inf", "vix_floor = 200.0"])
def test_non_finite_or_inconsistent_market_config_is_a_config_error(
    line: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[market]\n{line}\n")
    code, _, err = run_cli(capsys, "simulate", "--days", "1", "--config", str(cfg))
    assert code == 78 and "market" in err and "Traceback" not in err


def test_a_failed_ledger_write_stops_the_run_with_exit_74(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from brokers.ledger import Ledger

    def fail(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(Ledger, "record_fill", fail)
    code, out, err = run_cli(
        capsys, "simulate", "--scenario", "calm", "--days", "5", "--state-dir", str(tmp_path / "s")
    )
    assert code == 74 and "disk I/O error" in err and out == ""


def test_contained_handler_errors_make_simulate_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from strategies.condor import CondorActor

    def boom(self: object, event: object) -> None:
        raise RuntimeError("strategy bug")

    monkeypatch.setattr(CondorActor, "on_account_marked", boom)
    code, out, err = run_cli(
        capsys,
        "simulate",
        "--scenario",
        "calm",
        "--days",
        "3",
        "--json",
        "--state-dir",
        str(tmp_path / "s"),
    )
    summary = json.loads(out)
    assert code == 70 and summary["handler_errors"] > 0 and "handler errors" in err


def test_the_acceptance_run_at_one_minute_cadence_is_deterministic_and_fully_ledgered(
    tmp_path: Path,
) -> None:
    """The issue's own command, unpatched config (one-minute cadence), run twice in processes."""
    outs = []
    for name in ("a", "b"):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "daemon.cli",
                "simulate",
                "--scenario",
                "calm",
                "--seed",
                "1",
                "--days",
                "120",
                "--json",
                "--state-dir",
                str(tmp_path / name),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        outs.append(result.stdout)
    assert outs[0] == outs[1]
    summary = json.loads(outs[0])
    assert summary["ticks"] == 120 * 406
    assert summary["layers"]["condor"]["opened"] >= 1 and summary["layers"]["condor"]["closed"] >= 1
    dumps = []
    for name in ("a", "b"):
        with sqlite3.connect(tmp_path / name / "ledger.sqlite") as db:
            (n,) = db.execute("SELECT COUNT(*) FROM fills").fetchone()
            assert n == summary["fills"]
            dumps.append(list(db.execute("SELECT * FROM fill_legs ORDER BY 1, 2")))
    assert dumps[0] == dumps[1]


def test_run_log_level_and_log_file_in_logs_directory(tmp_path: Path) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text(FAST_CONFIG + "[runtime]\nlog_to_file = true\n")
    logs = tmp_path / "logs"
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "ledger.sqlite").write_bytes(b"old")  # --new archives it: a warning
    with RunningDaemon(
        tmp_path / "state",
        cfg,
        "--time-scale",
        "36000",
        "--log-level",
        "warning",
        "--new",
        env={"LOGS_DIRECTORY": str(logs)},
    ) as daemon:
        daemon.wait_for_snapshots(1, timeout=20)
        done = daemon.stop()
    assert done.returncode == 0, done.stderr
    assert {line["level"] for line in done.lines} <= {"warning", "error"}  # no info lines
    assert "ledger_archived" in [line["event"] for line in done.lines]
    file_lines = (logs / "alvh.log").read_text().splitlines()
    assert file_lines == [ln for ln in done.stdout.splitlines() if ln.strip()]

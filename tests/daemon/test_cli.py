"""`alvh simulate` and `alvh run` end to end, through the real CLI entry point."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

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
        "daemon.cli.load_config", lambda path=None: original(path if path is not None else cfg)
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def test_run_answers_health_and_status_and_exits_0_on_sigterm_with_json_lines(
    tmp_path: Path,
) -> None:
    port = _free_port()
    cfg = tmp_path / "run.toml"
    cfg.write_text(FAST_CONFIG)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daemon.cli",
            "run",
            "--state-dir",
            str(tmp_path / "state"),
            "--port",
            str(port),
            "--time-scale",
            "36000",
            "--config",
            str(cfg),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        health = None
        while time.monotonic() < deadline:
            try:
                health = _get(f"http://127.0.0.1:{port}/health")
                break
            except OSError:
                time.sleep(0.1)
        assert health is not None and health["status"] == "ok"
        status: dict[str, object] = {}
        while time.monotonic() < deadline:
            status = _get(f"http://127.0.0.1:{port}/status")
            if status["snapshots"]:
                break
            time.sleep(0.1)
        assert status["regime"] in {"calm", "elevated"}
        assert isinstance(status["vix"], float) and isinstance(status["spx"], float)
        assert status["equity"] and "open_positions" in status and "last_snapshot_age_s" in status
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    lines = [ln for ln in out.splitlines() if ln.strip()]
    events = [json.loads(ln)["event"] for ln in lines]  # every stdout line is one JSON object
    assert "daemon_started" in events and events[-1] == "daemon_stopped"


def test_run_archives_an_existing_ledger_and_starts_fresh(tmp_path: Path) -> None:
    from daemon.runner import archive_existing_ledger

    state = tmp_path / "state"
    state.mkdir()
    (state / "ledger.sqlite").write_bytes(b"old")
    target = archive_existing_ledger(state)
    assert target is not None and (target / "ledger.sqlite").read_bytes() == b"old"
    assert not (state / "ledger.sqlite").exists()
    assert archive_existing_ledger(state) is None

"""`alvh report` only reads: the ledger keeps its bytes, its modification time and its schema,
whatever its version, and a ledger too old to read is refused with the command that migrates it."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from brokers.ledger import Ledger
from brokers.ledger_schema import _V1, MIGRATIONS
from daemon.cli import _Parser
from daemon.config import load_config
from daemon.report import build_report, register, run
from daemon.report_ledger import open_read_only
from daemon.runner import RunSpec, simulate
from daemon.statedir import StateDir

SIDECARS = {"ledger.sqlite-wal", "ledger.sqlite-shm"}
"""What SQLite may create beside a WAL ledger for a reader: no data, no change to the ledger."""


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ledger of a short simulated run (v3, cleanly closed)."""
    root = tmp_path_factory.mktemp("run")
    config = load_config(None, {"market": {"cadence_minutes": 60}})
    with StateDir(root) as state, capture_logs():
        simulate(config, RunSpec("spike-and-revert", 1, date(2025, 1, 2)), 30, state)
    return root / "ledger.sqlite"


def _state_dir(tmp_path: Path, name: str = "state") -> Path:
    state = tmp_path / name
    state.mkdir()
    return state


def _copy(source: Path, state: Path) -> Path:
    ledger = state / "ledger.sqlite"
    ledger.write_bytes(source.read_bytes())
    return ledger


def _downgrade_to_v2(source: Path, target: Path) -> None:
    """A v2 ledger at ``target`` built as v2 was (schema v1, then migration 1) holding the rows
    of ``source``: daily marks without ``layer_equity``."""
    conn = sqlite3.connect(target)
    assert conn.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)  # as a ledger is
    conn.executescript(_V1)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    MIGRATIONS[1](conn)
    conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.commit()
    conn.execute("ATTACH DATABASE ? AS src", (str(source),))
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        if table in ("meta", "sqlite_sequence"):
            continue
        columns = ", ".join(r[1] for r in conn.execute(f"PRAGMA main.table_info({table})"))
        conn.execute(f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM src.{table}")
    conn.commit()
    conn.execute("DETACH DATABASE src")
    conn.close()


def _fingerprint(ledger: Path) -> tuple[str, int]:
    return hashlib.sha256(ledger.read_bytes()).hexdigest(), ledger.stat().st_mtime_ns


def _age(ledger: Path) -> None:
    """Set the file's times a day back, so any write would move its mtime visibly."""
    then = ledger.stat().st_mtime_ns - 86_400 * 10**9
    os.utime(ledger, ns=(then, then))


def _args(*argv: str) -> argparse.Namespace:
    parser = _Parser(prog="alvh")
    register(parser.add_subparsers(dest="command", required=True, parser_class=_Parser))
    return parser.parse_args(["report", *argv])


def _report(state: Path, out: Path) -> int:
    return run(_args("--state-dir", str(state), "--out", str(out)))


def _schema(ledger: Path) -> tuple[str, list[str]]:
    conn = sqlite3.connect(f"{ledger.resolve().as_uri()}?mode=ro", uri=True)
    try:
        (version,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        columns = [r[1] for r in conn.execute("PRAGMA table_info(daily_marks)")]
    finally:
        conn.close()
    return version, columns


def test_report_leaves_a_v3_ledger_byte_for_byte_as_it_was(source: Path, tmp_path: Path) -> None:
    state = _state_dir(tmp_path, "state #1?")  # the URI quotes what SQLite would parse
    ledger = _copy(source, state)
    _age(ledger)
    before, files = _fingerprint(ledger), set(os.listdir(state))
    assert _report(state, tmp_path / "r.html") == 0
    assert _fingerprint(ledger) == before
    assert set(os.listdir(state)) - SIDECARS == files
    wal = state / "ledger.sqlite-wal"
    assert not wal.exists() or wal.stat().st_size == 0


def test_report_reads_a_running_daemons_commits_without_touching_its_files(
    source: Path, tmp_path: Path
) -> None:
    state = _state_dir(tmp_path)
    ledger = _copy(source, state)
    daemon = sqlite3.connect(ledger)  # a writer holding committed rows in its WAL
    try:
        daemon.execute("PRAGMA wal_autocheckpoint=0")
        with daemon:
            daemon.execute("UPDATE runs SET scenario = 'written-while-running'")
        files = {p: _fingerprint(state / p) for p in ("ledger.sqlite", "ledger.sqlite-wal")}
        out = tmp_path / "r.html"
        assert _report(state, out) == 0
        assert "written-while-running" in out.read_text(encoding="utf-8")
        assert {p: _fingerprint(state / p) for p in files} == files
    finally:
        daemon.close()


def test_report_reads_a_v2_ledger_as_it_is_and_leaves_it_unchanged(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _state_dir(tmp_path)
    ledger = state / "ledger.sqlite"
    _downgrade_to_v2(source, ledger)
    _age(ledger)
    before = _fingerprint(ledger)
    out = tmp_path / "r.html"
    assert _report(state, out) == 0
    assert "30 sessions" in capsys.readouterr().out
    assert _fingerprint(ledger) == before
    version, columns = _schema(ledger)
    assert version == "2" and "layer_equity" not in columns

    # what v2 holds: each layer's realized P&L, which the condor layer alone falls back to
    text = out.read_text(encoding="utf-8")
    assert "30 of 30 daily marks were written before ledger schema v3" in text
    with open_read_only(ledger) as v2:
        report = build_report(v2)
        marks = v2.daily_marks()
    assert report.series is not None
    realized = [1_000_000 + json.loads(m["layer_pnl"]).get("condor", 0.0) for m in marks]
    assert report.series.condor_alone == pytest.approx(realized)
    assert report.summary["realized_only_marks"] == 30


def test_report_refuses_a_v1_ledger_naming_the_command_that_migrates_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _state_dir(tmp_path)
    ledger = state / "ledger.sqlite"
    conn = sqlite3.connect(ledger)
    conn.executescript(_V1)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    conn.commit()
    conn.close()
    _age(ledger)
    before = _fingerprint(ledger)
    out = tmp_path / "r.html"
    assert _report(state, out) == 74
    err = capsys.readouterr().err
    assert "schema version 1" in err and f"alvh ledger verify --state-dir {state}" in err
    assert _fingerprint(ledger) == before and not out.exists()


def test_report_refuses_a_ledger_newer_than_it_reads(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _state_dir(tmp_path)
    ledger = _copy(source, state)
    with sqlite3.connect(ledger) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    assert _report(state, tmp_path / "r.html") == 74
    assert "schema version 99, this alvh reads up to 3" in capsys.readouterr().err


def test_the_reports_ledger_refuses_writes(source: Path, tmp_path: Path) -> None:
    ledger = _copy(source, _state_dir(tmp_path))
    before = _fingerprint(ledger)
    with open_read_only(ledger) as read_only, pytest.raises(sqlite3.OperationalError):
        read_only.record_control_event(datetime(2025, 1, 2, tzinfo=UTC), "pause")
    assert _fingerprint(ledger) == before
    with Ledger.open(ledger) as writable:  # the file itself is as writable as before
        assert writable.fill_count() > 0

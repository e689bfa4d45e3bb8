"""Ledger schema v2: migrations, cash movements, positions, control events, config versions."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from brokers.ledger import Ledger
from brokers.ledger_schema import _V1, SCHEMA_VERSION

TS = datetime(2025, 2, 3, 15, 0, tzinfo=UTC)


def _v1_ledger(path: Path) -> None:
    """A version-1 ledger as written before this schema: one run, one fill, one settlement."""
    conn = sqlite3.connect(path)
    conn.executescript(_V1)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    conn.execute(
        "INSERT INTO runs (seed, scenario, start, cadence_minutes, alvh_version, config_text)"
        " VALUES (1, 'calm', '2025-01-02', 1, '0.1.0', '{}')"
    )
    # sell 2 call spreads at 1.90 credit: premium +380, fees 5 -> cash 1,000,375
    conn.execute(
        "INSERT INTO fills VALUES ('F00000001', 'O00000001', 'c-1', ?, 'press', 'open', 'entry',"
        " 2, -1.9, 5.0, 1000375.0)",
        (TS.isoformat(),),
    )
    conn.executemany(
        "INSERT INTO fill_legs VALUES ('F00000001', ?, ?, ?, ?)",
        [(0, "SPX 2025-03-21 C 5150", -2, 4.9), (1, "SPX 2025-03-21 C 5200", 2, 3.0)],
    )
    conn.execute(
        "INSERT INTO settlements (ts, layer, symbol, quantity, settlement_price, cash, proxy,"
        " cash_after) VALUES ('2025-03-21T13:30:00+00:00', 'press', 'SPX 2025-03-21 C 5150', -2,"
        " 5170.0, -4000.0, 0, 996375.0)"
    )
    conn.commit()
    conn.close()


def test_a_version_1_ledger_is_migrated_with_its_cash_history(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    _v1_ledger(path)
    with Ledger.open(path) as ledger:
        moves = ledger.cash_movements()
        assert [m["kind"] for m in moves] == ["deposit", "fill", "settlement"]
        assert moves[0]["amount"] == 1_000_000.0
        assert sum(m["amount"] for m in moves) == moves[-1]["cash_after"] == 996_375.0
        assert ledger.fills()[0]["position"] == -1
        assert ledger.runs()[0]["seed"] == 1
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta").fetchone() == (str(SCHEMA_VERSION),)
    conn.close()


def test_a_failed_migration_leaves_the_ledger_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from brokers import ledger_schema

    path = tmp_path / "ledger.sqlite"
    _v1_ledger(path)

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE fills ADD COLUMN position INTEGER NOT NULL DEFAULT -1")
        raise RuntimeError("power cut")

    monkeypatch.setitem(ledger_schema.MIGRATIONS, 1, broken)
    with pytest.raises(RuntimeError):
        Ledger.open(path)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta").fetchone() == ("1",)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(fills)")]
    assert "position" not in columns
    conn.close()


def test_rows_carry_the_feed_position_and_control_events_commit_at_once(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger.open(path)
    ledger.position = 41
    ledger.record_cash_movement(TS, "deposit", 1_000_000.0, 1_000_000.0)
    ledger.position = 57
    ledger.record_control_event(TS, "pause", '{"reason": "test"}')
    ledger.record_config_version(TS, "abc", "{}")
    other = sqlite3.connect(path)  # a second reader sees them without any further commit
    assert other.execute("SELECT position, kind FROM control_events").fetchall() == [(57, "pause")]
    assert other.execute("SELECT position FROM config_versions").fetchall() == [(57,)]
    assert other.execute("SELECT position, kind FROM cash_movements").fetchall() == [
        (41, "deposit")
    ]
    other.close()
    assert ledger.last_position() == 57
    with pytest.raises(ValueError, match="unknown cash movement kind"):
        ledger.record_cash_movement(TS, "gift", 1.0, 1.0)
    ledger.close()

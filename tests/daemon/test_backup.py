"""Ledger backups: consistent online copies (WAL included), checked, pruned to the newest N."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from brokers.events import LegFill, OrderFilled
from brokers.ledger import Ledger
from brokers.orders import OrderIntent, OrderLeg, SubmitOrder
from daemon.backup import BackupError, backup_ledger, backup_name, list_backups
from market.instruments import OptionContract, Right, Root

TS = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 6, 22, 30, 5, tzinfo=UTC)
SHORT = OptionContract(Root.SPX, date(2026, 3, 20), 6000.0, Right.CALL)
LONG = OptionContract(Root.SPX, date(2026, 3, 20), 6050.0, Right.CALL)


def _fill(ledger: Ledger, n: int) -> None:
    """An order and its fill, committed together (as the broker does)."""
    coid = f"c{n}"
    legs = (OrderLeg(SHORT, -1), OrderLeg(LONG, 1))
    ts = TS + timedelta(minutes=n)
    ledger.record_order(SubmitOrder(coid, "press", legs, 1), ts)
    ledger.record_fill(
        OrderFilled(
            ts=ts,
            fill_id=f"F{n:08d}",
            order_id=f"O{n:08d}",
            client_order_id=coid,
            layer="press",
            intent=OrderIntent.OPEN,
            reason="entry",
            quantity=1,
            net_price=-2.0,
            legs=(LegFill(SHORT, -1, 5.0), LegFill(LONG, 1, 3.0)),
            fees=1.3,
        ),
        cash_after=100_000.0 + 198.7 * n,
    )


def _fill_count(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM fills").fetchone()[0])
    finally:
        conn.close()


def test_backup_of_a_ledger_with_fills_opens_with_the_same_fills(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger.open(path) as ledger:
        for n in range(1, 4):
            _fill(ledger, n)
    backup = backup_ledger(path, tmp_path / "backups", keep=5, now=NOW)

    assert backup == tmp_path / "backups" / "ledger-20260306T223005Z.sqlite"
    assert _fill_count(backup) == 3
    assert not Path(f"{backup}-wal").exists()  # one self-contained file
    with Ledger.open(backup) as copy:  # a backup is a usable ledger
        assert copy.fill_count() == 3
        assert [f["fill_id"] for f in copy.fills()] == ["F00000001", "F00000002", "F00000003"]
    assert [p.name for p in (tmp_path / "backups").iterdir()] == [backup.name]  # no temp left


def test_backup_of_a_live_wal_ledger_contains_its_uncheckpointed_writes(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger.open(path)
    ledger._conn.execute("PRAGMA wal_autocheckpoint=0")  # keep every commit in the WAL
    for n in range(1, 3):
        _fill(ledger, n)
    wal = Path(f"{path}-wal")
    assert wal.exists() and wal.stat().st_size > 0
    before = path.read_bytes()

    backup = backup_ledger(path, tmp_path / "backups", keep=5, now=NOW)
    assert _fill_count(backup) == 2
    # The live connection keeps writing after (and is not blocked by) the backup.
    _fill(ledger, 3)
    assert ledger.fill_count() == 3
    assert _fill_count(backup) == 2
    assert path.read_bytes() == before  # the backup did not checkpoint the live ledger
    ledger.close()


def test_pruning_keeps_the_newest_backups_and_nothing_else_is_touched(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger.open(path) as ledger:
        _fill(ledger, 1)
    backups = tmp_path / "backups"
    backups.mkdir()
    (backups / "notes.txt").write_text("mine")
    (backups / "ledger-manual.sqlite").write_text("not a stamped backup")
    stamps = [NOW + timedelta(days=d) for d in range(5)]
    for ts in stamps:
        backup_ledger(path, backups, keep=3, now=ts)

    kept = [p.name for p in list_backups(backups)]
    assert kept == [backup_name(ts) for ts in stamps[-3:]]
    assert (backups / "notes.txt").exists() and (backups / "ledger-manual.sqlite").exists()


def test_a_backup_from_an_earlier_clock_is_kept_even_if_not_the_newest(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    Ledger.open(path).close()
    backups = tmp_path / "backups"
    backup_ledger(path, backups, keep=1, now=NOW)
    older = backup_ledger(path, backups, keep=1, now=NOW - timedelta(days=1))
    assert older.exists()


def test_stamp_is_utc_whatever_the_zone_of_now() -> None:
    new_york = datetime(2026, 3, 6, 17, 30, 5, tzinfo=ZoneInfo("America/New_York"))  # EST
    assert backup_name(new_york) == "ledger-20260306T223005Z.sqlite"
    with pytest.raises(ValueError, match="timezone-aware"):
        backup_name(datetime(2026, 3, 6, 17, 30))


def test_a_missing_ledger_is_an_error_not_an_empty_backup(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no ledger"):
        backup_ledger(tmp_path / "nope.sqlite", tmp_path / "backups", keep=3, now=NOW)
    assert not (tmp_path / "nope.sqlite").exists()
    with pytest.raises(ValueError, match="keep"):
        backup_ledger(tmp_path / "nope.sqlite", tmp_path / "backups", keep=0, now=NOW)


def test_a_corrupt_copy_fails_the_integrity_check_and_is_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger.open(path) as ledger:
        _fill(ledger, 1)
    backups = tmp_path / "backups"
    real_connect = sqlite3.connect

    class BadCheck(sqlite3.Connection):
        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
            if "integrity_check" in sql:
                sql = "SELECT 'row 3 missing from index x' UNION ALL SELECT 'page 7 never used'"
            return super().execute(sql, *args)

    def connect(target: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        if str(target).endswith(".tmp"):
            kwargs["factory"] = BadCheck
        conn: sqlite3.Connection = real_connect(target, *args, **kwargs)
        return conn

    monkeypatch.setattr("daemon.backup.sqlite3.connect", connect)
    with pytest.raises(BackupError, match="integrity_check: row 3 missing"):
        backup_ledger(path, backups, keep=3, now=NOW)
    assert list(backups.iterdir()) == []

"""A crash at every commit of a scripted run — futures over several sessions, a closing futures
fill, interest, a VIX call spread and VX settled at the VRO, an SPX condor settled at the SOQ —
and a fast-forward resume through :class:`LedgerReplay` gives back the uninterrupted ledger."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from broker_fakes import EXPIRY, VX_EXPIRY, FakeQuote, call, put, snap_on, ts_on, vix_call, vx

from brokers.broker import PaperBroker
from brokers.config import BrokerConfig
from brokers.ledger import Ledger
from brokers.ledger_verify import verify_ledger
from brokers.orders import OrderIntent, OrderLeg, SubmitOrder
from brokers.recovery import LedgerReplay
from market.clock import SimulatedClock

START = 1_000_000.0


class Crash(BaseException):
    """The process dies here: nothing after it runs, nothing uncommitted survives."""


class CountingConnection:
    """Delegates to a sqlite3 connection; dies instead of performing commit number ``die_at``."""

    def __init__(self, conn: sqlite3.Connection, die_at: int | None) -> None:
        self._conn = conn
        self._die_at = die_at
        self.commits = 0

    def commit(self) -> None:
        self.commits += 1
        if self.commits == self._die_at:
            raise Crash
        self._conn.commit()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def q(mid: float, half: float = 0.05) -> FakeQuote:
    return FakeQuote(round(mid - half, 2), round(mid + half, 2))


SESSIONS = [date(2025, 3, 10) + timedelta(days=d) for d in (0, 1, 2, 3, 4)] + [VX_EXPIRY, EXPIRY]
CONDOR = (
    OrderLeg(put(4800), 1),
    OrderLeg(put(4850), -1),
    OrderLeg(call(5150), -1),
    OrderLeg(call(5200), 1),
)
SPREAD = (OrderLeg(vix_call(18), 1), OrderLeg(vix_call(22), -1))


def script() -> list[tuple[Any, list[SubmitOrder]]]:
    """Snapshots (with feed positions) and the orders sent at each; deterministic."""
    steps: list[tuple[Any, list[SubmitOrder]]] = []
    for i, session in enumerate(SESSIONS[:5]):
        vx_mid = 18.0 + 0.35 * i
        quotes = {
            vx(): q(vx_mid),
            vix_call(18): q(2.0 + 0.2 * i),
            vix_call(22): q(0.9 + 0.1 * i),
            put(4800): q(4.2),
            put(4850): q(6.2),
            call(5150): q(5.1),
            call(5200): q(3.0),
        }
        for minute in (0, 60):
            orders: list[SubmitOrder] = []
            if i == 0 and minute == 0:
                orders = [
                    SubmitOrder("vx-open", "hedge", (OrderLeg(vx(), 1),), 3),
                    SubmitOrder("spread", "press", SPREAD, 4),
                    SubmitOrder("condor", "condor", CONDOR, 2),
                ]
            if i == 2 and minute == 60:
                orders = [
                    SubmitOrder(
                        "vx-cut", "hedge", (OrderLeg(vx(), -1),), 1, intent=OrderIntent.CLOSE
                    )
                ]
            steps.append((snap_on(session, quotes, minutes=minute, rate=0.04), orders))
    steps.append((snap_on(VX_EXPIRY, {}, vix=23.0, vro=24.15, rate=0.04), []))
    steps.append((snap_on(EXPIRY, {}, soq=5170.0, rate=0.04), []))
    return steps


def drive(writer: Ledger | LedgerReplay) -> None:
    broker = PaperBroker(
        BrokerConfig(slippage=0.5),
        writer,
        lambda e: None,  # type: ignore[arg-type]
        SimulatedClock(ts_on(SESSIONS[0])),
    )
    writer.position = -1
    writer.record_cash_movement(ts_on(SESSIONS[0]), "deposit", START, START)
    for position, (snap, orders) in enumerate(script()):
        writer.position = position
        broker.on_market_snapshot(snap)
        for order in orders:
            broker.on_submit_order(order)


def dump(path: Path) -> dict[str, list[Any]]:
    with sqlite3.connect(path) as db:
        return {
            table: db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
            for table in ("fills", "fill_legs", "settlements")
        } | {
            "cash": db.execute(
                "SELECT position, ts, kind, amount, cash_after, layer, symbol, ref,"
                " note FROM cash_movements ORDER BY movement_id"
            ).fetchall(),
            "orders": db.execute(
                "SELECT client_order_id, order_id, status FROM orders ORDER BY 1"
            ).fetchall(),
        }


def crash_run(path: Path, die_at: int | None) -> int:
    ledger = Ledger.open(path)
    counting = CountingConnection(ledger._conn, die_at)
    ledger._conn = counting  # type: ignore[assignment]
    try:
        drive(ledger)
        ledger.close()
    except Crash:
        counting._conn.close()  # no final commit: the process is gone
    return counting.commits


def test_every_commit_boundary_of_futures_and_settlements_recovers_exactly(tmp_path: Path) -> None:
    clean = tmp_path / "clean.sqlite"
    commits = crash_run(clean, None)
    expected = dump(clean)
    kinds = {row[2] for row in expected["cash"]}
    assert {"deposit", "fill", "variation", "interest", "settlement"} <= kinds
    assert any("closed at" in row[8] for row in expected["cash"])
    assert len(expected["settlements"]) == 7  # VX, the two VIX calls, the four condor legs
    assert commits > 15
    for die_at in range(1, commits + 1):
        path = tmp_path / f"crash-{die_at}.sqlite"
        crash_run(path, die_at)
        with Ledger.open(path) as ledger:
            replay = LedgerReplay(ledger)
            drive(replay)
            assert replay.history_left == 0, f"crash at commit {die_at}: {replay.unmatched()}"
        assert dump(path) == expected, f"crash at commit {die_at}"
        with Ledger.open(path) as ledger:
            report = verify_ledger(ledger)
            assert report.ok, (die_at, report.problems)


@pytest.mark.parametrize("die_at", [3])
def test_the_counting_connection_really_loses_uncommitted_rows(tmp_path: Path, die_at: int) -> None:
    path = tmp_path / "l.sqlite"
    crash_run(path, die_at)
    assert dump(path) != dump_clean(tmp_path)


def dump_clean(tmp_path: Path) -> dict[str, list[Any]]:
    clean = tmp_path / "clean-ref.sqlite"
    crash_run(clean, None)
    return dump(clean)

"""The ledger: durable (WAL, synchronous=FULL), every fill committed before it is published."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from broker_fakes import TS, FakeQuote, FakeSnapshot, call

from brokers.broker import PaperBroker
from brokers.config import BrokerConfig
from brokers.events import OrderFilled
from brokers.ledger import Ledger, LedgerError
from brokers.orders import OrderIntent, OrderLeg, OrderType, SubmitOrder
from market.clock import SimulatedClock
from market.instruments import OptionContract

QUOTES = {call(5150): FakeQuote(4.90, 5.10), call(5200): FakeQuote(2.90, 3.10)}
BEAR_CALL = (OrderLeg(call(5150), -1), OrderLeg(call(5200), 1))


def test_ledger_uses_wal_with_full_sync_and_records_its_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger.open(path) as ledger:
        assert ledger.pragma("journal_mode") == "wal"
        assert ledger.pragma("synchronous") == 2  # FULL
    other = sqlite3.connect(path)
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent
    assert other.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("3",)
    other.close()


def test_ledger_of_an_unknown_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    Ledger.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(LedgerError, match="schema version 99"):
        Ledger.open(path)


def test_has_data_once_a_run_is_recorded_and_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger.open(path) as ledger:
        assert not ledger.has_data()
        run_id = ledger.record_run(7, "calm", "2025-01-02", 60, "0.1.0", "[broker]\n")
        assert run_id == 1
    with Ledger.open(path) as ledger:
        assert ledger.has_data()
        [run] = ledger.runs()
        assert run["seed"] == 7 and run["scenario"] == "calm" and run["config_text"] == "[broker]\n"


def test_every_fill_is_committed_before_it_is_published(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger.open(path)
    reader = sqlite3.connect(path)
    seen: list[tuple[str, int, int, str]] = []

    def publish(event: object) -> None:
        if isinstance(event, OrderFilled):
            # A second connection sees only committed data.
            row = reader.execute(
                "SELECT fill_id FROM fills WHERE fill_id = ?", (event.fill_id,)
            ).fetchone()
            legs = reader.execute(
                "SELECT COUNT(*) FROM fill_legs WHERE fill_id = ?", (event.fill_id,)
            ).fetchone()[0]
            status = reader.execute(
                "SELECT status FROM orders WHERE client_order_id = ?", (event.client_order_id,)
            ).fetchone()
            seen.append((event.fill_id, row is not None, legs, status[0] if status else ""))

    broker = PaperBroker(BrokerConfig(), ledger, publish, SimulatedClock(TS))
    broker.on_market_snapshot(FakeSnapshot(TS, TS.date(), quotes=QUOTES))
    broker.on_submit_order(SubmitOrder("p1", "press", BEAR_CALL, 2))
    broker.on_submit_order(
        SubmitOrder("p2", "press", BEAR_CALL, 1, OrderType.LIMIT, limit_price=-2.50)
    )
    cheaper = {call(5150): FakeQuote(5.90, 6.10), call(5200): FakeQuote(2.90, 3.10)}
    broker.on_market_snapshot(
        FakeSnapshot(TS + timedelta(minutes=1), TS.date(), quotes=cheaper)
    )  # resting limit fills here
    assert seen == [("F00000001", True, 2, "filled"), ("F00000002", True, 2, "filled")]
    reader.close()
    ledger.close()


def test_fills_round_trip_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    events: list[object] = []
    ledger = Ledger.open(path)
    broker = PaperBroker(BrokerConfig(), ledger, events.append, SimulatedClock(TS))
    broker.on_market_snapshot(FakeSnapshot(TS, TS.date(), quotes=QUOTES))
    broker.on_submit_order(SubmitOrder("p1", "press", BEAR_CALL, 3, reason="entry"))
    close = tuple(OrderLeg(leg.contract, -leg.ratio) for leg in BEAR_CALL)
    broker.on_submit_order(
        SubmitOrder("p2", "press", close, 3, intent=OrderIntent.CLOSE, reason="credit_stop")
    )
    cash = broker.portfolio.cash
    ledger.close()

    published = [e for e in events if isinstance(e, OrderFilled)]
    with Ledger.open(path) as reopened:
        assert reopened.fill_count() == 2
        rows = reopened.fills()
        orders = reopened.orders()
    for row, fill in zip(rows, published, strict=True):
        assert row["fill_id"] == fill.fill_id
        assert row["order_id"] == fill.order_id
        assert row["client_order_id"] == fill.client_order_id
        assert row["ts"] == fill.ts.isoformat()
        assert row["layer"] == "press"
        assert row["intent"] == fill.intent.value
        assert row["reason"] == fill.reason
        assert row["quantity"] == 3
        assert row["net_price"] == fill.net_price
        assert row["fees"] == fill.fees
        assert [
            (OptionContract.parse(leg["symbol"]), leg["quantity"], leg["price"])
            for leg in row["legs"]
        ] == [(leg.contract, leg.quantity, leg.price) for leg in fill.legs]
    assert rows[-1]["cash_after"] == pytest.approx(cash)
    assert [(o["client_order_id"], o["order_id"], o["status"]) for o in orders] == [
        ("p1", "O00000001", "filled"),
        ("p2", "O00000002", "filled"),
    ]


def test_rejected_order_keeps_its_reason(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        broker = PaperBroker(BrokerConfig(), ledger, lambda e: None, SimulatedClock(TS))
        broker.on_market_snapshot(FakeSnapshot(TS, TS.date(), quotes=QUOTES))
        broker.on_submit_order(SubmitOrder("n1", "press", (OrderLeg(call(5150), -1),), 1))
        [order] = ledger.orders()
        assert order["status"] == "rejected"
        assert order["status_reason"].startswith("naked_short: ")
        assert [h["status"] for h in ledger.order_history("n1")] == ["submitted", "rejected"]

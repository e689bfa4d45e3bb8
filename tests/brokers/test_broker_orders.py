"""Order handling: validation and rejects, closes, resting limits, cancels, settlement, marks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from broker_fakes import EXPIRY, TS, FakeQuote, FakeSnapshot, call, put

from brokers.broker import PaperBroker
from brokers.config import BrokerConfig
from brokers.events import (
    AccountMarked,
    ContractSettled,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    RejectReason,
)
from brokers.ledger import Ledger
from brokers.orders import CancelOrder, OrderIntent, OrderLeg, OrderType, SubmitOrder
from market.clock import SimulatedClock
from market.instruments import OptionContract

QUOTES = {
    put(4800): FakeQuote(3.90, 4.10),
    put(4850): FakeQuote(5.90, 6.10),
    call(5150): FakeQuote(4.90, 5.10),
    call(5200): FakeQuote(2.90, 3.10),
}
CONDOR = (
    OrderLeg(put(4800), 1),
    OrderLeg(put(4850), -1),
    OrderLeg(call(5150), -1),
    OrderLeg(call(5200), 1),
)
CLOSE_CONDOR = tuple(OrderLeg(leg.contract, -leg.ratio) for leg in CONDOR)


def snapshot(
    minutes: int = 0,
    quotes: dict[OptionContract, FakeQuote] | None = None,
    spx: float = 5000.0,
    soq: float | None = None,
) -> FakeSnapshot:
    ts = TS + timedelta(minutes=minutes)
    return FakeSnapshot(ts, ts.date(), spx, soq, quotes=QUOTES if quotes is None else quotes)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger.open(tmp_path / "ledger.sqlite")


@pytest.fixture
def events() -> list[object]:
    return []


@pytest.fixture
def broker(ledger: Ledger, events: list[object]) -> PaperBroker:
    b = PaperBroker(BrokerConfig(), ledger, events.append, SimulatedClock(TS))
    b.on_market_snapshot(snapshot())
    events.clear()
    return b


T = TypeVar("T")


def of_type(events: list[object], kind: type[T]) -> list[T]:
    return [e for e in events if isinstance(e, kind)]


# --- validation and rejects -----------------------------------------------------------------


@pytest.mark.parametrize(
    "order",
    [
        pytest.param(SubmitOrder("x", "condor", (), 1), id="no-legs"),
        pytest.param(SubmitOrder("x", "condor", (OrderLeg(put(4800), 0),), 1), id="zero-ratio"),
        pytest.param(
            SubmitOrder("x", "condor", (OrderLeg(put(4800), 1), OrderLeg(put(4800), -1)), 1),
            id="duplicate-contract",
        ),
        pytest.param(
            SubmitOrder("x", "condor", CONDOR, 1, order_type=OrderType.LIMIT),
            id="limit-without-price",
        ),
    ],
)
def test_malformed_orders_are_rejected_as_invalid(
    broker: PaperBroker, events: list[object], order: SubmitOrder
) -> None:
    broker.on_submit_order(order)
    [rejected] = events
    assert isinstance(rejected, OrderRejected)
    assert rejected.reason is RejectReason.INVALID_ORDER
    assert rejected.message
    assert rejected.ts == TS
    assert broker.stats.rejects_by_reason == {"invalid_order": 1}


@pytest.mark.parametrize("quantity", [0, -1])
def test_non_positive_quantity_is_rejected_as_invalid_quantity(
    broker: PaperBroker, events: list[object], quantity: int
) -> None:
    broker.on_submit_order(SubmitOrder("x", "condor", CONDOR, quantity))
    [rejected] = events
    assert isinstance(rejected, OrderRejected)
    assert rejected.reason is RejectReason.INVALID_QUANTITY
    assert str(quantity) in rejected.message


def test_reused_client_order_id_for_another_order_is_rejected_and_counted(
    broker: PaperBroker, events: list[object], ledger: Ledger
) -> None:
    broker.on_submit_order(SubmitOrder("c1", "condor", CONDOR, 1))
    broker.on_submit_order(SubmitOrder("c1", "condor", CONDOR, 2))
    rejected = events[-1]
    assert isinstance(rejected, OrderRejected)
    assert rejected.reason is RejectReason.DUPLICATE_CLIENT_ORDER_ID
    assert "c1" in rejected.message
    assert len(of_type(events, OrderFilled)) == 1
    stats = broker.stats
    assert (stats.orders, stats.fills, stats.rejected_orders) == (2, 1, 1)
    assert stats.rejects_by_reason == {"duplicate_client_order_id": 1}
    # The first order's record is untouched by the repeat.
    [row] = ledger.orders()
    assert row["status"] == "filled"


def test_rejects_are_counted_by_reason(broker: PaperBroker, events: list[object]) -> None:
    broker.on_submit_order(SubmitOrder("a", "condor", CONDOR, 0))
    broker.on_submit_order(SubmitOrder("b", "condor", (OrderLeg(put(1234), 1),), 1))
    broker.on_submit_order(SubmitOrder("c", "condor", (OrderLeg(put(1235), 1),), 1))
    broker.on_submit_order(SubmitOrder("d", "press", (OrderLeg(call(5150), -1),), 1))
    reasons = [e.reason for e in of_type(events, OrderRejected)]
    assert reasons == [
        RejectReason.INVALID_QUANTITY,
        RejectReason.OFF_GRID_STRIKE,
        RejectReason.NO_QUOTE,
        RejectReason.NAKED_SHORT,
    ]
    assert all(e.message for e in of_type(events, OrderRejected))
    assert broker.stats.rejected_orders == 4
    assert broker.stats.rejects_by_reason == {
        "invalid_quantity": 1,
        "off_grid_strike": 1,
        "no_quote": 1,
        "naked_short": 1,
    }


def test_order_before_any_snapshot_is_rejected_at_clock_time(
    ledger: Ledger, events: list[object]
) -> None:
    broker = PaperBroker(BrokerConfig(), ledger, events.append, SimulatedClock(TS))
    broker.on_submit_order(SubmitOrder("c1", "condor", CONDOR, 1))
    [rejected] = events
    assert isinstance(rejected, OrderRejected)
    assert rejected.reason is RejectReason.NO_QUOTE
    assert rejected.ts == TS


# --- closing ------------------------------------------------------------------------------


def test_close_more_than_held_is_rejected(broker: PaperBroker, events: list[object]) -> None:
    broker.on_submit_order(SubmitOrder("c1", "condor", CONDOR, 2))
    broker.on_submit_order(SubmitOrder("x1", "condor", CLOSE_CONDOR, 3, intent=OrderIntent.CLOSE))
    rejected = events[-1]
    assert isinstance(rejected, OrderRejected)
    assert rejected.reason is RejectReason.NO_POSITION
    assert broker.portfolio.quantity("condor", put(4850)) == -2


def test_close_that_would_add_to_the_position_is_rejected(
    broker: PaperBroker, events: list[object]
) -> None:
    broker.on_submit_order(SubmitOrder("c1", "condor", CONDOR, 1))
    broker.on_submit_order(SubmitOrder("x1", "condor", CONDOR, 1, intent=OrderIntent.CLOSE))
    assert isinstance(events[-1], OrderRejected)
    assert events[-1].reason is RejectReason.NO_POSITION


def test_close_of_another_layers_position_is_rejected(
    broker: PaperBroker, events: list[object]
) -> None:
    broker.on_submit_order(SubmitOrder("c1", "condor", CONDOR, 1))
    broker.on_submit_order(SubmitOrder("x1", "press", CLOSE_CONDOR, 1, intent=OrderIntent.CLOSE))
    assert isinstance(events[-1], OrderRejected)
    assert events[-1].reason is RejectReason.NO_POSITION


def test_partial_then_full_close_flattens_the_layer(
    broker: PaperBroker, events: list[object]
) -> None:
    broker.on_submit_order(SubmitOrder("c1", "condor", CONDOR, 3))
    broker.on_submit_order(
        SubmitOrder("x1", "condor", CLOSE_CONDOR, 1, intent=OrderIntent.CLOSE, reason="dte")
    )
    assert broker.portfolio.quantity("condor", call(5150)) == -2
    broker.on_submit_order(SubmitOrder("x2", "condor", CLOSE_CONDOR, 2, intent=OrderIntent.CLOSE))
    assert broker.portfolio.open_positions() == []
    closes = [f for f in of_type(events, OrderFilled) if f.intent is OrderIntent.CLOSE]
    assert [f.reason for f in closes] == ["dte", ""]


# --- limit orders and cancels ---------------------------------------------------------------


def test_limit_order_rests_until_marketable_then_fills_at_that_snapshot(
    broker: PaperBroker, events: list[object]
) -> None:
    # Market credit now: 4.05 - 5.95 - 4.95 + 3.05 = -3.80; ask for 4.00 of credit.
    broker.on_submit_order(
        SubmitOrder("c1", "condor", CONDOR, 1, order_type=OrderType.LIMIT, limit_price=-4.00)
    )
    [accepted] = events
    assert isinstance(accepted, OrderAccepted)
    assert [r.order.client_order_id for r in broker.resting_orders] == ["c1"]

    broker.on_market_snapshot(snapshot(1))
    assert not of_type(events, OrderFilled)

    richer = dict(QUOTES)
    richer[put(4850)] = FakeQuote(6.20, 6.40)  # sells 0.30 higher -> credit 4.10
    broker.on_market_snapshot(snapshot(2, richer))
    [filled] = of_type(events, OrderFilled)
    assert filled.ts == TS + timedelta(minutes=2)
    assert filled.order_id == accepted.order_id
    assert filled.net_price == pytest.approx(-4.10)
    assert filled.net_price <= -4.00
    assert broker.resting_orders == ()
    assert isinstance(events[-1], AccountMarked)


def test_marketable_limit_fills_at_once_at_the_model_price(
    broker: PaperBroker, events: list[object]
) -> None:
    broker.on_submit_order(
        SubmitOrder("c1", "condor", CONDOR, 1, order_type=OrderType.LIMIT, limit_price=-3.50)
    )
    [filled] = of_type(events, OrderFilled)
    assert filled.net_price == pytest.approx(-3.80)


def test_cancel_removes_a_resting_order(
    broker: PaperBroker, events: list[object], ledger: Ledger
) -> None:
    broker.on_submit_order(
        SubmitOrder("c1", "condor", CONDOR, 1, order_type=OrderType.LIMIT, limit_price=-9.0)
    )
    broker.on_cancel_order(CancelOrder("c1"))
    cancelled = events[-1]
    assert isinstance(cancelled, OrderCancelled)
    assert (cancelled.order_id, cancelled.client_order_id) == ("O00000001", "c1")
    assert broker.resting_orders == ()
    broker.on_market_snapshot(snapshot(1, {c: FakeQuote(0, 99) for c in QUOTES}))
    assert not of_type(events, OrderFilled)
    assert [h["status"] for h in ledger.order_history("c1")] == [
        "submitted",
        "accepted",
        "cancelled",
    ]
    assert broker.stats.cancelled_orders == 1


def test_cancel_of_an_unknown_order_publishes_nothing(
    broker: PaperBroker, events: list[object]
) -> None:
    broker.on_cancel_order(CancelOrder("nope"))
    assert events == []


def test_resting_order_on_an_expired_series_is_cancelled(
    broker: PaperBroker, events: list[object]
) -> None:
    broker.on_submit_order(
        SubmitOrder("c1", "condor", CONDOR, 1, order_type=OrderType.LIMIT, limit_price=-9.0)
    )
    expiry_open = datetime(2025, 3, 21, 13, 30, tzinfo=UTC)
    broker.on_market_snapshot(FakeSnapshot(expiry_open, EXPIRY, soq=5000.0))
    [cancelled] = of_type(events, OrderCancelled)
    assert cancelled.reason == "expired"


def test_resting_close_is_cancelled_when_its_position_is_gone(
    broker: PaperBroker, events: list[object]
) -> None:
    broker.on_submit_order(SubmitOrder("c1", "condor", CONDOR, 1))
    broker.on_submit_order(
        SubmitOrder(
            "x1", "condor", CLOSE_CONDOR, 1, OrderType.LIMIT, 0.50, OrderIntent.CLOSE, "target"
        )
    )
    broker.on_submit_order(SubmitOrder("x2", "condor", CLOSE_CONDOR, 1, intent=OrderIntent.CLOSE))
    broker.on_market_snapshot(snapshot(1, {c: FakeQuote(0.0, 0.0) for c in QUOTES}))
    [cancelled] = of_type(events, OrderCancelled)
    assert cancelled.client_order_id == "x1"
    assert cancelled.reason == "no_position"


# --- settlement and marks -------------------------------------------------------------------


def test_expiry_settles_every_leg_at_the_soq_for_exactly_intrinsic(
    broker: PaperBroker, events: list[object], ledger: Ledger
) -> None:
    broker.on_submit_order(SubmitOrder("c1", "condor", CONDOR, 2))
    cash_before = broker.portfolio.cash
    events.clear()
    expiry_open = datetime(2025, 3, 21, 13, 30, tzinfo=UTC)
    # SPX prints 5190 at the open; the SOQ is 5172.35: only the call spread is in the money.
    broker.on_market_snapshot(FakeSnapshot(expiry_open, EXPIRY, spx=5190.0, soq=5172.35))

    settled = of_type(events, ContractSettled)
    assert {s.contract: s.cash for s in settled} == {
        put(4800): 0.0,
        put(4850): 0.0,
        call(5150): pytest.approx(-22.35 * 100 * 2),
        call(5200): 0.0,
    }
    assert all(s.settlement_price == 5172.35 and not s.proxy for s in settled)
    assert all(s.ts == expiry_open for s in settled)
    assert broker.portfolio.open_positions() == []
    assert broker.portfolio.cash == pytest.approx(cash_before - 4_470.0)
    assert broker.portfolio.realized_pnl() == pytest.approx(broker.portfolio.cash - 1_000_000)
    assert len(ledger.settlements()) == 4
    assert isinstance(events[-1], AccountMarked)
    assert events[-1].equity == pytest.approx(broker.portfolio.cash)


def test_expiry_without_soq_settles_at_the_index_as_a_marked_proxy(
    broker: PaperBroker, events: list[object]
) -> None:
    broker.on_submit_order(SubmitOrder("c1", "condor", CONDOR, 1))
    events.clear()
    later = datetime(2025, 3, 24, 13, 30, tzinfo=UTC)
    broker.on_market_snapshot(FakeSnapshot(later, date(2025, 3, 24), spx=4830.0))
    settled = of_type(events, ContractSettled)
    assert len(settled) == 4
    assert all(s.proxy and s.settlement_price == 4830.0 for s in settled)
    assert {s.contract: s.cash for s in settled}[put(4850)] == pytest.approx(-2_000.0)
    assert broker.stats.proxy_settlements == 4


def test_account_is_marked_on_the_first_snapshot_of_each_session(
    ledger: Ledger, events: list[object]
) -> None:
    broker = PaperBroker(BrokerConfig(), ledger, events.append, SimulatedClock(TS))
    broker.on_market_snapshot(snapshot(0))
    broker.on_market_snapshot(snapshot(1))
    next_day = TS + timedelta(days=1)
    broker.on_market_snapshot(FakeSnapshot(next_day, next_day.date(), quotes=QUOTES))
    marks = of_type(events, AccountMarked)
    assert [m.ts for m in marks] == [TS, next_day]
    assert marks[0].equity == 1_000_000.0


def test_equity_uses_the_last_known_mid_when_a_quote_disappears(
    broker: PaperBroker,
) -> None:
    broker.on_submit_order(SubmitOrder("h1", "hedge", (OrderLeg(call(5200), 1),), 1))
    moved = dict(QUOTES)
    moved[call(5200)] = FakeQuote(4.90, 5.10)
    broker.on_market_snapshot(snapshot(1, moved))
    with_quote = broker.equity()
    broker.on_market_snapshot(snapshot(2, {}))
    assert broker.equity() == with_quote
    assert with_quote == pytest.approx(broker.portfolio.cash + 500.0)

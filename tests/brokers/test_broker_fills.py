"""Fill model: mid +/- slippage x half-spread per leg, exact combo arithmetic, all or nothing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from broker_fakes import TS, FakeQuote, FakeSnapshot, call, put
from hypothesis import given
from hypothesis import strategies as st

from brokers.broker import PaperBroker
from brokers.config import BrokerConfig
from brokers.events import (
    AccountMarked,
    OrderAccepted,
    OrderFilled,
    OrderRejected,
    RejectReason,
    premium_cash,
)
from brokers.fills import Unpriceable, fees_for, leg_price, price_combo
from brokers.ledger import Ledger
from brokers.orders import OrderLeg, SubmitOrder
from market.clock import SimulatedClock

CONDOR_QUOTES = {
    put(4800): FakeQuote(4.10, 4.30),
    put(4850): FakeQuote(6.00, 6.40),
    call(5150): FakeQuote(5.00, 5.20),
    call(5200): FakeQuote(2.95, 3.05),
}


def condor_legs() -> tuple[OrderLeg, ...]:
    return (
        OrderLeg(put(4800), 1),
        OrderLeg(put(4850), -1),
        OrderLeg(call(5150), -1),
        OrderLeg(call(5200), 1),
    )


def make_broker(tmp_path: Path, **config: float) -> tuple[PaperBroker, list[object], Ledger]:
    events: list[object] = []
    ledger = Ledger.open(tmp_path / "ledger.sqlite")
    broker = PaperBroker(BrokerConfig(**config), ledger, events.append, SimulatedClock(TS))
    return broker, events, ledger


def test_buy_leg_pays_above_mid_and_sell_leg_receives_below_mid() -> None:
    # mid 6.20, half-spread 0.20, slippage 0.5 -> 0.10 away from mid
    assert leg_price(6.00, 6.40, +1, 0.5) == 6.30
    assert leg_price(6.00, 6.40, -1, 0.5) == 6.10
    assert leg_price(6.00, 6.40, +3, 0.5) == 6.30


@pytest.mark.parametrize(
    ("slippage", "buy", "sell"),
    [(0.0, 6.20, 6.20), (1.0, 6.40, 6.00), (0.25, 6.25, 6.15)],
)
def test_slippage_zero_fills_at_mid_and_one_at_the_touch(
    slippage: float, buy: float, sell: float
) -> None:
    assert leg_price(6.00, 6.40, +1, slippage) == buy
    assert leg_price(6.00, 6.40, -1, slippage) == sell


quote_pairs = st.tuples(
    st.floats(0.0, 500.0, allow_nan=False), st.floats(0.0, 20.0, allow_nan=False)
).map(lambda t: FakeQuote(round(t[0], 2), round(t[0] + t[1], 2)))


@given(
    quotes=st.lists(quote_pairs, min_size=4, max_size=4),
    ratios=st.lists(st.sampled_from([-3, -2, -1, 1, 2, 3]), min_size=4, max_size=4),
    quantity=st.integers(1, 50),
    slippage=st.floats(0.0, 1.0),
)
def test_leg_prices_add_up_exactly_to_the_net_price(
    quotes: list[FakeQuote], ratios: list[int], quantity: int, slippage: float
) -> None:
    contracts = [put(4800), put(4850), call(5150), call(5200)]
    snap = FakeSnapshot(TS, TS.date(), quotes=dict(zip(contracts, quotes, strict=True)))
    legs = [OrderLeg(c, r) for c, r in zip(contracts, ratios, strict=True)]
    priced = price_combo(legs, quantity, snap, BrokerConfig(slippage=slippage))
    assert not isinstance(priced, Unpriceable)
    leg_sum = sum(
        Decimal(r) * Decimal(repr(f.price)) for r, f in zip(ratios, priced.legs, strict=True)
    )
    assert Decimal(repr(priced.net_price)) == leg_sum
    for leg, fill, quote in zip(legs, priced.legs, quotes, strict=True):
        assert fill.quantity == leg.ratio * quantity
        assert Decimal(repr(fill.price)) == round(Decimal(repr(fill.price)), 4)
        assert quote.bid - 1e-9 <= fill.price <= quote.ask + 1e-9
    premium = sum(Decimal(f.quantity) * Decimal(repr(f.price)) * 100 for f in priced.legs)
    assert Decimal(repr(premium_cash(priced.legs))) == -premium
    assert priced.cash_change == premium_cash(priced.legs) - priced.fees


def test_fees_count_every_contract_of_every_leg() -> None:
    config = BrokerConfig()
    assert fees_for(condor_legs(), 3, config.fees) == pytest.approx(12 * 1.25)
    snap = FakeSnapshot(TS, TS.date(), quotes=CONDOR_QUOTES)
    priced = price_combo(condor_legs(), 3, snap, config)
    assert not isinstance(priced, Unpriceable)
    assert priced.fees == pytest.approx(15.0)


def test_market_condor_fills_every_leg_at_the_snapshot_time(tmp_path: Path) -> None:
    broker, events, _ = make_broker(tmp_path)
    broker.on_market_snapshot(FakeSnapshot(TS, TS.date(), quotes=CONDOR_QUOTES))
    events.clear()
    broker.on_submit_order(SubmitOrder("c1", "condor", condor_legs(), 2, reason="entry"))

    accepted, filled, marked = events
    assert isinstance(accepted, OrderAccepted) and accepted.order_id == "O00000001"
    assert isinstance(filled, OrderFilled)
    assert isinstance(marked, AccountMarked)
    assert filled.ts == TS and filled.fill_id == "F00000001" and filled.reason == "entry"
    assert [(f.quantity, f.price) for f in filled.legs] == [
        (2, 4.25),
        (-2, 6.10),
        (-2, 5.05),
        (2, 3.025),
    ]
    assert filled.net_price == pytest.approx(4.25 - 6.10 - 5.05 + 3.025)
    assert filled.net_price == -3.875
    assert filled.fees == pytest.approx(8 * 1.25)
    assert broker.portfolio.cash == pytest.approx(1_000_000 + 3.875 * 200 - 10.0)
    assert marked.cash == broker.portfolio.cash


def test_combo_with_an_unquoted_leg_fills_nothing(tmp_path: Path) -> None:
    broker, events, ledger = make_broker(tmp_path)
    quotes = dict(CONDOR_QUOTES)
    del quotes[call(5200)]
    broker.on_market_snapshot(FakeSnapshot(TS, TS.date(), quotes=quotes))
    events.clear()
    broker.on_submit_order(SubmitOrder("c1", "condor", condor_legs(), 1))

    [rejected] = events
    assert isinstance(rejected, OrderRejected)
    assert rejected.reason is RejectReason.NO_QUOTE
    assert "SPX 2025-03-21 C 5200" in rejected.message
    assert broker.portfolio.open_positions() == []
    assert broker.portfolio.cash == 1_000_000
    assert ledger.fill_count() == 0


def test_crossed_quote_is_rejected(tmp_path: Path) -> None:
    broker, events, _ = make_broker(tmp_path)
    quotes = dict(CONDOR_QUOTES)
    quotes[put(4850)] = FakeQuote(6.50, 6.40)
    broker.on_market_snapshot(FakeSnapshot(TS, TS.date(), quotes=quotes))
    events.clear()
    broker.on_submit_order(SubmitOrder("c1", "condor", condor_legs(), 1))

    [rejected] = events
    assert isinstance(rejected, OrderRejected)
    assert rejected.reason is RejectReason.CROSSED_QUOTE
    assert broker.portfolio.open_positions() == []


def _run_script(tmp_path: Path) -> list[object]:
    broker, events, ledger = make_broker(tmp_path)
    broker.on_market_snapshot(FakeSnapshot(TS, TS.date(), quotes=CONDOR_QUOTES))
    broker.on_submit_order(SubmitOrder("a", "condor", condor_legs(), 1))
    broker.on_submit_order(SubmitOrder("a", "condor", condor_legs(), 1))  # duplicate
    broker.on_submit_order(SubmitOrder("b", "condor", condor_legs(), 2))
    ledger.close()
    return events


def test_order_and_fill_ids_are_deterministic(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first = _run_script(tmp_path / "one")
    second = _run_script(tmp_path / "two")
    assert first == second
    fills = [e for e in first if isinstance(e, OrderFilled)]
    assert [(f.order_id, f.fill_id) for f in fills] == [
        ("O00000001", "F00000001"),
        ("O00000002", "F00000002"),
    ]

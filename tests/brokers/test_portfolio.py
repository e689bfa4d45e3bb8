"""Positions and P&L: average price, realized P&L, and conservation of cash across fills."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from broker_fakes import EXPIRY, TS, FakeQuote, FakeSnapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brokers.broker import PaperBroker
from brokers.config import BrokerConfig
from brokers.events import LegFill, OrderFilled
from brokers.ledger import Ledger
from brokers.orders import OrderIntent, OrderLeg, SubmitOrder
from brokers.portfolio import Portfolio, Position
from market.clock import SimulatedClock
from market.instruments import OptionContract, Right, Root

STRIKES = [4700.0 + 50 * i for i in range(13)]  # 4700 .. 5300
CONTRACTS = [OptionContract(Root.SPX, EXPIRY, k, r) for k in STRIKES for r in Right]


def opt(strike: float, right: Right = Right.PUT) -> OptionContract:
    return OptionContract(Root.SPX, EXPIRY, strike, right)


def fill(layer: str, *legs: tuple[OptionContract, int, float], fees: float = 0.0) -> OrderFilled:
    return OrderFilled(
        TS, "F1", "O1", "c", layer, OrderIntent.OPEN, "", 1, 0.0,
        tuple(LegFill(c, q, p) for c, q, p in legs), fees,
    )  # fmt: skip


# --- position arithmetic --------------------------------------------------------------------


def test_adding_to_a_position_averages_in() -> None:
    pos = Position("hedge", opt(5000), 2, 3.0).trade(1, 6.0)
    assert (pos.quantity, pos.avg_price, pos.realized_pnl) == (3, 4.0, 0.0)


def test_reducing_a_long_realizes_at_the_average() -> None:
    pos = Position("hedge", opt(5000), 3, 4.0).trade(-2, 5.5)
    assert (pos.quantity, pos.avg_price) == (1, 4.0)
    assert pos.realized_pnl == pytest.approx(1.5 * 2 * 100)


def test_reducing_a_short_realizes_with_the_short_sign() -> None:
    pos = Position("condor", opt(5000), -4, 6.0).trade(3, 2.0)
    assert (pos.quantity, pos.avg_price) == (-1, 6.0)
    assert pos.realized_pnl == pytest.approx(4.0 * 3 * 100)


def test_flipping_through_zero_realizes_then_opens_the_rest_at_the_fill() -> None:
    pos = Position("condor", opt(5000), 2, 4.0).trade(-5, 3.0)
    assert (pos.quantity, pos.avg_price) == (-3, 3.0)
    assert pos.realized_pnl == pytest.approx(-1.0 * 2 * 100)


def test_realized_pnl_is_net_of_fees_per_layer_and_in_total() -> None:
    p = Portfolio(10_000.0)
    p.apply_fill(fill("hedge", (opt(5000), 1, 2.0), fees=1.25))
    p.apply_fill(fill("hedge", (opt(5000), -1, 3.0), fees=1.25))
    p.apply_fill(fill("press", (opt(4800), 1, 1.0), fees=1.25))
    assert p.gross_realized_pnl("hedge") == pytest.approx(100.0)
    assert p.realized_pnl("hedge") == pytest.approx(97.5)
    assert p.realized_pnl("press") == pytest.approx(-1.25)
    assert p.realized_pnl() == pytest.approx(96.25)
    assert p.fees_paid == pytest.approx(3.75)
    assert p.fees_by_layer == {"hedge": 2.5, "press": 1.25}
    assert [q.layer for q in p.open_positions()] == ["press"]
    assert p.open_positions("hedge") == []


def test_same_contract_in_two_layers_is_two_positions() -> None:
    p = Portfolio(10_000.0)
    p.apply_fill(fill("hedge", (opt(5000), 1, 2.0)))
    p.apply_fill(fill("press", (opt(5000), -1, 2.0)))
    assert p.quantity("hedge", opt(5000)) == 1
    assert p.quantity("press", opt(5000)) == -1


# --- conservation of cash through the broker --------------------------------------------------


def random_quotes(rng: random.Random) -> dict[OptionContract, FakeQuote]:
    quotes = {}
    for c in CONTRACTS:
        if rng.random() < 0.05:
            continue  # an unquoted series now and then
        mid = round(rng.uniform(0.05, 120.0), 2)
        half = round(rng.uniform(0.0, 1.0), 2)
        quotes[c] = FakeQuote(max(0.0, round(mid - half, 2)), round(mid + half, 2))
    return quotes


def random_structure(rng: random.Random) -> tuple[OrderLeg, ...]:
    lo, hi = sorted(rng.sample(range(len(STRIKES)), 2))
    if rng.random() < 0.5:  # vertical
        right = rng.choice(list(Right))
        short, long_ = (hi, lo) if right is Right.PUT else (lo, hi)
        if rng.random() < 0.3:
            short, long_ = long_, short  # a debit spread
        return (OrderLeg(opt(STRIKES[long_], right), 1), OrderLeg(opt(STRIKES[short], right), -1))
    a, b, c, d = sorted(rng.sample(range(len(STRIKES)), 4))
    return (
        OrderLeg(opt(STRIKES[a], Right.PUT), 1),
        OrderLeg(opt(STRIKES[b], Right.PUT), -1),
        OrderLeg(opt(STRIKES[c], Right.CALL), -1),
        OrderLeg(opt(STRIKES[d], Right.CALL), 1),
    )


def close_layer(broker: PaperBroker, layer: str, cid: str, fraction: float) -> None:
    positions = broker.portfolio.open_positions(layer)
    if not positions:
        return
    legs = []
    for p in positions:
        size = max(1, round(abs(p.quantity) * fraction))
        legs.append(OrderLeg(p.contract, -size if p.quantity > 0 else size))
    broker.on_submit_order(SubmitOrder(cid, layer, tuple(legs), 1, intent=OrderIntent.CLOSE))


def assert_conserved(broker: PaperBroker, start: float) -> None:
    p = broker.portfolio
    marks = broker.marks()
    lhs = p.equity(marks) - start
    rhs = p.realized_pnl() + p.unrealized_pnl(marks)
    assert lhs == pytest.approx(rhs, rel=1e-9, abs=1e-6)
    # The same identity spelled out: cash moved + value held = realized gross + open - fees.
    delta_cash = p.cash - start
    assert delta_cash + p.position_value(marks) == pytest.approx(
        p.gross_realized_pnl() + p.unrealized_pnl(marks) - p.fees_paid, rel=1e-9, abs=1e-6
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    steps=st.integers(1, 25),
    slippage=st.floats(0.0, 1.0),
    soq=st.floats(4600.0, 5400.0, allow_nan=False),
)
def test_equity_change_is_realized_plus_unrealized_at_every_step(
    seed: int, steps: int, slippage: float, soq: float
) -> None:
    rng = random.Random(seed)
    start = 1_000_000.0
    events: list[object] = []
    ledger = Ledger.open(Path(":memory:"))
    broker = PaperBroker(
        BrokerConfig(starting_equity=start, slippage=slippage),
        ledger,
        events.append,
        SimulatedClock(TS),
    )
    layers = ["condor", "press", "hedge"]
    for step in range(steps):
        ts = TS + timedelta(minutes=step)
        broker.on_market_snapshot(FakeSnapshot(ts, ts.date(), quotes=random_quotes(rng)))
        for n in range(rng.randint(0, 3)):
            layer = rng.choice(layers)
            if rng.random() < 0.6:
                broker.on_submit_order(
                    SubmitOrder(f"o{step}-{n}", layer, random_structure(rng), rng.randint(1, 5))
                )
            else:
                close_layer(broker, layer, f"x{step}-{n}", rng.random())
            assert_conserved(broker, start)

    # Flatten everything at market where it can, settle the rest at a random SOQ.
    final = TS + timedelta(minutes=steps)
    full_quotes = {c: FakeQuote(1.0, 1.2) for c in CONTRACTS}
    broker.on_market_snapshot(FakeSnapshot(final, final.date(), quotes=full_quotes))
    for layer in layers:
        if rng.random() < 0.5:
            close_layer(broker, layer, f"flat-{layer}", 1.0)
        assert_conserved(broker, start)
    expiry_open = datetime(2025, 3, 21, 13, 30, tzinfo=UTC)
    broker.on_market_snapshot(FakeSnapshot(expiry_open, EXPIRY, soq=round(soq, 2)))
    assert broker.portfolio.open_positions() == []
    assert_conserved(broker, start)

    fills = [e for e in events if isinstance(e, OrderFilled)]
    settled_cash = sum(s["cash"] for s in ledger.settlements())
    cash_moves = sum(f.cash_change for f in fills) + settled_cash
    assert broker.portfolio.realized_pnl() == pytest.approx(cash_moves, rel=1e-9, abs=1e-6)
    assert broker.portfolio.cash - start == pytest.approx(cash_moves, rel=1e-9, abs=1e-6)
    assert ledger.fill_count() == len(fills) == broker.stats.fills
    ledger.close()

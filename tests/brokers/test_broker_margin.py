"""Margin: defined-risk requirement, buying-power effect, naked shorts and buying-power rejects."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from broker_fakes import EXPIRY, TS, FakeQuote, FakeSnapshot, call, put

from brokers.broker import PaperBroker
from brokers.config import BrokerConfig
from brokers.events import LegFill, OrderFilled, OrderRejected, RejectReason
from brokers.ledger import Ledger
from brokers.orders import OrderIntent, OrderLeg, SubmitOrder
from brokers.portfolio import Portfolio, group_risk
from market.clock import SimulatedClock
from market.instruments import Root

QUOTES = {
    put(4800): FakeQuote(4.00, 4.00),
    put(4850): FakeQuote(6.00, 6.00),
    call(5150): FakeQuote(5.00, 5.00),
    call(5200): FakeQuote(3.00, 3.00),
    call(5250): FakeQuote(1.50, 1.50),
    put(4800, date(2025, 4, 17)): FakeQuote(9.00, 9.00),
}

# Put wing 50 wide, call wing 100 wide.
CONDOR = (
    OrderLeg(put(4800), 1),
    OrderLeg(put(4850), -1),
    OrderLeg(call(5150), -1),
    OrderLeg(call(5250), 1),
)


def make_broker(
    tmp_path: Path, starting_equity: float = 1_000_000.0
) -> tuple[PaperBroker, list[object]]:
    events: list[object] = []
    config = BrokerConfig(starting_equity=starting_equity, slippage=0.0)
    broker = PaperBroker(
        config, Ledger.open(tmp_path / "ledger.sqlite"), events.append, SimulatedClock(TS)
    )
    broker.on_market_snapshot(FakeSnapshot(TS, TS.date(), quotes=QUOTES))
    events.clear()
    return broker, events


@pytest.mark.parametrize("quantity", [1, 3])
def test_iron_condor_requirement_is_the_wider_wing_times_100_times_quantity(
    quantity: int,
) -> None:
    holdings = {leg.contract: leg.ratio * quantity for leg in CONDOR}
    risk = group_risk(holdings)
    assert risk.requirement == 100 * 100 * quantity
    assert not risk.naked


def test_broker_holds_the_condor_requirement_and_charges_requirement_less_credit(
    tmp_path: Path,
) -> None:
    broker, events = make_broker(tmp_path)
    before = broker.buying_power()
    broker.on_submit_order(SubmitOrder("c1", "condor", CONDOR, 2))
    fill = next(e for e in events if isinstance(e, OrderFilled))
    credit = -fill.net_price * 2 * 100  # 4 - 6 - 5 + 1.5 = -5.5 -> 1,100 dollars
    assert credit == pytest.approx(1_100.0)
    assert broker.portfolio.requirement("condor") == 20_000.0
    assert broker.portfolio.requirements() == {("condor", Root.SPX, EXPIRY): 20_000.0}
    assert before - broker.buying_power() == pytest.approx(20_000.0 - credit + fill.fees)


def test_buying_power_effect_shows_requirement_change_and_credit() -> None:
    portfolio = Portfolio(100_000.0)
    legs = [LegFill(leg.contract, leg.ratio, 1.0) for leg in CONDOR]
    legs[1] = LegFill(put(4850), -1, 3.0)  # net credit 2.0 points
    effect = portfolio.buying_power_effect("condor", legs, fees=5.0)
    assert effect.requirement_change == 10_000.0
    assert effect.credit == pytest.approx(200.0)
    assert effect.total == pytest.approx(10_000.0 - 200.0 + 5.0)
    assert not effect.naked


def test_requirements_are_per_layer_and_expiry() -> None:
    later = date(2025, 4, 17)
    holdings_a = {put(4800): 1, put(4850): -1}
    holdings_b = {put(4800, later): -1, put(4850, later): 1}
    # A short put vertical must not be netted against a long one in another expiry.
    assert group_risk(holdings_a).requirement == 5_000.0
    assert group_risk(holdings_b).requirement == 0.0


def test_long_option_is_paid_in_full(tmp_path: Path) -> None:
    broker, _ = make_broker(tmp_path)
    before = broker.buying_power()
    broker.on_submit_order(SubmitOrder("h1", "hedge", (OrderLeg(call(5200), 1),), 10))
    assert broker.portfolio.requirement() == 0.0
    assert before - broker.buying_power() == pytest.approx(3.00 * 100 * 10 + 10 * 1.25)


@pytest.mark.parametrize(
    "legs",
    [
        pytest.param((OrderLeg(call(5150), -1),), id="naked-call"),
        pytest.param((OrderLeg(put(4850), -1),), id="naked-put"),
        pytest.param((OrderLeg(call(5150), 1), OrderLeg(call(5200), -2)), id="call-ratio-spread"),
        pytest.param(
            (OrderLeg(put(4850), -1), OrderLeg(put(4800, date(2025, 4, 17)), 1)),
            id="put-covered-in-another-expiry",
        ),
    ],
)
def test_naked_short_options_are_rejected(tmp_path: Path, legs: tuple[OrderLeg, ...]) -> None:
    broker, events = make_broker(tmp_path)
    broker.on_submit_order(SubmitOrder("n1", "press", legs, 1))
    [rejected] = events
    assert isinstance(rejected, OrderRejected)
    assert rejected.reason is RejectReason.NAKED_SHORT
    assert broker.portfolio.open_positions() == []


def test_short_covered_by_another_layers_long_is_still_naked(tmp_path: Path) -> None:
    broker, events = make_broker(tmp_path)
    broker.on_submit_order(SubmitOrder("h1", "hedge", (OrderLeg(call(5200), 1),), 1))
    broker.on_submit_order(SubmitOrder("p1", "press", (OrderLeg(call(5150), -1),), 1))
    assert isinstance(events[-1], OrderRejected)
    assert events[-1].reason is RejectReason.NAKED_SHORT


def test_closing_one_wing_that_leaves_a_naked_short_is_rejected(tmp_path: Path) -> None:
    broker, events = make_broker(tmp_path)
    broker.on_submit_order(SubmitOrder("c1", "condor", CONDOR, 1))
    close_wing = (OrderLeg(call(5250), -1),)
    broker.on_submit_order(SubmitOrder("x1", "condor", close_wing, 1, intent=OrderIntent.CLOSE))
    assert isinstance(events[-1], OrderRejected)
    assert events[-1].reason is RejectReason.NAKED_SHORT


def test_opening_beyond_buying_power_is_rejected(tmp_path: Path) -> None:
    broker, events = make_broker(tmp_path, starting_equity=25_000.0)
    broker.on_submit_order(SubmitOrder("c1", "condor", CONDOR, 2))  # needs 20,000 - 1,100 + fees
    broker.on_submit_order(SubmitOrder("c2", "condor", CONDOR, 1))  # needs 10,000 - 550 more
    rejected = events[-1]
    assert isinstance(rejected, OrderRejected)
    assert rejected.reason is RejectReason.INSUFFICIENT_BUYING_POWER
    assert "requirement change 10000.00" in rejected.message
    assert broker.portfolio.quantity("condor", put(4850)) == -2
    assert broker.stats.rejects_by_reason == {"insufficient_buying_power": 1}


def test_closing_is_never_rejected_for_buying_power(tmp_path: Path) -> None:
    broker, events = make_broker(tmp_path, starting_equity=9_455.0)
    broker.on_submit_order(SubmitOrder("c1", "condor", CONDOR, 1))
    assert isinstance(events[1], OrderFilled)
    assert broker.buying_power() == pytest.approx(0.0)
    # A gap through the call wing (quotes past the wing width): buying back costs more than the
    # whole account's spare buying power, and the close still fills.
    gapped = dict(QUOTES)
    gapped[call(5150)] = FakeQuote(150.0, 150.0)
    broker.on_market_snapshot(FakeSnapshot(TS, TS.date(), quotes=gapped))
    close = tuple(OrderLeg(leg.contract, -leg.ratio) for leg in CONDOR)
    broker.on_submit_order(SubmitOrder("x1", "condor", close, 1, intent=OrderIntent.CLOSE))
    assert isinstance(events[-2], OrderFilled)
    assert broker.portfolio.open_positions() == []
    assert broker.buying_power() < 0


def test_accepted_order_shows_requirement_change_and_buying_power_effect_apart(
    tmp_path: Path,
) -> None:
    """An iron condor holds its wider wing x 100 x qty; it consumes that less the credit, plus fees."""
    from brokers.events import OrderAccepted, OrderFilled

    broker, events = make_broker(tmp_path)
    broker.on_submit_order(SubmitOrder("ic", "condor", CONDOR, 2))
    [accepted] = [e for e in events if isinstance(e, OrderAccepted)]
    [fill] = [e for e in events if isinstance(e, OrderFilled)]
    credit = -fill.net_price * 100 * 2
    wider = max(
        CONDOR[1].contract.strike - CONDOR[0].contract.strike,
        CONDOR[3].contract.strike - CONDOR[2].contract.strike,
    )
    assert accepted.requirement_change == pytest.approx(wider * 100 * 2)
    assert accepted.buying_power_effect == pytest.approx(wider * 100 * 2 - credit + fill.fees)

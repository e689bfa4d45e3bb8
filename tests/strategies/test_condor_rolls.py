"""Theta inversion and the time-shift roll (SPEC section 6) against real snapshots, and the roll
building blocks (merged combo legs, the inversion test, the next free expiry, the delta band's
no-crossing rule).

Efficiencies, credits, sizes and greeks are recomputed here from the snapshots' own quotes and
``option_greeks``.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from brokers.broker import PaperBroker
from brokers.config import BrokerConfig
from brokers.events import (
    AccountMarked,
    LegFill,
    OrderFilled,
    OrderRejected,
    RejectReason,
)
from brokers.ledger import Ledger
from brokers.orders import OrderIntent, OrderLeg, SubmitOrder
from brokers.portfolio import Position
from market.calendar import NEW_YORK
from market.clock import SimulatedClock
from market.instruments import OptionContract, Right, Root
from market.snapshot import MarketSnapshot
from strategies.condor import CondorActor
from strategies.condor_legs import Condor, CondorState, condor_legs
from strategies.condor_rolls import delta_band_plan, inversion_reason, merge_legs, next_free_expiry
from strategies.config import CondorConfig, StrategyConfig
from strategies.events import CondorGreeks, CondorRolled, ExitRule, ExitTriggered
from strategies.state import MarketState

FEB, MAR, APR, MAY = date(2025, 2, 21), date(2025, 3, 21), date(2025, 4, 17), date(2025, 5, 16)
DAYS = [date(2025, 1, d) for d in (2, 3, 6, 7, 8, 9, 10)]
"""Sessions 0..6: the entry at 6,000 on the first, the VIX above 16 from the second."""
EQUITY = 1_000_000.0


def snap_on(day: date, spx: float, vix: float, minute: int = 0) -> MarketSnapshot:
    ts = datetime(day.year, day.month, day.day, 15, tzinfo=UTC) + timedelta(minutes=minute)
    return MarketSnapshot(day.toordinal() * 1000 + minute, ts, day, spx, vix)


class Desk:
    """One condor actor, its market state and everything they published."""

    def __init__(self, **condor: object) -> None:
        self.out: list[object] = []
        self.config = StrategyConfig(condor=CondorConfig(**condor))
        self.state = MarketState(self.config, self.out.append)
        self.actor = CondorActor(self.config, self.state, self.out.append, EQUITY)

    def step(self, snap: MarketSnapshot) -> list[SubmitOrder]:
        mark = len(self.out)
        self.state.on_market_snapshot(snap)
        self.actor.on_market_snapshot(snap)
        return [e for e in self.out[mark:] if isinstance(e, SubmitOrder)]

    def fill(self, order: SubmitOrder, snap: MarketSnapshot) -> OrderFilled:
        """Fill ``order`` at the mids of ``snap`` and hand the fill to the actor."""
        legs = tuple(
            LegFill(leg.contract, leg.ratio * order.quantity, mid(snap, leg.contract))
            for leg in order.legs
        )
        net = math.fsum(leg.ratio * mid(snap, leg.contract) for leg in order.legs)
        filled = OrderFilled(
            snap.ts, "F", "O", order.client_order_id, order.layer, order.intent, order.reason,
            order.quantity, net, legs, 0.0,
        )  # fmt: skip
        self.actor.on_order_filled(filled)
        return filled

    def rolled(self) -> list[CondorRolled]:
        return [e for e in self.out if isinstance(e, CondorRolled)]


def mid(snap: MarketSnapshot, contract: object) -> float:
    assert isinstance(contract, OptionContract)
    quote = snap.quote(contract)
    assert quote is not None
    return quote.mid


def greeks_of(snap: MarketSnapshot, legs: tuple[OrderLeg, ...]) -> CondorGreeks:
    """Per-unit condor greeks from ``snap.option_greeks``: sum of ratio x leg greek."""
    delta = vega = short = wing = 0.0
    for leg in legs:
        assert isinstance(leg.contract, OptionContract)
        g = snap.option_greeks(leg.contract)
        assert g is not None
        delta += leg.ratio * float(g.delta)
        vega += leg.ratio * float(g.vega)
        if leg.ratio < 0:
            short -= float(g.theta)
        else:
            wing -= float(g.theta)
    return CondorGreeks(delta, vega, short - wing, short, wing)


def is_inverted(snap: MarketSnapshot, legs: tuple[OrderLeg, ...], entry_efficiency: float) -> bool:
    g = greeks_of(snap, legs)
    efficiency = g.theta / g.short_theta
    return snap.vix > 16.0 and (
        g.short_theta <= 0 or g.theta <= 0 or efficiency < 0.5 * entry_efficiency
    )


def efficiency(snap: MarketSnapshot, legs: tuple[OrderLeg, ...]) -> float:
    g = greeks_of(snap, legs)
    return g.theta / g.short_theta


def natural_credit(snap: MarketSnapshot, legs: tuple[OrderLeg, ...]) -> float:
    """Credit selling at the bid and buying at the ask."""
    total = 0.0
    for leg in legs:
        quote = snap.quote(leg.contract)
        assert quote is not None
        total -= leg.ratio * (quote.ask if leg.ratio > 0 else quote.bid)
    return total


def credit_of(snap: MarketSnapshot, legs: tuple[OrderLeg, ...]) -> float:
    return -math.fsum(leg.ratio * mid(snap, leg.contract) for leg in legs)


def assert_greeks_match(actual: CondorGreeks, expected: CondorGreeks) -> None:
    for name in ("delta", "vega", "theta", "short_theta", "wing_theta"):
        assert getattr(actual, name) == pytest.approx(getattr(expected, name), rel=1e-9, abs=1e-12)


def opened(desk: Desk) -> tuple[SubmitOrder, MarketSnapshot]:
    snap = snap_on(DAYS[0], 6000.0, 13.0)
    (entry,) = desk.step(snap)
    desk.fill(entry, snap)
    return entry, snap


def split(order: SubmitOrder, expiry: date) -> tuple[OrderLeg, ...]:
    return tuple(leg for leg in order.legs if leg.contract.expiry == expiry)


# -- the time-shift ------------------------------------------------------------------------------


def test_an_inverted_condor_is_rolled_whole_into_the_next_monthly_as_one_eight_leg_order() -> None:
    desk = Desk()
    entry, s0 = opened(desk)
    s1 = snap_on(DAYS[1], 5700.0, 20.0)
    assert is_inverted(s1, entry.legs, efficiency(s0, entry.legs))

    (roll,) = desk.step(s1)
    assert roll.intent is OrderIntent.OPEN and roll.reason == "time_shift"
    assert len(roll.legs) == 8 and roll.quantity == entry.quantity
    # the four old legs are closed ...
    assert {(leg.contract, -leg.ratio) for leg in split(roll, FEB)} == {
        (leg.contract, leg.ratio) for leg in entry.legs
    }
    # ... and a new condor opens in March, its break-evens outside 0.75 x the expected move
    new = split(roll, MAR)
    assert sorted(leg.ratio for leg in new) == [-1, -1, 1, 1]
    k = {(leg.contract.right, leg.ratio): leg.contract.strike for leg in new}  # type: ignore[union-attr]
    years = (datetime(2025, 3, 21, 9, 30, tzinfo=NEW_YORK) - s1.ts).total_seconds() / (365 * 86400)
    move = 0.75 * s1.spx * s1.surface.atm_vol(years) * math.sqrt(years)
    credit = credit_of(s1, new)
    assert k[(Right.PUT, -1)] - credit <= s1.spx - move
    assert k[(Right.CALL, -1)] + credit >= s1.spx + move
    assert k[(Right.PUT, -1)] <= s1.chain(MAR).strike_nearest_delta(Right.PUT, 0.16)
    assert k[(Right.CALL, -1)] >= s1.chain(MAR).strike_nearest_delta(Right.CALL, 0.16)
    # the same size still fits within 5% of equity at the natural price
    natural = natural_credit(s1, new)
    width = k[(Right.PUT, -1)] - k[(Right.PUT, 1)]
    assert math.floor(0.05 * EQUITY / ((width - natural) * 100)) >= entry.quantity

    desk.fill(roll, s1)
    (rolled,) = desk.rolled()
    assert (rolled.kind, rolled.reason) == ("time_shift", "theta_inversion")
    assert (rolled.old_expiry, rolled.new_expiry, rolled.quantity) == (FEB, MAR, entry.quantity)
    assert_greeks_match(rolled.before, greeks_of(s1, entry.legs))
    assert_greeks_match(rolled.after, greeks_of(s1, new))
    assert desk.actor.stats.rolls == {"time_shift": 1}
    assert (desk.actor.stats.opened, desk.actor.stats.closed) == (1, 0)
    (condor,) = desk.actor.open_condors()
    assert condor.expiry == MAR and condor.state is CondorState.OPEN


def test_the_stop_measures_the_new_condors_credit_after_a_roll() -> None:
    desk = Desk()
    entry, _ = opened(desk)
    s1 = snap_on(DAYS[1], 5700.0, 20.0)
    (roll,) = desk.step(s1)
    desk.fill(roll, s1)
    new = split(roll, MAR)
    new_credit = credit_of(s1, new)  # the new legs' own fill prices (filled at mid)
    (rolled,) = desk.rolled()
    assert rolled.credit == pytest.approx(new_credit)
    # net price per unit: close the old condor, open the new one
    assert rolled.net_price == pytest.approx(credit_of(s1, entry.legs) - new_credit)

    crash = snap_on(DAYS[2], 5000.0, 25.0)
    cost = credit_of(crash, new)  # cost to close at mid: the same sum as a credit
    assert cost >= 2.0 * new_credit
    desk.step(crash)
    (stop,) = [e for e in desk.out if isinstance(e, ExitTriggered)]
    assert stop.rule is ExitRule.CREDIT_STOP
    assert stop.credit == pytest.approx(new_credit) and stop.cost_to_close == pytest.approx(cost)


def test_a_condor_rolls_at_most_once_per_roll_cooldown_sessions() -> None:
    desk = Desk()  # roll_cooldown 5
    opened(desk)
    s1 = snap_on(DAYS[1], 5700.0, 20.0)
    (roll,) = desk.step(s1)
    desk.fill(roll, s1)
    march = split(roll, MAR)
    entry_efficiency = efficiency(s1, march)
    sent: list[int] = []
    for n, day in enumerate(DAYS[2:], start=2):
        snap = snap_on(day, 5300.0, 22.0)
        assert is_inverted(snap, march, entry_efficiency)  # inverted on every one of them
        assert credit_of(snap, march) < 2.0 * credit_of(s1, march)  # and no stop
        if desk.step(snap):
            sent.append(n)
            (again,) = [e for e in desk.out if isinstance(e, SubmitOrder)][-1:]
            assert {leg.contract.expiry for leg in again.legs} == {MAR, APR}
    assert sent == [6]  # session 1 rolled; sessions 2-5 wait; session 6 may roll again


def test_the_roll_skips_expiries_that_hold_another_condor() -> None:
    desk = Desk()
    first, _ = opened(desk)  # February
    s = snap_on(date(2025, 1, 21), 6000.0, 13.0)  # March is now 59 days out: a second condor
    (second,) = desk.step(s)
    assert {leg.contract.expiry for leg in second.legs} == {MAR}
    desk.fill(second, s)

    s = snap_on(date(2025, 1, 22), 5700.0, 20.0)
    rolls = desk.step(s)
    # both are inverted: February skips March (taken) for April; March then skips April
    # (February is rolling into it) for May
    assert [sorted({leg.contract.expiry for leg in r.legs}) for r in rolls] == [
        [FEB, APR],
        [MAR, MAY],
    ]


def test_no_free_later_expiry_skips_the_roll_with_a_logged_reason() -> None:
    desk = Desk(max_condors=1)
    s0 = snap_on(DAYS[0], 6000.0, 13.0)
    legs = condor_legs(APR, 5600.0, 6300.0, 60.0)  # April: the last monthly listed in January
    held = [Position("condor", leg.contract, leg.ratio, mid(s0, leg.contract)) for leg in legs]
    assert desk.actor.adopt(held, ["condor-000004"]) == []
    desk.step(s0)  # an adopted condor takes its entry efficiency at its first check
    s1 = snap_on(DAYS[1], 5650.0, 20.0)
    assert is_inverted(s1, legs, efficiency(s0, legs))
    with capture_logs() as logs:
        orders = desk.step(s1)
        desk.step(snap_on(DAYS[1], 5650.0, 20.0, minute=60))
    assert orders == []
    skipped = [e for e in logs if e["event"] == "condor_roll_skipped"]
    assert [e["reason"] for e in skipped] == ["no_free_later_expiry"]  # once a session
    assert skipped[0]["kind"] == "time_shift" and skipped[0]["vix"] == 20.0
    assert desk.actor.open_condors()[0].position_id == "IC-000005"  # ids go on after the ledger's


def test_the_new_size_is_cut_to_the_risk_limit_within_one_order() -> None:
    desk = Desk()
    entry, s0 = opened(desk)
    equity = 150_000.0
    desk.actor.on_account_marked(AccountMarked(s0.ts, equity, equity, 0, 0, 0, equity))
    s1 = snap_on(DAYS[1], 5700.0, 20.0)
    (roll,) = desk.step(s1)
    old = {leg.ratio * roll.quantity for leg in split(roll, FEB)}
    new = split(roll, MAR)
    natural = natural_credit(s1, new)
    strikes = sorted(leg.contract.strike for leg in new)  # type: ignore[union-attr]
    width = strikes[1] - strikes[0]
    fits = math.floor(0.05 * equity / ((width - natural) * 100))
    assert 1 <= fits < entry.quantity
    assert old == {entry.quantity, -entry.quantity}  # the whole old condor closes
    assert {leg.ratio * roll.quantity for leg in new} == {fits, -fits}
    desk.fill(roll, s1)
    (rolled,) = desk.rolled()
    assert rolled.quantity == fits == desk.actor.open_condors()[0].quantity
    assert rolled.credit == pytest.approx(credit_of(s1, new))


def test_a_roll_that_would_not_fit_one_contract_is_skipped() -> None:
    desk = Desk()
    _, s0 = opened(desk)
    desk.actor.on_account_marked(AccountMarked(s0.ts, 40_000.0, 40_000.0, 0, 0, 0, 40_000.0))
    with capture_logs() as logs:
        assert desk.step(snap_on(DAYS[1], 5700.0, 20.0)) == []
    (skipped,) = [e for e in logs if e["event"] == "condor_roll_skipped"]
    assert skipped["reason"] == "size_below_one_contract"


def test_no_time_shift_while_the_vix_is_at_or_below_sixteen() -> None:
    desk = Desk()
    entry, s0 = opened(desk)
    calm = snap_on(DAYS[1], 5800.0, 13.0)
    g = greeks_of(calm, entry.legs)
    assert g.theta / g.short_theta < 0.5 * efficiency(s0, entry.legs)  # efficiency collapsed
    assert desk.step(calm) == []


def test_a_rejected_roll_keeps_the_old_condor_and_waits_for_the_next_session() -> None:
    desk = Desk()
    entry, _ = opened(desk)
    s1 = snap_on(DAYS[1], 5700.0, 20.0)
    (roll,) = desk.step(s1)
    desk.actor.on_order_rejected(
        OrderRejected(s1.ts, roll.client_order_id, "condor", RejectReason.TRADING_PAUSED, "")
    )
    (condor,) = desk.actor.open_condors()
    assert condor.state is CondorState.OPEN and condor.legs == entry.legs
    assert desk.step(snap_on(DAYS[1], 5700.0, 20.0, minute=60)) == []
    (again,) = desk.step(snap_on(DAYS[2], 5700.0, 20.0))
    assert again.reason == "time_shift"
    assert desk.actor.stats.rolls == {}


def test_a_roll_through_the_paper_broker_leaves_only_the_new_condor(tmp_path: Path) -> None:
    desk = Desk()
    s0 = snap_on(DAYS[0], 6000.0, 13.0)
    events: list[object] = []
    clock = SimulatedClock(s0.ts)
    ledger = Ledger.open(tmp_path / "ledger.sqlite")
    broker = PaperBroker(BrokerConfig(), ledger, events.append, clock)
    for snap in (s0, snap_on(DAYS[1], 5700.0, 20.0)):
        clock.advance_to(snap.ts)
        broker.on_market_snapshot(snap)
        for order in desk.step(snap):
            mark = len(events)
            broker.on_submit_order(order)
            for event in events[mark:]:
                if isinstance(event, OrderFilled):
                    desk.actor.on_order_filled(event)
                assert not isinstance(event, OrderRejected), event
    ledger.close()
    (rolled,) = desk.rolled()
    (condor,) = desk.actor.open_condors()
    held = {
        (p.contract, p.quantity // condor.quantity)
        for p in broker.portfolio.open_positions()
        if p.layer == "condor"
    }
    assert held == {(leg.contract, leg.ratio) for leg in condor.legs}
    assert {c.expiry for c, _ in held} == {MAR}
    fills = [e for e in events if isinstance(e, OrderFilled)]
    prices = {leg.contract: leg.price for leg in fills[-1].legs}
    assert rolled.credit == pytest.approx(
        -sum(leg.ratio * prices[leg.contract] for leg in condor.legs)
    )


# -- building blocks -----------------------------------------------------------------------------


def test_merged_legs_add_ratios_of_the_same_contract_and_drop_zeros() -> None:
    a = OptionContract(Root.SPX, FEB, 6000.0, Right.CALL)
    b = OptionContract(Root.SPX, FEB, 6060.0, Right.CALL)
    c = OptionContract(Root.SPX, FEB, 6120.0, Right.CALL)
    merged = merge_legs(
        (OrderLeg(a, 1), OrderLeg(b, -1)),  # close a short 6000 / long 6060 vertical
        (OrderLeg(b, -1), OrderLeg(c, 1), OrderLeg(a, -1)),
    )
    assert merged == (OrderLeg(b, -2), OrderLeg(c, 1))


@pytest.mark.parametrize(
    ("short", "wing", "entry", "expected"),
    [
        (1.0, 0.5, 0.6, None),  # efficiency 0.5 >= 0.5 x 0.6
        (1.0, 0.8, 0.6, "efficiency"),  # 0.2 < 0.3
        (1.0, 1.0, 0.6, "net_theta"),
        (-0.1, 0.2, 0.6, "short_theta"),
        (1.0, 0.9, math.nan, None),  # no entry level: only the theta signs count
    ],
)
def test_inversion_conditions(
    short: float, wing: float, entry: float, expected: str | None
) -> None:
    greeks = CondorGreeks(0.0, 0.0, short - wing, short, wing)
    assert inversion_reason(greeks, entry, 0.5) == expected


def test_next_free_expiry_is_the_first_later_monthly_without_a_condor() -> None:
    listed = (FEB, MAR, APR, MAY)
    assert next_free_expiry(listed, FEB, [MAR]) == APR
    assert next_free_expiry(listed, MAR, []) == APR
    assert next_free_expiry(listed, MAR, [APR, MAY]) is None


def test_the_delta_band_never_moves_a_short_across_the_other_side() -> None:
    # a crash below the short put: the call side's target-delta strike would sit under it
    condor = Condor("IC-1", FEB, condor_legs(FEB, 5675.0, 6240.0, 60.0), 1, CondorState.OPEN)
    snap = snap_on(DAYS[1], 5000.0, 30.0)
    assert snap.chain(FEB).strike_nearest_delta(Right.CALL, 0.16) < 5675.0
    before = greeks_of(snap, condor.legs)
    plan = delta_band_plan(snap, condor, Right.CALL, 0.16, before)
    assert not isinstance(plan, str)
    new_calls = sorted(
        (leg.contract.strike, leg.ratio)  # type: ignore[union-attr]
        for leg in plan.new_legs
        if leg.contract.right is Right.CALL  # type: ignore[union-attr]
    )
    assert new_calls == [(5680.0, -1), (5740.0, 1)]  # one strike above the short put, same width

"""The hedge floor: with the condor book flat or small, layer 2 sizes from ``floor_fraction`` x
the reference condor, for ``floor_sessions`` sessions after the condor layer last held or traded
a condor (``hedge.floor_fraction``, ``hedge.floor_sessions``)."""

from __future__ import annotations

import math
from datetime import date

import pytest
from test_hedge import (
    DEFAULT_BETA,
    FRONT,
    Book,
    Harness,
    expected_n_vx,
    recomputed_target,
    session,
    snap,
)

from brokers.greeks import LayerGreeks
from brokers.orders import OrderIntent
from brokers.portfolio import Position
from market.instruments import FutureContract, FutureRoot
from market.snapshot import MarketSnapshot
from strategies.events import HedgeCarryCapped, HedgeRebalanced, PositionClosed, Regime
from strategies.hedge import HedgeActor
from strategies.reference_condor import ReferenceCondor

REF_VEGA, REF_THETA = -8_000.0, 4_000.0


class Reference:
    """A fake of the condor layer's reference condor."""

    def __init__(self, vega: float = REF_VEGA, theta: float = REF_THETA) -> None:
        self.vega, self.theta = vega, theta
        self.calls = 0

    def __call__(self, snap: MarketSnapshot) -> ReferenceCondor | None:
        self.calls += 1
        greeks = LayerGreeks(vega_dollars=self.vega, theta_per_day=self.theta)
        return ReferenceCondor(date(2025, 3, 21), 10, greeks)


def harness(
    book: Book | None = None, reference: Reference | None = None, **hedge: object
) -> Harness:
    h = Harness(book or Book(vega=0.0, theta=0.0), **hedge)
    h.reference = reference or Reference()  # type: ignore[attr-defined]
    h.actor = HedgeActor(h.config, h.state, h.out.append, 1e6, h.book, h.reference)  # type: ignore[attr-defined]
    return h


def only(events: list[HedgeRebalanced]) -> HedgeRebalanced:
    assert len(events) == 1, events
    return events[0]


def test_a_flat_book_just_after_a_condor_is_hedged_at_the_floor() -> None:
    h = harness()
    h.step(snap(vix=13.0))  # CALM: the layer's condor closes on this session
    h.actor.on_condor_changed(object())
    h.step(snap(session(1), vix=18.0, front=19.0))
    ev = only(h.rebalances())
    assert ev.base == "floor" and ev.book_vega_dollars == 0.0
    assert ev.vega_dollars == pytest.approx(0.5 * REF_VEGA)
    assert ev.theta_income_per_day == pytest.approx(0.5 * REF_THETA)
    n = expected_n_vx(0.5 * REF_VEGA, 19.0, 18.0)
    assert ev.n_vx == pytest.approx(n) and ev.beta == DEFAULT_BETA
    assert ev.target == math.floor(n * 10 + 0.5) == recomputed_target(ev, 10.0) > 0
    (order,) = h.orders()
    assert order.intent is OrderIntent.OPEN and order.reason == "entry"
    assert order.legs[0].contract.symbol == f"VXM {FRONT.isoformat()}"
    assert order.quantity == ev.target


def test_without_a_condor_in_the_window_there_is_no_floor() -> None:
    never = harness()
    never.step(snap(vix=18.0))
    assert never.orders() == [] and never.rebalances() == []
    stale = harness(floor_sessions=2)
    stale.step(snap(vix=13.0))
    stale.actor.on_condor_changed(object())  # session 0
    for n in (1, 2):
        stale.step(snap(session(n), vix=13.0))
    stale.step(snap(session(3), vix=18.0))  # 3 sessions later: outside a window of 2
    assert stale.orders() == [] and stale.rebalances() == []


def test_the_floor_hedge_is_closed_when_its_window_ends() -> None:
    h = harness(floor_sessions=2)
    h.step(snap(vix=13.0))
    h.actor.on_condor_changed(object())
    h.step(snap(session(1), vix=18.0))
    held = only(h.rebalances()).target
    assert held > 0 and h.actor.held() == held
    h.step(snap(session(2), vix=18.0))  # still inside: the target has not moved, no trade
    assert len(h.orders()) == 1
    h.step(snap(session(3), vix=18.0))
    close = h.orders()[-1]
    assert close.intent is OrderIntent.CLOSE and close.quantity == held
    last = h.rebalances()[-1]
    assert last.base == "book" and last.target == 0
    assert h.actor.held() == 0


def test_a_book_shorter_in_vega_than_the_floor_is_sized_from_the_book() -> None:
    h = harness(Book(vega=-20_000.0, theta=50_000.0))
    h.step(snap(vix=18.0, front=19.0))
    ev = only(h.rebalances())
    assert ev.base == "book" and ev.vega_dollars == ev.book_vega_dollars == -20_000.0
    small = harness(Book(vega=-1_000.0, theta=50_000.0))  # holding a condor opens the window
    small.step(snap(vix=18.0, front=19.0))
    ev = only(small.rebalances())
    assert ev.base == "floor" and ev.book_vega_dollars == -1_000.0
    assert ev.vega_dollars == pytest.approx(0.5 * REF_VEGA)


def test_a_floor_fraction_of_zero_sizes_from_the_open_condors_alone() -> None:
    ref = Reference()
    h = harness(reference=ref, floor_fraction=0.0)
    h.step(snap(vix=13.0))
    h.actor.on_condor_changed(object())
    h.step(snap(session(1), vix=18.0))
    assert h.orders() == [] and h.rebalances() == [] and ref.calls == 0


def test_the_carry_check_of_a_floor_hedge_uses_the_floors_theta() -> None:
    # VXM, F 20 over VIX 18 with 15 days left: $13.33 a day per contract; floor theta
    # 0.5 x 1,000 = $500 a day allows $250: floor(250 / 13.33) = 18 contracts
    h = harness(reference=Reference(vega=-40_000.0, theta=1_000.0))
    h.step(snap(vix=13.0))
    h.actor.on_condor_changed(object())
    h.step(snap(session(1), vix=18.0, front=20.0))
    (capped,) = h.of(HedgeCarryCapped)
    assert isinstance(capped, HedgeCarryCapped)
    assert capped.max_carry == pytest.approx(250.0)
    assert capped.uncapped == math.floor(expected_n_vx(-20_000.0, 20.0, 18.0) * 10 + 0.5)
    assert capped.carry_per_contract == pytest.approx((20.0 - 18.0) / 15 * 100)
    assert capped.capped == 18
    assert only(h.rebalances()).target == 18


def _floor_then(regime_vix: float, floor_sessions: int) -> Harness:
    """A condor closes at session 0 (CALM); from session 1 the VIX stays at ``regime_vix`` and
    the floor buys a hedge; sessions run on to 7."""
    h = harness(floor_sessions=floor_sessions)
    h.step(snap(vix=13.0))
    h.actor.on_condor_changed(object())
    for n in range(1, 8):
        h.step(snap(session(n), vix=regime_vix, front=regime_vix - 1.0))
    return h


def test_past_its_window_a_floor_hedge_held_in_stress_is_kept() -> None:
    # closes >= 25 at sessions 1-3 confirm STRESS from session 4; the window (5) ends after 5
    stress = _floor_then(30.0, floor_sessions=5)
    assert stress.state.regime is Regime.STRESS
    opened = stress.orders()[0]  # bought at session 1 (then rolled to March), never sold
    assert opened.reason == "entry" and stress.actor.held() == opened.quantity > 0
    assert [o for o in stress.orders() if o.intent is OrderIntent.CLOSE] == []
    assert all(e.base == "floor" for e in stress.rebalances())
    # the same path below the press threshold (ELEVATED): sold once the window ends
    elevated = _floor_then(20.0, floor_sessions=5)
    assert elevated.state.regime is Regime.ELEVATED
    bought = elevated.orders()[0]
    closes = [o for o in elevated.orders() if o.intent is OrderIntent.CLOSE]
    assert [(o.reason, o.quantity) for o in closes] == [("rebalance", bought.quantity)]
    assert elevated.of(PositionClosed) and elevated.actor.held() == 0


def test_an_adopted_hedge_opens_the_floor_window() -> None:
    h = harness()
    held = [Position("hedge", FutureContract(FutureRoot.VXM, FRONT), 8, 17.2)]
    assert h.actor.adopt(held, ["hedge-000003"]) == []
    h.step(snap(vix=18.0, front=19.0))  # no condor: the floor, not a book of zero, sizes it
    ev = only(h.rebalances())
    assert ev.base == "floor" and ev.held == 8
    assert ev.target == recomputed_target(ev, 10.0) > 0
    sold = [o for o in h.orders() if o.intent is OrderIntent.CLOSE]
    assert sum(o.quantity for o in sold) == max(0, 8 - ev.target)  # not the whole hedge

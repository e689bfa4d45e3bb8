"""The VIX hedge actor (layer 2) against real snapshots: sizing per instrument, the carry cut and
cap, rebalancing, rolls, exits, holds, flatten, rejects and settlement (SPEC sections 7 and 9).

Every sizing number is recomputed here from the formula and the test's own market, not copied
from the actor's output.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from brokers.broker import PaperBroker
from brokers.config import BrokerConfig
from brokers.events import (
    ContractSettled,
    FlattenStarted,
    LegFill,
    OrderFilled,
    OrderRejected,
    RejectReason,
)
from brokers.greeks import LayerGreeks
from brokers.ledger import Ledger
from brokers.orders import OrderIntent, SubmitOrder
from brokers.portfolio import Position
from market.calendar import vx_expiries_after
from market.clock import SimulatedClock
from market.instruments import Contract, FutureContract, FutureRoot, OptionContract, Right, Root
from market.simulator import Simulator, SimulatorConfig
from market.snapshot import FuturePoint, MarketSnapshot
from strategies.config import StrategyConfig
from strategies.events import (
    CondorOpened,
    ExitRule,
    ExitTriggered,
    HedgeBelowMinimum,
    HedgeCarryCapped,
    HedgeRebalanced,
    HedgeRolled,
    PositionClosed,
    PositionOpened,
    Regime,
    RegimeChanged,
)
from strategies.hedge import RECHECK_MINUTES, HedgeActor
from strategies.state import MarketState

MON = date(2025, 2, 3)
FRONT, SECOND = date(2025, 2, 19), date(2025, 3, 18)  # VX expiries: 16 and 43 days from MON
H, VRP_SCALE, DEFAULT_BETA = 0.5, 0.2, 0.5


def session(n: int) -> date:
    """The n-th weekday from MON (no holidays in February 2025 before the 17th)."""
    day = MON
    for _ in range(n):
        day += timedelta(days=3 if day.weekday() == 4 else 1)
    return day


def snap(
    day: date = MON,
    vix: float = 18.0,
    front: float | None = None,
    minute: int = 0,
    seq: int = 0,
    vro: float | None = None,
    macro_events: tuple[str, ...] = (),
    ad_line: float | None = None,
) -> MarketSnapshot:
    """A snapshot on ``day`` (15:00 UTC + ``minute``) whose VX curve is ``front`` for the front
    month (default VIX + 1) rising 0.5 a month after it."""
    f0 = vix + 1.0 if front is None else front
    curve = tuple(
        FuturePoint(e, round(f0 + 0.5 * i, 2)) for i, e in enumerate(vx_expiries_after(day, 8))
    )
    ts = datetime(day.year, day.month, day.day, 15, tzinfo=UTC) + timedelta(minutes=minute)
    return MarketSnapshot(
        seq,
        ts,
        day,
        6000.0,
        vix,
        vx_curve=curve,
        vro=vro,
        macro_events=macro_events,
        ad_line=ad_line,
    )


class Book:
    """The condor layer's dollar greeks as the hedge sees them (a fake of the condor helper)."""

    def __init__(self, vega: float = -20_000.0, theta: float = 50_000.0) -> None:
        self.vega = vega
        self.theta = theta
        self.calls = 0

    def __call__(self, snap: MarketSnapshot) -> LayerGreeks:
        self.calls += 1
        return LayerGreeks(vega_dollars=self.vega, theta_per_day=self.theta)


class RsiState(MarketState):
    """The market state with a scripted RSI (the real one needs 21 sessions of warm-up)."""

    rsi_value: float | None = None

    def rsi(self, snap: MarketSnapshot) -> float | None:
        return self.rsi_value


class Harness:
    def __init__(
        self,
        book: Book | None = None,
        autofill: bool = True,
        state_cls: type[MarketState] = MarketState,
        hedge_rules: tuple[str, ...] | None = None,
        **hedge: object,
    ) -> None:
        self.out: list[object] = []
        raw: dict[str, object] = {"hedge": hedge}
        if hedge_rules is not None:
            raw["exits"] = {"rules": {"hedge": hedge_rules}}
        self.config = StrategyConfig.model_validate(raw)
        self.state = state_cls(self.config, self.out.append)
        self.book = book or Book()
        self.actor = HedgeActor(self.config, self.state, self.out.append, 1e6, self.book)
        self.autofill = autofill
        self._last: MarketSnapshot | None = None
        self._seq = 0

    def step(self, s: MarketSnapshot, late_regime: bool = False) -> list[object]:
        """Run one snapshot through the state and the actor, fill new orders at mid when
        autofill is on; return what was published. RegimeChanged reaches the actor before the
        snapshot, or with ``late_regime`` after it, as the daemon's bus delivers it (queued behind
        the snapshot's other handlers)."""
        self._seq += 1
        object.__setattr__(s, "seq", self._seq)
        start = len(self.out)
        self.state.on_market_snapshot(s)
        changes = [e for e in self.out[start:] if isinstance(e, RegimeChanged)]
        if not late_regime:
            for event in changes:
                self.actor.on_regime_changed(event)
        mark = len(self.out)
        self.actor.on_market_snapshot(s)
        if late_regime:
            for event in changes:
                self.actor.on_regime_changed(event)
        self._last = s
        if self.autofill:
            for order in [e for e in self.out[mark:] if isinstance(e, SubmitOrder)]:
                self.actor.on_order_filled(fill(order, s))
        return self.out[start:]

    @property
    def last(self) -> MarketSnapshot:
        assert self._last is not None
        return self._last

    def of(self, kind: type[object]) -> list[object]:
        return [e for e in self.out if isinstance(e, kind)]

    def orders(self) -> list[SubmitOrder]:
        return [e for e in self.out if isinstance(e, SubmitOrder)]

    def rebalances(self) -> list[HedgeRebalanced]:
        return [e for e in self.out if isinstance(e, HedgeRebalanced)]


def fill(order: SubmitOrder, s: MarketSnapshot) -> OrderFilled:
    """An OrderFilled for ``order`` with every leg at its mid in ``s``."""
    legs = tuple(
        LegFill(leg.contract, leg.ratio * order.quantity, mid(s, leg.contract))
        for leg in order.legs
    )
    net = sum(leg.ratio * lf.price for leg, lf in zip(order.legs, legs, strict=True))
    return OrderFilled(
        s.ts,
        "F1",
        "O1",
        order.client_order_id,
        order.layer,
        order.intent,
        order.reason,
        order.quantity,
        net,
        legs,
        0.0,
    )


def mid(s: MarketSnapshot, contract: Contract) -> float:
    quote = s.quote(contract)
    assert quote is not None, contract
    return quote.mid


def expected_n_vx(vega: float, future: float, vix: float, beta: float = DEFAULT_BETA) -> float:
    """The SPEC formula, from the test's own inputs."""
    c = max(0.0, future / vix - 1.0)
    h_eff = H / (1.0 + c / VRP_SCALE)
    return h_eff * 1.0 * abs(vega) / (1000.0 * beta)


def recomputed_target(ev: HedgeRebalanced, contracts_per_vx: float) -> int:
    """The target from exactly the logged inputs."""
    n = ev.h_eff * ev.iv_beta * abs(ev.vega_dollars) / (1000.0 * ev.beta)
    assert n == pytest.approx(ev.n_vx)
    return math.floor(n * contracts_per_vx + 0.5)


# -- sizing per instrument ------------------------------------------------------------------------


def test_mini_futures_hedge_ten_vxm_per_vx_equivalent_in_the_front_month() -> None:
    h = Harness(Book(vega=-18_300.0))
    h.step(snap(vix=18.0, front=19.0))
    (ev,) = h.rebalances()
    n = expected_n_vx(-18_300.0, 19.0, 18.0)
    assert ev.n_vx == pytest.approx(n)
    assert ev.beta == DEFAULT_BETA == h.state.hedge_beta(FRONT)
    assert ev.carry == pytest.approx(19.0 / 18.0 - 1.0)
    assert ev.target == math.floor(n * 10 + 0.5) == recomputed_target(ev, 10.0)
    (order,) = h.orders()
    assert order.intent is OrderIntent.OPEN and order.reason == "entry"
    assert [(leg.contract, leg.ratio) for leg in order.legs] == [
        (FutureContract(FutureRoot.VXM, FRONT), 1)
    ]
    assert order.quantity == ev.target
    assert ev.carry_per_day == pytest.approx(ev.target * (19.0 - 18.0) / 16 * 100)
    assert ev.theta_income_per_day == 50_000.0 and ev.option_delta is None
    assert h.actor.open_count() == 1 and h.actor.stats.opened == 1
    assert h.actor.vx_equivalents() == pytest.approx(ev.target / 10)
    (opened,) = h.of(PositionOpened)
    assert isinstance(opened, PositionOpened) and opened.quantity == ev.target


@pytest.mark.parametrize(("vega", "contracts"), [(-2_400.0, 2), (-2_600.0, 3)])
def test_vx_futures_round_to_the_nearest_contract(vega: float, contracts: int) -> None:
    # backwardation (front 17 under VIX 18): c = 0, h_eff = h; n = 0.5 * |vega| / 500
    h = Harness(Book(vega=vega), instrument="future")
    h.step(snap(vix=18.0, front=17.0))
    (ev,) = h.rebalances()
    assert ev.h_eff == H and ev.carry == 0.0
    assert ev.n_vx == pytest.approx(abs(vega) / 1000)
    assert ev.target == contracts == recomputed_target(ev, 1.0)
    (order,) = h.orders()
    assert order.legs[0].contract == FutureContract(FutureRoot.VX, FRONT)
    assert order.quantity == contracts
    assert h.actor.vx_equivalents() == contracts


def test_calls_hedge_by_delta_at_the_strike_nearest_the_target_delta() -> None:
    h = Harness(Book(vega=-9_000.0), instrument="call")
    s = snap(vix=18.0, front=19.0)
    h.step(s)
    (ev,) = h.rebalances()
    chain = s.vix_chain(FRONT)
    strike = chain.strike_nearest_delta(Right.CALL, 0.30)
    call = OptionContract(Root.VIX, FRONT, strike, Right.CALL)
    greeks = s.option_greeks(call)
    assert greeks is not None
    delta, theta = float(greeks.delta), float(greeks.theta)
    n = expected_n_vx(-9_000.0, 19.0, 18.0)
    assert ev.option_delta == pytest.approx(delta)
    assert ev.contract == call.symbol
    assert ev.target == math.floor(n * 1000 / (delta * 100) + 0.5)
    assert ev.option_delta is not None
    assert ev.target == recomputed_target(ev, 1000 / (ev.option_delta * 100))
    assert ev.carry_per_day == pytest.approx(ev.target * -theta * 100)
    (order,) = h.orders()
    assert [(leg.contract, leg.ratio) for leg in order.legs] == [(call, 1)]
    assert order.quantity == ev.target
    assert h.actor.vx_equivalents() == pytest.approx(ev.target * delta * 100 / 1000)


def test_contango_cuts_the_hedge_ratio_and_backwardation_does_not() -> None:
    steep = Harness(Book(vega=-20_000.0), instrument="future")
    steep.step(snap(vix=18.0, front=21.6))  # c = 0.2 = vrp_scale: h_eff halves
    inverted = Harness(Book(vega=-20_000.0), instrument="future")
    inverted.step(snap(vix=18.0, front=16.0))
    (a,), (b,) = steep.rebalances(), inverted.rebalances()
    assert a.carry == pytest.approx(0.2) and a.h_eff == pytest.approx(H / 2)
    assert b.carry == 0.0 and b.h_eff == H
    assert (a.target, b.target) == (10, 20)  # 0.25 * 20000 / 500 and 0.5 * 20000 / 500


def test_no_condors_means_no_hedge_and_no_notice() -> None:
    h = Harness(Book(vega=0.0, theta=0.0))
    h.step(snap(vix=18.0))
    assert h.orders() == [] and h.of(HedgeBelowMinimum) == [] and h.rebalances() == []


def test_a_target_under_half_a_contract_buys_nothing_and_says_so_once_a_session() -> None:
    h = Harness(Book(vega=-400.0), instrument="future")  # 0.4 VX in backwardation
    for minute in range(0, 120, RECHECK_MINUTES):
        h.step(snap(vix=18.0, front=17.0, minute=minute))
    assert h.orders() == []
    (notice,) = h.of(HedgeBelowMinimum)
    assert isinstance(notice, HedgeBelowMinimum)
    assert notice.target == pytest.approx(0.4) and notice.instrument == "future"
    assert (notice.vega_dollars, notice.beta, notice.h_eff) == (-400.0, DEFAULT_BETA, H)
    h.step(snap(session(1), vix=18.0, front=17.0))
    assert len(h.of(HedgeBelowMinimum)) == 2


# -- carry ----------------------------------------------------------------------------------------


def test_carry_above_the_share_of_theta_income_caps_the_hedge() -> None:
    # VXM, F 20 over VIX 18 with 16 days left: $12.50 a day per contract; theta $1,000 a day
    # allows $500: floor(500 / 12.5) = 40 contracts
    h = Harness(Book(vega=-20_000.0, theta=1_000.0))
    h.step(snap(vix=18.0, front=20.0))
    uncapped = math.floor(expected_n_vx(-20_000.0, 20.0, 18.0) * 10 + 0.5)
    (capped,) = h.of(HedgeCarryCapped)
    assert isinstance(capped, HedgeCarryCapped)
    assert capped.carry_per_contract == pytest.approx((20.0 - 18.0) / 16 * 100)
    assert capped.max_carry == pytest.approx(500.0)
    assert (capped.uncapped, capped.capped) == (uncapped, 40)
    (ev,) = h.rebalances()
    assert ev.target == 40 and ev.carry_per_day == pytest.approx(500.0)
    assert h.orders()[0].quantity == 40


def test_backwardation_never_caps_the_hedge() -> None:
    h = Harness(Book(vega=-20_000.0, theta=1.0))
    h.step(snap(vix=25.0, front=23.0))
    assert h.of(HedgeCarryCapped) == []
    (ev,) = h.rebalances()
    assert ev.target == math.floor(expected_n_vx(-20_000.0, 23.0, 25.0) * 10 + 0.5)
    assert ev.carry_per_day < 0


# -- rebalancing ----------------------------------------------------------------------------------


def test_rebalances_by_whole_contracts_at_most_once_per_interval() -> None:
    book = Book(vega=-2_000.0)
    h = Harness(book, instrument="future")  # backwardation below: target = |vega| / 1000
    h.step(snap(vix=18.0, front=17.0))
    assert [o.quantity for o in h.orders()] == [2]
    book.vega = -4_000.0
    for minute in range(RECHECK_MINUTES, 400, RECHECK_MINUTES):  # same session: interval holds
        h.step(snap(vix=18.0, front=17.0, minute=minute))
    assert len(h.orders()) == 1
    h.step(snap(session(1), vix=18.0, front=17.0))
    add = h.orders()[-1]
    assert (add.intent, add.quantity, add.reason) == (OrderIntent.OPEN, 2, "rebalance")
    assert h.rebalances()[-1].held == 2 and h.rebalances()[-1].target == 4
    book.vega = -4_400.0  # 4.4 -> 4: less than a contract away
    h.step(snap(session(2), vix=18.0, front=17.0))
    assert len(h.orders()) == 2
    book.vega = -1_000.0
    h.step(snap(session(3), vix=18.0, front=17.0))
    cut = h.orders()[-1]
    assert (cut.intent, cut.quantity, cut.reason) == (OrderIntent.CLOSE, 3, "rebalance")
    assert cut.legs[0].ratio == -1
    assert h.actor.held() == 1 and h.actor.stats.closed == 0  # a reduction is not a close
    book.vega = 0.0
    h.step(snap(session(4), vix=18.0, front=17.0))
    assert h.actor.held() == 0 and h.actor.stats.closed == 1
    assert h.actor.stats.exits == {"rebalance": 1}
    closed = h.of(PositionClosed)
    assert [c.rule for c in closed if isinstance(c, PositionClosed)] == ["rebalance"]


def test_a_condor_change_resizes_at_the_next_snapshot_inside_the_interval() -> None:
    book = Book(vega=-2_000.0)
    h = Harness(book, instrument="future")
    h.step(snap(vix=18.0, front=17.0))
    book.vega = -5_000.0
    h.step(snap(vix=18.0, front=17.0, minute=1))
    assert len(h.orders()) == 1
    h.actor.on_condor_changed(
        CondorOpened(h.last.ts, "IC-1", date(2025, 3, 21), 1, 2, 3, 4, 1, 1.0)
    )
    h.step(snap(vix=18.0, front=17.0, minute=2))
    assert [o.quantity for o in h.orders()] == [2, 3]


def test_a_target_wobbling_across_a_half_trades_only_a_whole_contract_away() -> None:
    # VX in backwardation: the unrounded target is |vega| / 1000 contracts
    book = Book(vega=-2_400.0)
    h = Harness(book, instrument="future")
    h.step(snap(vix=18.0, front=17.0))
    assert [o.quantity for o in h.orders()] == [2]  # from flat: round(2.4)
    for day, vega in enumerate((-2_600.0, -2_400.0, -2_900.0, -2_100.0), start=1):
        book.vega = vega  # 2.6, 2.4, 2.9, 2.1: all less than a contract from the 2 held
        h.step(snap(session(day), vix=18.0, front=17.0))
    assert len(h.orders()) == 1 and len(h.rebalances()) == 1
    book.vega = -3_000.0  # a whole contract away: to round(3.0)
    h.step(snap(session(5), vix=18.0, front=17.0))
    buy = h.orders()[-1]
    assert (buy.intent, buy.quantity, h.actor.held()) == (OrderIntent.OPEN, 1, 3)
    book.vega = -1_600.0  # 1.4 from the 3 held: to round(1.6) = 2
    h.step(snap(session(6), vix=18.0, front=17.0))
    cut = h.orders()[-1]
    assert (cut.intent, cut.quantity, h.actor.held()) == (OrderIntent.CLOSE, 1, 2)
    assert [(e.target, e.held) for e in h.rebalances()] == [(2, 0), (3, 2), (2, 3)]


def test_a_hedge_of_one_is_kept_near_half_a_contract_and_closed_at_a_target_of_zero() -> None:
    book = Book(vega=-500.0)
    h = Harness(book, instrument="future")
    h.step(snap(vix=18.0, front=17.0))  # 0.5 from flat: one contract
    assert h.actor.held() == 1
    book.vega = -400.0  # 0.4: under half a contract, but not a whole contract from 1
    h.step(snap(session(1), vix=18.0, front=17.0))
    assert h.actor.held() == 1 and len(h.orders()) == 1
    book.vega = 0.0  # no condors: 0 is a whole contract from 1
    h.step(snap(session(2), vix=18.0, front=17.0))
    assert h.actor.held() == 0 and h.actor.stats.exits == {"rebalance": 1}


def _call_lots(h: Harness) -> dict[Contract, int]:
    """The call hedge's lots, from its fills (what the broker would hold)."""
    lots: dict[Contract, int] = {}
    for order in h.orders():
        for leg in order.legs:
            lots[leg.contract] = lots.get(leg.contract, 0) + leg.ratio * order.quantity
    return {c: n for c, n in lots.items() if n}


def _vx_of(s: MarketSnapshot, lots: dict[Contract, int]) -> float:
    total = 0.0
    for contract, n in lots.items():
        assert isinstance(contract, OptionContract)
        greeks = s.option_greeks(contract)
        assert greeks is not None
        total += n * float(greeks.delta) * 100 / 1000
    return total


def test_calls_rebalance_on_vx_equivalents_not_on_contract_counts() -> None:
    # backwardation throughout: c = 0, h_eff = h, n = 0.5 x 9000 / 500 = 9 VX equivalents
    h = Harness(Book(vega=-9_000.0), instrument="call")
    h.step(snap(vix=18.0, front=17.0))
    first = _call_lots(h)
    s = snap(session(1), vix=17.0, front=16.0)  # the calls held lose delta
    held_vx = _vx_of(s, first)
    h.step(s)
    ev = h.rebalances()[-1]
    assert ev.option_delta is not None and ev.n_vx == pytest.approx(9.0)
    per_vx = 1000 / (ev.option_delta * 100)
    assert ev.held == sum(first.values())  # contracts held, whatever their strike
    add = h.orders()[-1]
    strike = s.vix_chain(FRONT).strike_nearest_delta(Right.CALL, 0.30)
    assert add.intent is OrderIntent.OPEN and add.reason == "rebalance"
    assert [leg.contract for leg in add.legs] == [
        OptionContract(Root.VIX, FRONT, strike, Right.CALL)
    ]
    assert add.quantity == math.floor((9.0 - held_vx) * per_vx + 0.5) > 1
    assert h.actor.vx_equivalents() == pytest.approx(9.0, abs=0.5 / per_vx)


def test_calls_reduce_oldest_lots_first_each_counted_at_its_own_delta() -> None:
    # without take-profit: the calls double in value on the way
    h = Harness(Book(vega=-9_000.0), hedge_rules=("unwind", "rsi"), instrument="call")
    h.step(snap(vix=18.0, front=17.0))
    h.step(snap(session(1), vix=17.0, front=16.0))
    lots = _call_lots(h)
    oldest, newer = list(lots)
    assert oldest != newer
    s = snap(session(2), vix=20.0, front=19.5)  # every lot gains delta: over-hedged
    held_vx = _vx_of(s, lots)
    h.step(s)
    ev = h.rebalances()[-1]
    assert ev.option_delta is not None and ev.held == sum(lots.values())
    per_vx = 1000 / (ev.option_delta * 100)
    gap = math.floor((9.0 - held_vx) * per_vx + 0.5) / per_vx  # whole target-strike contracts
    assert isinstance(oldest, OptionContract)
    greeks = s.option_greeks(oldest)
    assert greeks is not None and gap < 0
    oldest_vx = float(greeks.delta) * 100 / 1000
    expected = math.floor(-gap / oldest_vx + 0.5)
    assert expected < lots[oldest]
    cut = h.orders()[-1]
    assert (cut.intent, cut.reason, cut.quantity) == (OrderIntent.CLOSE, "rebalance", expected)
    assert [(leg.contract, leg.ratio) for leg in cut.legs] == [(oldest, -1)]
    assert h.actor.vx_equivalents() == pytest.approx(9.0, abs=0.5 * oldest_vx + 0.5 / per_vx)


def test_nothing_is_sized_while_nothing_can_happen() -> None:
    book = Book(vega=-2_000.0)
    h = Harness(book, instrument="future")
    for minute in range(60):  # CALM: the not-engaged path never prices the condor book
        h.step(snap(vix=13.0, front=14.0, minute=minute))
    assert book.calls == 0
    h.step(snap(vix=18.0, front=17.0, minute=60))
    assert book.calls == 1
    for minute in range(61, 300):  # inside the interval, no condor or regime change
        h.step(snap(vix=18.0, front=17.0, minute=minute))
    assert book.calls == 1


def test_engagement_from_calm_resizes_at_once() -> None:
    book = Book(vega=-3_000.0)
    h = Harness(book, instrument="future")
    h.step(snap(vix=18.0, front=17.0))
    h.step(snap(vix=14.0, front=15.0, minute=5))  # CALM: unwound
    assert h.actor.held() == 0
    h.step(snap(vix=17.0, front=16.0, minute=10))  # re-engaged in the same session
    assert [o.reason for o in h.orders()] == ["entry", "unwind", "entry"]
    assert h.actor.held() == 3


def test_engagement_sizes_once_when_the_regime_event_arrives_after_the_snapshot() -> None:
    # The daemon's bus queues RegimeChanged behind the snapshot's handlers: the actor has
    # already seen the new regime in the state and sized the hedge at that snapshot.
    book = Book(vega=-3_000.0)
    h = Harness(book, instrument="future")
    h.step(snap(vix=15.0, front=16.0), late_regime=True)
    h.step(snap(vix=18.0, front=17.0, minute=1), late_regime=True)  # CALM -> ELEVATED
    assert h.state.regime is Regime.ELEVATED
    assert [o.quantity for o in h.orders()] == [3] and book.calls == 1
    book.vega = -5_000.0  # the book drifts, no condor changed: nothing more this session
    for minute in range(2, 120):
        h.step(snap(vix=18.0, front=17.0, minute=minute), late_regime=True)
    assert len(h.orders()) == 1 and book.calls == 1 and len(h.rebalances()) == 1


def test_a_late_engagement_event_still_resizes_when_the_snapshot_could_not() -> None:
    # unwound in CALM this session: the interval holds the engaging snapshot back, the event
    # then re-sizes at the next one
    h = Harness(Book(vega=-3_000.0), instrument="future")
    h.step(snap(vix=18.0, front=17.0), late_regime=True)
    h.step(snap(vix=14.0, front=15.0, minute=5), late_regime=True)
    assert h.actor.held() == 0
    h.step(snap(vix=17.0, front=16.0, minute=10), late_regime=True)
    h.step(snap(vix=17.0, front=16.0, minute=11), late_regime=True)
    assert [o.reason for o in h.orders()] == ["entry", "unwind", "entry"]
    assert h.actor.held() == 3


# -- rolls ----------------------------------------------------------------------------------------


def test_a_futures_hedge_rolls_into_the_second_month_before_the_front_settles() -> None:
    h = Harness(Book(vega=-3_000.0), instrument="future")
    h.step(snap(date(2025, 2, 10), vix=18.0, front=17.0))  # 9 days to the front
    assert h.orders()[0].legs[0].contract == FutureContract(FutureRoot.VX, FRONT)
    h.step(snap(date(2025, 2, 11), vix=18.0, front=17.0))  # 8 days: no roll yet
    assert len(h.orders()) == 1
    h.step(snap(date(2025, 2, 12), vix=18.0, front=17.0))  # 7 days: roll
    roll = h.orders()[-1]
    assert roll.intent is OrderIntent.OPEN and roll.reason == "roll" and roll.quantity == 3
    assert [(leg.contract, leg.ratio) for leg in roll.legs] == [
        (FutureContract(FutureRoot.VX, FRONT), -1),
        (FutureContract(FutureRoot.VX, SECOND), 1),
    ]
    (rolled,) = h.of(HedgeRolled)
    assert isinstance(rolled, HedgeRolled)
    assert (rolled.old_contract, rolled.new_contract, rolled.quantity) == (
        "VX 2025-02-19",
        "VX 2025-03-18",
        3,
    )
    assert h.actor.stats.rolls == {"hedge": 1}
    assert (h.actor.stats.opened, h.actor.stats.closed) == (1, 0)
    assert h.of(PositionClosed) == []


def test_a_call_hedge_rolls_by_selling_the_old_calls_and_buying_target_delta_calls() -> None:
    h = Harness(Book(vega=-9_000.0), instrument="call")
    h.step(snap(date(2025, 2, 11), vix=18.0, front=19.0))
    (entry,) = h.orders()
    old = entry.legs[0].contract
    s = snap(date(2025, 2, 12), vix=18.0, front=19.0)
    h.step(s)
    roll = h.orders()[-1]
    strike = s.vix_chain(SECOND).strike_nearest_delta(Right.CALL, 0.30)
    new = OptionContract(Root.VIX, SECOND, strike, Right.CALL)
    assert roll.reason == "roll" and roll.intent is OrderIntent.OPEN
    assert [(leg.contract, leg.ratio) for leg in roll.legs] == [(old, -1), (new, 1)]
    assert roll.quantity == entry.quantity
    assert all(isinstance(leg.contract, OptionContract) for leg in roll.legs)
    assert h.actor.stats.rolls == {"hedge": 1}


def test_a_rejected_roll_is_retried_until_it_goes_through() -> None:
    h = Harness(Book(vega=-3_000.0), instrument="future")
    h.step(snap(date(2025, 2, 11), vix=18.0, front=17.0))
    h.autofill = False
    h.step(snap(date(2025, 2, 12), vix=18.0, front=17.0))
    roll = h.orders()[-1]
    h.actor.on_order_rejected(
        OrderRejected(h.last.ts, roll.client_order_id, "hedge", RejectReason.NO_QUOTE, "")
    )
    h.autofill = True
    h.step(snap(date(2025, 2, 12), vix=18.0, front=17.0, minute=1))
    retry = h.orders()[-1]
    assert retry.reason == "roll" and retry.client_order_id != roll.client_order_id
    assert retry.legs == roll.legs and h.actor.stats.rolls == {"hedge": 1}
    assert len(h.of(HedgeRolled)) == 1


def test_a_roll_rejected_while_paused_closes_the_front_month_and_rebuilds_later() -> None:
    # SPEC 9: a pause never blocks a closing order; the roll's closing half goes out alone
    h = Harness(Book(vega=-3_000.0), instrument="future")
    h.step(snap(date(2025, 2, 11), vix=18.0, front=17.0))
    h.autofill = False
    h.step(snap(date(2025, 2, 12), vix=18.0, front=17.0))
    roll = h.orders()[-1]
    assert roll.reason == "roll" and roll.intent is OrderIntent.OPEN
    h.actor.on_order_rejected(
        OrderRejected(h.last.ts, roll.client_order_id, "hedge", RejectReason.TRADING_PAUSED, "")
    )
    close = h.orders()[-1]
    front = FutureContract(FutureRoot.VX, FRONT)
    assert (close.intent, close.reason, close.quantity) == (OrderIntent.CLOSE, "roll", 3)
    assert [(leg.contract, leg.ratio) for leg in close.legs] == [(front, -1)]
    h.actor.on_order_filled(fill(close, h.last))
    assert h.actor.held() == 0 and h.actor.stats.rolls == {}
    (closed,) = h.of(PositionClosed)
    assert isinstance(closed, PositionClosed) and (closed.rule, closed.quantity) == ("roll", 3)
    assert h.actor.stats.exits == {"roll": 1} and h.actor.stats.closed == 1
    h.autofill = True
    h.step(snap(date(2025, 2, 12), vix=18.0, front=17.0, minute=1))  # trading resumed
    rebuilt = h.orders()[-1]
    assert (rebuilt.intent, rebuilt.reason, rebuilt.quantity) == (OrderIntent.OPEN, "entry", 3)
    assert rebuilt.legs[0].contract == FutureContract(FutureRoot.VX, SECOND)
    assert h.actor.held() == 3 and h.actor.stats.opened == 2


def _two_call_lots(days: tuple[date, date]) -> tuple[Harness, dict[Contract, int]]:
    """A call hedge bought on ``days[0]`` and added to at another strike on ``days[1]``."""
    h = Harness(Book(vega=-9_000.0), instrument="call")
    h.step(snap(days[0], vix=18.0, front=17.0))
    h.step(snap(days[1], vix=17.0, front=16.0))
    lots = _call_lots(h)
    assert len(lots) == 2
    return h, lots


def test_a_ratio_roll_reports_its_net_price_per_contract_rolled() -> None:
    h, lots = _two_call_lots((date(2025, 2, 10), date(2025, 2, 11)))
    s = snap(date(2025, 2, 12), vix=17.0, front=16.0)
    h.step(s)
    roll = h.orders()[-1]
    assert roll.reason == "roll" and len(roll.legs) == 3 and roll.quantity > 1
    new = roll.legs[-1].contract
    contracts = sum(lots.values())
    paid = contracts * mid(s, new) - sum(n * mid(s, c) for c, n in lots.items())
    (rolled,) = h.of(HedgeRolled)
    assert isinstance(rolled, HedgeRolled) and rolled.quantity == contracts
    assert rolled.net_price == pytest.approx(paid / contracts)


def test_a_close_across_strikes_reports_its_price_per_contract() -> None:
    h, lots = _two_call_lots((MON, session(1)))
    s = snap(session(1), vix=15.0, front=16.0, minute=1)  # CALM: unwound
    h.step(s)
    close = h.orders()[-1]
    assert close.reason == "unwind" and len(close.legs) == 2
    contracts = sum(lots.values())
    (closed,) = h.of(PositionClosed)
    assert isinstance(closed, PositionClosed) and closed.quantity == contracts
    received = sum(n * mid(s, c) for c, n in lots.items())
    assert closed.price == pytest.approx(-received / contracts)


def test_a_reconfigured_instrument_closes_the_old_hedge_and_builds_the_new_one() -> None:
    h = Harness(Book(vega=-3_000.0))
    h.step(snap(vix=18.0, front=17.0))
    assert h.orders()[0].legs[0].contract.root is FutureRoot.VXM
    h.actor.reconfigure(StrategyConfig.model_validate({"hedge": {"instrument": "future"}}))
    h.step(snap(vix=18.0, front=17.0, minute=1))
    h.step(snap(vix=18.0, front=17.0, minute=2))
    closing, opening = h.orders()[1:]
    assert (closing.intent, closing.reason, closing.quantity) == (
        OrderIntent.CLOSE,
        "rebalance",
        30,
    )
    assert opening.legs[0].contract == FutureContract(FutureRoot.VX, FRONT)
    assert opening.quantity == 3
    assert h.actor.stats.exits == {"rebalance": 1} and h.actor.stats.opened == 2


def test_a_hedge_held_into_expiry_settles() -> None:
    h = Harness(Book(vega=-3_000.0), instrument="future", roll_days=0)
    h.step(snap(date(2025, 2, 18), vix=18.0, front=17.0))
    contract = FutureContract(FutureRoot.VX, FRONT)
    h.actor.on_contract_settled(ContractSettled(h.last.ts, "hedge", contract, 3, 17.4, -600.0))
    (closed,) = h.of(PositionClosed)
    assert isinstance(closed, PositionClosed)
    assert (closed.rule, closed.quantity, closed.price) == ("settlement", 3, -17.4)
    assert h.actor.stats.exits == {"settlement": 1} and h.actor.open_count() == 0


# -- exits ----------------------------------------------------------------------------------------


def test_the_hedge_unwinds_when_the_regime_returns_to_calm() -> None:
    h = Harness(Book(vega=-3_000.0), instrument="future")
    h.step(snap(vix=18.0, front=17.0))
    h.step(snap(vix=15.6, front=16.0, minute=1))  # hysteresis: still ELEVATED
    assert len(h.orders()) == 1
    h.step(snap(vix=15.4, front=16.0, minute=2))
    (exit_,) = h.of(ExitTriggered)
    assert isinstance(exit_, ExitTriggered)
    assert (exit_.layer, exit_.rule, exit_.credit, exit_.dte) == ("hedge", ExitRule.UNWIND, 0.0, 16)
    close = h.orders()[-1]
    assert (close.intent, close.reason, close.quantity) == (OrderIntent.CLOSE, "unwind", 3)
    assert h.actor.stats.exits == {"unwind": 1} and h.actor.stats.closed == 1
    for minute in range(3, 100):
        h.step(snap(vix=15.0, front=16.0, minute=minute))
    assert len(h.orders()) == 2


def test_without_the_unwind_rule_a_hedge_is_kept_in_calm() -> None:
    h = Harness(Book(vega=-3_000.0), hedge_rules=("take_profit", "rsi"), instrument="future")
    h.step(snap(vix=18.0, front=17.0))
    h.actor.on_condor_changed(object())
    for minute in range(1, 60):
        h.step(snap(vix=15.0, front=16.0, minute=minute))
    h.step(snap(session(1), vix=15.0, front=16.0))
    assert h.state.regime is Regime.CALM and h.actor.held() == 3
    assert len(h.orders()) == 1 and h.of(ExitTriggered) == []


def _rsi_harness() -> Harness:
    h = Harness(Book(vega=-3_000.0), state_cls=RsiState, instrument="future")
    assert isinstance(h.state, RsiState)
    h.state.rsi_value = 50.0
    h.step(snap(vix=18.0, front=17.0))
    assert h.actor.held() == 3
    return h


def test_rsi_below_30_unwinds_the_hedge_once() -> None:
    h = _rsi_harness()
    assert isinstance(h.state, RsiState)
    h.state.rsi_value = 29.5
    h.step(snap(vix=18.0, front=17.0, minute=1))
    (exit_,) = h.of(ExitTriggered)
    assert isinstance(exit_, ExitTriggered)
    assert exit_.rule is ExitRule.RSI and exit_.rsi == 29.5
    assert exit_.value == pytest.approx(
        mid(snap(vix=18.0, front=17.0), h.orders()[0].legs[0].contract)
    )
    assert h.orders()[-1].reason == "rsi"
    assert h.actor.stats.exits == {"rsi": 1}


def test_after_an_rsi_exit_the_hedge_waits_for_rsi_above_35() -> None:
    h = _rsi_harness()
    assert isinstance(h.state, RsiState)
    h.state.rsi_value = 28.0
    h.step(snap(vix=18.0, front=17.0, minute=1))
    assert h.actor.held() == 0
    h.state.rsi_value = 34.0  # above the exit level, not above the rebuild level
    for day in range(1, 4):
        h.step(snap(session(day), vix=18.0, front=17.0))
    assert h.actor.held() == 0
    h.state.rsi_value = 35.5
    h.step(snap(session(4), vix=18.0, front=17.0))
    assert h.actor.held() == 3 and h.actor.stats.opened == 2


def test_after_an_rsi_exit_re_entering_elevated_from_calm_rebuilds() -> None:
    h = _rsi_harness()
    assert isinstance(h.state, RsiState)
    h.state.rsi_value = 28.0
    h.step(snap(vix=18.0, front=17.0, minute=1))
    h.state.rsi_value = 33.0
    h.step(snap(session(1), vix=15.0, front=16.0))  # CALM
    h.step(snap(session(2), vix=18.0, front=17.0))  # CALM -> ELEVATED
    assert h.actor.held() == 3


def test_no_hedge_is_bought_while_rsi_is_below_the_exit_level() -> None:
    h = Harness(Book(vega=-3_000.0), state_cls=RsiState, instrument="future")
    assert isinstance(h.state, RsiState)
    h.state.rsi_value = 25.0
    h.step(snap(vix=18.0, front=17.0))
    assert h.orders() == []


def test_a_call_hedge_takes_profit_at_twice_its_cost_and_a_future_never_does() -> None:
    h = Harness(Book(vega=-9_000.0), instrument="call")
    h.step(snap(vix=18.0, front=19.0))
    call = h.orders()[0].legs[0].contract
    cost = mid(snap(vix=18.0, front=19.0), call)
    below = next(
        f
        for f in (19.5 + 0.25 * i for i in range(40))
        if mid(snap(vix=18.0, front=f), call) >= 1.6 * cost
    )
    h.step(snap(vix=18.0, front=below, minute=1))
    assert h.of(ExitTriggered) == []
    above = next(
        f
        for f in (below + 0.25 * i for i in range(60))
        if mid(snap(vix=18.0, front=f), call) >= 2.0 * cost
    )
    h.step(snap(vix=18.0, front=above, minute=2))
    (exit_,) = h.of(ExitTriggered)
    assert isinstance(exit_, ExitTriggered) and exit_.rule is ExitRule.TAKE_PROFIT
    assert exit_.cost == pytest.approx(cost)
    assert exit_.value == pytest.approx(mid(snap(vix=18.0, front=above), call))
    assert exit_.value is not None and exit_.value >= 2.0 * cost
    assert exit_.cost_to_close == exit_.value
    assert h.orders()[-1].reason == "take_profit"
    assert h.actor.stats.exits == {"take_profit": 1}

    futures = Harness(Book(vega=-3_000.0), instrument="future")
    futures.step(snap(vix=18.0, front=17.0))
    futures.step(snap(vix=18.0, front=40.0, minute=1))
    assert futures.of(ExitTriggered) == []


# -- holds, flatten, rejects ---------------------------------------------------------------------


def test_a_headline_hold_delays_the_hedge_but_not_a_reduction() -> None:
    book = Book(vega=-3_000.0)
    h = Harness(book, instrument="future")
    for day in range(6):  # calm, breadth improving
        h.step(snap(session(day), vix=15.0, front=16.0, ad_line=float(day)))
    # the upgrade on a CPI day with the A/D line up: headline, the hedge waits one more session
    h.step(snap(session(6), vix=18.0, front=17.0, macro_events=("cpi",), ad_line=6.0))
    assert h.state.macro_kind == "headline" and h.state.hedge_hold
    h.step(snap(session(6), vix=18.0, front=17.0, minute=RECHECK_MINUTES, ad_line=6.0))
    h.step(snap(session(7), vix=18.0, front=17.0, ad_line=7.0))
    assert h.orders() == []
    h.step(snap(session(8), vix=18.0, front=17.0, ad_line=8.0))
    assert h.actor.held() == 3
    h.state.headline_hold_until = h.state.session_index + 1  # a new hold
    book.vega = -6_000.0
    h.step(snap(session(9), vix=18.0, front=17.0))
    assert h.actor.held() == 3  # no increase during the hold
    book.vega = -1_000.0
    h.actor.on_condor_changed(object())
    h.step(snap(session(9), vix=18.0, front=17.0, minute=1))
    assert h.actor.held() == 1  # a reduction goes through


@pytest.mark.parametrize("reason", ["flatten", "risk_halt"])
def test_flatten_fills_close_the_hedge_under_their_reason(reason: str) -> None:
    h = Harness(Book(vega=-3_000.0), instrument="future")
    h.step(snap(vix=18.0, front=17.0))
    entry = h.orders()[0]
    h.actor.on_flatten_started(FlattenStarted(h.last.ts, reason, 1))
    h.step(snap(vix=14.0, front=15.0, minute=1))  # CALM: the layer's unwind stands down
    assert len(h.orders()) == 1 and h.of(ExitTriggered) == []
    closing = SubmitOrder(
        "flatten-1",
        "hedge",
        tuple(type(leg)(leg.contract, -leg.ratio) for leg in entry.legs),
        entry.quantity,
        intent=OrderIntent.CLOSE,
        reason=reason,
    )
    h.actor.on_order_filled(fill(closing, h.last))
    (closed,) = h.of(PositionClosed)
    assert isinstance(closed, PositionClosed) and closed.rule == reason
    assert h.actor.stats.exits == {reason: 1} and h.actor.open_count() == 0


def test_an_opening_reject_waits_for_the_next_session() -> None:
    h = Harness(Book(vega=-3_000.0), autofill=False, instrument="future")
    h.step(snap(vix=18.0, front=17.0))
    (entry,) = h.orders()
    h.actor.on_order_rejected(
        OrderRejected(
            h.last.ts, entry.client_order_id, "hedge", RejectReason.TRADING_PAUSED, "paused"
        )
    )
    for minute in range(1, 200):
        h.step(snap(vix=18.0, front=17.0, minute=minute))
    assert len(h.orders()) == 1
    h.step(snap(session(1), vix=18.0, front=17.0))
    assert len(h.orders()) == 2 and h.orders()[1].client_order_id == "hedge-000002"


def test_a_rejected_exit_is_resent_with_backoff_and_announced_once() -> None:
    h = Harness(Book(vega=-3_000.0), instrument="future")
    h.step(snap(vix=18.0, front=17.0))
    h.autofill = False
    sent_at: list[int] = []
    for minute in range(1, 41):
        before = len(h.orders())
        h.step(snap(vix=15.0, front=16.0, minute=minute))
        if len(h.orders()) > before:
            sent_at.append(minute)
            close = h.orders()[-1]
            assert close.reason == "unwind"
            h.actor.on_order_rejected(
                OrderRejected(h.last.ts, close.client_order_id, "hedge", RejectReason.NO_QUOTE, "")
            )
    assert sent_at == [1, 2, 4, 8, 16, 32]
    assert len(h.of(ExitTriggered)) == 1


# -- adoption and determinism --------------------------------------------------------------------


def test_adopt_takes_back_long_hedge_positions_and_continues_the_ids() -> None:
    h = Harness(Book(vega=-3_000.0), instrument="future")
    vx = FutureContract(FutureRoot.VX, FRONT)
    positions = [
        Position("hedge", vx, 3, 17.2),
        Position("hedge", FutureContract(FutureRoot.VX, SECOND), 1, 18.0),
        Position("condor", OptionContract(Root.SPX, date(2025, 3, 21), 5000.0, Right.PUT), 1, 1.0),
    ]
    unmapped = h.actor.adopt(positions, ["hedge-000007", "condor-000009"])
    assert unmapped == ["VX 2025-03-18"]
    assert h.actor.held() == 3 and h.actor.open_count() == 1
    h.step(snap(vix=14.0, front=15.0))
    assert h.orders()[-1].client_order_id == "hedge-000008"


def _simulated_run(tmp_path: Path, instrument: str, scenario: str) -> list[object]:
    """A scenario through a real paper broker, hourly snapshots, a constant condor book."""
    out: list[object] = []
    config = StrategyConfig.model_validate({"hedge": {"instrument": instrument}})
    state = MarketState(config, out.append)
    book = Book(vega=-15_000.0, theta=4_000.0)
    actor = HedgeActor(config, state, out.append, 1e6, book)
    sim = Simulator(SimulatorConfig(cadence_minutes=60), seed=7, start=MON, scenario=scenario)
    snaps = sim.snapshots(100)
    first = next(snaps)
    broker_events: list[object] = []
    tmp_path.mkdir()
    ledger = Ledger.open(tmp_path / "ledger.sqlite")
    clock = SimulatedClock(first.ts)
    broker = PaperBroker(BrokerConfig(), ledger, broker_events.append, clock)

    def route(start: int) -> None:
        for event in broker_events[start:]:
            if isinstance(event, OrderFilled):
                actor.on_order_filled(event)
            elif isinstance(event, OrderRejected):
                actor.on_order_rejected(event)
            elif isinstance(event, ContractSettled):
                actor.on_contract_settled(event)

    for s in [first, *snaps]:
        clock.advance_to(s.ts)
        mark = len(broker_events)
        broker.on_market_snapshot(s)
        route(mark)
        start = len(out)
        state.on_market_snapshot(s)
        for event in out[start:]:
            if isinstance(event, RegimeChanged):
                actor.on_regime_changed(event)
        start = len(out)
        actor.on_market_snapshot(s)
        for order in [e for e in out[start:] if isinstance(e, SubmitOrder)]:
            mark = len(broker_events)
            broker.on_submit_order(order)
            route(mark)
    ledger.close()
    held = {p.contract: p.quantity for p in broker.portfolio.open_positions("hedge")}
    assert sum(held.values()) == actor.held()
    assert not any(isinstance(e, OrderRejected) for e in broker_events)
    assert actor.stats.opened >= 1
    out.append(actor.stats)
    return out


@pytest.mark.parametrize(
    ("instrument", "scenario", "contracts_per_vx"),
    [("mini_future", "spike-and-revert", 10.0), ("call", "grind-up", None)],
)
def test_replaying_the_same_market_makes_the_same_decisions(
    tmp_path: Path, instrument: str, scenario: str, contracts_per_vx: float | None
) -> None:
    first = _simulated_run(tmp_path / "a", instrument, scenario)
    second = _simulated_run(tmp_path / "b", instrument, scenario)
    assert first == second
    rebalances = [e for e in first if isinstance(e, HedgeRebalanced)]
    capped = {c.ts for c in first if isinstance(c, HedgeCarryCapped)}
    assert rebalances
    for ev in rebalances:
        per_vx = contracts_per_vx
        if per_vx is None:
            assert ev.option_delta is not None
            per_vx = 1000 / (ev.option_delta * 100)
        if ev.ts not in capped:
            assert ev.target == recomputed_target(ev, per_vx)
    rules = {e.rule for e in first if isinstance(e, ExitTriggered)}
    assert ExitRule.UNWIND in rules and ExitRule.RSI in rules
    assert any(isinstance(e, HedgeRolled) for e in first)

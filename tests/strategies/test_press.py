"""The cash press (layer 3) against real snapshots, the real market state and a real paper broker.

The market is scripted one snapshot per session (more where a test needs them): the VIX sits at
20 (ELEVATED) until it closes at 30 on 2025-03-07, 03-10 and 03-11, so STRESS is confirmed by
those three closes on 2025-03-12's first snapshot. The VX curve is flat at ``fut`` points; the
nearest VIX expiry 14-35 days out from 03-12 is 2025-04-16 (35 days).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from structlog.testing import capture_logs

from brokers.broker import PaperBroker
from brokers.config import BrokerConfig
from brokers.events import (
    AccountMarked,
    ContractSettled,
    FlattenStarted,
    OrderFilled,
    OrderRejected,
    RejectReason,
)
from brokers.ledger import Ledger
from brokers.orders import Flatten, OrderIntent, OrderType, SubmitOrder
from brokers.portfolio import Position
from market.calendar import trading_calendar, vx_expiries_after
from market.clock import SimulatedClock
from market.instruments import FutureContract, FutureRoot, OptionContract, Right, Root
from market.snapshot import FuturePoint, MarketSnapshot
from strategies.config import StrategyConfig
from strategies.events import (
    ExitRule,
    ExitTriggered,
    PositionClosed,
    PositionOpened,
    Regime,
    RegimeChanged,
)
from strategies.press import PressActor
from strategies.state import MarketState

CAL = trading_calendar()
START = date(2025, 2, 3)
FIRST_HIGH_CLOSE = date(2025, 3, 7)
STRESS_DAY = date(2025, 3, 12)
EXPIRY = date(2025, 4, 16)
T = TypeVar("T")


def ts_on(session: date, minute: int = 0) -> datetime:
    return datetime(session.year, session.month, session.day, 15, tzinfo=UTC) + timedelta(
        minutes=minute
    )


def next_session(d: date, n: int = 1) -> date:
    for _ in range(n):
        d = CAL.next_session(d)
    return d


class Desk:
    """State, press and broker wired like the engine: events queue and dispatch in order."""

    def __init__(
        self, tmp_path: Path, config: StrategyConfig | None = None, equity: float = 1_000_000.0
    ) -> None:
        self.config = config or StrategyConfig()
        self.events: list[object] = []
        self._pending: deque[object] = deque()
        self._dispatching = False
        self.ledger = Ledger.open(tmp_path / "ledger.sqlite")
        self.clock = SimulatedClock(ts_on(START))
        self.broker = PaperBroker(
            BrokerConfig(starting_equity=equity), self.ledger, self.publish, self.clock
        )
        self.state = MarketState(self.config, self.publish)
        self.press = PressActor(self.config, self.state, self.publish, equity)
        self.reject_closes = 0
        """Closing orders of the press to answer with a reject instead of the broker."""
        self.reject_opens = 0
        self.seq = 0
        self.snaps: list[MarketSnapshot] = []

    def publish(self, event: object) -> None:
        self.events.append(event)
        self._pending.append(event)
        if self._dispatching:
            return
        self._dispatching = True
        try:
            while self._pending:
                self._dispatch(self._pending.popleft())
        finally:
            self._dispatching = False

    def _dispatch(self, event: object) -> None:
        press = self.press
        if isinstance(event, MarketSnapshot):
            self.clock.advance_to(event.ts)
            self.broker.on_market_snapshot(event)
            self.state.on_market_snapshot(event)
            press.on_market_snapshot(event)
        elif isinstance(event, SubmitOrder):
            if event.intent is OrderIntent.CLOSE and self.reject_closes and event.layer == "press":
                self.reject_closes -= 1
                self.publish(self._reject(event))
            elif event.intent is OrderIntent.OPEN and self.reject_opens:
                self.reject_opens -= 1
                self.publish(self._reject(event))
            else:
                self.broker.on_submit_order(event)
        elif isinstance(event, Flatten):
            self.broker.on_flatten(event)
        elif isinstance(event, OrderFilled):
            press.on_order_filled(event)
        elif isinstance(event, OrderRejected):
            press.on_order_rejected(event)
        elif isinstance(event, ContractSettled):
            press.on_contract_settled(event)
        elif isinstance(event, AccountMarked):
            press.on_account_marked(event)
        elif isinstance(event, FlattenStarted):
            press.on_flatten_started(event)
        elif isinstance(event, RegimeChanged):
            press.on_regime_changed(event)

    def _reject(self, order: SubmitOrder) -> OrderRejected:
        return OrderRejected(
            self.clock.now(), order.client_order_id, order.layer, RejectReason.NO_QUOTE, "test"
        )

    def step(
        self,
        session: date,
        vix: float = 30.0,
        fut: float = 30.0,
        minute: int = 0,
        **fields: object,
    ) -> MarketSnapshot:
        self.seq += 1
        curve = tuple(FuturePoint(e, fut) for e in vx_expiries_after(session, 8))
        snap = MarketSnapshot(
            self.seq,
            ts_on(session, minute),
            session,
            5500.0,
            vix,
            vx_curve=curve,
            **fields,  # type: ignore[arg-type]
        )
        self.snaps.append(snap)
        self.publish(snap)
        return snap

    def history(self, until: date = STRESS_DAY, ad_line: float | None = None) -> None:
        """One snapshot a session before ``until``: VIX 20, then 30 from FIRST_HIGH_CLOSE."""
        for session in CAL.sessions_between(START, until - timedelta(days=1)):
            self.step(session, vix=30.0 if session >= FIRST_HIGH_CLOSE else 20.0, ad_line=ad_line)

    @property
    def regime(self) -> Regime:
        return self.state.regime

    # -- reading the record ---------------------------------------------------------------------

    def of(self, kind: type[T]) -> list[T]:
        return [e for e in self.events if isinstance(e, kind)]

    def press_orders(self, intent: OrderIntent | None = None) -> list[SubmitOrder]:
        return [
            e
            for e in self.events
            if isinstance(e, SubmitOrder)
            and e.layer == "press"
            and (intent is None or e.intent is intent)
        ]

    def exits(self) -> list[ExitTriggered]:
        return self.of(ExitTriggered)

    def closed(self) -> list[PositionClosed]:
        return self.of(PositionClosed)

    def legs_of(self, position_id: str) -> tuple[OptionContract, OptionContract]:
        """Short and long contract of a spread, from its PositionOpened."""
        (opened,) = [o for o in self.of(PositionOpened) if o.position_id == position_id]
        short, long = (OptionContract.parse(symbol) for symbol in opened.contracts)
        return short, long

    def equity_before(self, event: object) -> float:
        """The equity of the last account mark published before ``event`` (the engine's bus
        hands a snapshot to every actor before the mark the broker publishes on it)."""
        marks = [e for e in self.events[: self.events.index(event)] if isinstance(e, AccountMarked)]
        return marks[-1].equity


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    d = Desk(tmp_path)
    yield d
    d.ledger.close()


def make_desk(tmp_path: Path, name: str, **kwargs: object) -> Desk:
    path = tmp_path / name
    path.mkdir()
    return Desk(path, **kwargs)  # type: ignore[arg-type]


def short_and_long(order: SubmitOrder) -> tuple[OptionContract, OptionContract]:
    (short,) = [leg.contract for leg in order.legs if leg.ratio < 0]
    (long,) = [leg.contract for leg in order.legs if leg.ratio > 0]
    assert isinstance(short, OptionContract) and isinstance(long, OptionContract)
    return short, long


def expected_quantity(snap: MarketSnapshot, order: SubmitOrder, equity: float) -> int:
    """Recompute an entry's size from its snapshot's quotes and the episode budget."""
    short, long = short_and_long(order)
    sq, lq = snap.quote(short), snap.quote(long)
    assert sq is not None and lq is not None
    natural = sq.bid - lq.ask
    max_loss = (long.strike - short.strike - natural) * 100.0
    return math.floor(0.02 * equity / 3 / max_loss)


# -- entry: when -------------------------------------------------------------------------------


def test_no_spread_is_sold_before_stress_is_confirmed_by_three_closes(desk: Desk) -> None:
    with capture_logs() as logs:
        desk.history()
    # two closes at 30 by 03-11 and an intraday 30 print: ELEVATED, not STRESS yet
    regimes = [desk.regime]
    assert desk.press_orders() == []
    assert [e for e in logs if e.get("layer") == "press"] == []
    desk.step(STRESS_DAY)
    regimes.append(desk.regime)
    assert regimes == [Regime.ELEVATED, Regime.STRESS]
    (entry,) = desk.press_orders()
    assert entry.intent is OrderIntent.OPEN and entry.order_type is OrderType.MARKET


def test_no_spread_is_sold_in_elevated_or_calm(desk: Desk) -> None:
    for session in CAL.sessions_between(START, date(2025, 4, 30)):
        desk.step(session, vix=24.9 if session.day % 2 else 14.0)
    assert desk.state.stress_episode == 0
    assert desk.press_orders() == []


# -- entry: what and how much -------------------------------------------------------------------


def test_short_call_is_nearest_035_delta_in_the_nearest_expiry_in_window_long_5_above(
    desk: Desk,
) -> None:
    desk.history()
    snap = desk.step(STRESS_DAY)
    (entry,) = desk.press_orders()
    short, long = short_and_long(entry)
    assert short.root is Root.VIX and short.right is Right.CALL and long.right is Right.CALL
    assert short.expiry == long.expiry == EXPIRY
    # the nearer 2025-03-18 expiry is 6 days out, 2025-04-16 is 35: the nearest in 14-35 days
    assert [(e - STRESS_DAY).days for e in snap.vix_expiries[:2]] == [6, 35]
    assert long.strike == short.strike + 5.0

    def delta(strike: float) -> float:
        greeks = snap.option_greeks(OptionContract(Root.VIX, EXPIRY, strike, Right.CALL))
        assert greeks is not None
        return float(greeks.delta)

    miss = abs(delta(short.strike) - 0.35)
    assert miss < 0.05
    assert miss <= abs(delta(short.strike - 1) - 0.35)
    assert miss <= abs(delta(short.strike + 1) - 0.35)


def test_size_is_two_percent_of_equity_over_three_at_the_natural_max_loss(desk: Desk) -> None:
    desk.history()
    with capture_logs() as logs:
        snap = desk.step(STRESS_DAY)
    (entry,) = desk.press_orders()
    equity = desk.equity_before(snap)
    assert entry.quantity == expected_quantity(snap, entry, equity) >= 1
    (sized,) = [e for e in logs if e["event"] == "press_sized"]
    assert sized["equity"] == equity
    assert sized["budget"] == pytest.approx(0.02 * equity)
    assert sized["per_entry_budget"] == pytest.approx(0.02 * equity / 3)
    # filled: the opening is announced with the fill's net price (a credit: negative)
    (opened,) = desk.of(PositionOpened)
    short, long = short_and_long(entry)
    assert opened.contracts == (short.symbol, long.symbol)
    assert opened.quantity == entry.quantity and opened.price < 0
    assert desk.press.stats.opened == 1 and desk.press.open_count() == 1


def test_at_most_one_entry_a_session_and_three_an_episode(desk: Desk) -> None:
    desk.history()
    sessions = CAL.sessions_between(STRESS_DAY, date(2025, 3, 21))
    per_session = []
    equity = 0.0
    for session in sessions:
        before = len(desk.press_orders())
        for minute in range(0, 300, 60):
            snap = desk.step(session, minute=minute)
            if len(desk.press_orders()) > before and minute == 0:
                # every entry is sized from the episode's budget and its own quotes
                entry = desk.press_orders()[-1]
                equity = equity or desk.equity_before(snap)
                assert entry.quantity == expected_quantity(snap, entry, equity)
        per_session.append(len(desk.press_orders()) - before)
    assert per_session == [1, 1, 1] + [0] * (len(sessions) - 3)
    assert desk.press.open_count() == 3
    # the layer's total max loss at the fills stays within 2% of the episode's equity
    total_max_loss = sum((5.0 + e.price) * 100 * e.quantity for e in desk.of(PositionOpened))
    assert 0.0 < total_max_loss <= 0.02 * equity


def test_too_small_an_account_logs_the_skip_once_a_session(tmp_path: Path) -> None:
    desk = make_desk(tmp_path, "small", equity=20_000.0)
    desk.history()
    with capture_logs() as logs:
        for minute in range(0, 120, 30):
            desk.step(STRESS_DAY, minute=minute)
        desk.step(next_session(STRESS_DAY))
    skips = [e for e in logs if e["event"] == "press_entry_skipped"]
    assert [s["session"] for s in skips] == [str(STRESS_DAY), str(next_session(STRESS_DAY))]
    first = skips[0]
    assert first["reason"] == "size_below_one_contract"
    # 2% of ~20,000 over 3 is ~133 dollars, below one spread's max loss
    assert first["per_entry_budget"] < first["max_loss_per_spread"]
    assert first["max_loss_per_spread"] == pytest.approx(
        (5.0 - first["natural_credit"]) * 100, abs=0.01
    )
    assert desk.press_orders() == []
    desk.ledger.close()


def test_a_new_episode_resets_the_count_and_the_budget(desk: Desk) -> None:
    desk.history()
    for session in CAL.sessions_between(STRESS_DAY, date(2025, 3, 14)):
        desk.step(session)
    assert len(desk.press_orders(OrderIntent.OPEN)) == 3
    # 03-17 closes at 20: STRESS ends at 03-18's open, where the VX spikes and stops all three
    desk.step(date(2025, 3, 17), vix=20.0)
    desk.step(date(2025, 3, 18), vix=30.0, fut=40.0)
    assert desk.regime is not Regime.STRESS
    assert [e.rule for e in desk.exits()] == [ExitRule.CREDIT_STOP] * 3
    assert desk.press.open_count() == 0
    with capture_logs() as logs:
        for session in CAL.sessions_between(date(2025, 3, 19), date(2025, 3, 28)):
            snap = desk.step(session, vix=30.0, fut=40.0)
            if session == date(2025, 3, 21):
                stress_began = snap
    assert desk.state.stress_episode == 2
    (sized,) = [e for e in logs if e["event"] == "press_sized"]
    assert sized["episode"] == 2
    entries = desk.press_orders(OrderIntent.OPEN)[3:]
    assert len(entries) == 3  # the count starts again
    equity = desk.equity_before(stress_began)
    assert sized["equity"] == equity < 1_000_000.0  # the stops cost money: a smaller budget
    assert sized["budget"] == pytest.approx(0.02 * equity)


def test_spreads_in_one_expiry_never_hold_a_strike_both_ways(tmp_path: Path) -> None:
    config = StrategyConfig.model_validate({"exits": {"stop_multiple": 50.0}})
    desk = make_desk(tmp_path, "conflict", config=config)
    desk.history()
    desk.step(STRESS_DAY, fut=30.0)
    first_short, first_long = short_and_long(desk.press_orders()[0])
    # find a future level whose 0.35-delta strike is the first spread's long strike
    session = next_session(STRESS_DAY)
    for tenths in range(300, 400):
        probe = MarketSnapshot(
            0,
            ts_on(session),
            session,
            5500.0,
            30.0,
            vx_curve=tuple(FuturePoint(e, tenths / 10) for e in vx_expiries_after(session, 8)),
        )
        if probe.vix_chain(EXPIRY).strike_nearest_delta(Right.CALL, 0.35) == first_long.strike:
            break
    else:
        pytest.fail("no future level puts the 0.35-delta strike on the first long strike")
    desk.step(session, fut=tenths / 10)
    second_short, second_long = short_and_long(desk.press_orders()[1])
    assert second_short.strike == first_long.strike + 1.0
    assert second_long.strike == second_short.strike + 5.0
    desk.ledger.close()


# -- entry: gates -----------------------------------------------------------------------------


def test_a_headline_jump_keeps_the_press_off_until_a_stress_jump(desk: Desk) -> None:
    cpi_day = date(2025, 3, 11)
    desk.history(until=cpi_day, ad_line=100.0)
    # STRESS is confirmed by the close of a CPI day with a flat A/D line: headline
    desk.step(cpi_day, macro_events=("cpi",), ad_line=100.0)
    desk.step(STRESS_DAY, ad_line=100.0)
    desk.step(next_session(STRESS_DAY), ad_line=100.0)
    assert desk.regime is Regime.STRESS
    assert desk.state.press_hold
    assert desk.press_orders() == []
    # two sessions after the release, a 15%+ jump is stress: the press engages
    desk.step(next_session(STRESS_DAY, 2), vix=35.0, ad_line=100.0)
    assert not desk.state.press_hold
    assert len(desk.press_orders()) == 1


def test_a_rejected_entry_waits_for_the_next_session_and_keeps_the_episode_count(
    desk: Desk,
) -> None:
    desk.history()
    desk.reject_opens = 1
    for minute in range(0, 300, 30):
        desk.step(STRESS_DAY, minute=minute)
    assert len(desk.press_orders()) == 1 and desk.press.open_count() == 0
    for session in CAL.sessions_between(next_session(STRESS_DAY), date(2025, 3, 21)):
        desk.step(session)
    assert len(desk.press_orders()) == 4 and desk.press.open_count() == 3


# -- exits --------------------------------------------------------------------------------------


def _open_one(desk: Desk) -> SubmitOrder:
    desk.history()
    desk.step(STRESS_DAY)
    (entry,) = desk.press_orders()
    return entry


def test_credit_stop_closes_at_twice_the_credit_received_once(desk: Desk) -> None:
    entry = _open_one(desk)
    (opened,) = desk.of(PositionOpened)
    credit = -opened.price
    short, long = short_and_long(entry)
    costs: list[float] = []
    fut = 30.0
    for minute in range(1, 200):
        fut += 0.05
        snap = desk.step(STRESS_DAY, fut=fut, minute=minute)
        sq, lq = snap.quote(short), snap.quote(long)
        assert sq is not None and lq is not None
        costs.append(sq.mid - lq.mid)
        if desk.exits():
            break
    (exit_,) = desk.exits()
    assert exit_.rule is ExitRule.CREDIT_STOP and exit_.layer == "press"
    assert exit_.credit == pytest.approx(credit)
    assert exit_.cost_to_close == pytest.approx(costs[-1]) and costs[-1] >= 2 * credit
    assert all(c < 2 * credit for c in costs[:-1])
    assert exit_.dte == (EXPIRY - STRESS_DAY).days and exit_.rsi is None
    (close,) = desk.press_orders(OrderIntent.CLOSE)
    assert close.order_type is OrderType.MARKET and close.reason == "credit_stop"
    assert {(leg.contract, leg.ratio) for leg in close.legs} == {(short, 1), (long, -1)}
    (closed,) = desk.closed()
    assert closed.rule == "credit_stop" and closed.quantity == entry.quantity
    assert desk.press.stats.exits == {"credit_stop": 1} and desk.press.stats.closed == 1
    # more snapshots, still above the stop: nothing more fires (and no re-entry this session)
    for minute in range(200, 210):
        desk.step(STRESS_DAY, fut=fut, minute=minute)
    assert len(desk.exits()) == 1 and len(desk.press_orders()) == 2


def _cutler(closes: list[float], periods: int = 21) -> float:
    changes = [b - a for a, b in zip(closes, closes[1:], strict=False)][-periods:]
    gain = sum(c for c in changes if c > 0)
    loss = -sum(c for c in changes if c < 0)
    return 100.0 * gain / (gain + loss)


def test_rsi_below_30_closes_every_spread(desk: Desk) -> None:
    futs: list[float] = []
    for session in CAL.sessions_between(START, STRESS_DAY - timedelta(days=1)):
        futs.append(30.0)
        desk.step(session, vix=30.0 if session >= FIRST_HIGH_CLOSE else 20.0, fut=30.0)
    for i, session in enumerate(CAL.sessions_between(STRESS_DAY, date(2025, 3, 14))):
        futs.append(30.0 + 0.2 * (i + 1))  # a little gain each session
        desk.step(session, fut=futs[-1])
    assert desk.press.open_count() == 3 and desk.exits() == []
    # the 30-day VX drops 3.5 points intraday: provisional RSI = 100 x 0.6 / (0.6 + 3.5)
    drop_day = date(2025, 3, 17)
    snap = desk.step(drop_day, fut=futs[-1] - 3.5)
    expected = _cutler([*futs, futs[-1] - 3.5])
    assert expected == pytest.approx(100 * 0.6 / 4.1)
    exits = desk.exits()
    assert [e.rule for e in exits] == [ExitRule.RSI] * 3
    assert all(e.rsi == pytest.approx(expected) for e in exits)
    assert desk.state.rsi(snap) == pytest.approx(expected)
    assert {c.rule for c in desk.closed()} == {"rsi"} and desk.press.open_count() == 0
    # the RSI closes the spreads although STRESS still stands
    assert desk.regime is Regime.STRESS


def test_low_rsi_blocks_entries_in_stress(desk: Desk) -> None:
    futs = [40.0 - 0.2 * i for i in range(40)]
    sessions = CAL.sessions_between(START, STRESS_DAY)
    for session, fut in zip(sessions, futs, strict=False):
        desk.step(session, vix=30.0 if session >= FIRST_HIGH_CLOSE else 20.0, fut=fut)
    assert desk.regime is Regime.STRESS
    assert desk.press_orders() == []  # RSI(21) of a steadily falling VX is 0


def test_rejected_close_is_resent_with_backoff_and_the_exit_is_announced_once(
    desk: Desk,
) -> None:
    _open_one(desk)
    desk.reject_closes = 5
    sent_at: list[int] = []
    with capture_logs() as logs:
        for minute in range(1, 40):
            before = len(desk.press_orders(OrderIntent.CLOSE))
            desk.step(STRESS_DAY, fut=40.0, minute=minute)
            if len(desk.press_orders(OrderIntent.CLOSE)) > before:
                sent_at.append(minute)
    # first send, then after 1, 2, 4, 8, 16 snapshots; the sixth goes through and fills
    assert sent_at == [1, 2, 4, 8, 16, 32]
    assert len(desk.exits()) == 1
    assert [e["attempts"] for e in logs if e["event"] == "exit_retry_scheduled"] == [1, 2, 3, 4, 5]
    (closed,) = desk.closed()
    assert closed.rule == "credit_stop" and desk.press.open_count() == 0


def test_spreads_held_to_expiry_settle_at_the_vro(desk: Desk) -> None:
    desk.history()
    for session in CAL.sessions_between(STRESS_DAY, date(2025, 4, 15)):
        desk.step(session)
    assert desk.press.open_count() == 3 and desk.exits() == []
    vro = 36.2
    desk.step(EXPIRY, vro=vro)
    assert {s.settlement_price for s in desk.of(ContractSettled)} == {vro}
    closed = desk.closed()
    assert len(closed) == 3 and {c.rule for c in closed} == {"settlement"}
    for c in closed:
        short, long = desk.legs_of(c.position_id)
        assert c.price == pytest.approx(max(0.0, vro - short.strike) - max(0.0, vro - long.strike))
    assert desk.press.stats.exits == {"settlement": 3} and desk.press.open_count() == 0
    assert desk.exits() == [] and desk.press_orders(OrderIntent.CLOSE) == []


@pytest.mark.parametrize("reason", ["flatten", "risk_halt"])
def test_flatten_fills_close_the_spreads_under_their_reason(desk: Desk, reason: str) -> None:
    desk.history()
    for session in CAL.sessions_between(STRESS_DAY, date(2025, 3, 13)):
        desk.step(session)
    desk.publish(Flatten(reason))
    closed = desk.closed()
    assert len(closed) == 2 and {c.rule for c in closed} == {reason}
    fills = [e for e in desk.of(OrderFilled) if e.client_order_id.startswith("flatten-")]
    assert fills and {f.reason for f in fills} == {reason}
    prices = {leg.contract: leg.price for f in fills for leg in f.legs}
    for c in closed:
        short, long = desk.legs_of(c.position_id)
        assert c.price == pytest.approx(prices[short] - prices[long])
    assert desk.press.stats.exits == {reason: 2} and desk.press.open_count() == 0


def test_exits_stand_down_while_a_flatten_is_under_way(desk: Desk) -> None:
    _open_one(desk)
    desk.publish(FlattenStarted(ts_on(STRESS_DAY, 1), "risk_halt", 1))  # the broker's combo waits
    desk.step(STRESS_DAY, fut=45.0, minute=2)  # far through the stop
    assert desk.exits() == [] and desk.press_orders(OrderIntent.CLOSE) == []
    assert desk.press.open_count() == 1


def test_replays_are_deterministic(tmp_path: Path) -> None:
    def run(name: str) -> list[str]:
        desk = make_desk(tmp_path, name)
        desk.history()
        for i, session in enumerate(CAL.sessions_between(STRESS_DAY, date(2025, 4, 17))):
            desk.step(session, fut=30.0 + (0.6 if i % 5 == 4 else -0.1) * (i % 7))
            desk.step(session, fut=31.0, minute=90)
        desk.ledger.close()
        return [repr(e) for e in desk.events if not isinstance(e, MarketSnapshot)]

    first, second = run("a"), run("b")
    assert first == second
    assert any("PositionOpened" in e for e in first)


# -- adopt ------------------------------------------------------------------------------------


def test_adopt_pairs_short_and_long_calls_and_continues_order_ids(desk: Desk) -> None:
    def vix_call(strike: float, expiry: date = EXPIRY) -> OptionContract:
        return OptionContract(Root.VIX, expiry, strike, Right.CALL)

    positions = [
        Position("press", vix_call(35), -4, 1.8),
        Position("press", vix_call(40), 4, 1.1),
        Position("press", vix_call(30, date(2025, 5, 21)), -2, 3.0),  # no long: unmapped
        Position("press", FutureContract(FutureRoot.VX, EXPIRY), 1, 30.0),
        Position("hedge", vix_call(32), 5, 2.0),  # another layer's
    ]
    unmapped = desk.press.adopt(positions, ["press-000007", "press-000003", "condor-000020"])
    assert sorted(unmapped) == ["VIX 2025-05-21 C 30", "VX 2025-04-16"]
    (spread,) = desk.press.open_spreads()
    assert (spread.short.strike, spread.long.strike, spread.quantity) == (35.0, 40.0, 4)
    assert spread.credit == pytest.approx(0.7)
    # the adopted spread is managed by the exit rules; ids continue after press-000007
    desk.step(STRESS_DAY, vix=20.0, fut=45.0)
    (exit_,) = desk.exits()
    assert exit_.rule is ExitRule.CREDIT_STOP and exit_.credit == pytest.approx(0.7)
    assert exit_.position_id == "PS-000008"
    assert desk.press_orders(OrderIntent.CLOSE)[0].client_order_id == "press-000009"

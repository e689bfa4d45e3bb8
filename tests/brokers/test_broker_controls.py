"""Order lifetime, idempotency, the reject reasons, pause/resume, flatten, size cap, fees,
interest on cash and book greeks."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from broker_fakes import (
    EXPIRY,
    FakeGreeks,
    FakeQuote,
    FakeSnapshot,
    call,
    put,
    snap_on,
    ts_on,
    vix_call,
    vix_put,
    vx,
    vxm,
)
from structlog.testing import capture_logs

from brokers.broker import PaperBroker
from brokers.config import BrokerConfig, FeeSchedule, ProductFees
from brokers.events import (
    AccountMarked,
    FlattenStarted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    RejectReason,
    TradingPaused,
    TradingResumed,
)
from brokers.ledger import Ledger
from brokers.orders import (
    Flatten,
    OrderIntent,
    OrderLeg,
    OrderType,
    PauseTrading,
    ResumeTrading,
    SubmitOrder,
    TimeInForce,
)
from brokers.portfolio import LayerGreeks
from market.clock import SimulatedClock
from market.instruments import Contract

MON, TUE = date(2025, 2, 3), date(2025, 2, 4)
APRIL = date(2025, 4, 17)
CONDOR = (
    OrderLeg(put(4800), 1),
    OrderLeg(put(4850), -1),
    OrderLeg(call(5150), -1),
    OrderLeg(call(5200), 1),
)
CLOSE_CONDOR = tuple(OrderLeg(leg.contract, -leg.ratio) for leg in CONDOR)
QUOTES: dict[Contract, FakeQuote] = {
    put(4800): FakeQuote(3.90, 4.10),
    put(4850): FakeQuote(5.90, 6.10),
    call(5150): FakeQuote(4.90, 5.10),
    call(5200): FakeQuote(2.90, 3.10),
    call(5150, APRIL): FakeQuote(9.90, 10.10),
    call(5200, APRIL): FakeQuote(6.90, 7.10),
    vix_call(18): FakeQuote(2.00, 2.10),
    vix_call(22): FakeQuote(0.90, 1.00),
    vix_put(15): FakeQuote(0.40, 0.50),
    vx(): FakeQuote(18.00, 18.10),
    vxm(): FakeQuote(18.00, 18.10),
}

T = TypeVar("T")


def of_type(events: list[object], kind: type[T]) -> list[T]:
    return [e for e in events if isinstance(e, kind)]


def make_broker(
    tmp_path: Path, quotes: dict[Contract, FakeQuote] | None = None, **config: object
) -> tuple[PaperBroker, list[object], SimulatedClock, Ledger]:
    events: list[object] = []
    clock = SimulatedClock(ts_on(MON))
    ledger = Ledger.open(tmp_path / "ledger.sqlite")
    broker = PaperBroker(BrokerConfig(**config), ledger, events.append, clock)  # type: ignore[arg-type]
    broker.on_market_snapshot(snap_on(MON, QUOTES if quotes is None else quotes))
    events.clear()
    return broker, events, clock, ledger


def last_reject(events: list[object]) -> OrderRejected:
    rejected = events[-1]
    assert isinstance(rejected, OrderRejected)
    assert rejected.message
    return rejected


# --- order lifetime and idempotency -----------------------------------------------------------


def test_resting_day_order_is_cancelled_at_the_first_snapshot_of_a_later_session(
    tmp_path: Path,
) -> None:
    broker, events, _, ledger = make_broker(tmp_path)
    limit = dict(order_type=OrderType.LIMIT, limit_price=-9.0)
    broker.on_submit_order(SubmitOrder("day", "condor", CONDOR, 1, **limit))  # type: ignore[arg-type]
    broker.on_submit_order(
        SubmitOrder("gtc", "condor", CONDOR, 1, time_in_force=TimeInForce.GTC, **limit)  # type: ignore[arg-type]
    )
    broker.on_market_snapshot(snap_on(MON, QUOTES, minutes=30))
    assert not of_type(events, OrderCancelled)
    broker.on_market_snapshot(snap_on(TUE, QUOTES))
    [cancelled] = of_type(events, OrderCancelled)
    assert (cancelled.client_order_id, cancelled.reason) == ("day", "day_expired")
    assert cancelled.ts == ts_on(TUE)
    assert [r.order.client_order_id for r in broker.resting_orders] == ["gtc"]
    assert ledger.order_history("day")[-1]["reason"] == "day_expired"


def test_identical_resubmission_is_ignored(tmp_path: Path) -> None:
    broker, events, _, ledger = make_broker(tmp_path)
    order = SubmitOrder("c1", "condor", CONDOR, 1)
    broker.on_submit_order(order)
    published = len(events)
    with capture_logs() as logs:
        broker.on_submit_order(SubmitOrder("c1", "condor", CONDOR, 1))
    assert len(events) == published  # no new order, fill or reject
    assert [e["event"] for e in logs] == ["order_duplicate_ignored"]
    stats = broker.stats
    assert (stats.orders, stats.fills, stats.rejected_orders) == (1, 1, 0)
    assert stats.duplicate_orders_ignored == 1
    assert ledger.fill_count() == 1


def test_identical_resubmission_of_a_resting_order_keeps_one_order(tmp_path: Path) -> None:
    broker, events, _, _ = make_broker(tmp_path)
    order = SubmitOrder("c1", "condor", CONDOR, 1, OrderType.LIMIT, -9.0)
    broker.on_submit_order(order)
    broker.on_submit_order(order)
    assert len(broker.resting_orders) == 1
    assert not of_type(events, OrderRejected)


# --- reject reasons ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("legs", "reason"),
    [
        pytest.param((OrderLeg(put(4801), 1),), RejectReason.OFF_GRID_STRIKE, id="spx-off-grid"),
        pytest.param((OrderLeg(vix_call(18.5), 1),), RejectReason.OFF_GRID_STRIKE, id="vix-grid"),
        pytest.param(
            (OrderLeg(put(4800, date(2025, 1, 17)), 1),),
            RejectReason.EXPIRED_CONTRACT,
            id="expired-spx",
        ),
        pytest.param(
            (OrderLeg(vx(date(2025, 1, 22)), 1),), RejectReason.EXPIRED_CONTRACT, id="expired-vx"
        ),
        pytest.param(
            (OrderLeg(put(4800, date(2025, 3, 20)), 1),),
            RejectReason.UNKNOWN_CONTRACT,
            id="unlisted-spx-expiry",
        ),
        pytest.param(
            (OrderLeg(vx(date(2025, 3, 19)), 1),), RejectReason.UNKNOWN_CONTRACT, id="unlisted-vx"
        ),
        pytest.param(
            (OrderLeg(vix_call(18, EXPIRY), 1),),
            RejectReason.UNKNOWN_CONTRACT,
            id="vix-option-on-an-spx-expiry",
        ),
        pytest.param(
            (OrderLeg(put(4800), 1), OrderLeg(vx(), 1)),
            RejectReason.INVALID_ORDER,
            id="futures-with-options",
        ),
    ],
)
def test_contract_problems_are_rejected_with_their_reason(
    tmp_path: Path, legs: tuple[OrderLeg, ...], reason: RejectReason
) -> None:
    broker, events, _, ledger = make_broker(tmp_path)
    broker.on_submit_order(SubmitOrder("x", "hedge", legs, 1))
    assert last_reject(events).reason is reason
    assert ledger.orders()[0]["status_reason"].startswith(reason.value)


def test_order_on_a_snapshot_older_than_max_quote_age_is_rejected_as_stale(
    tmp_path: Path,
) -> None:
    broker, events, clock, _ = make_broker(tmp_path, max_quote_age=60.0)
    clock.advance_to(ts_on(MON) + timedelta(seconds=60))
    broker.on_submit_order(SubmitOrder("ok", "condor", CONDOR, 1))
    assert of_type(events, OrderFilled)
    clock.advance_to(ts_on(MON) + timedelta(seconds=61))
    broker.on_submit_order(SubmitOrder("late", "condor", CONDOR, 1))
    rejected = last_reject(events)
    assert rejected.reason is RejectReason.STALE_QUOTE
    assert "61 s old" in rejected.message


def test_reject_reasons_are_checked_in_their_documented_order(tmp_path: Path) -> None:
    broker, events, clock, _ = make_broker(tmp_path, max_quote_age=60.0)
    clock.advance_to(ts_on(MON, 10))  # stale from now on
    expired_off_grid = (OrderLeg(put(4801, date(2025, 1, 17)), 1),)
    cases = [
        (SubmitOrder("a", "h", (OrderLeg(put(4800), 1), OrderLeg(vx(), 1)), 0), "invalid_quantity"),
        (SubmitOrder("b", "h", (OrderLeg(put(4800), 1), OrderLeg(vx(), 1)), 1), "invalid_order"),
        (SubmitOrder("c", "h", expired_off_grid, 1), "off_grid_strike"),
        (SubmitOrder("d", "h", (OrderLeg(put(4800, date(2025, 1, 17)), 1),), 1), "stale_quote"),
    ]
    for order, reason in cases:
        broker.on_submit_order(order)
        assert last_reject(events).reason.value == reason
    broker.on_pause_trading(PauseTrading("test"))
    broker.on_submit_order(SubmitOrder("e", "h", (OrderLeg(put(4800), 1),), 1))
    assert last_reject(events).reason is RejectReason.TRADING_PAUSED  # before staleness


# --- pause and resume --------------------------------------------------------------------------


def test_pause_blocks_opening_orders_but_not_closing_ones(tmp_path: Path) -> None:
    broker, events, _, _ = make_broker(tmp_path)
    broker.on_submit_order(SubmitOrder("c1", "condor", CONDOR, 2))
    broker.on_submit_order(
        SubmitOrder("lim", "hedge", (OrderLeg(vx(), 1),), 1, OrderType.LIMIT, 17.0)
    )
    broker.on_pause_trading(PauseTrading("operator"))
    assert isinstance(events[-1], TradingPaused) and events[-1].reason == "operator"
    assert broker.trading_paused

    broker.on_submit_order(SubmitOrder("c2", "condor", CONDOR, 1))
    assert last_reject(events).reason is RejectReason.TRADING_PAUSED
    broker.on_submit_order(SubmitOrder("x1", "condor", CLOSE_CONDOR, 1, intent=OrderIntent.CLOSE))
    assert of_type(events, OrderFilled)[-1].client_order_id == "x1"
    # A resting opening order does not fill while paused, and does once trading resumes.
    cheap = dict(QUOTES)
    cheap[vx()] = FakeQuote(16.90, 17.00)
    broker.on_market_snapshot(snap_on(MON, cheap, minutes=1))
    assert of_type(events, OrderFilled)[-1].client_order_id == "x1"
    broker.on_resume_trading(ResumeTrading("all clear"))
    assert isinstance(events[-1], TradingResumed)
    broker.on_market_snapshot(snap_on(MON, cheap, minutes=2))
    assert of_type(events, OrderFilled)[-1].client_order_id == "lim"
    broker.on_submit_order(SubmitOrder("c3", "condor", CONDOR, 1))
    assert of_type(events, OrderFilled)[-1].client_order_id == "c3"


def test_a_risk_halt_resume_does_not_lift_an_operators_pause(tmp_path: Path) -> None:
    broker, events, _, _ = make_broker(tmp_path)
    broker.on_pause_trading(PauseTrading("operator"))
    broker.on_pause_trading(PauseTrading("risk_halt"))
    assert broker.pause_reasons == ("operator", "risk_halt")
    broker.on_resume_trading(ResumeTrading("risk_halt"))  # a batch run's next session
    assert broker.trading_paused and broker.pause_reasons == ("operator",)
    broker.on_submit_order(SubmitOrder("c1", "condor", CONDOR, 1))
    assert last_reject(events).reason is RejectReason.TRADING_PAUSED
    broker.on_pause_trading(PauseTrading("risk_halt"))
    broker.on_resume_trading(ResumeTrading("operator"))  # an operator's resume lifts everything
    assert not broker.trading_paused
    broker.on_submit_order(SubmitOrder("c2", "condor", CONDOR, 1))
    assert of_type(events, OrderFilled)[-1].client_order_id == "c2"


# --- flatten -----------------------------------------------------------------------------------


def test_flatten_closes_every_structure_as_one_combo_and_waits_for_missing_quotes(
    tmp_path: Path,
) -> None:
    broker, events, _, _ = make_broker(tmp_path)
    broker.on_submit_order(SubmitOrder("c1", "condor", CONDOR, 2))
    broker.on_submit_order(
        SubmitOrder(
            "p1", "press", (OrderLeg(call(5150, APRIL), -1), OrderLeg(call(5200, APRIL), 1)), 3
        )
    )
    broker.on_submit_order(
        SubmitOrder("h1", "hedge", (OrderLeg(vix_call(18), 2), OrderLeg(vix_call(22), -2)), 1)
    )
    broker.on_submit_order(SubmitOrder("h2", "hedge", (OrderLeg(vx(), 1),), 1))
    broker.on_submit_order(SubmitOrder("h3", "hedge", (OrderLeg(vxm(), -1),), 4))
    broker.on_submit_order(SubmitOrder("r1", "condor", CONDOR, 1, OrderType.LIMIT, -20.0))
    broker.on_pause_trading(PauseTrading("flatten"))
    events.clear()

    missing = dict(QUOTES)
    del missing[call(5200, APRIL)]
    broker.on_market_snapshot(snap_on(MON, missing, minutes=1))
    with capture_logs() as logs:
        broker.on_flatten(Flatten("operator"))
        broker.on_market_snapshot(snap_on(MON, missing, minutes=2))
    started = events[0]
    assert isinstance(started, FlattenStarted)
    assert (started.reason, started.structures) == ("operator", 5)
    [cancelled] = of_type(events, OrderCancelled)
    assert (cancelled.client_order_id, cancelled.reason) == ("r1", "flatten")
    fills = of_type(events, OrderFilled)
    assert all(f.reason == "flatten" and f.intent is OrderIntent.CLOSE for f in fills)
    assert {f.client_order_id: (f.quantity, len(f.legs)) for f in fills} == {
        "flatten-1": (2, 4),  # condor SPX March: one combo of four legs
        "flatten-2": (2, 2),  # hedge VIX March call spread, 2 x (+1, -1)
        "flatten-3": (1, 1),  # hedge VX March
        "flatten-4": (4, 1),  # hedge VXM March
    }
    waiting = [e for e in logs if e["event"] == "flatten_waiting"]
    assert [(e["client_order_id"], e["layer"]) for e in waiting] == [("flatten-5", "press")]
    assert broker.flatten_pending == ("flatten-5",)
    assert [p.layer for p in broker.portfolio.open_positions()] == ["press", "press"]

    broker.on_market_snapshot(snap_on(MON, QUOTES, minutes=3))
    last = of_type(events, OrderFilled)[-1]
    assert (last.client_order_id, last.quantity) == ("flatten-5", 3)
    assert [leg.quantity for leg in last.legs] == [3, -3]
    assert broker.portfolio.open_positions() == []
    assert broker.flatten_pending == ()


def test_a_risk_halt_flatten_tags_its_combos_so_the_layers_count_the_rule(tmp_path: Path) -> None:
    broker, events, _, _ = make_broker(tmp_path)
    broker.on_submit_order(SubmitOrder("c1", "condor", CONDOR, 1))
    broker.on_submit_order(SubmitOrder("h1", "hedge", (OrderLeg(vx(), 1),), 1))
    events.clear()
    broker.on_flatten(Flatten("risk_halt"))
    fills = of_type(events, OrderFilled)
    assert len(fills) == 2 and {f.reason for f in fills} == {"risk_halt"}
    broker.on_submit_order(SubmitOrder("c2", "condor", CONDOR, 1))
    events.clear()
    broker.on_flatten(Flatten("some operator note"))  # anything else is an operator's flatten
    assert {f.reason for f in of_type(events, OrderFilled)} == {"flatten"}


# --- size cap ----------------------------------------------------------------------------------


def test_orders_larger_than_the_quoted_size_are_rejected_whole(tmp_path: Path) -> None:
    quotes = dict(QUOTES)
    quotes[put(4800)] = FakeQuote(3.90, 4.10, bid_size=50, ask_size=5)  # bought in the condor
    quotes[put(4850)] = FakeQuote(5.90, 6.10, bid_size=4, ask_size=50)  # sold in the condor
    quotes[call(5150)] = FakeQuote(4.90, 5.10)  # size unknown: no cap
    broker, events, _, ledger = make_broker(tmp_path, quotes, cap_at_quoted_size=True)
    broker.on_submit_order(SubmitOrder("big", "condor", CONDOR, 5))
    rejected = last_reject(events)
    assert rejected.reason is RejectReason.SIZE_EXCEEDS_QUOTE
    assert "4 quoted on the bid" in rejected.message
    assert ledger.fill_count() == 0 and broker.portfolio.open_positions() == []
    broker.on_submit_order(SubmitOrder("ok", "condor", CONDOR, 4))
    assert of_type(events, OrderFilled)[-1].legs[0].quantity == 4


def test_size_cap_is_off_by_default(tmp_path: Path) -> None:
    quotes = dict(QUOTES)
    quotes[put(4800)] = FakeQuote(3.90, 4.10, bid_size=1, ask_size=1)
    broker, events, _, _ = make_broker(tmp_path, quotes)
    broker.on_submit_order(SubmitOrder("big", "condor", CONDOR, 5))
    assert of_type(events, OrderFilled)


# --- fees --------------------------------------------------------------------------------------


def test_fees_are_charged_per_contract_at_each_products_rate(tmp_path: Path) -> None:
    broker, events, _, _ = make_broker(tmp_path)
    broker.on_submit_order(SubmitOrder("spx", "condor", CONDOR, 2))  # 8 SPX options
    broker.on_submit_order(
        SubmitOrder("vix", "hedge", (OrderLeg(vix_call(18), 1), OrderLeg(vix_call(22), -1)), 3)
    )  # 6 VIX options
    broker.on_submit_order(SubmitOrder("vx", "hedge", (OrderLeg(vx(), 1),), 2))
    broker.on_submit_order(SubmitOrder("vxm", "hedge", (OrderLeg(vxm(), 1),), 5))
    fees = {f.client_order_id: f.fees for f in of_type(events, OrderFilled)}
    assert fees == pytest.approx(
        {"spx": 8 * 1.25, "vix": 6 * 1.15, "vx": 2 * 3.20, "vxm": 5 * 1.20}
    )
    assert broker.portfolio.fees_paid == pytest.approx(sum(fees.values()))
    assert broker.portfolio.fees_by_layer["hedge"] == pytest.approx(6.9 + 6.4 + 6.0)


def test_fee_schedule_is_configurable_per_product(tmp_path: Path) -> None:
    schedule = FeeSchedule(vx_future=ProductFees(commission=2.0, exchange=1.0))
    broker, events, _, _ = make_broker(tmp_path, fees=schedule)
    broker.on_submit_order(SubmitOrder("vx", "hedge", (OrderLeg(vx(), 1),), 2))
    assert of_type(events, OrderFilled)[0].fees == pytest.approx(6.0)
    assert schedule.spx_option.per_contract == pytest.approx(1.25)


# --- interest ----------------------------------------------------------------------------------


def test_cash_earns_the_rate_for_the_calendar_days_between_sessions(tmp_path: Path) -> None:
    events: list[object] = []
    ledger = Ledger.open(tmp_path / "ledger.sqlite")
    friday, monday = date(2025, 2, 7), date(2025, 2, 10)
    broker = PaperBroker(BrokerConfig(), ledger, events.append, SimulatedClock(ts_on(friday)))
    broker.on_market_snapshot(snap_on(friday, rate=0.04))
    assert broker.portfolio.cash == 1_000_000.0  # no interest before a first session
    broker.on_market_snapshot(snap_on(monday, rate=0.04))
    expected = 1_000_000.0 * 0.04 * 3 / 365
    assert broker.portfolio.cash == pytest.approx(1_000_000.0 + expected)
    [move] = ledger.cash_movements()
    assert move["kind"] == "interest" and move["amount"] == pytest.approx(expected)
    marked = events[-1]
    assert isinstance(marked, AccountMarked)
    assert marked.cash == pytest.approx(1_000_000.0 + expected)
    assert marked.realized_pnl == pytest.approx(expected)
    assert broker.portfolio.realized_pnl("condor") == 0.0  # interest belongs to no layer


def test_negative_cash_pays_interest(tmp_path: Path) -> None:
    quotes: dict[Contract, FakeQuote] = {put(4800): FakeQuote(4, 4), put(4850): FakeQuote(6, 6)}
    broker, events, _, ledger = make_broker(tmp_path, quotes, starting_equity=5_000.0, slippage=0.0)
    spread = (OrderLeg(put(4800), 1), OrderLeg(put(4850), -1))
    broker.on_submit_order(SubmitOrder("p1", "press", spread, 1))
    gapped: dict[Contract, FakeQuote] = {put(4800): FakeQuote(0, 0), put(4850): FakeQuote(80, 80)}
    broker.on_market_snapshot(snap_on(MON, gapped, minutes=1))
    close = tuple(OrderLeg(leg.contract, -leg.ratio) for leg in spread)
    broker.on_submit_order(SubmitOrder("x1", "press", close, 1, intent=OrderIntent.CLOSE))
    cash = broker.portfolio.cash
    assert cash < 0
    broker.on_market_snapshot(snap_on(TUE, rate=0.05))
    assert broker.portfolio.cash - cash == pytest.approx(cash * 0.05 / 365)
    assert ledger.cash_movements()[-1]["amount"] < 0


# --- greeks ------------------------------------------------------------------------------------


def test_book_greeks_add_up_per_layer_in_dollars(tmp_path: Path) -> None:
    greeks = {
        put(4800): FakeGreeks(-0.10, 0.001, 2.0, -0.5),
        put(4850): FakeGreeks(-0.15, 0.002, 3.0, -0.8),
        call(5150): FakeGreeks(0.12, 0.002, 2.5, -0.7),
        call(5200): FakeGreeks(0.08, 0.001, 1.8, -0.4),
        vix_call(18): FakeGreeks(0.55, 0.08, 0.03, -0.02),
        vix_call(22): FakeGreeks(0.30, 0.06, 0.025, -0.015),
    }
    broker, _, _, _ = make_broker(tmp_path)
    broker.on_submit_order(SubmitOrder("c1", "condor", CONDOR, 2))
    broker.on_submit_order(
        SubmitOrder("h1", "hedge", (OrderLeg(vix_call(18), 1), OrderLeg(vix_call(22), -1)), 10)
    )
    broker.on_submit_order(SubmitOrder("h2", "hedge", (OrderLeg(vx(), 1),), 1))
    broker.on_submit_order(SubmitOrder("h3", "hedge", (OrderLeg(vxm(), -1),), 3))
    broker.on_market_snapshot(FakeSnapshot(ts_on(MON, 1), MON, quotes=dict(QUOTES), greeks=greeks))
    book = broker.greeks()

    # By hand, qty x greek x 100 per option leg.
    condor = LayerGreeks(
        spx_delta=2 * 100 * (-0.10 + 0.15 - 0.12 + 0.08),  # +2.0 deltas
        spx_gamma=2 * 100 * (0.001 - 0.002 - 0.002 + 0.001),
        vega_dollars=2 * 100 * (2.0 - 3.0 - 2.5 + 1.8),
        theta_per_day=2 * 100 * (-0.5 + 0.8 + 0.7 - 0.4),
    )
    hedge = LayerGreeks(
        vix_delta=10 * 100 * (0.55 - 0.30) + 1 * 1000 - 3 * 100,
        vix_gamma=10 * 100 * (0.08 - 0.06),
        vega_dollars=10 * 100 * (0.03 - 0.025),
        theta_per_day=10 * 100 * (-0.02 + 0.015),
    )
    for name, expected in [("condor", condor), ("hedge", hedge)]:
        got = book.layers[name]
        for f in LayerGreeks.__dataclass_fields__:
            assert getattr(got, f) == pytest.approx(getattr(expected, f)), (name, f)
    for f in LayerGreeks.__dataclass_fields__:
        assert getattr(book.book, f) == pytest.approx(getattr(condor + hedge, f))
    assert book.unpriced == ()


def test_positions_without_greeks_are_listed_not_summed(tmp_path: Path) -> None:
    broker, _, _, _ = make_broker(tmp_path)
    broker.on_submit_order(SubmitOrder("h1", "hedge", (OrderLeg(vix_call(18), 1),), 1))
    assert broker.greeks().unpriced == (vix_call(18).symbol,)
    assert broker.greeks().book == LayerGreeks()

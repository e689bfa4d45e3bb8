"""Expiration: exactly intrinsic, every leg of a structure against the same print (SPEC 3, 10)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from broker_fakes import (
    EXPIRY,
    VX_EXPIRY,
    FakeQuote,
    call,
    put,
    snap_on,
    ts_on,
    vix_call,
    vx,
)

from brokers.broker import PaperBroker
from brokers.config import BrokerConfig
from brokers.events import ContractSettled, OrderCancelled, OrderFilled
from brokers.ledger import Ledger
from brokers.orders import OrderLeg, OrderType, SubmitOrder, TimeInForce
from market.clock import SimulatedClock

MON = date(2025, 2, 3)


def make_broker(tmp_path: Path, first: date = MON) -> tuple[PaperBroker, list[object], Ledger]:
    events: list[object] = []
    ledger = Ledger.open(tmp_path / "ledger.sqlite")
    broker = PaperBroker(
        BrokerConfig(slippage=0.0), ledger, events.append, SimulatedClock(ts_on(first))
    )
    return broker, events, ledger


def settled_of(events: list[object]) -> list[ContractSettled]:
    return [e for e in events if isinstance(e, ContractSettled)]


def test_iron_condor_with_its_short_put_in_the_money_settles_to_exactly_intrinsic(
    tmp_path: Path,
) -> None:
    broker, events, ledger = make_broker(tmp_path)
    legs = (
        OrderLeg(put(4800), 1),
        OrderLeg(put(4850), -1),
        OrderLeg(call(5150), -1),
        OrderLeg(call(5200), 1),
    )
    quotes = {leg.contract: FakeQuote(2.0, 2.0) for leg in legs}
    broker.on_market_snapshot(snap_on(MON, quotes))
    broker.on_submit_order(SubmitOrder("c1", "condor", legs, 3))
    cash_before = broker.portfolio.cash
    events.clear()

    broker.on_market_snapshot(snap_on(EXPIRY, {}, spx=4850.0, soq=4832.40))
    # By hand: only the short 4850 put is in the money, by 4850 - 4832.40 = 17.60 points;
    # short 3 of them at $100 a point costs 17.60 x 100 x 3 = 5,280.00 dollars.
    settled = settled_of(events)
    assert {s.contract: s.cash for s in settled} == {
        put(4800): 0.0,
        put(4850): pytest.approx(-5_280.0),
        call(5150): 0.0,
        call(5200): 0.0,
    }
    assert {s.settlement_price for s in settled} == {4832.40}
    assert broker.portfolio.cash - cash_before == pytest.approx(-5_280.0, abs=1e-9)
    assert sum(s["cash"] for s in ledger.settlements()) == pytest.approx(-5_280.0, abs=1e-9)
    assert broker.portfolio.open_positions() == []


def test_vix_call_spread_settles_at_the_vro_with_both_legs_against_the_same_print(
    tmp_path: Path,
) -> None:
    broker, events, _ = make_broker(tmp_path)
    legs = (OrderLeg(vix_call(18), 1), OrderLeg(vix_call(22), -1))
    quotes = {vix_call(18): FakeQuote(2.0, 2.1), vix_call(22): FakeQuote(0.9, 1.0), vx(): q()}
    broker.on_market_snapshot(snap_on(MON, quotes))
    broker.on_submit_order(SubmitOrder("h1", "hedge", legs, 5))
    broker.on_submit_order(SubmitOrder("h2", "hedge", (OrderLeg(vx(), 1),), 1))
    cash_before = broker.portfolio.cash
    events.clear()

    broker.on_market_snapshot(snap_on(VX_EXPIRY, {}, vix=23.0, vro=24.15))
    settled = settled_of(events)
    by_contract = {s.contract: s for s in settled}
    # 18 call: 6.15, 22 call: -2.15 -> 4.00 points x 100 x 5 = 2,000 dollars.
    assert by_contract[vix_call(18)].cash == pytest.approx(6.15 * 500)
    assert by_contract[vix_call(22)].cash == pytest.approx(-2.15 * 500)
    # The VX future of the same expiry settles at the same print.
    assert by_contract[vx()].cash == pytest.approx((24.15 - 18.0) * 1000)
    assert {s.settlement_price for s in settled} == {24.15}
    assert not any(s.proxy for s in settled)
    assert broker.portfolio.cash - cash_before == pytest.approx(2_000.0 + 6_150.0)


def q(mid: float = 18.0) -> FakeQuote:
    return FakeQuote(mid - 0.05, mid + 0.05)


def test_legs_of_a_spread_never_settle_against_two_prints(tmp_path: Path) -> None:
    broker, events, _ = make_broker(tmp_path)
    legs = (OrderLeg(vix_call(18), 1), OrderLeg(vix_call(22), -1))
    quotes = {vix_call(18): FakeQuote(2.0, 2.1), vix_call(22): FakeQuote(0.9, 1.0)}
    broker.on_market_snapshot(snap_on(MON, quotes))
    broker.on_submit_order(SubmitOrder("h1", "hedge", legs, 1))
    events.clear()
    # The expiry session opens without a VRO: both legs settle at the VIX level, as a proxy ...
    broker.on_market_snapshot(snap_on(VX_EXPIRY, {}, vix=21.0))
    # ... and a VRO arriving later that session settles nothing again.
    broker.on_market_snapshot(snap_on(VX_EXPIRY, {}, minutes=5, vix=21.5, vro=24.0))
    settled = settled_of(events)
    assert len(settled) == 2
    assert {(s.settlement_price, s.proxy) for s in settled} == {(21.0, True)}
    assert broker.stats.proxy_settlements == 2


def test_holiday_thursday_expiry_settles_that_thursday(tmp_path: Path) -> None:
    thursday = date(2026, 6, 18)  # Friday 2026-06-19 (Juneteenth) is an exchange holiday
    broker, events, _ = make_broker(tmp_path, date(2026, 6, 1))
    legs = (OrderLeg(put(5800, thursday), 1), OrderLeg(put(5850, thursday), -1))
    quotes = {leg.contract: FakeQuote(3.0, 3.0) for leg in legs}
    broker.on_market_snapshot(snap_on(date(2026, 6, 1), quotes))
    broker.on_submit_order(SubmitOrder("c1", "condor", legs, 1))
    assert [e for e in events if isinstance(e, OrderFilled)]
    broker.on_market_snapshot(snap_on(date(2026, 6, 17), quotes, spx=5900.0))
    assert not settled_of(events)
    broker.on_market_snapshot(snap_on(thursday, {}, spx=5830.0, soq=5825.0))
    settled = settled_of(events)
    assert [s.ts.date() for s in settled] == [thursday, thursday]
    assert {s.contract.strike: s.cash for s in settled} == {5800: 0.0, 5850: -2_500.0}


def test_resting_orders_on_expired_contracts_are_cancelled(tmp_path: Path) -> None:
    broker, events, _ = make_broker(tmp_path)
    quotes = {vix_call(18): FakeQuote(2.0, 2.1)}
    broker.on_market_snapshot(snap_on(MON, quotes))
    broker.on_submit_order(
        SubmitOrder(
            "h1",
            "hedge",
            (OrderLeg(vix_call(18), 1),),
            1,
            OrderType.LIMIT,
            0.5,
            time_in_force=TimeInForce.GTC,
        )
    )
    broker.on_market_snapshot(snap_on(VX_EXPIRY, {}, vro=20.0))
    [cancelled] = [e for e in events if isinstance(e, OrderCancelled)]
    assert cancelled.reason == "expired"

"""Stateful property test: random orders, snapshots, session changes, cancels, flattens and
settlements over options and futures, with the account's identities checked at every step."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
from broker_fakes import (
    FakeQuote,
    FakeSnapshot,
    call,
    put,
    ts_on,
    vix_call,
    vx,
    vxm,
)
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from brokers.broker import PaperBroker
from brokers.config import BrokerConfig
from brokers.events import ContractSettled, OrderFilled
from brokers.ledger import Ledger
from brokers.orders import CancelOrder, Flatten, OrderIntent, OrderLeg, OrderType, SubmitOrder
from brokers.portfolio import group_key
from market.clock import SimulatedClock
from market.instruments import Contract, FutureContract, Root

START = 1_000_000.0
FIRST = date(2025, 3, 3)
"""Two weeks before both expiries, so runs reach settlement."""
SPX_STRIKES = [4800.0, 4900.0, 5000.0, 5100.0, 5200.0]
SPX = [f(k) for k in SPX_STRIKES for f in (put, call)]
VIX = [vix_call(k) for k in (15, 20, 25)]
FUTURES = [vx(), vxm()]
UNIVERSE: list[Contract] = [*SPX, *VIX, *FUTURES]
LAYERS = ["condor", "hedge"]


def random_quotes(rng: random.Random) -> dict[Contract, FakeQuote]:
    quotes: dict[Contract, FakeQuote] = {}
    for c in UNIVERSE:
        if rng.random() < 0.05:
            continue  # unquoted now and then
        if isinstance(c, FutureContract):
            mid = round(rng.uniform(12.0, 40.0), 2)
            half = 0.05
        else:
            mid = round(rng.uniform(0.05, 100.0 if c.root is Root.SPX else 10.0), 2)
            half = round(rng.uniform(0.0, 0.5), 2)
        quotes[c] = FakeQuote(max(0.0, round(mid - half, 2)), round(mid + half, 2))
    return quotes


class BrokerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[object] = []
        self.ledger = Ledger.open(Path(":memory:"))
        self.clock = SimulatedClock(ts_on(FIRST))
        self.broker = PaperBroker(
            BrokerConfig(starting_equity=START, slippage=0.5),
            self.ledger,
            self.events.append,
            self.clock,
        )
        self.session = FIRST
        self.minutes = 0
        self.n = 0
        self.rng = random.Random(0)
        self._snapshot(0.04, None, None)

    def _snapshot(self, rate: float, soq: float | None, vro: float | None) -> None:
        ts = ts_on(self.session, self.minutes)
        self.clock.advance_to(ts)
        self.broker.on_market_snapshot(
            FakeSnapshot(
                ts,
                self.session,
                quotes=random_quotes(self.rng),
                soq=soq,
                vro=vro,
                rate=rate,
                vix=round(self.rng.uniform(12, 40), 2),
                spx=round(self.rng.uniform(4700, 5300), 2),
            )
        )

    def _cid(self) -> str:
        self.n += 1
        return f"o{self.n}"

    @rule(seed=st.integers(0, 2**16))
    def same_session_snapshot(self, seed: int) -> None:
        self.rng.seed(seed)
        self.minutes += 5
        self._snapshot(0.04, None, None)

    @rule(
        seed=st.integers(0, 2**16),
        days=st.integers(1, 6),
        rate=st.floats(-0.01, 0.08),
        soq=st.one_of(st.none(), st.floats(4700.0, 5300.0)),
        vro=st.one_of(st.none(), st.floats(10.0, 45.0)),
    )
    def new_session(
        self, seed: int, days: int, rate: float, soq: float | None, vro: float | None
    ) -> None:
        self.rng.seed(seed)
        self.session += timedelta(days=days)
        self.minutes = 0
        self._snapshot(rate, soq, vro)

    @rule(
        kind=st.sampled_from(["vertical", "condor", "vix_spread", "future"]),
        layer=st.sampled_from(LAYERS),
        quantity=st.integers(1, 4),
        data=st.data(),
    )
    def open_order(self, kind: str, layer: str, quantity: int, data: st.DataObject) -> None:
        legs: tuple[OrderLeg, ...]
        if kind == "vertical":
            lo, hi = sorted(
                data.draw(
                    st.lists(st.sampled_from(SPX_STRIKES), min_size=2, max_size=2, unique=True)
                )
            )
            legs = (OrderLeg(put(lo), 1), OrderLeg(put(hi), -1))
        elif kind == "condor":
            a, b, c, d = SPX_STRIKES[0], SPX_STRIKES[1], SPX_STRIKES[3], SPX_STRIKES[4]
            legs = (
                OrderLeg(put(a), 1),
                OrderLeg(put(b), -1),
                OrderLeg(call(c), -1),
                OrderLeg(call(d), 1),
            )
        elif kind == "vix_spread":
            legs = (OrderLeg(VIX[0], 1), OrderLeg(VIX[1], -1))
        else:
            legs = (
                OrderLeg(data.draw(st.sampled_from(FUTURES)), data.draw(st.sampled_from([-1, 1]))),
            )
        limit = data.draw(st.one_of(st.none(), st.floats(-20.0, 20.0)))
        order_type = OrderType.MARKET if limit is None else OrderType.LIMIT
        self.broker.on_submit_order(
            SubmitOrder(self._cid(), layer, legs, quantity, order_type, limit)
        )

    @precondition(lambda self: bool(self.broker.portfolio.positions))
    @rule(data=st.data(), fraction=st.floats(0.0, 1.0))
    def close_structure(self, data: st.DataObject, fraction: float) -> None:
        positions = self.broker.portfolio.open_positions()
        pick = data.draw(st.sampled_from(positions))
        key = group_key(pick.layer, pick.contract)
        legs = tuple(
            OrderLeg(
                p.contract,
                -max(1, round(abs(p.quantity) * fraction)) * (1 if p.quantity > 0 else -1),
            )
            for p in positions
            if group_key(p.layer, p.contract) == key
        )
        self.broker.on_submit_order(
            SubmitOrder(self._cid(), pick.layer, legs, 1, intent=OrderIntent.CLOSE)
        )

    @precondition(lambda self: bool(self.broker.resting_orders))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        resting = data.draw(st.sampled_from(self.broker.resting_orders))
        self.broker.on_cancel_order(CancelOrder(resting.order.client_order_id))

    @rule(roll=st.integers(0, 5))
    def flatten(self, roll: int) -> None:
        if roll == 5:  # now and then: a flatten ends most of the story
            self.broker.on_flatten(Flatten("test"))

    @invariant()
    def equity_change_is_realized_plus_unrealized(self) -> None:
        p = self.broker.portfolio
        marks = self.broker.marks()
        assert p.equity(marks) - START == pytest.approx(
            p.realized_pnl() + p.unrealized_pnl(marks), rel=1e-9, abs=1e-5
        )
        assert p.cash - START + p.position_value(marks) == pytest.approx(
            p.gross_realized_pnl() - p.fees_paid + p.interest + p.unrealized_pnl(marks),
            rel=1e-9,
            abs=1e-5,
        )

    @invariant()
    def positions_are_fills_less_settlements(self) -> None:
        expected: Counter[tuple[str, Contract]] = Counter()
        for e in self.events:
            if isinstance(e, OrderFilled):
                for leg in e.legs:
                    expected[(e.layer, leg.contract)] += leg.quantity
            elif isinstance(e, ContractSettled):
                expected[(e.layer, e.contract)] -= e.quantity
        held = {k: p.quantity for k, p in self.broker.portfolio.positions.items()}
        assert held == {k: q for k, q in expected.items() if q != 0}

    @invariant()
    def nothing_expired_is_held(self) -> None:
        assert all(p.contract.expiry > self.session for p in self.broker.portfolio.open_positions())

    def teardown(self) -> None:
        self.ledger.close()


BrokerMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_broker_state_machine = BrokerMachine.TestCase

"""The broker against real simulated snapshots: fills at the quotes, settlement at the SOQ."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from brokers.broker import PaperBroker
from brokers.config import BrokerConfig
from brokers.events import AccountMarked, ContractSettled, OrderFilled
from brokers.ledger import Ledger
from brokers.orders import OrderLeg, SubmitOrder
from market.clock import SimulatedClock
from market.instruments import OptionContract, Right, Root
from market.simulator import Simulator, SimulatorConfig
from market.snapshot import MarketSnapshot


def strike_near(level: float) -> float:
    return round(level / 5.0) * 5.0


def test_condor_fills_at_simulated_quotes_and_settles_at_the_soq(tmp_path: Path) -> None:
    sim = Simulator(SimulatorConfig(cadence_minutes=135), seed=11, start=date(2025, 3, 17))
    snaps = list(sim.snapshots(sessions=6))  # Mon 17th .. Mon 24th March 2025
    first = snaps[0]
    expiry = first.spx_expiries[0]
    assert expiry == date(2025, 3, 21)

    spx = first.spx
    legs = (
        OrderLeg(OptionContract(Root.SPX, expiry, strike_near(spx * 0.96), Right.PUT), 1),
        OrderLeg(OptionContract(Root.SPX, expiry, strike_near(spx * 0.97), Right.PUT), -1),
        OrderLeg(OptionContract(Root.SPX, expiry, strike_near(spx * 1.03), Right.CALL), -1),
        OrderLeg(OptionContract(Root.SPX, expiry, strike_near(spx * 1.05), Right.CALL), 1),
    )
    events: list[object] = []
    config = BrokerConfig(slippage=0.5)
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        broker = PaperBroker(config, ledger, events.append, SimulatedClock(first.ts))
        broker.on_market_snapshot(first)
        broker.on_submit_order(SubmitOrder("c1", "condor", legs, 3, reason="entry"))

        [fill] = [e for e in events if isinstance(e, OrderFilled)]
        assert fill.ts == first.ts
        for leg, leg_fill in zip(legs, fill.legs, strict=True):
            quote = first.quote(leg.contract)
            assert quote is not None
            side = 1 if leg.ratio > 0 else -1
            assert leg_fill.price == pytest.approx(quote.mid + side * 0.5 * quote.half_spread)
        assert fill.net_price < 0  # a credit
        assert broker.portfolio.requirement("condor") == pytest.approx(
            max(
                legs[3].contract.strike - legs[2].contract.strike,
                legs[1].contract.strike - legs[0].contract.strike,
            )
            * 100
            * 3
        )

        settled: list[ContractSettled] = []
        soq_snap: MarketSnapshot | None = None
        for snap in snaps[1:]:
            before = len(events)
            broker.on_market_snapshot(snap)
            new = [e for e in events[before:] if isinstance(e, ContractSettled)]
            if new:
                settled, soq_snap = new, snap
            p = broker.portfolio
            marks = broker.marks()
            assert p.equity(marks) - config.starting_equity == pytest.approx(
                p.realized_pnl() + p.unrealized_pnl(marks), abs=1e-6
            )

        assert soq_snap is not None and soq_snap.session == expiry and soq_snap.soq is not None
        assert len(settled) == 4
        for s in settled:
            assert s.settlement_price == soq_snap.soq and not s.proxy
            assert s.cash == pytest.approx(s.contract.intrinsic(soq_snap.soq) * 100 * s.quantity)
        assert broker.portfolio.open_positions() == []
        assert broker.equity() == pytest.approx(broker.portfolio.cash)
        marks_published = [e for e in events if isinstance(e, AccountMarked)]
        assert len({m.ts.date() for m in marks_published}) == 6  # one per session at least

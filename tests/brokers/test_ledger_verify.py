"""`alvh ledger verify` on real ledgers: clean ones pass, each kind of corruption is named."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

from broker_fakes import EXPIRY, VX_EXPIRY, FakeQuote, call, put, snap_on, ts_on, vix_call, vx

from brokers.broker import PaperBroker
from brokers.config import BrokerConfig
from brokers.ledger import Ledger
from brokers.ledger_verify import verify_ledger
from brokers.orders import OrderLeg, SubmitOrder
from daemon.config import load_config
from daemon.runner import RunSpec, simulate
from daemon.statedir import StateDir
from market.clock import SimulatedClock
from market.instruments import Contract

MON = date(2025, 2, 3)
CONDOR = (
    OrderLeg(put(4800), 1),
    OrderLeg(put(4850), -1),
    OrderLeg(call(5150), -1),
    OrderLeg(call(5200), 1),
)
SPREAD = (OrderLeg(vix_call(18), 1), OrderLeg(vix_call(22), -1))


def build(tmp_path: Path, settle: bool = True) -> Path:
    """A condor (3), a VIX call spread (5) and a VX future (1) bought on Monday; with ``settle``
    the VIX legs and the future settle at the VRO, then the condor at the SOQ (its short put
    17.60 points in the money)."""
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger.open(path)
    ledger.record_cash_movement(ts_on(MON), "deposit", 1_000_000.0, 1_000_000.0)
    broker = PaperBroker(
        BrokerConfig(slippage=0.0), ledger, lambda _: None, SimulatedClock(ts_on(MON))
    )
    quotes: dict[Contract, FakeQuote] = {
        put(4800): FakeQuote(1.0, 1.1),
        put(4850): FakeQuote(2.0, 2.1),
        call(5150): FakeQuote(2.5, 2.6),
        call(5200): FakeQuote(1.2, 1.3),
        vix_call(18): FakeQuote(2.0, 2.1),
        vix_call(22): FakeQuote(0.9, 1.0),
    }
    quotes[vx()] = FakeQuote(17.95, 18.05)
    broker.on_market_snapshot(snap_on(MON, quotes))
    broker.on_submit_order(SubmitOrder("c1", "condor", CONDOR, 3))
    broker.on_submit_order(SubmitOrder("h1", "hedge", SPREAD, 5))
    broker.on_submit_order(SubmitOrder("h2", "hedge", (OrderLeg(vx(), 1),), 1))
    if settle:
        broker.on_market_snapshot(snap_on(VX_EXPIRY, {}, vix=23.0, vro=24.15))
        broker.on_market_snapshot(snap_on(EXPIRY, {}, spx=4850.0, soq=4832.40))
    ledger.close()
    return path


def corrupt(path: Path, *statements: str) -> list[str]:
    with sqlite3.connect(path) as db:
        for sql in statements:
            assert db.execute(sql).rowcount >= 1, sql
    with Ledger.open(path) as ledger:
        return verify_ledger(ledger).problems


def test_a_ledger_with_option_and_futures_settlements_verifies(tmp_path: Path) -> None:
    with Ledger.open(build(tmp_path)) as ledger:
        report = verify_ledger(ledger)
    assert report.problems == []
    assert report.counts == {"orders": 3, "fills": 3, "settlements": 7, "cash_movements": 11}
    assert report.open_positions == {}


def test_a_simulated_run_verifies(tmp_path: Path) -> None:
    config = load_config(None, {"market": {"cadence_minutes": 30}})
    with StateDir(tmp_path / "state") as state:
        simulate(config, RunSpec("spike-and-revert", 2, date(2025, 1, 2)), 80, state)
    with Ledger.open(tmp_path / "state" / "ledger.sqlite") as ledger:
        report = verify_ledger(ledger)
    assert report.problems == []
    assert report.counts["fills"] > 0


def test_a_leg_price_breaks_the_net_price_and_the_fill_cash(tmp_path: Path) -> None:
    problems = corrupt(
        build(tmp_path),
        "UPDATE fill_legs SET price = 1.15 WHERE fill_id = 'F00000001' AND leg_index = 0",
    )
    # Legs now net 1.15 - 2.05 - 2.55 + 1.25 = -2.20: a 660.00 credit, less 15.00 fees.
    assert problems == [
        "fill F00000001: net_price -2.3000 but its legs net -2.2000",
        "fill F00000001: cash movement 2 moves 675.00, its legs' premium less 15.00 fees is 645.00",
    ]


def test_a_net_price_that_is_not_its_legs(tmp_path: Path) -> None:
    problems = corrupt(
        build(tmp_path), "UPDATE fills SET net_price = -2.25 WHERE fill_id = 'F00000001'"
    )
    assert problems == ["fill F00000001: net_price -2.2500 but its legs net -2.3000"]


def test_fees_that_are_not_what_the_fill_cash_paid(tmp_path: Path) -> None:
    problems = corrupt(build(tmp_path), "UPDATE fills SET fees = 20 WHERE fill_id = 'F00000001'")
    assert problems == [
        "fill F00000001: cash movement 2 moves 675.00, its legs' premium less 20.00 fees is 670.00"
    ]


def test_a_leg_symbol_that_is_not_the_orders(tmp_path: Path) -> None:
    problems = corrupt(
        build(tmp_path, settle=False),
        "UPDATE fill_legs SET symbol = 'SPX 2025-03-21 P 4855'"
        " WHERE fill_id = 'F00000001' AND leg_index = 1",
    )
    assert problems == [
        "fill F00000001: legs +3 SPX 2025-03-21 P 4800; -3 SPX 2025-03-21 P 4855;"
        " -3 SPX 2025-03-21 C 5150; +3 SPX 2025-03-21 C 5200 but order c1 x 3 is"
        " +3 SPX 2025-03-21 P 4800; -3 SPX 2025-03-21 P 4850;"
        " -3 SPX 2025-03-21 C 5150; +3 SPX 2025-03-21 C 5200"
    ]


def test_an_order_ratio_that_is_not_the_fills(tmp_path: Path) -> None:
    problems = corrupt(
        build(tmp_path),
        "UPDATE orders SET legs = '+2 VX 2025-03-18' WHERE client_order_id = 'h2'",
    )
    assert problems == [
        "fill F00000003: legs +1 VX 2025-03-18 but order h2 x 1 is +2 VX 2025-03-18"
    ]


def test_a_settlements_cash_that_is_not_intrinsic(tmp_path: Path) -> None:
    problems = corrupt(
        build(tmp_path), "UPDATE settlements SET cash = -5000 WHERE settlement_id = 5"
    )
    assert problems == [
        "settlement 5 (condor SPX 2025-03-21 P 4850): cash -5000.00, cash_after 1002980.30,"
        " but its cash movement 9 (condor SPX 2025-03-21 P 4850) moves -5280.00,"
        " cash_after 1002980.30",
        "settlement 5 of -3 SPX 2025-03-21 P 4850: cash -5000.00 but intrinsic at 4832.4 is"
        " 17.6000 x 100 x -3 = -5280.00",
    ]


def test_a_settlement_movement_amount(tmp_path: Path) -> None:
    problems = corrupt(
        build(tmp_path), "UPDATE cash_movements SET amount = -5000 WHERE movement_id = 9"
    )
    assert problems == [
        "cash movement 9 (settlement at 2025-03-21T15:00:00+00:00): cash_after 1002980.30"
        " but the movements sum to 1003260.30",
        "settlement 5 (condor SPX 2025-03-21 P 4850): cash -5280.00, cash_after 1002980.30,"
        " but its cash movement 9 (condor SPX 2025-03-21 P 4850) moves -5000.00,"
        " cash_after 1002980.30",
    ]


def test_settlement_movements_swapped_with_their_sums_intact(tmp_path: Path) -> None:
    """Counts and running sums still agree: only pairing each settlement with its movement
    shows that the 4800 put's movement paid the 4850 put's cash."""
    problems = corrupt(
        build(tmp_path),
        "UPDATE cash_movements SET"
        " amount = (SELECT amount FROM cash_movements WHERE movement_id = 9),"
        " cash_after = (SELECT cash_after FROM cash_movements WHERE movement_id = 9)"
        " WHERE movement_id = 8",
        "UPDATE cash_movements SET amount = 0 WHERE movement_id = 9",
    )
    assert problems == [
        "settlement 4 (condor SPX 2025-03-21 P 4800): cash 0.00, cash_after 1008260.30,"
        " but its cash movement 8 (condor SPX 2025-03-21 P 4800) moves -5280.00,"
        " cash_after 1002980.30",
        "settlement 5 (condor SPX 2025-03-21 P 4850): cash -5280.00, cash_after 1002980.30,"
        " but its cash movement 9 (condor SPX 2025-03-21 P 4850) moves 0.00,"
        " cash_after 1002980.30",
    ]

"""VX and VXM futures: margin, daily variation into cash, valuation, closes, final settlement."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from broker_fakes import VX_EXPIRY, FakeQuote, put, snap_on, ts_on, vix_call, vx, vxm

from brokers.broker import PaperBroker
from brokers.config import BrokerConfig
from brokers.events import AccountMarked, ContractSettled, OrderFilled, OrderRejected, RejectReason
from brokers.ledger import Ledger
from brokers.orders import OrderIntent, OrderLeg, SubmitOrder
from market.clock import SimulatedClock

MON, TUE, WED = date(2025, 2, 3), date(2025, 2, 4), date(2025, 2, 5)
VX_FEES = 1.50 + 1.70
VXM_FEES = 0.85 + 0.35


def make_broker(tmp_path: Path, **config: object) -> tuple[PaperBroker, list[object], Ledger]:
    events: list[object] = []
    ledger = Ledger.open(tmp_path / "ledger.sqlite")
    cfg = BrokerConfig(slippage=0.0, **config)  # type: ignore[arg-type]
    return PaperBroker(cfg, ledger, events.append, SimulatedClock(ts_on(MON))), events, ledger


def q(mid: float, half: float = 0.05) -> FakeQuote:
    return FakeQuote(round(mid - half, 2), round(mid + half, 2))


def test_vx_held_over_sessions_moves_cash_by_the_daily_changes_and_settles_at_the_vro(
    tmp_path: Path,
) -> None:
    broker, events, ledger = make_broker(tmp_path)
    start = 1_000_000.0
    broker.on_market_snapshot(snap_on(MON, {vx(): q(18.05)}))
    broker.on_submit_order(SubmitOrder("h1", "hedge", (OrderLeg(vx(), 1),), 2))
    [fill] = [e for e in events if isinstance(e, OrderFilled)]
    assert fill.legs[0].price == 18.05
    assert broker.portfolio.cash == pytest.approx(start - 2 * VX_FEES)  # no premium for futures
    assert broker.portfolio.requirement("hedge") == 2 * 12_000.0

    broker.on_market_snapshot(snap_on(MON, {vx(): q(18.45)}, minutes=30))
    # Valued at (mid - reference) x 1000 x quantity, nothing in cash yet.
    assert broker.portfolio.unrealized_pnl(broker.marks()) == pytest.approx(800.0)
    assert broker.equity() == pytest.approx(start - 2 * VX_FEES + 800.0)

    closes = {MON: 18.45, TUE: 17.95, WED: 18.70}
    broker.on_market_snapshot(snap_on(TUE, {vx(): q(17.60)}))  # settles Monday at 18.45
    assert broker.portfolio.cash == pytest.approx(start - 2 * VX_FEES + 800.0)
    assert broker.portfolio.position("hedge", vx()).avg_price == 18.45  # type: ignore[union-attr]
    # Equity counts the open variation only from the last settlement: no double counting.
    assert broker.equity() == pytest.approx(start - 2 * VX_FEES + (17.60 - 18.05) * 2000)
    broker.on_market_snapshot(snap_on(TUE, {vx(): q(closes[TUE])}, minutes=60))
    broker.on_market_snapshot(snap_on(WED, {vx(): q(closes[WED])}))
    broker.on_market_snapshot(snap_on(WED, {}, minutes=60))  # unquoted: the last mid stands
    expiry_open = snap_on(VX_EXPIRY, {}, vro=19.37, vix=19.0)
    events.clear()
    broker.on_market_snapshot(expiry_open)

    variation = [m for m in ledger.cash_movements() if m["kind"] == "variation"]
    assert [m["amount"] for m in variation] == pytest.approx(
        [(18.45 - 18.05) * 2000, (17.95 - 18.45) * 2000, (18.70 - 17.95) * 2000]
    )
    [settled] = [e for e in events if isinstance(e, ContractSettled)]
    assert settled.settlement_price == 19.37 and not settled.proxy
    assert settled.cash == pytest.approx((19.37 - 18.70) * 2000)
    assert broker.portfolio.open_positions() == []
    assert broker.portfolio.cash == pytest.approx(start + (19.37 - 18.05) * 2000 - 2 * VX_FEES)
    assert broker.portfolio.realized_pnl("hedge") == pytest.approx(broker.portfolio.cash - start)
    assert broker.portfolio.requirement() == 0.0
    marked = events[-1]
    assert isinstance(marked, AccountMarked) and marked.equity == pytest.approx(marked.cash)


def test_short_vxm_moves_cash_by_the_daily_changes_times_100(tmp_path: Path) -> None:
    broker, events, ledger = make_broker(tmp_path)
    broker.on_market_snapshot(snap_on(MON, {vxm(): q(20.00)}))
    broker.on_submit_order(SubmitOrder("h1", "hedge", (OrderLeg(vxm(), -1),), 3))
    assert not [e for e in events if isinstance(e, OrderRejected)]  # a short future is allowed
    assert broker.portfolio.requirement() == 3 * 1_200.0
    broker.on_market_snapshot(snap_on(MON, {vxm(): q(21.10)}, minutes=5))
    broker.on_market_snapshot(snap_on(TUE, {vxm(): q(19.50)}))
    [move] = [m for m in ledger.cash_movements() if m["kind"] == "variation"]
    assert move["amount"] == pytest.approx((21.10 - 20.00) * 100 * -3)
    assert move["symbol"] == vxm().symbol and move["layer"] == "hedge"
    assert broker.portfolio.cash == pytest.approx(1_000_000 - 330.0 - 3 * VXM_FEES)


def test_closing_a_future_realizes_its_variation_into_cash_at_once(tmp_path: Path) -> None:
    broker, events, ledger = make_broker(tmp_path)
    broker.on_market_snapshot(snap_on(MON, {vx(): q(18.05)}))
    broker.on_submit_order(SubmitOrder("h1", "hedge", (OrderLeg(vx(), 1),), 2))
    broker.on_market_snapshot(snap_on(TUE, {vx(): q(18.30)}))  # variation at Monday's 18.05: 0
    broker.on_submit_order(
        SubmitOrder("x1", "hedge", (OrderLeg(vx(), -1),), 2, intent=OrderIntent.CLOSE)
    )
    assert broker.portfolio.open_positions() == []
    assert broker.portfolio.cash == pytest.approx(1_000_000 + 0.25 * 2000 - 4 * VX_FEES)
    assert broker.portfolio.realized_pnl() == pytest.approx(broker.portfolio.cash - 1_000_000)
    [move] = [m for m in ledger.cash_movements() if m["kind"] == "variation"]
    assert move["amount"] == pytest.approx(500.0)
    assert move["cash_after"] == pytest.approx(broker.portfolio.cash)


def test_futures_and_options_never_share_an_order(tmp_path: Path) -> None:
    broker, events, _ = make_broker(tmp_path)
    broker.on_market_snapshot(snap_on(MON, {vx(): q(18.05), vix_call(20): q(1.0)}))
    broker.on_submit_order(
        SubmitOrder("h1", "hedge", (OrderLeg(vx(), 1), OrderLeg(vix_call(20), -1)), 1)
    )
    [rejected] = events[-1:]
    assert isinstance(rejected, OrderRejected)
    assert rejected.reason is RejectReason.INVALID_ORDER
    assert "futures" in rejected.message


def test_futures_margin_counts_against_buying_power(tmp_path: Path) -> None:
    broker, events, _ = make_broker(tmp_path, starting_equity=30_000.0)
    broker.on_market_snapshot(snap_on(MON, {vx(): q(18.05), put(4800): q(4.0)}))
    broker.on_submit_order(SubmitOrder("h1", "hedge", (OrderLeg(vx(), 1),), 2))
    assert isinstance(events[-2], OrderFilled)
    broker.on_submit_order(SubmitOrder("h2", "hedge", (OrderLeg(vx(), -1),), 1))
    # Selling one back as an *opening* order on a long is a reduction: it releases margin.
    assert isinstance(events[-2], OrderFilled)
    broker.on_submit_order(SubmitOrder("h3", "hedge", (OrderLeg(vx(), 1),), 2))
    rejected = events[-1]
    assert isinstance(rejected, OrderRejected)
    assert rejected.reason is RejectReason.INSUFFICIENT_BUYING_POWER


def test_books_rebuilt_from_the_ledger_match_after_variation_closes_and_interest(
    tmp_path: Path,
) -> None:
    """`--adopt` rebuilds the books from the cash journal: futures variation (daily and on a
    close), interest and option fills give back the broker's own cash and positions."""
    from brokers.adopt import rebuild_books
    from brokers.portfolio import Portfolio

    broker, events, ledger = make_broker(tmp_path)
    broker.on_market_snapshot(snap_on(MON, {vx(): q(18.05), vxm(): q(18.05, 0.10)}))
    broker.on_submit_order(SubmitOrder("h1", "hedge", (OrderLeg(vx(), 1),), 3))
    broker.on_submit_order(SubmitOrder("h2", "hedge", (OrderLeg(vxm(), -1),), 4))
    broker.on_market_snapshot(snap_on(TUE, {vx(): q(17.60), vxm(): q(17.60, 0.10)}, rate=0.04))
    broker.on_submit_order(
        SubmitOrder("h3", "hedge", (OrderLeg(vx(), -1),), 1, intent=OrderIntent.CLOSE)
    )
    broker.on_market_snapshot(snap_on(WED, {vx(): q(18.90), vxm(): q(18.90, 0.10)}, rate=0.04))
    live = broker.portfolio
    assert any(m["kind"] == "interest" for m in ledger.cash_movements())
    assert any(m["note"].startswith("closed at") for m in ledger.cash_movements())
    rebuilt = rebuild_books(ledger, Portfolio(1_000_000.0)).portfolio
    assert rebuilt.cash == pytest.approx(live.cash, abs=1e-6)
    assert dict(rebuilt.positions) == dict(live.positions)
    assert rebuilt.realized_pnl("hedge") == pytest.approx(live.realized_pnl("hedge"), abs=1e-6)


def test_a_futures_close_and_its_variation_commit_in_one_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash while writing the close's variation must not leave the fill without it."""
    import sqlite3

    path = tmp_path / "ledger.sqlite"
    ledger = Ledger.open(path)
    broker = PaperBroker(
        BrokerConfig(slippage=0.0), ledger, lambda e: None, SimulatedClock(ts_on(MON))
    )
    broker.on_market_snapshot(snap_on(MON, {vx(): q(18.05)}))
    broker.on_submit_order(SubmitOrder("o", "hedge", (OrderLeg(vx(), 1),), 2))
    broker.on_market_snapshot(snap_on(MON, {vx(): q(18.85)}, minutes=30))
    original = Ledger._insert_cash_movement

    def dies_on_variation(self: Ledger, ts: object, kind: str, *args: object) -> None:
        if kind == "variation":
            raise OSError("power cut")
        original(self, ts, kind, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Ledger, "_insert_cash_movement", dies_on_variation)
    with pytest.raises(OSError):
        broker.on_submit_order(
            SubmitOrder("c", "hedge", (OrderLeg(vx(), -1),), 2, intent=OrderIntent.CLOSE)
        )
    with sqlite3.connect(path) as other:
        assert other.execute("SELECT fill_id FROM fills").fetchall() == [("F00000001",)]
        kinds = [r[0] for r in other.execute("SELECT kind FROM cash_movements")]
    assert "variation" not in kinds and kinds.count("fill") == 1

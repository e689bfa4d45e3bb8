"""The condor actor against a hand-built market: entry, sizing, the credit stop and close_at_dte."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest

from brokers.events import OrderFilled, OrderRejected, RejectReason
from brokers.orders import OrderIntent, SubmitOrder
from market.instruments import OptionContract, Right
from market.snapshot import Quote
from strategies.condor import CondorActor
from strategies.config import CondorConfig, ExitConfig, RegimeConfig
from strategies.events import CondorClosed, CondorOpened, ExitRule, ExitTriggered
from strategies.state import MarketState

SESSION = date(2025, 1, 2)
EXPIRY = date(2025, 2, 21)  # 50 DTE
SPOT = 6000.0


class FakeChain:
    def strike_nearest_delta(self, right: Right, abs_delta: float) -> float:
        assert abs_delta == pytest.approx(0.16)
        return 5700.0 if right is Right.PUT else 6250.0


class FakeSnap:
    """A snapshot whose option mids are set per strike; every quote is mid -/+ 0.05."""

    def __init__(
        self, mids: dict[float, float], session: date = SESSION, vix: float = 13.0, minute: int = 0
    ) -> None:
        self.mids = mids
        self.session = session
        self.ts = datetime(session.year, session.month, session.day, 15, 0, tzinfo=UTC) + timedelta(
            minutes=minute
        )
        self.vix = vix
        self.spx = SPOT
        self.spx_expiries = (date(2025, 1, 17), EXPIRY, date(2025, 3, 21), date(2025, 4, 17))

    def chain(self, expiry: date) -> FakeChain:
        assert expiry == EXPIRY
        return FakeChain()

    def quote(self, contract: OptionContract) -> Quote | None:
        mid = self.mids.get(contract.strike)
        return None if mid is None else Quote(mid - 0.05, mid + 0.05)


ENTRY_MIDS = {5640.0: 8.0, 5700.0: 10.0, 6250.0: 6.0, 6310.0: 4.5}  # credit 3.5 at mid


def make_actor(**overrides: object) -> tuple[CondorActor, MarketState, list[object]]:
    out: list[object] = []
    state = MarketState(RegimeConfig(), out.append)
    actor = CondorActor(CondorConfig(**overrides), ExitConfig(), state, out.append, 1_000_000.0)
    return actor, state, out


def step(actor: CondorActor, state: MarketState, snap: FakeSnap) -> None:
    state.on_market_snapshot(snap)  # type: ignore[arg-type]
    actor.on_market_snapshot(snap)  # type: ignore[arg-type]


def fill(order: SubmitOrder, net_price: float, ts: datetime) -> OrderFilled:
    return OrderFilled(
        ts=ts,
        fill_id="F1",
        order_id="O1",
        client_order_id=order.client_order_id,
        layer=order.layer,
        intent=order.intent,
        reason=order.reason,
        quantity=order.quantity,
        net_price=net_price,
        legs=(),
        fees=0.0,
    )


def orders(out: list[object]) -> list[SubmitOrder]:
    return [e for e in out if isinstance(e, SubmitOrder)]


def open_condor(
    credit: float = 3.5, **overrides: object
) -> tuple[CondorActor, MarketState, list[object], SubmitOrder]:
    actor, state, out = make_actor(**overrides)
    snap = FakeSnap(ENTRY_MIDS)
    step(actor, state, snap)
    (entry,) = orders(out)
    actor.on_order_filled(fill(entry, -credit, snap.ts))
    return actor, state, out, entry


def test_entry_in_calm_uses_target_deltas_wings_and_risk_sizing() -> None:
    actor, state, out = make_actor()
    step(actor, state, FakeSnap(ENTRY_MIDS))
    (order,) = orders(out)
    strikes = sorted(
        (leg.contract.strike, leg.contract.right.value, leg.ratio) for leg in order.legs
    )
    # wings 1% of 6000 = 60 points beyond the shorts
    assert strikes == [(5640.0, "P", 1), (5700.0, "P", -1), (6250.0, "C", -1), (6310.0, "C", 1)]
    assert all(leg.contract.expiry == EXPIRY for leg in order.legs)
    # max loss per contract at the natural price: credit 3.5 at mid - 4 legs x 0.05 = 3.3,
    # (60 - 3.3) * 100 = 5670; 5% of 1,000,000 / 5670 -> 8 contracts
    assert order.quantity == math.floor(50_000 / 5670)
    assert order.intent is OrderIntent.OPEN


def test_no_entry_outside_calm() -> None:
    actor, state, out = make_actor()
    step(actor, state, FakeSnap(ENTRY_MIDS, vix=17.0))
    assert orders(out) == []


def test_only_one_condor_per_expiry() -> None:
    actor, state, out, _ = open_condor()
    step(actor, state, FakeSnap(ENTRY_MIDS, minute=1))
    assert len(orders(out)) == 1
    assert any(isinstance(e, CondorOpened) for e in out)


def _stop_mids(cost: float) -> dict[float, float]:
    # keep the wings, move the shorts so that cost to close = shorts - wings = cost
    wings = ENTRY_MIDS[5640.0] + ENTRY_MIDS[6310.0]
    return {**ENTRY_MIDS, 5700.0: cost + wings - ENTRY_MIDS[6250.0]}


def test_condor_closes_at_twice_the_credit_and_fires_once() -> None:
    actor, state, out, _ = open_condor(credit=3.5)
    step(actor, state, FakeSnap(_stop_mids(6.99), minute=1))
    assert not any(isinstance(e, ExitTriggered) for e in out)
    step(actor, state, FakeSnap(_stop_mids(7.0), minute=2))
    step(actor, state, FakeSnap(_stop_mids(9.0), minute=3))  # still working: no second close
    exits = [e for e in out if isinstance(e, ExitTriggered)]
    assert len(exits) == 1 and exits[0].rule is ExitRule.CREDIT_STOP
    assert exits[0].cost_to_close == pytest.approx(7.0)
    closes = [o for o in orders(out) if o.intent is OrderIntent.CLOSE]
    assert len(closes) == 1 and closes[0].reason == "credit_stop"
    assert {(leg.contract.strike, leg.ratio) for leg in closes[0].legs} == {
        (5640.0, -1),
        (5700.0, 1),
        (6250.0, 1),
        (6310.0, -1),
    }


def test_rejected_close_rearms_the_exit() -> None:
    actor, state, out, _ = open_condor()
    step(actor, state, FakeSnap(_stop_mids(7.5), minute=1))
    close = orders(out)[-1]
    actor.on_order_rejected(
        OrderRejected(
            FakeSnap({}).ts, close.client_order_id, "condor", RejectReason.NO_QUOTE, "no quote"
        )
    )
    step(actor, state, FakeSnap(_stop_mids(7.5), minute=2))
    assert len([o for o in orders(out) if o.intent is OrderIntent.CLOSE]) == 2


def test_close_fill_counts_the_exit_and_starts_the_reentry_cooldown() -> None:
    actor, state, out, _ = open_condor(reentry_cooldown=2)
    snap = FakeSnap(_stop_mids(7.0), minute=1)
    step(actor, state, snap)
    close = orders(out)[-1]
    actor.on_order_filled(fill(close, 7.1, snap.ts))
    assert actor.stats.opened == 1 and actor.stats.closed == 1
    assert actor.stats.exits == {"credit_stop": 1}
    assert [e.rule for e in out if isinstance(e, CondorClosed)] == ["credit_stop"]

    def entries() -> int:
        return len([o for o in orders(out) if o.intent is OrderIntent.OPEN])

    # the two sessions after the stop's session open nothing; the third opens a new condor
    day = SESSION
    for _ in range(2):
        day += timedelta(days=1)
        step(actor, state, FakeSnap(ENTRY_MIDS, session=day))
    assert entries() == 1
    step(actor, state, FakeSnap(ENTRY_MIDS, session=day + timedelta(days=1)))
    assert entries() == 2


def test_rejected_entry_is_not_resent_until_the_next_session() -> None:
    actor, state, out = make_actor()
    first = FakeSnap(ENTRY_MIDS)
    step(actor, state, first)
    (entry,) = orders(out)
    actor.on_order_rejected(
        OrderRejected(
            first.ts,
            entry.client_order_id,
            "condor",
            RejectReason.INSUFFICIENT_BUYING_POWER,
            "no buying power",
        )
    )
    for minute in range(1, 30):
        step(actor, state, FakeSnap(ENTRY_MIDS, minute=minute))
    assert len(orders(out)) == 1
    step(actor, state, FakeSnap(ENTRY_MIDS, session=SESSION + timedelta(days=1)))
    assert len(orders(out)) == 2


def test_size_is_capped_by_buying_power() -> None:
    from brokers.events import AccountMarked

    actor, state, out = make_actor()
    actor.on_account_marked(
        AccountMarked(
            FakeSnap({}).ts, 1_000_000.0, 1_000_000.0, 0.0, 0.0, 0.0, buying_power=12_000.0
        )
    )
    step(actor, state, FakeSnap(ENTRY_MIDS))
    (order,) = orders(out)
    assert order.quantity == 2  # 12,000 / 5,670 per contract


def test_rejected_close_is_retried_with_backoff_and_the_exit_is_announced_once() -> None:
    actor, state, out, _ = open_condor()
    minute = 1
    sent_at: list[int] = []
    for _ in range(40):
        before = len(orders(out))
        step(actor, state, FakeSnap(_stop_mids(7.5), minute=minute))
        if len(orders(out)) > before:
            sent_at.append(minute)
            close = orders(out)[-1]
            actor.on_order_rejected(
                OrderRejected(
                    FakeSnap({}).ts,
                    close.client_order_id,
                    "condor",
                    RejectReason.NO_QUOTE,
                    "no quote",
                )
            )
        minute += 1
    # first send, then retries after 1, 2, 4, 8, 16 snapshots
    assert sent_at == [1, 2, 4, 8, 16, 32]
    assert len([e for e in out if isinstance(e, ExitTriggered)]) == 1


def test_condor_closed_at_close_at_dte() -> None:
    actor, state, out, _ = open_condor()
    step(actor, state, FakeSnap(ENTRY_MIDS, session=EXPIRY - timedelta(days=8)))
    assert not any(isinstance(e, ExitTriggered) for e in out)
    step(actor, state, FakeSnap(ENTRY_MIDS, session=EXPIRY - timedelta(days=7)))
    exits = [e for e in out if isinstance(e, ExitTriggered)]
    assert [e.rule for e in exits] == [ExitRule.DTE] and exits[0].dte == 7


def test_missing_quote_skips_the_stop_check_instead_of_guessing() -> None:
    actor, state, out, _ = open_condor()
    mids = _stop_mids(9.0)
    del mids[6310.0]
    step(actor, state, FakeSnap(mids, minute=1))
    assert not any(isinstance(e, ExitTriggered) for e in out)


def test_the_layers_log_lines_say_which_layer_they_come_from() -> None:
    from structlog.testing import capture_logs

    actor, state, out, _ = open_condor()
    step(actor, state, FakeSnap(_stop_mids(7.5), minute=1))
    close = orders(out)[-1]
    with capture_logs() as logs:
        actor.on_order_rejected(
            OrderRejected(
                FakeSnap({}).ts, close.client_order_id, "condor", RejectReason.NO_QUOTE, "no quote"
            )
        )
    assert [(e["event"], e["layer"]) for e in logs] == [("exit_retry_scheduled", "condor")]

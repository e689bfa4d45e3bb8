"""The condor actor against a hand-built market: entry, sizing, the exit rules, rejects, flatten."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest

from brokers.events import OrderFilled, OrderRejected, RejectReason
from brokers.orders import OrderIntent, SubmitOrder
from market.instruments import OptionContract, Right
from market.snapshot import Quote
from market.surface import SpxSurface
from strategies.condor import CondorActor
from strategies.config import CondorConfig, ExitConfig, StrategyConfig
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
    """A snapshot whose option mids are set per strike; every quote is mid -/+ 0.05. It has no
    greeks (the condor's management rules stand aside) and no VX curve (no RSI)."""

    def __init__(
        self, mids: dict[float, float], session: date = SESSION, vix: float = 13.0, minute: int = 0
    ) -> None:
        self.mids = mids
        self.session = session
        self.ts = datetime(session.year, session.month, session.day, 15, 0, tzinfo=UTC) + timedelta(
            minutes=minute
        )
        self.seq = session.toordinal() * 10_000 + minute
        self.vix = vix
        self.spx = SPOT
        self.surface = SpxSurface.from_vix(vix)
        self.spx_expiries = (date(2025, 1, 17), EXPIRY, date(2025, 3, 21), date(2025, 4, 17))
        self.vx_curve: tuple[object, ...] = ()
        self.macro_events: tuple[str, ...] = ()
        self.ad_line: float | None = None

    def option_greeks(self, contract: OptionContract) -> None:
        return None

    def chain(self, expiry: date) -> FakeChain:
        assert expiry == EXPIRY
        return FakeChain()

    def quote(self, contract: OptionContract) -> Quote | None:
        mid = self.mids.get(contract.strike)
        return None if mid is None else Quote(mid - 0.05, mid + 0.05)


ENTRY_MIDS = {5640.0: 8.0, 5700.0: 10.0, 6250.0: 6.0, 6310.0: 4.5}  # credit 3.5 at mid


def make_actor(
    exits: ExitConfig | None = None, **overrides: object
) -> tuple[CondorActor, MarketState, list[object]]:
    out: list[object] = []
    config = StrategyConfig(condor=CondorConfig(**overrides), exits=exits or ExitConfig())
    state = MarketState(config, out.append)
    actor = CondorActor(config, state, out.append, 1_000_000.0)
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
    credit: float = 3.5, exits: ExitConfig | None = None, **overrides: object
) -> tuple[CondorActor, MarketState, list[object], SubmitOrder]:
    actor, state, out = make_actor(exits, **overrides)
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
        (leg.contract.strike, leg.contract.right.value, leg.ratio)  # type: ignore[union-attr]
        for leg in order.legs
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
    assert {(leg.contract.strike, leg.ratio) for leg in closes[0].legs} == {  # type: ignore[union-attr]
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


def test_profit_target_closes_once_the_captured_fraction_is_reached() -> None:
    # credit 3.5, profit_target 0.5: close once the cost to close is down to 1.75
    actor, state, out, _ = open_condor(credit=3.5, profit_target=0.5)
    step(actor, state, FakeSnap(_stop_mids(1.80), minute=1))
    assert not any(isinstance(e, ExitTriggered) for e in out)
    step(actor, state, FakeSnap(_stop_mids(1.75), minute=2))
    step(actor, state, FakeSnap(_stop_mids(1.50), minute=3))
    exits = [e for e in out if isinstance(e, ExitTriggered)]
    assert [e.rule for e in exits] == [ExitRule.PROFIT_TARGET]
    assert exits[0].cost_to_close == pytest.approx(1.75) and exits[0].credit == 3.5
    assert orders(out)[-1].reason == "profit_target"


def test_profit_target_is_off_by_default() -> None:
    actor, state, out, _ = open_condor(credit=3.5)
    step(actor, state, FakeSnap(_stop_mids(0.10), minute=1))
    assert not any(isinstance(e, ExitTriggered) for e in out)


def test_rsi_exit_applies_only_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    from strategies.config import ExitRulesConfig

    rules = ExitConfig(rules=ExitRulesConfig(condor=("credit_stop", "rsi")))
    actor, state, out, _ = open_condor(exits=rules)
    readings = iter([31.0, 29.5])
    monkeypatch.setattr(state, "rsi", lambda snap: next(readings))
    step(actor, state, FakeSnap(ENTRY_MIDS, minute=1))  # 31: above exit_below (30)
    assert not any(isinstance(e, ExitTriggered) for e in out)
    step(actor, state, FakeSnap(ENTRY_MIDS, minute=2))
    (exit_,) = [e for e in out if isinstance(e, ExitTriggered)]
    assert exit_.rule is ExitRule.RSI and exit_.rsi == 29.5

    # the default rules (credit_stop, profit_target, dte) never ask for the RSI
    actor, state, out, _ = open_condor()
    monkeypatch.setattr(state, "rsi", lambda snap: 5.0)
    step(actor, state, FakeSnap(ENTRY_MIDS, minute=1))
    assert not any(isinstance(e, ExitTriggered) for e in out)


def test_a_credit_stop_holds_new_entries_back_but_other_exits_do_not() -> None:
    actor, state, out, _ = open_condor(credit=3.5, profit_target=0.5)
    snap = FakeSnap(_stop_mids(1.0), minute=1)
    step(actor, state, snap)
    actor.on_order_filled(fill(orders(out)[-1], 1.0, snap.ts))
    step(actor, state, FakeSnap(ENTRY_MIDS, session=SESSION + timedelta(days=1)))
    assert len([o for o in orders(out) if o.intent is OrderIntent.OPEN]) == 2


@pytest.mark.parametrize("reason", ["flatten", "risk_halt"])
def test_flatten_fills_close_the_condor_under_their_reason(reason: str) -> None:
    from brokers.events import FlattenStarted, LegFill

    actor, state, out, entry = open_condor()
    snap = FakeSnap(ENTRY_MIDS, minute=1)
    actor.on_flatten_started(FlattenStarted(snap.ts, reason, 1))
    assert actor.open_condors()[0].exit_rule == reason
    step(actor, state, FakeSnap(_stop_mids(9.0), minute=2))  # the layer's own stop stands down
    assert not any(isinstance(e, ExitTriggered) for e in out)
    legs = tuple(LegFill(leg.contract, -leg.ratio * entry.quantity, 1.0) for leg in entry.legs)
    actor.on_order_filled(
        OrderFilled(
            snap.ts,
            "F9",
            "O9",
            f"{reason}-000001",
            "condor",
            OrderIntent.CLOSE,
            reason,
            entry.quantity,
            3.6,
            legs,
            0.0,
        )  # fmt: skip
    )
    assert actor.stats.exits == {reason: 1} and actor.stats.closed == 1
    assert actor.open_count() == 0
    assert [e.rule for e in out if isinstance(e, CondorClosed)] == [reason]

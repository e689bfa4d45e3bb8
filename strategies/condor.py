"""Layer 1: the SPX iron condor engine (SPEC sections 6 and 9).

Opens a short iron condor in CALM on the monthly expiry 45-60 days out, shorts near 0.16 delta
(0.12 for ``post_fomc_sessions`` after an FOMC day), wings ``wing_width_pct`` of spot beyond,
break-evens outside ``be_move_mult`` x the expected move, sized so its max loss is
``risk_per_condor`` of equity.

On every snapshot each open condor is checked against the exit rules configured for the layer
(credit stop, profit target, ``close_at_dte``, RSI); an exit fires once while its order works.
Management runs once per :data:`MANAGE_INTERVAL_SECONDS` of market time: the time-shift of an
inverted condor (see :mod:`strategies.condor_rolls`) and the delta band.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING

import structlog

from brokers.events import (
    AccountMarked,
    ContractSettled,
    FlattenStarted,
    OrderFilled,
    OrderRejected,
)
from brokers.greeks import LayerGreeks
from brokers.orders import OrderIntent, OrderLeg, OrderType, SubmitOrder
from market.instruments import OptionContract
from strategies.condor_legs import (
    LAYER,
    Condor,
    CondorState,
    LayerStats,
    RollPlan,
    adopted_condors,
    condor_greeks,
    dollar_greeks,
    plan_entry,
)
from strategies.condor_rolls import TIME_SHIFT, apply_roll, plan_roll, target_delta
from strategies.config import CondorConfig, StrategyConfig
from strategies.events import CondorClosed, ExitRule, ExitTriggered, Regime
from strategies.reference_condor import ReferenceCondor, reference_condor
from strategies.retry import schedule_exit_retry
from strategies.state import MarketState

if TYPE_CHECKING:
    from brokers.portfolio import Position
    from market.snapshot import MarketSnapshot

__all__ = ["LAYER", "MANAGE_INTERVAL_SECONDS", "Condor", "CondorActor", "CondorState", "LayerStats"]

MANAGE_INTERVAL_SECONDS = 15 * 60
"""Management (time-shift, delta band) runs on the first snapshot of each 15-minute bucket of
market time, not on every one-minute snapshot: it needs four greeks per condor (about 60 us each
on a fresh snapshot), and a condor 45-60 days out does not change its theta or its delta band
state within minutes. Exit rules still run on every snapshot."""
FLATTEN_REASONS = frozenset({ExitRule.FLATTEN.value, ExitRule.RISK_HALT.value})
"""Fill reasons of the broker's flatten combos (the operator's flatten or a risk halt)."""
log = structlog.get_logger("alvh.strategies.condor")


class CondorActor:
    """The layer-1 actor: handlers for snapshots, fills, rejects, settlements and account marks."""

    def __init__(
        self,
        config: StrategyConfig,
        state: MarketState,
        publish: Callable[[object], None],
        starting_equity: float,
    ) -> None:
        self._config = config
        self._rules = frozenset(config.exits.rules.condor)
        self._state = state
        self._publish = publish
        self._equity = starting_equity
        self._buying_power = starting_equity
        self._ticks = 0
        self._snap: MarketSnapshot | None = None
        self._manage_bucket = -1
        self._condors: dict[str, Condor] = {}
        """Live condors (not yet closed) by position id."""
        self._by_order: dict[str, Condor] = {}
        self._next_id = 1
        self._cooldown_until = -1
        """Session index before which no new condor opens (after a credit stop)."""
        self._skip_entry_session: tuple[int, date] | None = None
        self._greeks_cache: tuple[MarketSnapshot, LayerGreeks] | None = None
        self.stats = LayerStats()

    @property
    def _cfg(self) -> CondorConfig:
        return self._config.condor

    def adopt(self, positions: Iterable[Position], client_ids: Iterable[str]) -> list[str]:
        """Take over the layer's condors from adopted books (`--adopt`); order ids continue
        after the highest one the ledger holds. Returns the symbols that form no condor (left
        alone: no rule of this layer manages them); see :func:`adopted_condors`."""
        numbers = [int(c.rsplit("-", 1)[1]) for c in client_ids if c.startswith(f"{LAYER}-")]
        self._next_id = max(numbers, default=0) + 1

        def new_id() -> str:
            position_id = self._new_position_id()
            self._next_id += 1
            return position_id

        mine = [p for p in positions if p.layer == LAYER]
        condors, unmapped = adopted_condors(mine, new_id)
        self._condors.update((c.position_id, c) for c in condors)
        self._greeks_cache = None
        return unmapped

    def reconfigure(self, config: StrategyConfig) -> None:
        """Take new thresholds (a config reload); open condors keep their credit and size."""
        self._config = config
        self._rules = frozenset(config.exits.rules.condor)

    # -- queries -------------------------------------------------------------------------------

    def open_condors(self) -> list[Condor]:
        return [c for c in self._condors.values() if c.state is not CondorState.OPENING]

    def open_count(self) -> int:
        """Condors held (open, rolling or closing), for the summary."""
        return len(self.open_condors())

    def book_greeks(self, snap: MarketSnapshot) -> LayerGreeks:
        """The layer's dollar greeks at ``snap``: every held condor's legs x ratio x quantity x
        100 (the hedge sizes from ``vega_dollars`` and caps its carry by ``theta_per_day``).
        Cached for the snapshot until the book changes."""
        cached = self._greeks_cache
        if cached is not None and cached[0] is snap:
            return cached[1]
        total = LayerGreeks()
        for condor in self.open_condors():
            total = total + dollar_greeks(snap, condor.legs, condor.quantity)
        self._greeks_cache = (snap, total)
        return total

    def reference(self, snap: MarketSnapshot) -> ReferenceCondor | None:
        """The condor this layer would open for its risk budget at ``snap``, at the equity of the
        last mark and the target delta of the moment (``post_fomc_delta`` just after an FOMC
        day) (:mod:`strategies.reference_condor`; the hedge's floor)."""
        delta = target_delta(self._cfg, self._state)
        return reference_condor(snap, self._cfg, self._equity, delta)

    # -- handlers -------------------------------------------------------------------------------

    def on_market_snapshot(self, snap: MarketSnapshot) -> None:
        self._ticks += 1
        self._snap = snap
        if self._condors:
            bucket = int(snap.ts.timestamp()) // MANAGE_INTERVAL_SECONDS
            manage = bucket != self._manage_bucket
            self._manage_bucket = bucket
            for condor in list(self._condors.values()):
                if condor.state is not CondorState.OPEN:
                    continue
                if condor.exit_rule:
                    if self._ticks >= condor.retry_at_tick:
                        self._send_close(condor)
                elif not self._check_exits(condor, snap) and manage:
                    self._manage(condor, snap)
        if self._state.regime is Regime.CALM:
            self._maybe_enter(snap)

    def on_account_marked(self, event: AccountMarked) -> None:
        self._equity = event.equity
        self._buying_power = event.buying_power

    def on_order_filled(self, fill: OrderFilled) -> None:
        condor = self._by_order.pop(fill.client_order_id, None)
        if condor is None:
            if fill.layer == LAYER and fill.reason in FLATTEN_REASONS:
                self._flattened(fill)
            return
        self._greeks_cache = None
        roll = condor.pending
        if roll is not None and condor.roll_order == fill.client_order_id:
            self._rolled(condor, roll, fill)
        elif condor.state is CondorState.OPENING:
            self._opened(condor, fill)
        else:
            self._close(condor, fill.ts, fill.net_price)

    def on_order_rejected(self, event: OrderRejected) -> None:
        condor = self._by_order.pop(event.client_order_id, None)
        if condor is None:
            return
        roll = condor.pending
        if roll is not None and condor.roll_order == event.client_order_id:
            # Not again this session (the delta band acts once a session anyway): the same
            # combo would meet the same answer.
            condor.pending = None
            if condor.state is CondorState.ROLLING:
                condor.state = CondorState.OPEN
            if roll.kind == TIME_SHIFT:
                condor.roll_blocked_session = self._state.session_index
            log.warning(
                "condor_roll_rejected",
                layer=LAYER,
                position_id=condor.position_id,
                kind=roll.kind,
                reason=event.reason.value,
            )
        elif condor.state is CondorState.OPENING:
            del self._condors[condor.position_id]
            self._skip_entry_session = (self._state.session_index, condor.expiry)
        elif condor.state is CondorState.CLOSING:
            condor.state = CondorState.OPEN
            condor.retry_at_tick = schedule_exit_retry(
                LAYER,
                condor.position_id,
                condor.exit_rule,
                condor.close_attempts,
                event.reason.value,
                self._ticks,
            )

    def on_flatten_started(self, event: FlattenStarted) -> None:
        """The broker closes every structure: the layer's own exits and rolls stand down."""
        for condor in self._condors.values():
            if condor.state in (CondorState.OPEN, CondorState.ROLLING):
                condor.state = CondorState.CLOSING
                condor.exit_rule = event.reason

    def on_contract_settled(self, event: ContractSettled) -> None:
        if event.layer != LAYER or not isinstance(event.contract, OptionContract):
            return
        for condor in list(self._condors.values()):
            if condor.expiry == event.contract.expiry and condor.state is not CondorState.CLOSED:
                condor.settled_legs.add(event.contract)
                if len(condor.settled_legs) == len(condor.legs):
                    condor.exit_rule = "settlement"
                    self._close(condor, event.ts, condor.settlement_value(event.settlement_price))

    # -- fills ---------------------------------------------------------------------------------

    def _opened(self, condor: Condor, fill: OrderFilled) -> None:
        condor.state = CondorState.OPEN
        condor.credit = -fill.net_price
        greeks = condor_greeks(self._snap, condor.legs) if self._snap is not None else None
        if greeks is not None:
            condor.entry_efficiency = greeks.efficiency
        self.stats.opened += 1
        self._publish(condor.opened(fill.ts))

    def _rolled(self, condor: Condor, plan: RollPlan, fill: OrderFilled) -> None:
        condor.pending = None
        rolled = apply_roll(
            condor, plan, fill, self._snap, self._state.session_index, self._cfg.roll_cooldown
        )
        if condor.state is CondorState.ROLLING:
            condor.state = CondorState.OPEN
        self.stats.rolls[plan.kind] += 1
        self._publish(rolled)

    def _flattened(self, fill: OrderFilled) -> None:
        expiries = {leg.contract.expiry for leg in fill.legs}
        for condor in list(self._condors.values()):
            if condor.expiry in expiries and condor.state is not CondorState.OPENING:
                condor.exit_rule = fill.reason
                self._close(condor, fill.ts, fill.net_price)

    def _close(self, condor: Condor, ts: datetime, debit: float) -> None:
        condor.state = CondorState.CLOSED
        del self._condors[condor.position_id]
        self._greeks_cache = None
        self.stats.closed += 1
        self.stats.exits[condor.exit_rule] += 1
        self._publish(CondorClosed(ts, condor.position_id, condor.exit_rule, debit))

    # -- exits ---------------------------------------------------------------------------------

    def _check_exits(self, condor: Condor, snap: MarketSnapshot) -> bool:
        """Fire the first exit rule that holds (credit stop, profit target, dte, rsi)."""
        cfg, rules = self._cfg, self._rules
        dte = (condor.expiry - snap.session).days
        cost = condor.cost_to_close(snap)
        rule: ExitRule | None = None
        rsi: float | None = None
        if cost is not None:
            if "credit_stop" in rules and cost >= self._config.exits.stop_multiple * condor.credit:
                rule = ExitRule.CREDIT_STOP
            elif (
                "profit_target" in rules
                and cfg.profit_target > 0.0
                and condor.credit > 0.0
                and cost <= (1.0 - cfg.profit_target) * condor.credit
            ):
                rule = ExitRule.PROFIT_TARGET
        if rule is None and "dte" in rules and cfg.close_at_dte > 0 and dte <= cfg.close_at_dte:
            rule = ExitRule.DTE
        if rule is None and "rsi" in rules:
            rsi = self._state.rsi(snap)
            if rsi is not None and rsi < self._config.rsi.exit_below:
                rule = ExitRule.RSI
        if rule is None:
            return False
        self._publish(
            ExitTriggered(
                snap.ts,
                LAYER,
                condor.position_id,
                rule,
                cost_to_close=cost if cost is not None else math.nan,
                credit=condor.credit,
                dte=dte,
                rsi=rsi if rule is ExitRule.RSI else None,
            )
        )
        condor.exit_rule = rule.value
        if rule is ExitRule.CREDIT_STOP:
            self._cooldown_until = self._state.session_index + cfg.reentry_cooldown + 1
        self._send_close(condor)
        return True

    def _send_close(self, condor: Condor) -> None:
        """Send the closing combo for a fired exit (the first time, or as a retry)."""
        condor.state = CondorState.CLOSING
        condor.close_attempts += 1
        order = self._order(
            tuple(OrderLeg(leg.contract, -leg.ratio) for leg in condor.legs),
            condor.quantity,
            OrderIntent.CLOSE,
            condor.exit_rule,
        )
        condor.close_order = order.client_order_id
        self._send(order, condor)

    # -- management: time-shift and delta band --------------------------------------------------

    def _manage(self, condor: Condor, snap: MarketSnapshot) -> None:
        taken = [c.expiry for c in self._condors.values() if c is not condor]
        taken += [c.pending.new_expiry for c in self._condors.values() if c.pending is not None]
        plan = plan_roll(condor, snap, self._config, self._state, self._equity, taken)
        if plan is None:
            return
        order = self._order(plan.combo_legs, plan.combo_quantity, OrderIntent.OPEN, plan.kind)
        condor.state = CondorState.ROLLING
        condor.pending = plan
        condor.roll_order = order.client_order_id
        self._send(order, condor)

    # -- entries -------------------------------------------------------------------------------

    def _maybe_enter(self, snap: MarketSnapshot) -> None:
        cfg = self._cfg
        live = list(self._condors.values())
        if len(live) >= cfg.max_condors or self._state.session_index < self._cooldown_until:
            return
        if any(c.state is not CondorState.OPEN for c in live):
            return
        taken = {c.expiry for c in live}
        expiry = next(
            (
                e
                for e in snap.spx_expiries
                if cfg.min_dte <= (e - snap.session).days <= cfg.max_dte and e not in taken
            ),
            None,
        )
        if expiry is None or self._skip_entry_session == (self._state.session_index, expiry):
            return
        self._skip_entry_session = (self._state.session_index, expiry)
        delta = target_delta(cfg, self._state)
        entry = plan_entry(snap, expiry, cfg, delta, self._equity, self._buying_power)
        if entry is None:
            return
        pick, quantity = entry
        self._skip_entry_session = None
        condor = Condor(self._new_position_id(), expiry, pick.legs, quantity)
        order = self._order(condor.legs, quantity, OrderIntent.OPEN, "entry")
        condor.entry_order = order.client_order_id
        self._condors[condor.position_id] = condor
        self._send(order, condor)

    # -- orders --------------------------------------------------------------------------------

    def _order(
        self, legs: tuple[OrderLeg, ...], quantity: int, intent: OrderIntent, reason: str
    ) -> SubmitOrder:
        n = self._next_id
        self._next_id += 1
        return SubmitOrder(
            client_order_id=f"{LAYER}-{n:06d}",
            layer=LAYER,
            legs=legs,
            quantity=quantity,
            order_type=OrderType.MARKET,
            intent=intent,
            reason=reason,
        )

    def _send(self, order: SubmitOrder, condor: Condor) -> None:
        self._by_order[order.client_order_id] = condor
        self._publish(order)

    def _new_position_id(self) -> str:
        return f"IC-{self._next_id:06d}"

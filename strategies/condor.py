"""Layer 1: the SPX iron condor engine (SPEC sections 6 and 9).

Opens a short iron condor in CALM on the monthly expiry 45–60 days out, shorts near 0.16 delta,
wings ``wing_width_pct`` of spot beyond, sized so its max loss is ``risk_per_condor`` of equity.
On every snapshot each open condor is checked against the credit stop (cost to close at mid
>= ``stop_multiple`` x credit) and ``close_at_dte``; an exit fires once while its order works.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

import structlog

from brokers.events import (
    AccountMarked,
    ContractSettled,
    FlattenStarted,
    OrderFilled,
    OrderRejected,
)
from brokers.orders import OrderIntent, OrderLeg, OrderType, SubmitOrder
from market.instruments import OPTION_MULTIPLIER, SPX_STRIKE_STEP, OptionContract, Right, Root
from strategies.config import CondorConfig, ExitConfig
from strategies.events import CondorClosed, CondorOpened, ExitRule, ExitTriggered, Regime
from strategies.state import MarketState

if TYPE_CHECKING:
    from brokers.portfolio import Position
    from market.snapshot import MarketSnapshot

LAYER = "condor"
log = structlog.get_logger("alvh.strategies.condor")


class CondorState(StrEnum):
    OPENING = "opening"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(slots=True)
class Condor:
    """One iron condor position of the layer, from its entry order to its exit."""

    position_id: str
    expiry: date
    legs: tuple[OrderLeg, ...]
    """Entry legs: long put (+1), short put (-1), short call (-1), long call (+1)."""
    quantity: int
    state: CondorState = CondorState.OPENING
    credit: float = 0.0
    """Net credit per unit in points as filled (the stop rule's reference)."""
    entry_order: str = ""
    close_order: str = ""
    exit_rule: str = ""
    close_attempts: int = 0
    retry_at_tick: int = 0
    """Snapshot count before which a rejected close is not sent again (backoff)."""
    settled_legs: set[OptionContract] = field(default_factory=set)

    def cost_to_close(self, snap: MarketSnapshot) -> float | None:
        """Points per unit to buy back the condor at mid, or None without a full set of quotes."""
        cost = 0.0
        for leg in self.legs:
            quote = snap.quote(leg.contract)
            if quote is None:
                return None
            cost -= leg.ratio * quote.mid
        return cost


@dataclass(slots=True)
class LayerStats:
    opened: int = 0
    closed: int = 0
    exits: Counter[str] = field(default_factory=Counter)


class CondorActor:
    """The layer-1 actor: handlers for snapshots, fills, rejects, settlements and account marks."""

    def __init__(
        self,
        condor: CondorConfig,
        exits: ExitConfig,
        state: MarketState,
        publish: Callable[[object], None],
        starting_equity: float,
    ) -> None:
        self._cfg = condor
        self._exits = exits
        self._state = state
        self._publish = publish
        self._equity = starting_equity
        self._buying_power = starting_equity
        self._ticks = 0
        self._condors: dict[str, Condor] = {}
        """Live condors (not yet closed) by position id."""
        self._by_order: dict[str, Condor] = {}
        self._next_id = 1
        self._cooldown_until = -1
        """Session index before which no new condor opens (after a credit stop)."""
        self._skip_entry_session: tuple[int, date] | None = None
        self.stats = LayerStats()

    def adopt(self, positions: Iterable[Position], client_ids: Iterable[str]) -> list[str]:
        """Take over the layer's condors from adopted books (`--adopt`).

        Each expiry holding exactly a long put, short put, short call and long call of one size
        becomes an open condor whose credit is implied by the legs' average prices; order ids
        continue after the highest one the ledger holds. Returns the symbols that do not form a
        condor (left alone: no rule of this layer manages them).
        """
        numbers = [int(c.rsplit("-", 1)[1]) for c in client_ids if c.startswith(f"{LAYER}-")]
        self._next_id = max(numbers, default=0) + 1
        by_expiry: dict[date, list[Position]] = {}
        unmapped: list[str] = []
        for pos in positions:
            if pos.layer != LAYER:
                continue
            if isinstance(pos.contract, OptionContract):
                by_expiry.setdefault(pos.contract.expiry, []).append(pos)
            else:
                unmapped.append(pos.contract.symbol)
        for expiry, held in sorted(by_expiry.items()):
            shape = sorted(
                (p.contract.right.value, p.quantity > 0)
                for p in held
                if isinstance(p.contract, OptionContract)
            )
            sizes = {abs(p.quantity) for p in held}
            if shape != [("C", False), ("C", True), ("P", False), ("P", True)] or len(sizes) != 1:
                unmapped += [p.contract.symbol for p in held]
                continue
            legs = tuple(OrderLeg(p.contract, 1 if p.quantity > 0 else -1) for p in held)
            condor = Condor(self._new_position_id(), expiry, legs, sizes.pop())
            condor.state = CondorState.OPEN
            condor.credit = -sum(leg.ratio * p.avg_price for leg, p in zip(legs, held, strict=True))
            self._condors[condor.position_id] = condor
            self._next_id += 1
        return unmapped

    def reconfigure(self, condor: CondorConfig, exits: ExitConfig) -> None:
        """Take new thresholds (a config reload); open condors keep their credit and size."""
        self._cfg = condor
        self._exits = exits

    # -- handlers -------------------------------------------------------------------------------

    def on_market_snapshot(self, snap: MarketSnapshot) -> None:
        self._ticks += 1
        for condor in list(self._condors.values()):
            if condor.state is CondorState.OPEN:
                if condor.exit_rule:
                    if self._ticks >= condor.retry_at_tick:
                        self._send_close(condor, snap)
                else:
                    self._check_exits(condor, snap)
        if self._state.regime is Regime.CALM:
            self._maybe_enter(snap)

    def on_account_marked(self, event: AccountMarked) -> None:
        self._equity = event.equity
        self._buying_power = event.buying_power

    def on_order_filled(self, fill: OrderFilled) -> None:
        condor = self._by_order.pop(fill.client_order_id, None)
        if condor is None:
            if fill.layer == LAYER and fill.reason == ExitRule.FLATTEN.value:
                self._flattened(fill)
            return
        if fill.intent is OrderIntent.OPEN:
            condor.state = CondorState.OPEN
            condor.credit = -fill.net_price
            self.stats.opened += 1
            strikes = {
                (leg.contract.right, leg.ratio): leg.contract.strike
                for leg in condor.legs
                if isinstance(leg.contract, OptionContract)
            }
            self._publish(
                CondorOpened(
                    fill.ts,
                    condor.position_id,
                    condor.expiry,
                    long_put=strikes[(Right.PUT, 1)],
                    short_put=strikes[(Right.PUT, -1)],
                    short_call=strikes[(Right.CALL, -1)],
                    long_call=strikes[(Right.CALL, 1)],
                    quantity=condor.quantity,
                    credit=condor.credit,
                )
            )
        else:
            self._close(condor, fill.ts, fill.net_price)

    def on_order_rejected(self, event: OrderRejected) -> None:
        condor = self._by_order.pop(event.client_order_id, None)
        if condor is None:
            return
        if condor.state is CondorState.OPENING:
            # Not again this session for this expiry: the same order would meet the same answer.
            del self._condors[condor.position_id]
            self._skip_entry_session = (self._state.session_index, condor.expiry)
        elif condor.state is CondorState.CLOSING:
            # The exit has fired and stays decided; resend its order after a backoff of
            # 1, 2, 4 ... 64 snapshots so a persistent reject cannot flood the broker.
            condor.state = CondorState.OPEN
            condor.retry_at_tick = self._ticks + 2 ** min(condor.close_attempts - 1, 6)
            log.warning(
                "exit_retry_scheduled",
                layer=LAYER,
                position_id=condor.position_id,
                rule=condor.exit_rule,
                attempts=condor.close_attempts,
                reason=event.reason.value,
                in_snapshots=condor.retry_at_tick - self._ticks,
            )

    def on_flatten_started(self, event: FlattenStarted) -> None:
        """The broker closes every structure: the layer's own exits stand down meanwhile."""
        for condor in self._condors.values():
            if condor.state is CondorState.OPEN:
                condor.state = CondorState.CLOSING
                condor.exit_rule = ExitRule.FLATTEN.value

    def _flattened(self, fill: OrderFilled) -> None:
        expiries = {leg.contract.expiry for leg in fill.legs}
        for condor in list(self._condors.values()):
            if condor.expiry in expiries and condor.state is not CondorState.OPENING:
                condor.exit_rule = ExitRule.FLATTEN.value
                self._close(condor, fill.ts, fill.net_price)

    def on_contract_settled(self, event: ContractSettled) -> None:
        if event.layer != LAYER or not isinstance(event.contract, OptionContract):
            return
        for condor in list(self._condors.values()):
            if condor.expiry == event.contract.expiry and condor.state is not CondorState.CLOSED:
                condor.settled_legs.add(event.contract)
                if len(condor.settled_legs) == len(condor.legs):
                    value = sum(
                        -leg.ratio * leg.contract.intrinsic(event.settlement_price)
                        for leg in condor.legs
                        if isinstance(leg.contract, OptionContract)
                    )
                    condor.exit_rule = "settlement"
                    self._close(condor, event.ts, value)

    # -- queries -----------------------------------------------------------------------------

    def open_condors(self) -> list[Condor]:
        return [c for c in self._condors.values() if c.state is not CondorState.OPENING]

    # -- rules ---------------------------------------------------------------------------------

    def _check_exits(self, condor: Condor, snap: MarketSnapshot) -> None:
        dte = (condor.expiry - snap.session).days
        cost = condor.cost_to_close(snap)
        rule: ExitRule | None = None
        if cost is not None and cost >= self._exits.stop_multiple * condor.credit:
            rule = ExitRule.CREDIT_STOP
        elif self._cfg.close_at_dte > 0 and dte <= self._cfg.close_at_dte:
            rule = ExitRule.DTE
        if rule is None:
            return
        self._publish(
            ExitTriggered(
                snap.ts,
                LAYER,
                condor.position_id,
                rule,
                cost_to_close=cost if cost is not None else math.nan,
                credit=condor.credit,
                dte=dte,
            )
        )
        condor.exit_rule = rule.value
        if rule is ExitRule.CREDIT_STOP:
            self._cooldown_until = self._state.session_index + self._cfg.reentry_cooldown + 1
        self._send_close(condor, snap)

    def _send_close(self, condor: Condor, snap: MarketSnapshot) -> None:
        """Send the closing combo for a fired exit (the first time, or as a retry)."""
        condor.state = CondorState.CLOSING
        condor.close_attempts += 1
        order = SubmitOrder(
            client_order_id=self._new_order_id(),
            layer=LAYER,
            legs=tuple(OrderLeg(leg.contract, -leg.ratio) for leg in condor.legs),
            quantity=condor.quantity,
            order_type=OrderType.MARKET,
            intent=OrderIntent.CLOSE,
            reason=condor.exit_rule,
        )
        condor.close_order = order.client_order_id
        self._by_order[order.client_order_id] = condor
        self._publish(order)

    def _maybe_enter(self, snap: MarketSnapshot) -> None:
        cfg = self._cfg
        live = list(self._condors.values())
        if len(live) >= cfg.max_condors or self._state.session_index < self._cooldown_until:
            return
        if any(c.state in (CondorState.OPENING, CondorState.CLOSING) for c in live):
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
        legs = self._select_legs(snap, expiry)
        if legs is None:
            self._skip_entry_session = (self._state.session_index, expiry)
            return
        quantity, credit, width = legs[1], legs[2], legs[3]
        if quantity < 1:
            log.info(
                "condor_entry_skipped",
                layer=LAYER,
                reason="size_below_one_contract",
                expiry=str(expiry),
                credit=credit,
                wing_width=width,
                equity=self._equity,
            )
            self._skip_entry_session = (self._state.session_index, expiry)
            return
        condor = Condor(self._new_position_id(), expiry, legs[0], quantity)
        order = SubmitOrder(
            client_order_id=self._new_order_id(),
            layer=LAYER,
            legs=condor.legs,
            quantity=quantity,
            order_type=OrderType.MARKET,
            intent=OrderIntent.OPEN,
            reason="entry",
        )
        condor.entry_order = order.client_order_id
        self._condors[condor.position_id] = condor
        self._by_order[order.client_order_id] = condor
        self._publish(order)

    def _select_legs(
        self, snap: MarketSnapshot, expiry: date
    ) -> tuple[tuple[OrderLeg, ...], int, float, float] | None:
        """Strikes at the target delta, wings beyond, and the size; None when unquotable.

        Size is the most contracts whose max loss, taken at the natural price (sell at the bid,
        buy at the ask: never better than any fill), stays within ``risk_per_condor`` of equity
        and within the buying power left.
        """
        cfg = self._cfg
        chain = snap.chain(expiry)
        short_put = chain.strike_nearest_delta(Right.PUT, cfg.short_delta)
        short_call = chain.strike_nearest_delta(Right.CALL, cfg.short_delta)
        width = max(
            SPX_STRIKE_STEP,
            round(snap.spx * cfg.wing_width_pct / SPX_STRIKE_STEP) * SPX_STRIKE_STEP,
        )
        strikes = (
            (short_put - width, Right.PUT, 1),
            (short_put, Right.PUT, -1),
            (short_call, Right.CALL, -1),
            (short_call + width, Right.CALL, 1),
        )
        legs = tuple(
            OrderLeg(OptionContract(Root.SPX, expiry, k, right), ratio)
            for k, right, ratio in strikes
        )
        credit = natural_credit = 0.0
        for leg in legs:
            quote = snap.quote(leg.contract)
            if quote is None:
                return None
            credit -= leg.ratio * quote.mid
            natural_credit -= leg.ratio * (quote.ask if leg.ratio > 0 else quote.bid)
        if not 0.0 < credit < width:
            return None
        max_loss = (width - natural_credit) * OPTION_MULTIPLIER
        quantity = math.floor(
            min(cfg.risk_per_condor * self._equity, self._buying_power) / max_loss
        )
        return legs, quantity, credit, width

    def _close(self, condor: Condor, ts: datetime, debit: float) -> None:
        condor.state = CondorState.CLOSED
        del self._condors[condor.position_id]
        self.stats.closed += 1
        self.stats.exits[condor.exit_rule] += 1
        self._publish(CondorClosed(ts, condor.position_id, condor.exit_rule, debit))

    def _new_order_id(self) -> str:
        n = self._next_id
        self._next_id += 1
        return f"{LAYER}-{n:06d}"

    def _new_position_id(self) -> str:
        return f"IC-{self._next_id:06d}"

"""Layer 3: the cash press, VIX call credit spreads in STRESS (SPEC sections 8 and 9).

Once STRESS is confirmed the layer sells call spreads on the VIX, betting on volatility's mean
reversion: short the call nearest ``press.short_delta`` (Black-76 delta on the future of the same
expiry), long the call ``press_width`` points above, in the nearest VIX expiry 14-35 calendar days
out. The budget is fixed when a STRESS episode begins: ``press_risk`` x equity at that moment
(the last account mark received; the starting equity before any), split evenly over at most
``press_max_spreads`` entries, at most one per session; each entry's size is the most spreads
whose max loss at the natural price (width - (short bid - long ask)) fits its share.

On every snapshot each open spread is checked against the exit rules configured for the layer
(``exits.rules.press``): the credit stop (cost to close at mid >= ``stop_multiple`` x credit),
the RSI (below ``rsi.exit_below``: volatility has reverted, every spread closes), and, when
configured, ``unwind`` (regime back to CALM), ``dte`` and ``profit_target`` (module constants
below, the config has no press field for them). Spreads held to expiry settle at the VRO.

Decisions the SPEC leaves open, taken as a trader would:

- What an entry sells and how many (natural credit > 0, the budget across episodes, strikes
  never held both ways): :mod:`strategies.press_spreads`.
- One entry decision per session: the first snapshot that passes the gates (STRESS, no headline
  hold, RSI not below ``exit_below``, no order working and no fired exit waiting for its
  retry) decides; a skipped or rejected entry waits for the next session.
- A spread whose expiry has come is left to its settlement; no exit is sent for it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import structlog

from brokers.events import (
    AccountMarked,
    ContractSettled,
    FlattenStarted,
    OrderFilled,
    OrderRejected,
)
from brokers.orders import OrderIntent, OrderType, SubmitOrder
from market.instruments import OptionContract
from strategies.config import StrategyConfig
from strategies.events import (
    ExitRule,
    ExitTriggered,
    PositionClosed,
    PositionOpened,
    Regime,
    RegimeChanged,
)
from strategies.press_spreads import (
    CallSpread,
    EntrySkipped,
    Episode,
    SpreadState,
    pair_adopted,
    plan_entry,
)
from strategies.retry import schedule_exit_retry
from strategies.state import MarketState

if TYPE_CHECKING:
    from brokers.portfolio import Position
    from market.snapshot import MarketSnapshot

LAYER = "press"
log = structlog.get_logger("alvh.strategies.press")

_FLATTEN_REASONS = frozenset({ExitRule.FLATTEN.value, ExitRule.RISK_HALT.value})


@dataclass(slots=True)
class LayerStats:
    opened: int = 0
    closed: int = 0
    exits: Counter[str] = field(default_factory=Counter)
    rolls: Counter[str] = field(default_factory=Counter)
    """Unused: the press never rolls (kept for the summary's shape)."""


class PressActor:
    """The layer-3 actor: handlers for snapshots, fills, rejects, settlements, marks, regimes."""

    LAYER = LAYER

    def __init__(
        self,
        config: StrategyConfig,
        state: MarketState,
        publish: Callable[[object], None],
        starting_equity: float,
    ) -> None:
        self._config = config
        self._state = state
        self._publish = publish
        self._equity = starting_equity
        self._buying_power = starting_equity
        self._ticks = 0
        self._spreads: dict[str, CallSpread] = {}
        """Live spreads (not yet closed) by position id."""
        self._by_order: dict[str, CallSpread] = {}
        self._next_id = 1
        self._episode: Episode | None = None
        self._decided_session = -1
        """Session index whose one entry decision has been taken."""
        self.stats = LayerStats()

    def reconfigure(self, config: StrategyConfig) -> None:
        """Take new thresholds (a config reload). The running episode keeps its budget; open
        spreads keep their credit and size."""
        self._config = config

    def adopt(self, positions: Iterable[Position], client_ids: Iterable[str]) -> list[str]:
        """Take over the layer's spreads from adopted books (``--adopt``).

        Per expiry, short and long VIX calls are paired in strike order; each pair of one size
        with the long above the short becomes an open spread whose credit is implied by the
        average prices. Order ids continue after the highest one the ledger holds. Returns the
        symbols that do not form spreads (left alone: no rule of this layer manages them).
        """
        numbers = [int(c.rsplit("-", 1)[1]) for c in client_ids if c.startswith(f"{LAYER}-")]
        self._next_id = max(numbers, default=0) + 1
        adopted, unmapped = pair_adopted(pos for pos in positions if pos.layer == LAYER)
        for short, long, quantity, credit in adopted:
            spread = CallSpread(
                self._position_id(),
                short,
                long,
                quantity,
                episode=0,
                credit=credit,
                state=SpreadState.OPEN,
            )
            self._spreads[spread.position_id] = spread
            self._next_id += 1
        return unmapped

    def open_count(self) -> int:
        """Spreads currently open (entry filled, not yet closed)."""
        return sum(s.state is not SpreadState.OPENING for s in self._spreads.values())

    def open_spreads(self) -> list[CallSpread]:
        return [s for s in self._spreads.values() if s.state is not SpreadState.OPENING]

    # -- handlers -------------------------------------------------------------------------------

    def on_market_snapshot(self, snap: MarketSnapshot) -> None:
        self._ticks += 1
        stress = self._state.regime is Regime.STRESS
        if not self._spreads and not stress:
            return
        if self._spreads:
            self._manage(snap)
        if stress:
            self._maybe_enter(snap)

    def on_regime_changed(self, event: RegimeChanged) -> None:
        """Fix the episode's budget when STRESS begins. The snapshot path does it too; whichever
        comes first fixes it, from the last account mark received."""
        if event.current is Regime.STRESS:
            self._begin_episode()

    def on_account_marked(self, event: AccountMarked) -> None:
        self._equity = event.equity
        self._buying_power = event.buying_power

    def on_order_filled(self, fill: OrderFilled) -> None:
        spread = self._by_order.pop(fill.client_order_id, None)
        if spread is None:
            if fill.layer == LAYER and fill.reason in _FLATTEN_REASONS:
                self._flattened(fill)
            return
        if fill.intent is OrderIntent.OPEN:
            spread.state = SpreadState.OPEN
            spread.credit = -fill.net_price
            self.stats.opened += 1
            self._publish(
                PositionOpened(
                    fill.ts,
                    LAYER,
                    spread.position_id,
                    (spread.short.symbol, spread.long.symbol),
                    spread.quantity,
                    fill.net_price,
                )
            )
        else:
            self._close(spread, fill.ts, fill.net_price)

    def on_order_rejected(self, event: OrderRejected) -> None:
        spread = self._by_order.pop(event.client_order_id, None)
        if spread is None:
            return
        if spread.state is SpreadState.OPENING:
            # It did not enter: the episode gets the entry back; the session stays decided
            # (the same order would meet the same answer).
            del self._spreads[spread.position_id]
            if self._episode is not None and self._episode.number == spread.episode:
                self._episode.entries -= 1
        elif spread.state is SpreadState.CLOSING:
            spread.state = SpreadState.OPEN
            spread.retry_at_tick = schedule_exit_retry(
                LAYER,
                spread.position_id,
                spread.exit_rule,
                spread.close_attempts,
                event.reason.value,
                self._ticks,
            )

    def on_flatten_started(self, event: FlattenStarted) -> None:
        """The broker closes every structure: the layer's own exits stand down meanwhile."""
        for spread in self._spreads.values():
            if spread.state is SpreadState.OPEN:
                spread.state = SpreadState.CLOSING
                spread.exit_rule = event.reason

    def on_contract_settled(self, event: ContractSettled) -> None:
        """VIX options settle at the VRO, one event per contract; a spread closes (rule
        ``settlement``, price = its intrinsic value) once both its legs have settled."""
        contract = event.contract
        if event.layer != LAYER or not isinstance(contract, OptionContract):
            return
        for spread in list(self._spreads.values()):
            if spread.state is SpreadState.OPENING or contract not in (spread.short, spread.long):
                continue
            value = spread.settle(contract, event.settlement_price)
            if value is not None:
                spread.exit_rule = "settlement"
                self._close(spread, event.ts, value)

    # -- exits ----------------------------------------------------------------------------------

    def _manage(self, snap: MarketSnapshot) -> None:
        for spread in list(self._spreads.values()):
            if spread.state is not SpreadState.OPEN or spread.expiry <= snap.session:
                continue  # opening, closing, or waiting for its settlement
            if spread.exit_rule:
                if self._ticks >= spread.retry_at_tick:
                    self._send_close(spread)
            else:
                self._check_exits(spread, snap)

    def _check_exits(self, spread: CallSpread, snap: MarketSnapshot) -> None:
        cfg = self._config
        rules = cfg.exits.rules
        cost = spread.cost_to_close(snap)
        if cost is not None:
            spread.last_cost = cost
        dte = (spread.expiry - snap.session).days
        rule: ExitRule | None = None
        rsi: float | None = None
        if cost is not None:
            if rules.applies(LAYER, "credit_stop") and cost >= cfg.exits.stop_multiple * (
                spread.credit
            ):
                rule = ExitRule.CREDIT_STOP
            elif rules.applies(LAYER, "profit_target") and cost <= (
                1.0 - self._config.press.profit_target
            ) * (spread.credit):
                rule = ExitRule.PROFIT_TARGET
        if rule is None and rules.applies(LAYER, "rsi"):
            value = self._state.rsi(snap)
            if value is not None and value < cfg.rsi.exit_below:
                rule, rsi = ExitRule.RSI, value
        if rule is None and rules.applies(LAYER, "unwind") and self._state.regime is Regime.CALM:
            rule = ExitRule.UNWIND
        if rule is None and rules.applies(LAYER, "dte") and dte <= self._config.press.close_at_dte:
            rule = ExitRule.DTE
        if rule is None:
            return
        self._publish(
            ExitTriggered(
                snap.ts,
                LAYER,
                spread.position_id,
                rule,
                cost_to_close=cost if cost is not None else math.nan,
                credit=spread.credit,
                dte=dte,
                rsi=rsi,
            )
        )
        spread.exit_rule = rule.value
        self._send_close(spread)

    def _send_close(self, spread: CallSpread) -> None:
        """Send the closing combo for a fired exit (the first time, or as a retry)."""
        spread.state = SpreadState.CLOSING
        spread.close_attempts += 1
        order = SubmitOrder(
            client_order_id=self._order_id(),
            layer=LAYER,
            legs=spread.closing_legs,
            quantity=spread.quantity,
            order_type=OrderType.MARKET,
            intent=OrderIntent.CLOSE,
            reason=spread.exit_rule,
        )
        spread.close_order = order.client_order_id
        self._by_order[order.client_order_id] = spread
        self._publish(order)

    def _flattened(self, fill: OrderFilled) -> None:
        """A flatten combo closed the layer's options of some expiries: every spread there."""
        prices = {leg.contract: leg.price for leg in fill.legs}
        expiries = {leg.contract.expiry for leg in fill.legs}
        for spread in list(self._spreads.values()):
            if spread.expiry not in expiries or spread.state is SpreadState.OPENING:
                continue
            price = spread.flatten_price(prices, fill.net_price)
            spread.exit_rule = fill.reason
            self._close(spread, fill.ts, price)

    def _close(self, spread: CallSpread, ts: datetime, price: float) -> None:
        spread.state = SpreadState.CLOSED
        del self._spreads[spread.position_id]
        self._by_order.pop(spread.close_order, None)
        self.stats.closed += 1
        self.stats.exits[spread.exit_rule] += 1
        self._publish(
            PositionClosed(ts, LAYER, spread.position_id, spread.exit_rule, spread.quantity, price)
        )

    # -- entries --------------------------------------------------------------------------------

    def _begin_episode(self) -> Episode:
        """The running episode's budget, fixed from the equity now if it has just begun."""
        number = self._state.stress_episode
        episode = self._episode
        if episode is not None and episode.number == number:
            return episode
        cfg = self._config.press
        episode = Episode.begin(number, self._equity, cfg.press_risk, cfg.press_max_spreads)
        self._episode = episode
        log.info(
            "press_sized",
            layer=LAYER,
            episode=number,
            equity=self._equity,
            press_risk=cfg.press_risk,
            budget=episode.budget,
            per_entry_budget=episode.per_entry,
            max_spreads=cfg.press_max_spreads,
        )
        return episode

    def _maybe_enter(self, snap: MarketSnapshot) -> None:
        state = self._state
        episode = self._begin_episode()
        if (
            episode.entries >= self._config.press.press_max_spreads
            or self._decided_session == state.session_index
            or state.press_hold
        ):
            return
        if any(s.state is not SpreadState.OPEN or s.exit_rule for s in self._spreads.values()):
            return  # an order of the layer is working, or an exit waits to be resent
        rsi = state.rsi(snap)
        if rsi is not None and rsi < self._config.rsi.exit_below:
            return  # volatility has already reverted: nothing left to press
        self._decided_session = state.session_index
        self._enter(snap, episode)

    def _enter(self, snap: MarketSnapshot, episode: Episode) -> None:
        plan = plan_entry(
            snap,
            self._config.press,
            self._spreads.values(),
            episode,
            self._buying_power,
            self._equity,
        )
        if isinstance(plan, EntrySkipped):
            log.info(
                "press_entry_skipped",
                layer=LAYER,
                reason=plan.reason,
                session=str(snap.session),
                episode=self._state.stress_episode,
                **plan.numbers,
            )
            return
        quote, quantity = plan
        spread = CallSpread(
            self._position_id(), quote.short, quote.long, quantity, episode.number, quote.natural
        )
        order = SubmitOrder(
            client_order_id=self._order_id(),
            layer=LAYER,
            legs=spread.legs,
            quantity=quantity,
            order_type=OrderType.MARKET,
            intent=OrderIntent.OPEN,
            reason="entry",
        )
        episode.entries += 1
        self._spreads[spread.position_id] = spread
        self._by_order[order.client_order_id] = spread
        self._publish(order)

    def _order_id(self) -> str:
        n = self._next_id
        self._next_id += 1
        return f"{LAYER}-{n:06d}"

    def _position_id(self) -> str:
        return f"PS-{self._next_id:06d}"

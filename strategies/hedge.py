"""Layer 2: the long-VIX hedge, the "second engine" (SPEC sections 7 and 9).

In ELEVATED and STRESS the layer holds long VIX exposure sized against the condor book's short
vega (:mod:`strategies.hedge_sizing`): VXM or VX futures, or VIX calls near ``call_delta``, in the
front VX expiry (the second once the front settles within ``roll_days``; a held front rolls then,
as one combo). It rebalances when the target moves by a whole contract, at most once per
``rebalance_interval`` sessions, and at once after a condor change or on engagement (sized once)
(:mod:`strategies.hedge_rebalance`): from flat it opens at ``round(target)`` when the unrounded
target (after the carry cap) is at least half a contract; held, it trades to ``round(target)``
only once the unrounded target is a whole contract or more away (calls compared on VX
equivalents, each lot at its own delta), and a target of 0 closes the hedge.

Exits, checked on every snapshot while a hedge is held: ``unwind`` (the regime is back to CALM),
``rsi`` (the provisional RSI below ``rsi.exit_below``; no rebuild until it is back above
``rsi.rebuild_above`` or the regime re-enters ELEVATED from CALM) and, for calls, ``take_profit``
(value at mid >= ``take_profit_multiple`` x cost). Each fires once; a rejected close is resent
with a backoff of 1, 2, 4 ... 64 snapshots.

Where the SPEC is silent, the layer decides as a desk would (for rebalancing: when the target is
recomputed, what blocks an addition, see :mod:`strategies.hedge_rebalance`):
- A roll rejected because trading is paused (an operator pause or a risk halt) is not resent as
  the same combo, which would meet the same answer until the front settled: its closing half goes
  out alone as a ``CLOSE`` order with reason ``roll`` (pauses never block closing orders, SPEC
  section 9). That close counts under ``stats.exits`` as ``roll``; the new leg waits for the next
  rebalance check, which opens it in the hedge expiry once trading takes openings again.
- Without ``unwind`` among the hedge's exit rules a hedge held into CALM is kept as it is (no
  rebalancing) until another rule closes it.
- Calls are held in lots per strike, reduced oldest first and rolled whole
  (:mod:`strategies.hedge_book`); take-profit compares the lots' mid value with what they cost.
- A reconfigured instrument (or a hedge adopted in another expiry) is closed with rule
  ``rebalance`` and rebuilt in the configured instrument at the next check.
- A close that takes the hedge to zero counts under ``stats.exits`` with its rule, ``rebalance``
  included, so ``closed`` is always the sum of ``exits``; any close also counts as a rebalance
  for the interval (calls that took profit are rebought at the next rebalance, not in minutes).
- Only a short-vega book is hedged (:func:`~strategies.hedge_sizing.vx_target`); an empty book
  sizes to zero without a ``hedge_below_minimum`` notice, which is kept for a book too small to
  hedge. Notices go out once a session (the carry cap also with every rebalance it shapes).
- Prices in ``PositionOpened.price``, ``PositionClosed.price`` and ``HedgeRolled.net_price`` are
  net points per contract of the hedge (negative a credit): a fill's ``net_price`` is per unit of
  its combo (the legs' ratios x their prices), so a ratio combo (a roll or a close across strikes)
  reports ``net_price x fill quantity / contracts`` (:func:`_per_contract`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import reduce
from typing import TYPE_CHECKING

import structlog

from brokers.events import (
    AccountMarked,
    ContractSettled,
    FlattenStarted,
    OrderFilled,
    OrderRejected,
    RejectReason,
)
from brokers.orders import OrderIntent, OrderLeg, OrderType, SubmitOrder
from market.instruments import OptionContract
from strategies.config import StrategyConfig
from strategies.events import (
    ExitRule,
    ExitTriggered,
    HedgeRolled,
    PositionClosed,
    PositionOpened,
    Regime,
    RegimeChanged,
)
from strategies.hedge_book import HedgeBook, Leg
from strategies.hedge_rebalance import LAYER, RECHECK_MINUTES, Rebalancer
from strategies.hedge_sizing import hedge_expiry
from strategies.state import MarketState

if TYPE_CHECKING:
    from brokers.greeks import LayerGreeks
    from brokers.portfolio import Position
    from market.snapshot import MarketSnapshot
    from strategies.reference_condor import ReferenceCondor

__all__ = ["LAYER", "RECHECK_MINUTES", "HedgeActor", "HedgeStats"]

log = structlog.get_logger("alvh.strategies.hedge")

_FLATTEN_REASONS = frozenset({ExitRule.FLATTEN.value, ExitRule.RISK_HALT.value})
_MAX_BACKOFF_EXPONENT = 6
"""A rejected close or roll is resent after 1, 2, 4 ... 64 snapshots."""


@dataclass(slots=True)
class HedgeStats:
    opened: int = 0
    closed: int = 0
    exits: Counter[str] = field(default_factory=Counter)
    rolls: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class _Working:
    """The one order of the layer in flight."""

    client_order_id: str
    kind: str
    """``open`` (adds, from zero or not), ``reduce`` (rebalance), ``exit`` or ``roll``."""
    previous_rebalance: int
    """Session of the last rebalance before this order (restored if it is rejected)."""


def _per_contract(fill: OrderFilled, contracts: int) -> float:
    """The fill's net points per contract: ``net_price`` is per unit of the combo, so a combo of
    ``fill.quantity`` units moving ``contracts`` contracts of the hedge reports ``net_price x
    quantity / contracts`` (a one-leg order at ratio 1 is already per contract)."""
    if contracts <= 0 or fill.quantity == contracts:
        return fill.net_price
    return fill.net_price * fill.quantity / contracts


class HedgeActor:
    """The layer-2 actor: handlers for snapshots, fills, rejects, settlements, regime and condor
    changes."""

    LAYER = LAYER

    def __init__(
        self,
        config: StrategyConfig,
        state: MarketState,
        publish: Callable[[object], None],
        starting_equity: float,
        condor_greeks: Callable[[MarketSnapshot], LayerGreeks],
        reference: Callable[[MarketSnapshot], ReferenceCondor | None] | None = None,
    ) -> None:
        self._config = config
        self._state = state
        self._publish = publish
        self._equity = starting_equity
        self._rebalancer = Rebalancer(config, state, publish, condor_greeks, reference)
        self._ticks = 0
        self._last_snap: MarketSnapshot | None = None
        self._book = HedgeBook()
        self._position_id = ""
        self._working: _Working | None = None
        self._next_id = 1
        self._exit_rule = ""
        """The exit that fired and waits for its close (empty: none)."""
        self._retry_at = 0
        """Snapshot count before which a rejected close or roll is not sent again."""
        self._attempts = 0
        self._rolling = False
        self._flattening = False
        self.stats = HedgeStats()

    # -- setup ----------------------------------------------------------------------------------

    def reconfigure(self, config: StrategyConfig) -> None:
        """Take new thresholds (a config reload); a changed hedge or condor section (the floor's
        reference) is re-sized at once."""
        if config.hedge != self._config.hedge or config.condor != self._config.condor:
            self._rebalancer.mark_dirty()  # the condor section moves the floor's reference
        self._config = config
        self._rebalancer.config = config

    def adopt(self, positions: Iterable[Position], client_ids: Iterable[str]) -> list[str]:
        """Take the layer's hedge back after ``--adopt``: long VX/VXM futures of one root and
        expiry, or long VIX calls of one expiry; order ids continue after the ledger's. Returns
        the symbols left alone (short, mixed or of another expiry than the first held)."""
        numbers = [int(c.rsplit("-", 1)[1]) for c in client_ids if c.startswith(f"{LAYER}-")]
        self._next_id = max(numbers, default=0) + 1
        unmapped = self._book.adopt(pos for pos in positions if pos.layer == LAYER)
        if self._book:
            self._position_id = f"VH-{self._next_id:06d}"
            # The condor layer's history starts over at an adopt: an adopted hedge opens the
            # floor's window, so a hedge held from the floor is not sold at the first check.
            self._rebalancer.condor_changed()
        return unmapped

    # -- queries --------------------------------------------------------------------------------

    def open_count(self) -> int:
        return 1 if self._book else 0

    def held(self) -> int:
        """Contracts held (calls of every strike count one each)."""
        return self._book.held()

    def vx_equivalents(self) -> float:
        """The hedge in VX equivalents at the last snapshot: VXM / 10, VX, calls x delta x 100 /
        1000 (a call without greeks there counts 0)."""
        return self._book.vx_equivalents(self._last_snap)

    # -- handlers -------------------------------------------------------------------------------

    def on_market_snapshot(self, snap: MarketSnapshot) -> None:
        self._ticks += 1
        self._last_snap = snap
        if self._working is not None or self._flattening:
            return
        if self._book:
            if self._exit_rule:
                if self._ticks >= self._retry_at:
                    self._send_exit()
                return
            if self._check_exits(snap):
                return
            if self._rolling:
                if self._ticks >= self._retry_at:
                    self._send_roll(snap)
                return
            if self._maybe_roll(snap):
                return
        if self._state.regime is Regime.CALM:
            return
        trade = self._rebalancer.check(snap, self._book)
        if trade is not None:
            self._send(trade.kind, trade.legs, trade.intent, trade.reason, trade.previous_rebalance)

    def on_account_marked(self, event: AccountMarked) -> None:
        self._equity = event.equity

    def on_regime_changed(self, event: RegimeChanged) -> None:
        """Engagement (CALM to ELEVATED or STRESS) re-sizes at once, unless the snapshot it came
        from was already sized in the new regime; CALM to ELEVATED also lifts the RSI exit's
        rebuild block (:meth:`~strategies.hedge_rebalance.Rebalancer.on_regime_changed`)."""
        self._rebalancer.on_regime_changed(event)

    def on_condor_changed(self, event: object) -> None:
        """A condor opened, closed or rolled: the book's vega changed, re-size at once."""
        self._rebalancer.condor_changed()

    def on_order_filled(self, fill: OrderFilled) -> None:
        working = self._working
        if working is None or fill.client_order_id != working.client_order_id:
            if fill.layer == LAYER and fill.reason in _FLATTEN_REASONS:
                self._flattened(fill)
            return
        self._working = None
        before = self.held()
        old = self._book.symbols()
        self._book.apply(fill.legs)
        if working.kind == "open":
            if before == 0 and self._book:
                self._position_id = f"VH-{working.client_order_id.rsplit('-', 1)[1]}"
                self.stats.opened += 1
                self._publish(
                    PositionOpened(
                        fill.ts,
                        LAYER,
                        self._position_id,
                        self._book.symbols(),
                        self.held(),
                        _per_contract(fill, self.held()),
                    )
                )
        elif working.kind == "roll":
            self._rolling = False
            self._attempts = 0
            self.stats.rolls[LAYER] += 1
            self._publish(
                HedgeRolled(
                    fill.ts,
                    ", ".join(old),
                    ", ".join(self._book.symbols()),
                    self.held(),
                    _per_contract(fill, self.held()),
                )
            )
        elif not self._book:
            rule = self._exit_rule if working.kind == "exit" else "rebalance"
            self._closed(fill.ts, rule, before, _per_contract(fill, before))

    def on_order_rejected(self, event: OrderRejected) -> None:
        working = self._working
        if working is None or event.client_order_id != working.client_order_id:
            return
        self._working = None
        if working.kind in ("open", "reduce"):
            self._rebalancer.rejected(working.kind, working.previous_rebalance, event.reason.value)
            return
        if (
            working.kind == "roll"
            and event.reason is RejectReason.TRADING_PAUSED
            and not self._flattening
        ):
            # The combo opens a leg, which a pause blocks until it lifts, maybe past the front's
            # settlement; the closing half is never blocked: send it alone (module docstring).
            log.warning("hedge_roll_paused", layer=LAYER, position_id=self._position_id)
            self._rolling = False
            self._attempts = 0
            self._exit_rule = "roll"
            self._send_exit()
            return
        # An exit or a roll stays decided; resend with a backoff so a persistent reject cannot
        # flood the broker.
        self._retry_at = self._ticks + 2 ** min(self._attempts - 1, _MAX_BACKOFF_EXPONENT)
        log.warning(
            "exit_retry_scheduled" if working.kind == "exit" else "hedge_roll_retry_scheduled",
            layer=LAYER,
            position_id=self._position_id,
            rule=self._exit_rule or "roll",
            attempts=self._attempts,
            reason=event.reason.value,
            in_snapshots=self._retry_at - self._ticks,
        )

    def on_flatten_started(self, event: FlattenStarted) -> None:
        """The broker closes every structure: the layer's own exits, rolls and rebalances stand
        down until the flatten's fills (or a settlement) take the hedge to zero."""
        if self._book:
            self._flattening = True

    def on_contract_settled(self, event: ContractSettled) -> None:
        """A hedge held into its expiry (it normally rolls before) settles at the VRO; the close
        is priced like a sale there (``-settlement_price``, a credit)."""
        if event.layer != LAYER or event.contract not in self._book:
            return
        before = self.held()
        self._book.settle(event.contract)
        if not self._book:
            self._closed(event.ts, "settlement", before, -event.settlement_price)

    # -- exits and rolls --------------------------------------------------------------------------

    def _check_exits(self, snap: MarketSnapshot) -> bool:
        """Fire the first exit rule that holds (unwind, rsi, take_profit); True when one fired."""
        rules = self._config.exits.rules
        rule: ExitRule | None = None
        rsi: float | None = None
        if self._state.regime is Regime.CALM and rules.applies(LAYER, ExitRule.UNWIND.value):
            rule = ExitRule.UNWIND
        elif rules.applies(LAYER, ExitRule.RSI.value):
            rsi = self._state.rsi(snap)
            if rsi is not None and rsi < self._config.rsi.exit_below:
                rule = ExitRule.RSI
        value: float | None = None
        cost = math.nan
        if (
            rule is None
            and isinstance(self._book.oldest, OptionContract)
            and rules.applies(LAYER, ExitRule.TAKE_PROFIT.value)
        ):
            value, cost = self._book.value(snap)
            if value is not None and value >= self._config.exits.take_profit_multiple * cost:
                rule = ExitRule.TAKE_PROFIT
        if rule is None:
            return False
        if value is None:
            value, cost = self._book.value(snap)
        self._publish(
            ExitTriggered(
                snap.ts,
                LAYER,
                self._position_id,
                rule,
                cost_to_close=value if value is not None else math.nan,
                credit=0.0,
                dte=self._book.days_to_expiry(snap.session),
                rsi=rsi,
                value=value,
                cost=cost,
            )
        )
        if rule is ExitRule.RSI:
            self._rebalancer.rsi_blocked = True
        self._rolling = False
        self._attempts = 0
        self._exit_rule = rule.value
        self._send_exit()
        return True

    def _send_exit(self) -> None:
        self._attempts += 1
        self._send("exit", self._book.close_legs(), OrderIntent.CLOSE, self._exit_rule)

    def _maybe_roll(self, snap: MarketSnapshot) -> bool:
        """Roll a hedge whose expiry settles within ``roll_days``; True when a roll is on."""
        expiry = self._book.oldest.expiry
        if (expiry - snap.session).days > self._config.hedge.roll_days:
            return False
        self._rolling = True
        self._send_roll(snap)
        return True

    def _send_roll(self, snap: MarketSnapshot) -> None:
        """One combo: sell the held contracts, buy as many in the hedge expiry
        (:meth:`~strategies.hedge_book.HedgeBook.roll_legs`)."""
        self._attempts += 1
        cfg = self._config.hedge
        expiry = hedge_expiry(snap.vix_expiries, snap.session, cfg.roll_days)
        legs = self._book.roll_legs(snap, expiry, cfg.call_delta)
        if legs is None:
            # Nothing to roll into on this snapshot: try again after the backoff.
            self._retry_at = self._ticks + 2 ** min(self._attempts - 1, _MAX_BACKOFF_EXPONENT)
            return
        self._send("roll", legs, OrderIntent.OPEN, "roll")

    # -- bookkeeping ----------------------------------------------------------------------------

    def _send(
        self,
        kind: str,
        legs: list[Leg],
        intent: OrderIntent,
        reason: str,
        previous_rebalance: int = 0,
    ) -> None:
        """Send one market combo of ``(contract, signed contracts)`` legs at their common
        quantity."""
        quantity = reduce(math.gcd, (abs(n) for _, n in legs))
        cid = f"{LAYER}-{self._next_id:06d}"
        self._next_id += 1
        self._working = _Working(cid, kind, previous_rebalance)
        self._publish(
            SubmitOrder(
                client_order_id=cid,
                layer=LAYER,
                legs=tuple(OrderLeg(c, n // quantity) for c, n in legs),
                quantity=quantity,
                order_type=OrderType.MARKET,
                intent=intent,
                reason=reason,
            )
        )

    def _flattened(self, fill: OrderFilled) -> None:
        before = self.held()
        self._book.apply(fill.legs)
        if before and not self._book:
            self._closed(fill.ts, fill.reason, before, _per_contract(fill, before))

    def _closed(self, ts: datetime, rule: str, quantity: int, price: float) -> None:
        """The hedge went to zero: count it and publish ``PositionClosed`` (``price``: net
        points per contract, negative a credit received)."""
        self._rebalancer.closed()
        if rule == "roll":
            self._rebalancer.mark_dirty()  # the roll's new leg, at the next check
        self.stats.closed += 1
        self.stats.exits[rule] += 1
        self._publish(PositionClosed(ts, LAYER, self._position_id, rule, quantity, price))
        self._exit_rule = ""
        self._rolling = self._flattening = False
        self._attempts = 0
        self._retry_at = 0
        if self._working is not None and self._working.kind in ("exit", "roll"):
            self._working = None

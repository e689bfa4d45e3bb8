"""Layer 2: the long-VIX hedge, the "second engine" (SPEC sections 7 and 9).

In ELEVATED and STRESS the layer holds long VIX exposure sized against the condor book's short
vega (:mod:`strategies.hedge_sizing`): VXM or VX futures, or VIX calls near ``call_delta``, in the
front VX expiry (the second once the front settles within ``roll_days``; a held front rolls then,
as one combo). It rebalances when the target moves by a whole contract, at most once per
``rebalance_interval`` sessions, and at once after a condor change or on engagement.

Exits, checked on every snapshot while a hedge is held: ``unwind`` (the regime is back to CALM),
``rsi`` (the provisional RSI below ``rsi.exit_below``; no rebuild until it is back above
``rsi.rebuild_above`` or the regime re-enters ELEVATED from CALM) and, for calls, ``take_profit``
(value at mid >= ``take_profit_multiple`` x cost). Each fires once; a rejected close is resent
with a backoff of 1, 2, 4 ... 64 snapshots.

Where the SPEC is silent, the layer decides as a desk would:
- The target is recomputed at most every :data:`RECHECK_MINUTES` of market time once a rebalance
  is due (and at the next snapshot after a condor change or an engagement), not on every tick.
- It opens or adds nothing while the headline hold runs, after an opening reject in the same
  session, or while the RSI is below ``exit_below`` (a hedge bought then would be unwound on the
  next tick); it may still reduce.
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
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import reduce
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
from market.instruments import Contract, OptionContract
from strategies.config import StrategyConfig
from strategies.events import (
    ExitRule,
    ExitTriggered,
    HedgeBelowMinimum,
    HedgeCarryCapped,
    HedgeRebalanced,
    HedgeRolled,
    PositionClosed,
    PositionOpened,
    Regime,
    RegimeChanged,
)
from strategies.hedge_book import HedgeBook, Leg
from strategies.hedge_sizing import (
    HedgeSize,
    InstrumentTerms,
    hedge_expiry,
    instrument_terms,
    size_hedge,
)
from strategies.state import MarketState

if TYPE_CHECKING:
    from brokers.greeks import LayerGreeks
    from brokers.portfolio import Position
    from market.snapshot import MarketSnapshot

LAYER = "hedge"
log = structlog.get_logger("alvh.strategies.hedge")

RECHECK_MINUTES = 15
"""Market minutes between two target computations while a rebalance is due: the target moves
with the market, but pricing the condor book (and a VIX chain) on every one-minute tick would cost
more than the hedge gains from reacting a few minutes sooner."""

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


@dataclass(frozen=True, slots=True)
class _Sizing:
    """A sizing with the inputs it was computed from (what ``HedgeRebalanced`` logs)."""

    terms: InstrumentTerms
    size: HedgeSize
    vega_dollars: float
    theta_income_per_day: float
    beta: float


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
    ) -> None:
        self._config = config
        self._state = state
        self._publish = publish
        self._equity = starting_equity
        self._condor_greeks = condor_greeks
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
        self._dirty = False
        """Recompute the target at the next check even inside the rebalance interval."""
        self._last_rebalance = -(10**9)
        self._next_check: datetime | None = None
        self._rsi_blocked = False
        self._no_open_session = -1
        self._below_minimum_session = -1
        self._capped_key: tuple[int, int, int] | None = None
        self.stats = HedgeStats()

    # -- setup ----------------------------------------------------------------------------------

    def reconfigure(self, config: StrategyConfig) -> None:
        """Take new thresholds (a config reload); a changed hedge section is re-sized at once."""
        if config.hedge != self._config.hedge:
            self._mark_dirty()
        self._config = config

    def adopt(self, positions: Iterable[Position], client_ids: Iterable[str]) -> list[str]:
        """Take the layer's hedge back after ``--adopt``: long VX/VXM futures of one root and
        expiry, or long VIX calls of one expiry; order ids continue after the ledger's. Returns
        the symbols left alone (short, mixed or of another expiry than the first held)."""
        numbers = [int(c.rsplit("-", 1)[1]) for c in client_ids if c.startswith(f"{LAYER}-")]
        self._next_id = max(numbers, default=0) + 1
        unmapped = self._book.adopt(pos for pos in positions if pos.layer == LAYER)
        if self._book:
            self._position_id = f"VH-{self._next_id:06d}"
            self._mark_dirty()
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
        self._maybe_rebalance(snap)

    def on_account_marked(self, event: AccountMarked) -> None:
        self._equity = event.equity

    def on_regime_changed(self, event: RegimeChanged) -> None:
        """Engagement (CALM to ELEVATED or STRESS) re-sizes at once; CALM to ELEVATED also lifts
        the RSI exit's rebuild block."""
        if event.previous is not Regime.CALM or event.current is Regime.CALM:
            return
        if event.current is Regime.ELEVATED and self._rsi_blocked:
            self._rsi_blocked = False
            log.info("hedge_rebuild_allowed", layer=LAYER, why="regime re-entered elevated")
        self._mark_dirty()

    def on_condor_changed(self, event: object) -> None:
        """A condor opened, closed or rolled: the book's vega changed, re-size at once."""
        self._mark_dirty()

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
                        fill.net_price,
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
                    fill.net_price,
                )
            )
        elif not self._book:
            rule = self._exit_rule if working.kind == "exit" else "rebalance"
            self._closed(fill.ts, rule, before, fill.net_price)

    def on_order_rejected(self, event: OrderRejected) -> None:
        working = self._working
        if working is None or event.client_order_id != working.client_order_id:
            return
        self._working = None
        if working.kind in ("open", "reduce"):
            # The rebalance did not happen; an add is not tried again this session (the same
            # order would meet the same answer), a reduction at the next check.
            self._last_rebalance = working.previous_rebalance
            if working.kind == "open":
                self._no_open_session = self._state.session_index
            log.info(
                "hedge_rebalance_rejected",
                layer=LAYER,
                kind=working.kind,
                reason=event.reason.value,
            )
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
            self._rsi_blocked = True
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

    # -- rebalancing ----------------------------------------------------------------------------

    def _maybe_rebalance(self, snap: MarketSnapshot) -> None:
        state = self._state
        if self._next_check is not None and snap.ts < self._next_check:
            return
        if (
            not self._dirty
            and state.session_index - self._last_rebalance < self._config.hedge.rebalance_interval
        ):
            return
        self._next_check = snap.ts + timedelta(minutes=RECHECK_MINUTES)
        may_open = self._may_open(snap)
        if not self._book and not may_open:
            return  # nothing to reduce; a pending re-size waits for the block to lift
        if may_open:
            self._dirty = False
        sizing = self._size(snap)
        if sizing is None:
            return
        terms, size = sizing.terms, sizing.size
        held = self.held()
        if self._book.holds_other_than(terms.contract):
            log.info(
                "hedge_instrument_changed",
                layer=LAYER,
                held=list(self._book.symbols()),
                target_contract=terms.contract.symbol,
                why="closed now, rebuilt in the configured instrument at the next check",
            )
            self._mark_dirty()
            self._rebalance_order(0, held, terms.contract)
            return
        target = size.target
        rebalance = target != held and (target < held or may_open)
        key = (self._state.session_index, size.rounded, target)
        if size.capped and (rebalance or self._capped_key != key):
            # Once a session while the cap binds, and with every rebalance it shapes.
            self._capped_key = key
            self._publish(
                HedgeCarryCapped(
                    snap.ts,
                    terms.contract.symbol,
                    size.rounded,
                    target,
                    terms.carry_per_contract,
                    size.max_carry,
                )
            )
        if not rebalance:
            return
        self._publish(
            HedgeRebalanced(
                snap.ts,
                self._config.hedge.instrument,
                terms.contract.symbol,
                vega_dollars=sizing.vega_dollars,
                beta=sizing.beta,
                iv_beta=self._config.hedge.iv_beta,
                carry=size.carry,
                h_eff=size.h_eff,
                n_vx=size.n_vx,
                target=target,
                held=held,
                carry_per_day=target * terms.carry_per_contract,
                theta_income_per_day=sizing.theta_income_per_day,
                option_delta=terms.option_delta,
            )
        )
        self._rebalance_order(target, held, terms.contract)

    def _rebalance_order(self, target: int, held: int, contract: Contract) -> None:
        """Buy ``target - held`` of ``contract``, or sell ``held - target``, oldest lots first."""
        previous = self._last_rebalance
        self._last_rebalance = self._state.session_index
        if target > held:
            reason = "rebalance" if held else "entry"
            self._send("open", [(contract, target - held)], OrderIntent.OPEN, reason, previous)
            return
        legs = self._book.reduce_legs(held - target)
        self._send("reduce", legs, OrderIntent.CLOSE, "rebalance", previous)

    def _size(self, snap: MarketSnapshot) -> _Sizing | None:
        """Size the hedge at ``snap``; publish the below-minimum notice (once a session)."""
        cfg = self._config.hedge
        expiry = hedge_expiry(snap.vix_expiries, snap.session, cfg.roll_days)
        if expiry is None:
            return None
        terms = instrument_terms(snap, cfg.instrument, expiry, cfg.call_delta)
        if terms is None:
            return None
        greeks = self._condor_greeks(snap)
        beta = self._state.hedge_beta(expiry)
        size = size_hedge(
            vega_dollars=greeks.vega_dollars,
            theta_income_per_day=greeks.theta_per_day,
            beta=beta,
            iv_beta=cfg.iv_beta,
            h=cfg.h,
            vrp_scale=cfg.vrp_scale,
            future=terms.future,
            vix=snap.vix,
            contracts_per_vx=terms.contracts_per_vx,
            carry_per_contract=terms.carry_per_contract,
            max_carry_fraction=cfg.max_carry_fraction,
        )
        session = self._state.session_index
        if size.below_minimum and self._below_minimum_session != session:
            self._below_minimum_session = session
            self._publish(
                HedgeBelowMinimum(
                    snap.ts, cfg.instrument, size.raw, greeks.vega_dollars, beta, size.h_eff
                )
            )
        return _Sizing(terms, size, greeks.vega_dollars, greeks.theta_per_day, beta)

    def _may_open(self, snap: MarketSnapshot) -> bool:
        """Whether the hedge may be opened or increased now (module docstring)."""
        state = self._state
        if state.hedge_hold or self._no_open_session == state.session_index:
            return False
        if not self._config.exits.rules.applies(LAYER, ExitRule.RSI.value):
            return True
        rsi = state.rsi(snap)
        if self._rsi_blocked:
            if rsi is None or rsi <= self._config.rsi.rebuild_above:
                return False
            self._rsi_blocked = False
            log.info("hedge_rebuild_allowed", layer=LAYER, why="rsi back above", rsi=rsi)
        return rsi is None or rsi >= self._config.rsi.exit_below

    # -- bookkeeping ----------------------------------------------------------------------------

    def _mark_dirty(self) -> None:
        self._dirty = True
        self._next_check = None

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
            self._closed(fill.ts, fill.reason, before, fill.net_price)

    def _closed(self, ts: datetime, rule: str, quantity: int, price: float) -> None:
        """The hedge went to zero: count it and publish ``PositionClosed`` (``price``: net
        points per unit, negative a credit received)."""
        # A close counts as a rebalance for the interval: calls that just took profit, or a
        # flattened hedge, are rebuilt at the next rebalance (or condor change), not in minutes.
        self._last_rebalance = self._state.session_index
        self.stats.closed += 1
        self.stats.exits[rule] += 1
        self._publish(PositionClosed(ts, LAYER, self._position_id, rule, quantity, price))
        self._exit_rule = ""
        self._rolling = self._flattening = False
        self._attempts = 0
        self._retry_at = 0
        if self._working is not None and self._working.kind in ("exit", "roll"):
            self._working = None

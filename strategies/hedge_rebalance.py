"""Layer 2's rebalancing: when the hedge's target is recomputed and what a recomputation trades
(SPEC section 7, "rebalances when the target moves by a whole contract, at most once per
``rebalance_interval``").

The target is sized by :mod:`strategies.hedge_sizing` from the condor book's vega and theta, or
from the floor's (below); the carry cap applies to it first. Then:

- From flat, the hedge opens when the unrounded target is at least half a contract, at
  ``round(target)`` (halves up); below half a contract nothing is bought (``hedge_below_minimum``).
- With a hedge held, it trades only when the unrounded target is a whole contract or more from
  what is held, and then to ``round(target)`` (:func:`~strategies.hedge_sizing.contracts_to_trade`).
  A target wobbling across x.5 therefore trades once, not at every check; a target of 0 (no
  condors and no floor, or a carry cap of 0) closes whatever is held.
- Calls are compared on VX equivalents: what is held counts ``book.vx_equivalents(snap)`` (each
  lot at its own delta), converted into contracts of the current target-delta strike
  (``1000 / (delta x 100)`` per VX equivalent). An addition buys that strike; a reduction sells
  the gap's VX equivalents from the oldest lots first, each lot's contracts counted at its own
  delta (:meth:`~strategies.hedge_book.HedgeBook.reduce_vx_legs`). ``HedgeRebalanced.held`` stays
  the contracts held and ``target`` the sized target in contracts of the target strike; the
  ``hedge_rebalance_vx`` log line gives the VX-equivalent numbers the decision was made on.
- The target is recomputed at most every :data:`RECHECK_MINUTES` of market time once a
  rebalance is due (at once after a condor change or an engagement), not on every tick.
- It opens or adds nothing while the headline hold runs, after an opening reject in the same
  session, or while the RSI is below ``exit_below``; it may still reduce.
- Engagement (CALM to ELEVATED or STRESS) sizes once: the daemon's bus delivers
  ``RegimeChanged`` after the snapshot's handlers, by when the actor has already sized in the new
  regime (read from the market state) at that snapshot; an event older than the last sizing
  (with opening allowed) is not a reason to size again. An event that lifts the RSI rebuild
  block, or that no sizing has followed yet, re-sizes at the next snapshot.

**The floor** (``hedge.floor_fraction``, ``hedge.floor_sessions``; not in the SPEC, which sizes
from the open condors alone). The base of the sizing is the open condors' dollar vega and theta,
or ``floor_fraction`` x the reference condor's (:mod:`strategies.reference_condor`: what the
condor layer would open next at its risk budget) when that is the shorter vega. The floor applies:

- up to ``floor_sessions`` sessions after the condor layer last held a condor at a sizing or had
  one opened, rolled or closed (an adopted hedge counts as such an event: the window runs from the
  adopt); so it covers a stop in the run-up to a spike, the re-entry cooldown and the gap between
  monthly cycles, not months in which no condor could open, and a run that never held a condor
  gets none;
- and, past that window, while a hedge is held and the regime is STRESS: a calendar rule does not
  sell protection in the middle of a confirmed spike; the RSI exit or the unwind in CALM end it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from brokers.greeks import LayerGreeks
from brokers.orders import OrderIntent
from strategies.config import StrategyConfig
from strategies.events import (
    ExitRule,
    HedgeBelowMinimum,
    HedgeCarryCapped,
    HedgeRebalanced,
    Regime,
    RegimeChanged,
)
from strategies.hedge_book import HedgeBook, Leg
from strategies.hedge_sizing import (
    HedgeSize,
    InstrumentTerms,
    contracts_to_trade,
    hedge_expiry,
    instrument_terms,
    size_hedge,
)
from strategies.state import MarketState

if TYPE_CHECKING:
    from market.snapshot import MarketSnapshot
    from strategies.reference_condor import ReferenceCondor

LAYER = "hedge"
log = structlog.get_logger("alvh.strategies.hedge")

RECHECK_MINUTES = 15
"""Market minutes between two target computations while a rebalance is due: the target moves
with the market, but pricing the condor book (and a VIX chain) on every one-minute tick would cost
more than the hedge gains from reacting a few minutes sooner."""


@dataclass(frozen=True, slots=True)
class Sizing:
    """A sizing with the inputs it was computed from (what ``HedgeRebalanced`` logs)."""

    terms: InstrumentTerms
    size: HedgeSize
    vega_dollars: float
    theta_income_per_day: float
    beta: float
    base: str = "book"
    """``book`` (the open condors) or ``floor`` (the reference condor x ``floor_fraction``)."""
    book_vega_dollars: float = 0.0
    """The open condors' dollar vega (what ``vega_dollars`` is when the base is ``book``)."""


@dataclass(frozen=True, slots=True)
class Trade:
    """One rebalancing order for the actor to send."""

    kind: str
    """``open`` (adds, from zero or not) or ``reduce``."""
    legs: list[Leg]
    intent: OrderIntent
    reason: str
    previous_rebalance: int
    """Session of the last rebalance before this one (restored if the order is rejected)."""


class Rebalancer:
    """Decides when the hedge is re-sized and what the new size trades; publishes the sizing
    events (``HedgeRebalanced``, ``HedgeCarryCapped``, ``HedgeBelowMinimum``)."""

    def __init__(
        self,
        config: StrategyConfig,
        state: MarketState,
        publish: Callable[[object], None],
        condor_greeks: Callable[[MarketSnapshot], LayerGreeks],
        reference: Callable[[MarketSnapshot], ReferenceCondor | None] | None = None,
    ) -> None:
        self.config = config
        self._state = state
        self._publish = publish
        self._condor_greeks = condor_greeks
        self._reference = reference
        """The condor layer's reference condor (the floor's base); None: no floor."""
        self._condor_session = -(10**9)
        """Last session the condor layer held a condor or had one opened, rolled or closed."""
        self._dirty = False
        """Recompute the target at the next check even inside the rebalance interval."""
        self.last_rebalance = -(10**9)
        """Session of the last rebalance (or close of the hedge)."""
        self._next_check: datetime | None = None
        self.rsi_blocked = False
        """An RSI exit fired: no rebuild until the RSI is back above ``rebuild_above`` or the
        regime re-enters ELEVATED from CALM."""
        self._no_open_session = -1
        self._below_minimum_session = -1
        self._capped_key: tuple[int, int, int] | None = None
        self._sized_at: datetime | None = None
        """Timestamp of the last snapshot sized with opening allowed."""

    # -- triggers -------------------------------------------------------------------------------

    def mark_dirty(self) -> None:
        self._dirty = True
        self._next_check = None

    def condor_changed(self) -> None:
        """A condor opened, rolled or closed: re-size at once; the floor's window restarts."""
        self._condor_session = self._state.session_index
        self.mark_dirty()

    def on_regime_changed(self, event: RegimeChanged) -> None:
        """Engagement (CALM to ELEVATED or STRESS) re-sizes at once unless this snapshot was
        already sized (module docstring); CALM to ELEVATED also lifts the RSI rebuild block."""
        if event.previous is not Regime.CALM or event.current is Regime.CALM:
            return
        if event.current is Regime.ELEVATED and self.rsi_blocked:
            self.rsi_blocked = False
            log.info("hedge_rebuild_allowed", layer=LAYER, why="regime re-entered elevated")
        elif self._sized_at is not None and self._sized_at >= event.ts:
            return  # sized in the new regime at (or since) the snapshot the event came from
        self.mark_dirty()

    def rejected(self, kind: str, previous_rebalance: int, reason: str) -> None:
        """A rebalancing order was rejected: the rebalance did not happen; an add is not tried
        again this session (the same order would meet the same answer), a reduction at the next
        check."""
        self.last_rebalance = previous_rebalance
        if kind == "open":
            self._no_open_session = self._state.session_index
        log.info("hedge_rebalance_rejected", layer=LAYER, kind=kind, reason=reason)

    def closed(self) -> None:
        """The hedge went to zero: that counts as a rebalance for the interval (calls that took
        profit, or a flattened hedge, are rebuilt at the next rebalance, not in minutes)."""
        self.last_rebalance = self._state.session_index

    # -- the check ------------------------------------------------------------------------------

    def check(self, snap: MarketSnapshot, book: HedgeBook) -> Trade | None:
        """Size the hedge at ``snap`` if a rebalance is due; the order to send, if any."""
        state = self._state
        if self._next_check is not None and snap.ts < self._next_check:
            return None
        if (
            not self._dirty
            and state.session_index - self.last_rebalance < self.config.hedge.rebalance_interval
        ):
            return None
        self._next_check = snap.ts + timedelta(minutes=RECHECK_MINUTES)
        may_open = self.may_open(snap)
        if not book and not may_open:
            return None  # nothing to reduce; a pending re-size waits for the block to lift
        if may_open:
            self._dirty = False
        sizing = self._size(snap, held=bool(book))
        if sizing is None:
            return None
        if may_open:
            self._sized_at = snap.ts
        terms, size = sizing.terms, sizing.size
        if book.holds_other_than(terms.contract):
            log.info(
                "hedge_instrument_changed",
                layer=LAYER,
                held=list(book.symbols()),
                target_contract=terms.contract.symbol,
                why="closed now, rebuilt in the configured instrument at the next check",
            )
            self.mark_dirty()
            return self._trade("reduce", book.close_legs())
        calls = terms.option_delta is not None
        held_vx = book.vx_equivalents(snap)
        held_units = held_vx * terms.contracts_per_vx if calls else float(book.held())
        trade = contracts_to_trade(size.wanted, held_units, flat=not book)
        legs: list[Leg] = []
        if book and size.wanted == 0.0:
            legs = book.close_legs()
        elif trade > 0 and may_open:
            legs = [(terms.contract, trade)]
        elif trade < 0:
            vx = -trade / terms.contracts_per_vx
            legs = book.reduce_vx_legs(snap, vx) if calls else book.reduce_legs(-trade)
        self._carry_notice(snap, sizing, bool(legs))
        if not legs:
            return None
        self._publish(
            HedgeRebalanced(
                snap.ts,
                self.config.hedge.instrument,
                terms.contract.symbol,
                vega_dollars=sizing.vega_dollars,
                beta=sizing.beta,
                iv_beta=self.config.hedge.iv_beta,
                carry=size.carry,
                h_eff=size.h_eff,
                n_vx=size.n_vx,
                target=size.target,
                held=book.held(),
                carry_per_day=size.target * terms.carry_per_contract,
                theta_income_per_day=sizing.theta_income_per_day,
                option_delta=terms.option_delta,
                base=sizing.base,
                book_vega_dollars=sizing.book_vega_dollars,
            )
        )
        log.info(
            "hedge_rebalance_vx",
            layer=LAYER,
            contract=terms.contract.symbol,
            held_contracts=book.held(),
            held_vx=held_vx,
            target_vx=size.wanted / terms.contracts_per_vx,
            held_target_contracts=held_units,
            target_contracts=size.wanted,
            trade_contracts=sum(n for _, n in legs),
        )
        if legs[0][1] > 0:
            return self._trade("open", legs, "rebalance" if book else "entry")
        return self._trade("reduce", legs)

    def may_open(self, snap: MarketSnapshot) -> bool:
        """Whether the hedge may be opened or increased now (module docstring)."""
        state = self._state
        if state.hedge_hold or self._no_open_session == state.session_index:
            return False
        if not self.config.exits.rules.applies(LAYER, ExitRule.RSI.value):
            return True
        rsi = state.rsi(snap)
        if self.rsi_blocked:
            if rsi is None or rsi <= self.config.rsi.rebuild_above:
                return False
            self.rsi_blocked = False
            log.info("hedge_rebuild_allowed", layer=LAYER, why="rsi back above", rsi=rsi)
        return rsi is None or rsi >= self.config.rsi.exit_below

    # -- internals ------------------------------------------------------------------------------

    def _trade(self, kind: str, legs: list[Leg], reason: str = "rebalance") -> Trade:
        previous = self.last_rebalance
        self.last_rebalance = self._state.session_index
        intent = OrderIntent.OPEN if kind == "open" else OrderIntent.CLOSE
        return Trade(kind, legs, intent, reason, previous)

    def _carry_notice(self, snap: MarketSnapshot, sizing: Sizing, rebalance: bool) -> None:
        """``HedgeCarryCapped`` once a session while the cap binds, and with every rebalance it
        shapes."""
        size = sizing.size
        key = (self._state.session_index, size.rounded, size.target)
        if not size.capped or (not rebalance and self._capped_key == key):
            return
        self._capped_key = key
        self._publish(
            HedgeCarryCapped(
                snap.ts,
                sizing.terms.contract.symbol,
                size.rounded,
                size.target,
                sizing.terms.carry_per_contract,
                size.max_carry,
            )
        )

    def _size(self, snap: MarketSnapshot, held: bool = False) -> Sizing | None:
        """Size the hedge at ``snap``; publish the below-minimum notice (once a session)."""
        cfg = self.config.hedge
        expiry = hedge_expiry(snap.vix_expiries, snap.session, cfg.roll_days)
        if expiry is None:
            return None
        terms = instrument_terms(snap, cfg.instrument, expiry, cfg.call_delta)
        if terms is None:
            return None
        book = self._condor_greeks(snap)
        greeks, base = self._base(snap, book, held)
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
        return Sizing(
            terms, size, greeks.vega_dollars, greeks.theta_per_day, beta, base, book.vega_dollars
        )

    def _base(self, snap: MarketSnapshot, book: LayerGreeks, held: bool) -> tuple[LayerGreeks, str]:
        """The greeks the hedge is sized from: the open condors' (``book``), or
        ``floor_fraction`` x the reference condor's vega and theta (``floor``) when that is the
        shorter vega and the floor applies (module docstring: within ``floor_sessions`` sessions
        of the condor layer's last condor, or with a hedge ``held`` in STRESS)."""
        cfg = self.config.hedge
        session = self._state.session_index
        if book.vega_dollars < 0.0:
            self._condor_session = session
        fraction = cfg.floor_fraction
        in_window = session - self._condor_session <= cfg.floor_sessions
        holding_in_stress = held and self._state.regime is Regime.STRESS
        if fraction <= 0.0 or self._reference is None or not (in_window or holding_in_stress):
            return book, "book"
        reference = self._reference(snap)
        if reference is None:
            return book, "book"
        floor = LayerGreeks(
            vega_dollars=fraction * reference.greeks.vega_dollars,
            theta_per_day=fraction * reference.greeks.theta_per_day,
        )
        if floor.vega_dollars < book.vega_dollars:
            return floor, "floor"
        return book, "book"

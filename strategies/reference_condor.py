"""The reference condor: what layer 1 would hold for its risk budget, priced at one snapshot.

Layer 2 hedges the condor book's vega (SPEC section 7). When the book is flat or small as the VIX
rises — typically because the condors were stopped in the run-up, or the layer sits in its
re-entry cooldown or between two monthly cycles — a hedge sized from the open condors alone is
nothing. ``hedge.floor_fraction`` then sizes the hedge from a fraction of this reference instead
(:mod:`strategies.hedge_rebalance`): the condor the layer opens next, built by the layer's own
rules so the floor moves with the market, with equity and with the condor config:

- the expiry is the first listed SPX monthly at least ``min_dte`` days out (the one the layer
  enters next; with no monthly inside ``min_dte``..``max_dte`` the next one beyond);
- shorts at ``short_delta`` (``post_fomc_delta`` just after an FOMC day, as the layer's entries),
  wings ``wing_width_pct`` beyond, break-evens outside ``be_move_mult``
  x the expected move (:func:`~strategies.condor_legs.pick_condor`);
- as many contracts as keep the max loss at the natural price within ``risk_per_condor`` of
  equity (as :func:`~strategies.condor_legs.plan_entry`, without the buying-power limit: the
  reference is a budget, not an order).

No order is sent for it and nothing is logged here: the hedge's ``hedge_rebalanced`` event
carries the reference's vega and theta when it sized from them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from brokers.greeks import LayerGreeks
from strategies.condor_legs import dollar_greeks, pick_condor
from strategies.config import CondorConfig

if TYPE_CHECKING:
    from market.snapshot import MarketSnapshot


@dataclass(frozen=True, slots=True)
class ReferenceCondor:
    """The reference condor at one snapshot: its expiry, size and dollar greeks."""

    expiry: date
    quantity: int
    greeks: LayerGreeks


def reference_expiry(
    expiries: tuple[date, ...] | list[date], session: date, min_dte: int
) -> date | None:
    """The first expiry at least ``min_dte`` calendar days after ``session``; None if none is."""
    return next((e for e in expiries if (e - session).days >= min_dte), None)


def reference_condor(
    snap: MarketSnapshot, cfg: CondorConfig, equity: float, short_delta: float | None = None
) -> ReferenceCondor | None:
    """The reference condor at ``snap`` (module docstring), shorts at ``short_delta`` (default
    ``cfg.short_delta``; the layer passes its target delta of the moment); None when no monthly is
    far enough out, the chain gives no such condor, or the budget buys less than one contract."""
    expiry = reference_expiry(snap.spx_expiries, snap.session, cfg.min_dte)
    if expiry is None or not equity > 0.0:
        return None
    delta = cfg.short_delta if short_delta is None else short_delta
    pick = pick_condor(snap, expiry, delta, cfg.wing_width_pct, cfg.be_move_mult)
    if isinstance(pick, str) or not pick.max_loss > 0.0:
        return None
    quantity = math.floor(cfg.risk_per_condor * equity / pick.max_loss)
    if quantity < 1:
        return None
    return ReferenceCondor(expiry, quantity, dollar_greeks(snap, pick.legs, quantity))

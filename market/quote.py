"""Quotes and the price grids they sit on (SPEC section 4).

Option quote rules: the bid is rounded down and the ask up to the tick grid (0.05 below 3.00, 0.10
from 3.00, decided by each side's own price), the bid is at least 0 and the ask at least a tick
above the bid. So ``bid <= theo <= ask``, and since the theos satisfy put-call parity exactly,
quotes never break the parity bounds. VX / VXM futures are quoted around the curve price on the
0.05 grid. Quote sizes come from the deterministic :class:`~market.surface.SizeModel` conventions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from market.instruments import FUTURE_TICK, FutureRoot
from market.surface import VX_SIZES, VXM_SIZES, VixSpreadModel

FloatArray = NDArray[np.float64]

_EPS = 1e-9
"""Slack (in ticks) when rounding to the grid, so 0.15 / 0.05 = 2.9999999999999996 still counts
as 3 ticks."""


@dataclass(frozen=True, slots=True)
class Quote:
    """Bid and ask of one contract, in index points per unit, and the size shown on each side."""

    bid: float
    ask: float
    bid_size: int = 0
    """Contracts shown at the bid; 0 means unknown (no cap)."""
    ask_size: int = 0
    """Contracts shown at the ask; 0 means unknown (no cap)."""

    @property
    def mid(self) -> float:
        return 0.5 * (self.bid + self.ask)

    @property
    def half_spread(self) -> float:
        return 0.5 * (self.ask - self.bid)


# -- option quotes, scalar and vectorized (both must follow the same rules) ---------------------


def option_quote_on_grid(theo: float, half: float, size: int) -> Quote:
    """The option quote ``theo -+ half`` rounded out to the tick grid, ``size`` on each side."""
    lo = theo - half
    hi = theo + half
    # Work in whole cents so n / 100 is the double nearest the decimal price.
    bid_cents = math.floor(lo * 10.0 + _EPS) * 10 if lo >= 3.0 else math.floor(lo * 20.0 + _EPS) * 5
    bid_cents = max(bid_cents, 0)
    ask_cents = math.ceil(hi * 10.0 - _EPS) * 10 if hi > 3.0 else math.ceil(hi * 20.0 - _EPS) * 5
    min_ask = bid_cents + (10 if bid_cents >= 300 else 5)
    return Quote(bid_cents / 100.0, max(ask_cents, min_ask) / 100.0, size, size)


def option_quotes_on_grid(theo: FloatArray, half: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Vectorized :func:`option_quote_on_grid`: (bid, ask) arrays."""
    lo = theo - half
    hi = theo + half
    bid_cents = np.where(lo >= 3.0, np.floor(lo * 10.0 + _EPS) * 10, np.floor(lo * 20.0 + _EPS) * 5)
    bid_cents = np.maximum(bid_cents, 0.0)
    ask_cents = np.where(hi > 3.0, np.ceil(hi * 10.0 - _EPS) * 10, np.ceil(hi * 20.0 - _EPS) * 5)
    min_ask = bid_cents + np.where(bid_cents >= 300.0, 10.0, 5.0)
    return bid_cents / 100.0, np.maximum(ask_cents, min_ask) / 100.0


# -- futures ------------------------------------------------------------------------------------


def future_quote(
    root: FutureRoot, price: float, month: int, spreads: VixSpreadModel, vix: float
) -> Quote:
    """The quote of a VX / VXM future at curve ``price``, ``month`` on the curve (0 = front).

    It straddles the curve price with the model's width in whole ticks; VXM is VX widened on both
    sides, so both have the same mid.
    """
    width = spreads.future_width_ticks(month, vix)
    lowest = math.floor(price / FUTURE_TICK - 0.5 * width + 0.5)  # <= price / tick
    if root is FutureRoot.VXM:
        extra, sizes = spreads.mini_extra_ticks, VXM_SIZES
    else:
        extra, sizes = 0, VX_SIZES
    cents = round(FUTURE_TICK * 100.0)
    bid_cents = max(lowest - extra, 0) * cents
    ask_cents = (lowest + width + extra) * cents
    size = sizes.size(float(month), vix)
    return Quote(bid_cents / 100.0, ask_cents / 100.0, size, size)

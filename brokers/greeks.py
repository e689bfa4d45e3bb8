"""Dollar greeks of positions, per layer and for the book.

Per-unit greeks come from the market (``market.pricing`` units); here they are scaled by quantity
and multiplier into the dollars a trader reads, and kept per underlying where they do not add up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, SupportsFloat

from market.instruments import FutureContract, OptionContract, Root

if TYPE_CHECKING:
    from .portfolio import Position


class GreeksLike(Protocol):
    """Per-unit greeks in ``market.pricing`` units (floats or 0-d arrays)."""

    @property
    def delta(self) -> SupportsFloat: ...

    @property
    def gamma(self) -> SupportsFloat: ...

    @property
    def vega(self) -> SupportsFloat: ...

    @property
    def theta(self) -> SupportsFloat: ...


class GreeksSource(Protocol):
    def option_greeks(self, contract: OptionContract) -> GreeksLike | None: ...


@dataclass(frozen=True, slots=True)
class LayerGreeks:
    """Greeks of a set of positions, in dollars, read the way a trader reads them.

    - ``spx_delta``: SPX deltas, sum(qty x delta x 100) over SPX options = dollars per SPX point
      (a condor contract at net delta -0.10 shows -10).
    - ``spx_gamma``: change of ``spx_delta`` per SPX point, sum(qty x gamma x 100).
    - ``vix_delta``: dollars per point of the VIX futures: sum(qty x delta x 100) over VIX options
      (delta against the same-expiry future) plus qty x 1000 per VX and qty x 100 per VXM future;
      divide by 1000 for VX equivalents.
    - ``vix_gamma``: change of ``vix_delta`` per futures point (VIX options only).
    - ``vega_dollars``: dollars per vol point of implied volatility, sum(qty x vega x 100) over
      all options (SPX vol and VIX-option vol added as they come).
    - ``theta_per_day``: dollars per calendar day, sum(qty x theta x 100) over all options.

    Futures have delta 1 and no gamma, vega or theta. Gamma is kept per underlying: SPX and VIX
    gammas do not add up to anything.
    """

    spx_delta: float = 0.0
    spx_gamma: float = 0.0
    vix_delta: float = 0.0
    vix_gamma: float = 0.0
    vega_dollars: float = 0.0
    theta_per_day: float = 0.0

    def __add__(self, other: LayerGreeks) -> LayerGreeks:
        return LayerGreeks(
            self.spx_delta + other.spx_delta,
            self.spx_gamma + other.spx_gamma,
            self.vix_delta + other.vix_delta,
            self.vix_gamma + other.vix_gamma,
            self.vega_dollars + other.vega_dollars,
            self.theta_per_day + other.theta_per_day,
        )


@dataclass(frozen=True, slots=True)
class BookGreeks:
    """Greeks per layer and for the whole book at one snapshot (units in :class:`LayerGreeks`).

    ``unpriced`` lists the symbols held without greeks at that snapshot (left out of the sums).
    """

    book: LayerGreeks = LayerGreeks()
    layers: Mapping[str, LayerGreeks] = field(default_factory=dict)
    unpriced: tuple[str, ...] = ()


def position_greeks(position: Position, source: GreeksSource) -> LayerGreeks | None:
    """Dollar greeks of one position; None when an option has no greeks at ``source``."""
    contract = position.contract
    size = position.quantity * contract.multiplier
    if isinstance(contract, FutureContract):
        return LayerGreeks(vix_delta=float(size))
    g = source.option_greeks(contract)
    if g is None:
        return None
    delta, gamma = float(g.delta) * size, float(g.gamma) * size
    vega, theta = float(g.vega) * size, float(g.theta) * size
    if contract.root is Root.SPX:
        return LayerGreeks(delta, gamma, 0.0, 0.0, vega, theta)
    return LayerGreeks(0.0, 0.0, delta, gamma, vega, theta)


def book_greeks(positions: Iterable[Position], source: GreeksSource) -> BookGreeks:
    """Sum :func:`position_greeks` per layer and over the book."""
    layers: dict[str, LayerGreeks] = {}
    unpriced: list[str] = []
    for pos in positions:
        greeks = position_greeks(pos, source)
        if greeks is None:
            unpriced.append(pos.contract.symbol)
            continue
        layers[pos.layer] = layers.get(pos.layer, LayerGreeks()) + greeks
    book = sum(layers.values(), LayerGreeks())
    return BookGreeks(book, dict(sorted(layers.items())), tuple(unpriced))

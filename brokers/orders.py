"""Commands the strategies and the operator send to the broker (imperative names, SPEC section 10).

An order is a combo of legs; a single option or a single future is a combo of one. Options and
futures never share an order. A roll is one combo: the legs that close one expiry and the legs that
open the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from market.instruments import Contract, FutureContract


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class OrderIntent(StrEnum):
    OPEN = "open"
    CLOSE = "close"


class TimeInForce(StrEnum):
    """How long an accepted order that did not fill at once rests.

    ``DAY`` orders are cancelled (reason ``day_expired``) at the first snapshot of a later session;
    ``GTC`` orders rest until they fill, are cancelled, or their contracts expire.
    """

    DAY = "day"
    GTC = "gtc"


@dataclass(frozen=True, slots=True)
class OrderLeg:
    """One leg of a combo; ``ratio`` is signed per combo unit: +1 buys one, -1 sells one.

    ``contract`` is an option (SPX or VIX) or a VX/VXM future.
    """

    contract: Contract
    ratio: int


@dataclass(frozen=True, slots=True)
class SubmitOrder:
    """Buy or sell ``quantity`` units of a combo (a single leg is a combo of one).

    ``limit_price`` is the net price per unit in index points: positive is a debit paid, negative a
    credit received. A limit order fills only when its net fill price is ``<= limit_price``.
    Resubmitting the same ``client_order_id`` with identical content is ignored (idempotent);
    reusing it for a different order is rejected.
    """

    client_order_id: str
    layer: str
    legs: tuple[OrderLeg, ...]
    quantity: int
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    intent: OrderIntent = OrderIntent.OPEN
    reason: str = ""
    time_in_force: TimeInForce = TimeInForce.DAY

    @property
    def contracts(self) -> int:
        """Number of contracts across all legs (what fees are charged on)."""
        return sum(abs(leg.ratio) for leg in self.legs) * self.quantity

    @property
    def is_futures(self) -> bool:
        """True when every leg is a future (a futures order; mixed orders are invalid)."""
        return bool(self.legs) and all(
            isinstance(leg.contract, FutureContract) for leg in self.legs
        )


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Cancel a resting order by the id the strategy gave it."""

    client_order_id: str


@dataclass(frozen=True, slots=True)
class PauseTrading:
    """Stop accepting opening orders; closing orders (and flatten) still pass."""

    reason: str


@dataclass(frozen=True, slots=True)
class ResumeTrading:
    """Accept opening orders again after :class:`PauseTrading`."""

    reason: str


@dataclass(frozen=True, slots=True)
class Flatten:
    """Cancel every resting order, then close every structure at market, one combo each.

    Flatten does not pause: send :class:`PauseTrading` first to keep the layers from reopening.
    """

    reason: str

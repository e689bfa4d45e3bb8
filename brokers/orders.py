"""Order commands the strategies send to the broker (imperative names, SPEC section 10)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from market.instruments import OptionContract


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class OrderIntent(StrEnum):
    OPEN = "open"
    CLOSE = "close"


@dataclass(frozen=True, slots=True)
class OrderLeg:
    """One leg of a combo; ``ratio`` is signed per combo unit: +1 buys one, -1 sells one."""

    contract: OptionContract
    ratio: int


@dataclass(frozen=True, slots=True)
class SubmitOrder:
    """Buy or sell ``quantity`` units of a combo (a single leg is a combo of one).

    ``limit_price`` is the net price per unit in index points: positive is a debit paid, negative a
    credit received. A limit order fills only when its net fill price is ``<= limit_price``.
    """

    client_order_id: str
    layer: str
    legs: tuple[OrderLeg, ...]
    quantity: int
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    intent: OrderIntent = OrderIntent.OPEN
    reason: str = ""

    @property
    def contracts(self) -> int:
        """Number of option contracts across all legs (what fees are charged on)."""
        return sum(abs(leg.ratio) for leg in self.legs) * self.quantity


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Cancel a resting order by the id the strategy gave it."""

    client_order_id: str

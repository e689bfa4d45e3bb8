"""Events the broker publishes (past tense, SPEC section 10). Each carries its market time first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from market.instruments import OptionContract

from .orders import OrderIntent


class RejectReason(StrEnum):
    INVALID_ORDER = "invalid_order"
    DUPLICATE_CLIENT_ORDER_ID = "duplicate_client_order_id"
    NO_QUOTE = "no_quote"
    CROSSED_QUOTE = "crossed_quote"
    NAKED_SHORT = "naked_short"
    INSUFFICIENT_BUYING_POWER = "insufficient_buying_power"
    NO_POSITION = "no_position"
    """A closing order would close more than the layer holds, or would add to the position."""


@dataclass(frozen=True, slots=True)
class OrderAccepted:
    ts: datetime
    order_id: str
    client_order_id: str
    layer: str


@dataclass(frozen=True, slots=True)
class OrderRejected:
    ts: datetime
    client_order_id: str
    layer: str
    reason: RejectReason
    message: str


@dataclass(frozen=True, slots=True)
class LegFill:
    """One leg of a fill: ``quantity`` is signed (ratio x order quantity); price in points."""

    contract: OptionContract
    quantity: int
    price: float


@dataclass(frozen=True, slots=True)
class OrderFilled:
    """A combo filled in full. ``net_price`` is per unit in points (positive = debit paid);
    it equals the sum of ratio x leg price exactly. ``fees`` are dollars."""

    ts: datetime
    fill_id: str
    order_id: str
    client_order_id: str
    layer: str
    intent: OrderIntent
    reason: str
    quantity: int
    net_price: float
    legs: tuple[LegFill, ...]
    fees: float

    @property
    def cash_change(self) -> float:
        """Dollars into (+) or out of (-) cash: -sum(leg qty x leg price x 100) - fees."""
        return premium_cash(self.legs) - self.fees


@dataclass(frozen=True, slots=True)
class OrderCancelled:
    ts: datetime
    order_id: str
    client_order_id: str
    layer: str
    reason: str


@dataclass(frozen=True, slots=True)
class ContractSettled:
    """A position cash-settled at expiry for exactly its intrinsic value at ``settlement_price``.

    ``cash`` is dollars (intrinsic x 100 x signed quantity). ``proxy`` is true when the official
    print (SOQ) was missing and the index level of the snapshot stood in for it.
    """

    ts: datetime
    layer: str
    contract: OptionContract
    quantity: int
    settlement_price: float
    cash: float
    proxy: bool = False


@dataclass(frozen=True, slots=True)
class AccountMarked:
    """Account state in dollars, options marked at mid; realized P&L is net of fees."""

    ts: datetime
    equity: float
    cash: float
    realized_pnl: float
    unrealized_pnl: float
    fees: float
    buying_power: float
    """Cash minus the margin requirement of every open structure, dollars."""


PRICE_SCALE = 10_000
"""Fill prices carry 4 decimals; premium arithmetic runs on integers of 1/10,000 point."""


def price_units(price: float) -> int:
    """A 4-decimal price as an integer count of 1/10,000 point."""
    return round(price * PRICE_SCALE)


def premium_cash(legs: tuple[LegFill, ...]) -> float:
    """Premium dollars of a fill's legs into cash: -sum(qty x price x 100), exact to the cent."""
    units = sum(leg.quantity * leg.contract.multiplier * price_units(leg.price) for leg in legs)
    return -units / PRICE_SCALE

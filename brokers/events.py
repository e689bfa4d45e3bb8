"""Events the broker publishes (past tense, SPEC section 10). Each carries its market time first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from market.instruments import Contract, OptionContract

from .orders import OrderIntent


class RejectReason(StrEnum):
    """Why an order was rejected, in the order the broker checks (the first that applies wins).

    1. ``DUPLICATE_CLIENT_ORDER_ID``: the id was used for a different order (an identical
       resubmission is ignored, not rejected).
    2. ``INVALID_QUANTITY``: quantity is not a positive integer.
    3. ``INVALID_ORDER``: no layer, no legs, a zero ratio, a contract twice, futures mixed with
       options, a limit order without a finite limit price.
    4. ``OFF_GRID_STRIKE``: an SPX strike off the 5-point grid, a VIX strike off the 1-point grid.
    5. ``TRADING_PAUSED``: an opening order while trading is paused.
    6. ``NO_QUOTE``: no market snapshot yet.
    7. ``STALE_QUOTE``: the current snapshot is older than ``max_quote_age`` by the clock.
    8. ``EXPIRED_CONTRACT``: a leg expires on or before the current session.
    9. ``UNKNOWN_CONTRACT``: a leg's expiry is not listed in the snapshot.
    10. ``NO_QUOTE`` / ``CROSSED_QUOTE``: a leg has no usable quote, or a crossed one.
    11. ``SIZE_EXCEEDS_QUOTE``: with ``cap_at_quoted_size``, a leg needs more than the quoted size.
    12. ``NO_POSITION``: a closing order would close more than the layer holds, or add to it.
    13. ``NAKED_SHORT``: the order would leave an uncovered short option.
    14. ``INSUFFICIENT_BUYING_POWER``: an opening order needs more buying power than is left.
    """

    DUPLICATE_CLIENT_ORDER_ID = "duplicate_client_order_id"
    INVALID_QUANTITY = "invalid_quantity"
    INVALID_ORDER = "invalid_order"
    OFF_GRID_STRIKE = "off_grid_strike"
    TRADING_PAUSED = "trading_paused"
    NO_QUOTE = "no_quote"
    STALE_QUOTE = "stale_quote"
    EXPIRED_CONTRACT = "expired_contract"
    UNKNOWN_CONTRACT = "unknown_contract"
    CROSSED_QUOTE = "crossed_quote"
    SIZE_EXCEEDS_QUOTE = "size_exceeds_quote"
    NO_POSITION = "no_position"
    NAKED_SHORT = "naked_short"
    INSUFFICIENT_BUYING_POWER = "insufficient_buying_power"


@dataclass(frozen=True, slots=True)
class OrderAccepted:
    ts: datetime
    order_id: str
    client_order_id: str
    layer: str
    requirement_change: float = 0.0
    """Dollars the order adds to (or frees from) the margin requirement, at the current quotes."""
    buying_power_effect: float = 0.0
    """Buying power the order consumes (positive) or releases: requirement change less credit
    received, plus fees, dollars."""


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

    contract: Contract
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
        """Dollars into (+) or out of (-) cash: option premium (see :func:`premium_cash`) - fees."""
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
    """A position cash-settled at expiry at ``settlement_price`` (SPX: the SOQ; VIX options and
    VX/VXM futures: the VRO).

    ``cash`` is dollars: for an option its exact intrinsic value (intrinsic x 100 x signed
    quantity); for a future the last variation, (VRO - last settlement) x multiplier x quantity.
    ``proxy`` is true when the official print was missing and the index level of the snapshot
    (SPX or VIX) stood in for it.
    """

    ts: datetime
    layer: str
    contract: Contract
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


@dataclass(frozen=True, slots=True)
class TradingPaused:
    """The broker rejects opening orders from now on; closing orders still pass."""

    ts: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class TradingResumed:
    """The broker accepts opening orders again."""

    ts: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class FlattenStarted:
    """A flatten began: resting orders are cancelled and ``structures`` closing combos follow
    (each sent as soon as all its legs have a fresh quote)."""

    ts: datetime
    reason: str
    structures: int


PRICE_SCALE = 10_000
"""Fill prices carry 4 decimals; premium arithmetic runs on integers of 1/10,000 point."""


def price_units(price: float) -> int:
    """A 4-decimal price as an integer count of 1/10,000 point."""
    return round(price * PRICE_SCALE)


def premium_cash(legs: tuple[LegFill, ...]) -> float:
    """Premium dollars of a fill's option legs into cash: -sum(qty x price x 100), exact to the
    cent. Futures legs move no premium (their P&L moves as variation)."""
    units = sum(
        leg.quantity * leg.contract.multiplier * price_units(leg.price)
        for leg in legs
        if isinstance(leg.contract, OptionContract)
    )
    return -units / PRICE_SCALE

"""The fill model: every leg at mid +/- slippage x half-spread, all legs or none (SPEC section 10).

Leg prices are rounded to 4 decimals and the net price is their exact ratio-weighted sum, computed
on integers, so the legs of a combo always add up to the combo price. Fees are per contract and
per product (:class:`~brokers.config.FeeSchedule`). With ``cap_at_quoted_size`` an order larger
than a leg's quoted size is refused whole: fills are never partial.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from market.instruments import Contract

from .config import BrokerConfig, FeeSchedule
from .events import PRICE_SCALE, LegFill, RejectReason, premium_cash, price_units
from .orders import OrderLeg


class QuoteLike(Protocol):
    @property
    def bid(self) -> float: ...

    @property
    def ask(self) -> float: ...


class QuoteSource(Protocol):
    def quote(self, contract: Contract) -> QuoteLike | None: ...


@dataclass(frozen=True, slots=True)
class ComboPrice:
    """What a combo would fill at: net points per unit, legs with signed total quantities, fees."""

    net_price: float
    legs: tuple[LegFill, ...]
    fees: float

    @property
    def cash_change(self) -> float:
        """Dollars into (+) or out of (-) cash if this fills, fees included."""
        return premium_cash(self.legs) - self.fees


@dataclass(frozen=True, slots=True)
class Unpriceable:
    """Why a combo cannot fill now: a leg without a usable quote, or a crossed one."""

    reason: RejectReason
    message: str


def leg_price(bid: float, ask: float, ratio: int, slippage: float) -> float:
    """Fill price of one leg in points: buys pay above mid, sells receive below, 4 decimals."""
    mid = (bid + ask) / 2.0
    half_spread = (ask - bid) / 2.0
    side = 1.0 if ratio > 0 else -1.0
    return round(mid + side * slippage * half_spread, 4)


def fees_for(legs: Sequence[OrderLeg], quantity: int, schedule: FeeSchedule) -> float:
    """Fees in dollars for ``quantity`` units of a combo: every contract of every leg, each at
    its product's rate."""
    total = sum(
        abs(leg.ratio) * quantity * schedule.for_contract(leg.contract).per_contract for leg in legs
    )
    return round(total, 4)


def quoted_size(quote: QuoteLike, buying: bool) -> int:
    """Contracts quoted on the side an order takes (ask for buys, bid for sells); 0 = unknown.

    Quotes without sizes (older snapshots, test doubles) count as unknown.
    """
    size = getattr(quote, "ask_size" if buying else "bid_size", 0)
    return int(size) if size else 0


def price_combo(
    legs: Sequence[OrderLeg], quantity: int, market: QuoteSource, config: BrokerConfig
) -> ComboPrice | Unpriceable:
    """Price ``quantity`` units of a combo against ``market``; all legs price or none does.

    A missing, unusable or crossed quote on any leg wins over a size problem on another.
    """
    fills: list[LegFill] = []
    net_units = 0
    too_large: Unpriceable | None = None
    for leg in legs:
        quote = market.quote(leg.contract)
        if quote is None:
            return Unpriceable(RejectReason.NO_QUOTE, f"no quote for {leg.contract.symbol}")
        bid, ask = quote.bid, quote.ask
        if not (math.isfinite(bid) and math.isfinite(ask)) or bid < 0:
            return Unpriceable(
                RejectReason.NO_QUOTE, f"unusable quote {bid}/{ask} for {leg.contract.symbol}"
            )
        if bid > ask:
            return Unpriceable(
                RejectReason.CROSSED_QUOTE, f"crossed quote {bid}/{ask} for {leg.contract.symbol}"
            )
        if config.cap_at_quoted_size and too_large is None:
            size = quoted_size(quote, leg.ratio > 0)
            needed = abs(leg.ratio) * quantity
            if 0 < size < needed:
                side = "ask" if leg.ratio > 0 else "bid"
                too_large = Unpriceable(
                    RejectReason.SIZE_EXCEEDS_QUOTE,
                    f"{needed} {leg.contract.symbol} needed, {size} quoted on the {side}",
                )
        price = leg_price(bid, ask, leg.ratio, config.slippage)
        net_units += leg.ratio * price_units(price)
        fills.append(LegFill(leg.contract, leg.ratio * quantity, price))
    if too_large is not None:
        return too_large
    return ComboPrice(net_units / PRICE_SCALE, tuple(fills), fees_for(legs, quantity, config.fees))

"""The fill model: every leg at mid +/- slippage x half-spread, all legs or none (SPEC section 10).

Leg prices are rounded to 4 decimals and the net price is their exact ratio-weighted sum, computed
on integers, so the legs of a combo always add up to the combo price.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from market.instruments import OptionContract

from .config import BrokerConfig
from .events import PRICE_SCALE, LegFill, RejectReason, premium_cash, price_units
from .orders import OrderLeg


class QuoteLike(Protocol):
    @property
    def bid(self) -> float: ...

    @property
    def ask(self) -> float: ...


class QuoteSource(Protocol):
    def quote(self, contract: OptionContract) -> QuoteLike | None: ...


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


def fees_for(contracts: int, config: BrokerConfig) -> float:
    """Fees in dollars for a number of option contracts (every leg counted)."""
    return round(contracts * config.fee_per_contract, 4)


def price_combo(
    legs: Sequence[OrderLeg], quantity: int, market: QuoteSource, config: BrokerConfig
) -> ComboPrice | Unpriceable:
    """Price ``quantity`` units of a combo against ``market``; all legs price or none does."""
    fills: list[LegFill] = []
    net_units = 0
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
        price = leg_price(bid, ask, leg.ratio, config.slippage)
        net_units += leg.ratio * price_units(price)
        fills.append(LegFill(leg.contract, leg.ratio * quantity, price))
    contracts = sum(abs(leg.ratio) for leg in legs) * quantity
    return ComboPrice(net_units / PRICE_SCALE, tuple(fills), fees_for(contracts, config))

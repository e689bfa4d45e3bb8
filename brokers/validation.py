"""Order validation: the reject checks, run in :class:`~brokers.events.RejectReason` order.

Each check returns a :class:`Rejection` or None; :func:`check_order` runs them in order and stops
at the first that applies, returning the price the order would fill at when all pass. The
duplicate client order id check (reason 1) needs the broker's order book and stays there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from market.clock import Clock
from market.instruments import (
    SPX_STRIKE_STEP,
    VIX_STRIKE_STEP,
    FutureContract,
    OptionContract,
    Root,
)

from .config import BrokerConfig
from .events import RejectReason
from .fills import ComboPrice, Unpriceable, price_combo
from .orders import OrderIntent, OrderType, SubmitOrder
from .portfolio import Portfolio
from .ports import MarketView

PRICE_EPSILON = 1e-9
"""Tolerance when comparing a 4-decimal fill price with a limit price."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an order is refused: the reason code and a message for the operator."""

    reason: RejectReason
    message: str


def check_order(
    cmd: SubmitOrder,
    snap: MarketView | None,
    *,
    paused: bool,
    clock: Clock,
    config: BrokerConfig,
    portfolio: Portfolio,
) -> ComboPrice | Rejection:
    """Run the checks in :class:`RejectReason` order; the price if all pass."""
    problem = shape_problem(cmd) or grid_problem(cmd)
    if problem is not None:
        return problem
    if paused and cmd.intent is OrderIntent.OPEN:
        return Rejection(RejectReason.TRADING_PAUSED, "trading is paused: closing orders only")
    if snap is None:
        return Rejection(RejectReason.NO_QUOTE, "no market snapshot yet")
    problem = stale_problem(snap, clock, config.max_quote_age) or listing_problem(cmd, snap)
    if problem is not None:
        return problem
    price = price_combo(cmd.legs, cmd.quantity, snap, config)
    if isinstance(price, Unpriceable):
        return Rejection(price.reason, price.message)
    return position_problem(portfolio, cmd, price) or price


def marketable(cmd: SubmitOrder, price: ComboPrice) -> bool:
    """True when ``cmd`` fills at ``price``: a market order, or a limit at or above it."""
    if cmd.order_type is OrderType.MARKET:
        return True
    assert cmd.limit_price is not None
    return price.net_price <= cmd.limit_price + PRICE_EPSILON


def shape_problem(cmd: SubmitOrder) -> Rejection | None:
    """Reject orders that are malformed whatever the market does."""

    def invalid(message: str) -> Rejection:
        return Rejection(RejectReason.INVALID_ORDER, message)

    if not isinstance(cmd.quantity, int) or isinstance(cmd.quantity, bool) or cmd.quantity <= 0:
        return Rejection(
            RejectReason.INVALID_QUANTITY,
            f"quantity must be a positive whole number, got {cmd.quantity!r}",
        )
    if not cmd.layer:
        return invalid("order has no layer")
    if not cmd.legs:
        return invalid("order has no legs")
    if any(leg.ratio == 0 for leg in cmd.legs):
        return invalid("a leg has a zero ratio")
    contracts = [leg.contract for leg in cmd.legs]
    if len(set(contracts)) != len(contracts):
        return invalid("the same contract appears in more than one leg")
    futures = sum(isinstance(c, FutureContract) for c in contracts)
    if 0 < futures < len(contracts):
        return invalid("futures and options cannot share an order")
    if cmd.order_type is OrderType.LIMIT:
        if cmd.limit_price is None:
            return invalid("limit order without a limit price")
        if not math.isfinite(cmd.limit_price):
            return invalid(f"limit price must be finite, got {cmd.limit_price}")
    return None


def grid_problem(cmd: SubmitOrder) -> Rejection | None:
    """SPX strikes are listed every 5 points, VIX strikes every point."""
    for leg in cmd.legs:
        contract = leg.contract
        if not isinstance(contract, OptionContract):
            continue
        step = SPX_STRIKE_STEP if contract.root is Root.SPX else VIX_STRIKE_STEP
        steps = contract.strike / step
        if not contract.strike > 0 or abs(steps - round(steps)) > 1e-9:
            return Rejection(
                RejectReason.OFF_GRID_STRIKE,
                f"{contract.symbol}: {contract.root.value} strikes are listed every {step:g} points",
            )
    return None


def stale_problem(snap: MarketView, clock: Clock, max_quote_age: float) -> Rejection | None:
    """The snapshot must be at most ``max_quote_age`` seconds old by ``clock``."""
    age = (clock.now() - snap.ts).total_seconds()
    if age > max_quote_age:
        return Rejection(
            RejectReason.STALE_QUOTE,
            f"snapshot of {snap.ts.isoformat()} is {age:.0f} s old (max {max_quote_age:.0f} s)",
        )
    return None


def listing_problem(cmd: SubmitOrder, snap: MarketView) -> Rejection | None:
    """Every leg must trade in ``snap``: not expired, and its expiry listed."""
    expired = [leg.contract.symbol for leg in cmd.legs if leg.contract.expiry <= snap.session]
    if expired:
        return Rejection(
            RejectReason.EXPIRED_CONTRACT,
            f"expired on or before {snap.session.isoformat()}: {', '.join(expired)}",
        )
    vx_expiries = {point.expiry for point in snap.vx_curve}
    unknown = [
        leg.contract.symbol
        for leg in cmd.legs
        if leg.contract.expiry
        not in (
            snap.spx_expiries
            if isinstance(leg.contract, OptionContract) and leg.contract.root is Root.SPX
            else vx_expiries
        )
    ]
    if unknown:
        return Rejection(
            RejectReason.UNKNOWN_CONTRACT,
            f"not listed on {snap.session.isoformat()}: {', '.join(unknown)}",
        )
    return None


def position_problem(portfolio: Portfolio, cmd: SubmitOrder, price: ComboPrice) -> Rejection | None:
    """Check the order against the account: closes reduce, no naked shorts, buying power."""
    if cmd.intent is OrderIntent.CLOSE:
        for leg in price.legs:
            held = portfolio.quantity(cmd.layer, leg.contract)
            if held == 0 or (held > 0) == (leg.quantity > 0) or abs(leg.quantity) > abs(held):
                return Rejection(
                    RejectReason.NO_POSITION,
                    f"closing {leg.quantity:+d} {leg.contract.symbol} but {cmd.layer!r} "
                    f"holds {held:+d}",
                )
    effect = portfolio.buying_power_effect(cmd.layer, price.legs, price.fees)
    if effect.naked:
        return Rejection(
            RejectReason.NAKED_SHORT,
            f"order would leave {cmd.layer!r} with an uncovered short option",
        )
    if cmd.intent is OrderIntent.OPEN and effect.total > 0:
        after = portfolio.buying_power() - effect.total
        if after < 0:
            return Rejection(
                RejectReason.INSUFFICIENT_BUYING_POWER,
                f"needs {effect.total:.2f} of buying power (requirement change "
                f"{effect.requirement_change:.2f}, credit {effect.credit:.2f}, fees "
                f"{effect.fees:.2f}); {portfolio.buying_power():.2f} available",
            )
    return None

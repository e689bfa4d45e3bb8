"""Resting limit orders: what becomes of each at a new snapshot.

An accepted limit order that was not marketable rests until, at a later snapshot, it is cancelled
(a leg expired, a DAY order outlived its session, or the account no longer allows it) or its
price becomes marketable and it fills. While trading is paused, resting opening orders wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from .config import BrokerConfig
from .fills import ComboPrice, Unpriceable, price_combo
from .orders import OrderIntent, SubmitOrder, TimeInForce
from .portfolio import Portfolio
from .ports import MarketView
from .validation import marketable, position_problem


@dataclass(frozen=True, slots=True)
class RestingOrder:
    """An accepted limit order waiting for a marketable price; ``session`` is when it was
    accepted (a DAY order lives until that session ends)."""

    order_id: str
    order: SubmitOrder
    accepted_ts: datetime
    session: date | None = None


def match_resting(
    resting: RestingOrder,
    snap: MarketView,
    *,
    new_session: bool,
    paused: bool,
    portfolio: Portfolio,
    config: BrokerConfig,
) -> ComboPrice | str | None:
    """The price to fill ``resting`` at in ``snap``, the reason to cancel it, or None to wait."""
    cmd = resting.order
    if any(leg.contract.expiry <= snap.session for leg in cmd.legs):
        return "expired"
    if (
        new_session
        and cmd.time_in_force is TimeInForce.DAY
        and resting.session is not None
        and resting.session < snap.session
    ):
        return "day_expired"
    if paused and cmd.intent is OrderIntent.OPEN:
        return None
    price = price_combo(cmd.legs, cmd.quantity, snap, config)
    if isinstance(price, Unpriceable) or not marketable(cmd, price):
        return None
    problem = position_problem(portfolio, cmd, price)
    if problem is not None:
        return problem.reason.value
    return price

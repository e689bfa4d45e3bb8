"""Layer 2's sizing math (SPEC section 7): the VX-equivalent target, the contango cut of the hedge
ratio, rounding to whole contracts and the carry cap.

Pure functions of numbers, plus :func:`instrument_terms`, which reads the hedge instrument's
price, delta and carry off one snapshot. The actor (:mod:`strategies.hedge`) decides *when* to
size; this module says *how much*.

    n      = h_eff x iv_beta x |vega_$| / (1000 x beta)      VX equivalents
    h_eff  = h / (1 + c / vrp_scale),  c = max(0, F / VIX - 1)
    target = round(n x contracts_per_vx)                    0 when under half a contract
    carry  = target x carry_per_contract <= max_carry_fraction x condor theta income (else capped)
    wanted = n x contracts_per_vx, or the capped target     unrounded, what a rebalance aims at

What a rebalance trades (:func:`contracts_to_trade`, SPEC "rebalances when the target moves by a
whole contract"): from flat, ``round(wanted)`` (halves up; nothing under half a contract); with a
hedge held, nothing until ``|wanted - held| >= 1``, then the difference to ``round(wanted)``. A
target wobbling across x.5 thus trades once, not at every check, and a target of 0 (no condors)
closes a hedge of one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from market.instruments import (
    FUTURE_MULTIPLIER,
    OPTION_MULTIPLIER,
    Contract,
    FutureContract,
    FutureRoot,
    OptionContract,
    Right,
    Root,
)

if TYPE_CHECKING:
    from market.snapshot import MarketSnapshot

VX_MULTIPLIER = FUTURE_MULTIPLIER[FutureRoot.VX]
"""Dollars per VIX point of one VX future: the unit "VX equivalent" is measured in."""

INSTRUMENT_ROOTS = {"mini_future": FutureRoot.VXM, "future": FutureRoot.VX}
"""Futures root of each futures instrument name (``call`` buys VIX options instead)."""


def contango(future: float, vix: float) -> float:
    """The hedge future's contango ``c = max(0, F / VIX - 1)`` (0 in backwardation)."""
    return max(0.0, future / vix - 1.0)


def effective_ratio(h: float, carry: float, vrp_scale: float) -> float:
    """``h_eff = h / (1 + c / vrp_scale)``: the steeper the contango, the less hedge is bought."""
    return h / (1.0 + carry / vrp_scale)


def vx_target(h_eff: float, iv_beta: float, vega_dollars: float, beta: float) -> float:
    """VX equivalents ``h_eff x iv_beta x |vega_$| / (1000 x beta)``.

    Only a short-vega book (``vega_dollars < 0``, what short condors carry) is hedged: long VIX
    on top of a long-vega book would add to the risk, not offset it, so that target is 0.
    """
    if vega_dollars >= 0.0:
        return 0.0
    return h_eff * iv_beta * abs(vega_dollars) / (VX_MULTIPLIER * beta)


def round_contracts(raw: float) -> int:
    """Nearest whole contract, halves rounded up (so 0.5 -> 1 and anything below 0.5 -> 0)."""
    return max(0, math.floor(raw + 0.5))


def contracts_to_trade(wanted: float, held: float, *, flat: bool) -> int:
    """Signed contracts a rebalance buys (+) or sells (-) toward ``wanted`` unrounded contracts.

    ``held`` is the hedge in contracts of the target instrument (for calls: its VX equivalents x
    contracts per VX, so lots at other strikes count at their own delta); ``flat`` says nothing
    is held. From flat: ``round(wanted)``. Held: 0 while ``|wanted - held| < 1``, else
    ``round(wanted - held)`` (halves up), which for a whole ``held`` is ``round(wanted) - held``.
    """
    if flat:
        return round_contracts(wanted)
    gap = wanted - held
    if abs(gap) < 1.0:
        return 0
    return math.floor(gap + 0.5)


def futures_carry_per_contract(
    future: float, vix: float, days_to_settlement: int, multiplier: int
) -> float:
    """Dollars per day a long future loses rolling down toward spot: ``(F - VIX) / days x
    multiplier``; negative in backwardation (the roll-down then earns). ``days`` is calendar days
    to settlement, at least 1."""
    return (future - vix) / max(1, days_to_settlement) * multiplier


def call_carry_per_contract(theta_per_day: float) -> float:
    """Dollars per day one long call loses to decay: ``-theta x 100``."""
    return -theta_per_day * OPTION_MULTIPLIER


def carry_cap(
    contracts: int, carry_per_contract: float, theta_income_per_day: float, fraction: float
) -> tuple[int, float]:
    """(contracts allowed, max carry in dollars per day) under the carry check.

    The hedge's daily carry may not exceed ``fraction`` x the condor book's daily theta income;
    above it the count is cut to ``floor(max_carry / carry_per_contract)``. A carry that earns
    (backwardation) never caps; a book without theta income allows no costly carry at all.
    """
    max_carry = fraction * theta_income_per_day
    if carry_per_contract <= 0.0 or contracts * carry_per_contract <= max_carry:
        return contracts, max_carry
    allowed = math.floor(max_carry / carry_per_contract) if max_carry > 0.0 else 0
    return min(contracts, max(0, allowed)), max_carry


def hedge_expiry(listed: Sequence[date], session: date, roll_days: int) -> date | None:
    """The VX expiry the hedge lives in: the front, or the second once the front settles within
    ``roll_days`` calendar days of ``session``; None when nothing suitable is listed."""
    later = [e for e in listed if e > session]
    if not later:
        return None
    if (later[0] - session).days <= roll_days:
        return later[1] if len(later) > 1 else None
    return later[0]


@dataclass(frozen=True, slots=True)
class InstrumentTerms:
    """The hedge instrument in one expiry at one snapshot."""

    contract: Contract
    future: float
    """The VX future of the expiry (the contango's F; the calls' underlying)."""
    contracts_per_vx: float
    """Contracts per VX equivalent: 10 VXM, 1 VX, or 1000 / (delta x 100) calls."""
    carry_per_contract: float
    """Expected carry of one contract, dollars per day (positive = a cost)."""
    option_delta: float | None = None


def instrument_terms(
    snap: MarketSnapshot, instrument: str, expiry: date, call_delta: float
) -> InstrumentTerms | None:
    """The contract, the future, contracts per VX equivalent and carry of ``instrument`` in
    ``expiry``; None when the future is not listed or no call has a positive delta."""
    future = snap.vx_price(expiry)
    if future is None:
        return None
    days = (expiry - snap.session).days
    root = INSTRUMENT_ROOTS.get(instrument)
    if root is not None:
        multiplier = FUTURE_MULTIPLIER[root]
        return InstrumentTerms(
            FutureContract(root, expiry),
            future,
            VX_MULTIPLIER / multiplier,
            futures_carry_per_contract(future, snap.vix, days, multiplier),
        )
    chain = snap.vix_chain(expiry)
    strike = chain.strike_nearest_delta(Right.CALL, call_delta)
    greeks = chain.greeks(strike, Right.CALL)
    if greeks is None or not float(greeks.delta) > 0.0:
        return None
    delta = float(greeks.delta)
    return InstrumentTerms(
        OptionContract(Root.VIX, expiry, strike, Right.CALL),
        future,
        VX_MULTIPLIER / (delta * OPTION_MULTIPLIER),
        call_carry_per_contract(float(greeks.theta)),
        delta,
    )


@dataclass(frozen=True, slots=True)
class HedgeSize:
    """One sizing of the hedge: every intermediate number, for the log and the tests."""

    carry: float
    """Contango c of the hedge future."""
    h_eff: float
    n_vx: float
    """Target in VX equivalents."""
    raw: float
    """Unrounded target contracts (n_vx x contracts_per_vx)."""
    rounded: int
    """Nearest whole contract (0 below half a contract)."""
    target: int
    """Contracts after the carry cap."""
    max_carry: float
    """Dollars per day the carry check allows."""
    wanted: float
    """Unrounded target contracts after the carry cap: ``raw``, or ``target`` when capped (what
    :func:`contracts_to_trade` aims at)."""

    @property
    def below_minimum(self) -> bool:
        """Something to hedge, but less than half a contract of it."""
        return 0.0 < self.raw < 0.5

    @property
    def capped(self) -> bool:
        return self.target < self.rounded


def size_hedge(
    *,
    vega_dollars: float,
    theta_income_per_day: float,
    beta: float,
    iv_beta: float,
    h: float,
    vrp_scale: float,
    future: float,
    vix: float,
    contracts_per_vx: float,
    carry_per_contract: float,
    max_carry_fraction: float,
) -> HedgeSize:
    """Size the hedge (module docstring)."""
    c = contango(future, vix)
    h_eff = effective_ratio(h, c, vrp_scale)
    n_vx = vx_target(h_eff, iv_beta, vega_dollars, beta)
    raw = n_vx * contracts_per_vx
    rounded = round_contracts(raw)
    target, max_carry = carry_cap(
        rounded, carry_per_contract, theta_income_per_day, max_carry_fraction
    )
    wanted = float(target) if target < rounded else raw
    return HedgeSize(c, h_eff, n_vx, raw, rounded, target, max_carry, wanted)

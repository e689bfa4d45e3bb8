"""Layer 1's rolls (SPEC section 6): the theta-inversion test, the time-shift and the delta band.

Each roll is ONE combo, intent OPEN (the broker blocks it while trading is paused): the legs
closing the old structure and the legs opening the new one, merged where they share a contract.

Theta inversion, as this module reads the SPEC: a condor is inverted when the VIX is above
``regime.elevated_vix`` AND at least one of

- its short theta (the two shorts' daily income) is <= 0,
- its net theta (short income less wing cost) is <= 0,
- its efficiency (net / short theta) is below ``inversion_ratio`` x its efficiency at entry.

The VIX condition gates all three (the SPEC's "when VIX is above 16 and ..." applies to the
whole list): in CALM the condor is left to its exit rules, and the check costs nothing.

An inverted condor is rolled whole into the first later monthly holding no other condor, at
the target deltas with break-even placement, at most once per ``roll_cooldown`` sessions. A
condor whose net delta per unit leaves +-``delta_band`` has its untested vertical rolled to the
target delta, at most once per session. Each decision (or the reason there is none) is logged
with its inputs; the fill is published as :class:`~strategies.events.CondorRolled`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING

import structlog

from brokers.events import LegFill, OrderFilled
from brokers.orders import OrderLeg
from market.instruments import SPX_STRIKE_STEP, Contract, OptionContract, Right, Root
from strategies.condor_legs import (
    LAYER,
    NO_GREEKS,
    Condor,
    CondorPick,
    RollPlan,
    canonical,
    condor_greeks,
    leg_prices,
    pick_condor,
)
from strategies.config import CondorConfig, StrategyConfig
from strategies.events import CondorGreeks, CondorRolled

if TYPE_CHECKING:
    from market.snapshot import MarketSnapshot
    from strategies.state import MarketState

log = structlog.get_logger("alvh.strategies.condor")

TIME_SHIFT = "time_shift"
DELTA_BAND = "delta_band"
MIN_DELTA_GAIN = 0.25
"""A delta-band roll acts only when the untested short sits below (1 - this) x the target
|delta| (0.12 at a 0.16 target); nearer the target the roll would be churn."""


def inversion_reason(
    greeks: CondorGreeks, entry_efficiency: float, inversion_ratio: float
) -> str | None:
    """Which inversion condition holds (``short_theta``, ``net_theta``, ``efficiency``), or None.

    The VIX gate is the caller's (it skips the greeks entirely at or below ``elevated_vix``). The
    efficiency test needs an entry efficiency above zero: a condor that never earned net theta
    has no level to fall from (its net theta test still applies).
    """
    if greeks.short_theta <= 0.0:
        return "short_theta"
    if greeks.theta <= 0.0:
        return "net_theta"
    if entry_efficiency > 0.0 and greeks.efficiency < inversion_ratio * entry_efficiency:
        return "efficiency"
    return None


def merge_legs(*groups: Iterable[OrderLeg]) -> tuple[OrderLeg, ...]:
    """One combo's legs: ratios of the same contract added, zero ratios dropped (a contract may
    appear only once in an order)."""
    ratios: dict[Contract, int] = {}
    for group in groups:
        for leg in group:
            ratios[leg.contract] = ratios.get(leg.contract, 0) + leg.ratio
    return tuple(OrderLeg(contract, ratio) for contract, ratio in ratios.items() if ratio != 0)


def closing(legs: Iterable[OrderLeg], scale: int = 1) -> tuple[OrderLeg, ...]:
    """Legs that close ``legs`` (ratios reversed, times ``scale``)."""
    return tuple(OrderLeg(leg.contract, -leg.ratio * scale) for leg in legs)


def next_free_expiry(listed: Iterable[date], current: date, taken: Iterable[date]) -> date | None:
    """The first listed monthly after ``current`` that holds no other condor."""
    busy = set(taken)
    return next((e for e in sorted(listed) if e > current and e not in busy), None)


def time_shift_plan(
    condor: Condor, pick: CondorPick, expiry: date, quantity: int, before: CondorGreeks
) -> RollPlan:
    """Close the condor's four legs and open ``pick``'s in ``expiry`` as one combo.

    With the same size the combo is 8 legs of ratio 1 x ``quantity``; a smaller new size is
    expressed in the ratios (close old/g, open new/g, quantity g = gcd), so it stays one order.
    """
    unit = math.gcd(condor.quantity, quantity)
    opening = tuple(OrderLeg(leg.contract, leg.ratio * (quantity // unit)) for leg in pick.legs)
    legs = merge_legs(closing(condor.legs, condor.quantity // unit), opening)
    return RollPlan(
        TIME_SHIFT, "theta_inversion", legs, unit, canonical(pick.legs), expiry, quantity, before
    )


def delta_band_plan(
    snap: MarketSnapshot,
    condor: Condor,
    untested: Right,
    target_delta: float,
    before: CondorGreeks,
) -> RollPlan | str:
    """Roll the untested vertical to the strike nearest ``target_delta``, same wing width.

    The new short never crosses the other side's short (it stays at least one strike step
    away). A reason string when there is nothing to do (``untested_side_at_target``) or a leg
    has no quote (``no_quote``).
    """
    short = condor.strike(untested, -1)
    width = abs(condor.strike(untested, 1) - short)
    other = condor.strike(Right.PUT if untested is Right.CALL else Right.CALL, -1)
    new_short = snap.chain(condor.expiry).strike_nearest_delta(untested, target_delta)
    if untested is Right.CALL:
        new_short = max(new_short, other + SPX_STRIKE_STEP)
        new_wing = new_short + width
    else:
        new_short = min(new_short, other - SPX_STRIKE_STEP)
        new_wing = new_short - width
    if new_short == short:
        return "untested_side_at_target"
    old_greeks = snap.option_greeks(OptionContract(Root.SPX, condor.expiry, short, untested))
    if old_greeks is not None and abs(old_greeks.delta) >= (1.0 - MIN_DELTA_GAIN) * target_delta:
        # The untested short already earns near-target decay: moving it a strike or two buys
        # churn (fees, spread) without bringing the net delta back inside the band.
        return "untested_side_near_target"
    new_vertical = (
        OrderLeg(OptionContract(Root.SPX, condor.expiry, new_short, untested), -1),
        OrderLeg(OptionContract(Root.SPX, condor.expiry, new_wing, untested), 1),
    )
    old_vertical = tuple(
        leg
        for leg in condor.legs
        if isinstance(leg.contract, OptionContract) and leg.contract.right is untested
    )
    combo = merge_legs(closing(old_vertical), new_vertical)
    if any(snap.quote(leg.contract) is None for leg in (*old_vertical, *new_vertical)):
        return "no_quote"
    kept = tuple(leg for leg in condor.legs if leg not in old_vertical)
    return RollPlan(
        DELTA_BAND,
        f"net_delta_{'above' if untested is Right.CALL else 'below'}_band",
        combo,
        condor.quantity,
        canonical((*kept, *new_vertical)),
        condor.expiry,
        condor.quantity,
        before,
    )


def credit_from_fill(legs: tuple[OrderLeg, ...], fills: tuple[LegFill, ...]) -> float | None:
    """Credit per unit of ``legs`` at the prices they filled at in a roll (None when a leg is
    missing from the fill)."""
    prices = {fill.contract: fill.price for fill in fills}
    credit = 0.0
    for leg in legs:
        price = prices.get(leg.contract)
        if price is None:
            return None
        credit -= leg.ratio * price
    return credit


def target_delta(config: CondorConfig, state: MarketState) -> float:
    """|delta| for new shorts (entries and rolls): ``post_fomc_delta`` just after an FOMC day."""
    return config.post_fomc_delta if state.post_fomc() else config.short_delta


def plan_roll(
    condor: Condor,
    snap: MarketSnapshot,
    config: StrategyConfig,
    state: MarketState,
    equity: float,
    taken: Iterable[date],
) -> RollPlan | None:
    """The management check of one open condor: a time-shift when it is inverted, else the
    delta band; None when neither acts. ``taken``: expiries holding (or about to hold) another
    condor. Marks the condor's session counters so that each rule decides once per session."""
    cfg = config.condor
    index = state.session_index
    shift_due = (
        snap.vix > config.regime.elevated_vix
        and index >= condor.next_roll_session
        and index != condor.roll_blocked_session
    )
    band_due = condor.band_session != index
    if not (shift_due or band_due):
        return None
    greeks = condor_greeks(snap, condor.legs)
    if greeks is None:
        return None
    if math.isnan(condor.entry_efficiency):
        condor.entry_efficiency = greeks.efficiency
    delta = target_delta(cfg, state)
    if shift_due:
        trigger = inversion_reason(greeks, condor.entry_efficiency, cfg.inversion_ratio)
        if trigger is not None:
            plan = _time_shift(condor, snap, cfg, greeks, trigger, delta, equity, taken)
            if plan is not None:
                return plan
            condor.roll_blocked_session = index
    if band_due and abs(greeks.delta) > cfg.delta_band:
        condor.band_session = index
        untested = Right.CALL if greeks.delta > 0.0 else Right.PUT
        inputs: dict[str, object] = {
            "kind": DELTA_BAND,
            "net_delta": greeks.delta,
            "delta_band": cfg.delta_band,
            "untested": untested.value,
            "target_delta": delta,
        }
        return _decided(condor, delta_band_plan(snap, condor, untested, delta, greeks), inputs)
    return None


def _time_shift(
    condor: Condor,
    snap: MarketSnapshot,
    cfg: CondorConfig,
    greeks: CondorGreeks,
    trigger: str,
    delta: float,
    equity: float,
    taken: Iterable[date],
) -> RollPlan | None:
    """The whole-condor roll of an inverted condor, sized within ``risk_per_condor``."""
    inputs: dict[str, object] = {
        "kind": TIME_SHIFT,
        "trigger": trigger,
        "vix": snap.vix,
        "short_theta": greeks.short_theta,
        "wing_theta": greeks.wing_theta,
        "efficiency": greeks.efficiency,
        "entry_efficiency": condor.entry_efficiency,
    }
    target = next_free_expiry(snap.spx_expiries, condor.expiry, taken)
    if target is None:
        return _decided(condor, "no_free_later_expiry", inputs)
    pick = pick_condor(snap, target, delta, cfg.wing_width_pct, cfg.be_move_mult)
    if isinstance(pick, str):
        return _decided(condor, pick, inputs | {"new_expiry": str(target)})
    quantity = min(condor.quantity, math.floor(cfg.risk_per_condor * equity / pick.max_loss))
    inputs |= {"max_loss": pick.max_loss, "equity": equity, "old_quantity": condor.quantity}
    if quantity < 1:
        return _decided(condor, "size_below_one_contract", inputs)
    return _decided(condor, time_shift_plan(condor, pick, target, quantity, greeks), inputs)


def _decided(condor: Condor, plan: RollPlan | str, inputs: dict[str, object]) -> RollPlan | None:
    """Log a roll decision with its inputs, or the reason there is none."""
    if isinstance(plan, str):
        log.info(
            "condor_roll_skipped",
            layer=LAYER,
            position_id=condor.position_id,
            reason=plan,
            **inputs,
        )
        return None
    log.info(
        "condor_roll_decided",
        layer=LAYER,
        position_id=condor.position_id,
        **(inputs | {"reason": plan.reason}),
        new_expiry=str(plan.new_expiry),
        quantity=plan.new_quantity,
    )
    return plan


def apply_roll(
    condor: Condor,
    plan: RollPlan,
    fill: OrderFilled,
    snap: MarketSnapshot | None,
    session_index: int,
    roll_cooldown: int,
) -> CondorRolled:
    """Make a filled roll the condor's structure and describe it.

    Delta band: the stop's credit grows by the adjustment's net credit. Time-shift: the credit
    becomes the new condor's own (its legs' fill prices), and expiry, size, efficiency at entry
    and the roll cooldown start afresh. ``net_price`` is per unit of the condor after the roll.
    """
    old_expiry = condor.expiry
    paid = fill.net_price * fill.quantity / plan.new_quantity
    if plan.kind == DELTA_BAND:
        condor.credit -= paid
    else:
        credit = credit_from_fill(plan.new_legs, fill.legs)
        if credit is None and snap is not None:
            prices = leg_prices(snap, plan.new_legs)
            credit = prices[0] if prices is not None else None
            log.warning("roll_credit_from_mid", layer=LAYER, position_id=condor.position_id)
        condor.credit = credit if credit is not None else condor.credit
        condor.expiry = plan.new_expiry
        condor.quantity = plan.new_quantity
        condor.settled_legs = set()
        condor.next_roll_session = session_index + roll_cooldown
    condor.legs = plan.new_legs
    after = condor_greeks(snap, condor.legs) if snap is not None else None
    after = after if after is not None else NO_GREEKS
    if plan.kind != DELTA_BAND:
        condor.entry_efficiency = after.efficiency
    return CondorRolled(
        fill.ts,
        condor.position_id,
        plan.kind,
        plan.reason,
        old_expiry,
        condor.expiry,
        condor.quantity,
        paid,
        condor.credit,
        plan.before,
        after,
    )

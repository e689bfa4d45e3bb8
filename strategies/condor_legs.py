"""Layer 1's building blocks: the condor record, leg selection, break-even placement and greeks.

Pure functions of a snapshot (SPEC section 6), shared by the condor actor's entries and rolls:

- :func:`pick_condor` puts the shorts at a target |delta|, the wings ``wing_width_pct`` of spot
  beyond, then steps each short outward (its wing follows, the width unchanged) until the
  break-evens at mid clear ``be_move_mult`` x the expected move S x IV x sqrt(T).
- :func:`condor_greeks` gives one condor's per-unit greeks and theta split (short-leg income,
  wing cost), :func:`dollar_greeks` a position's dollar greeks; both read the snapshot's greeks
  cache, so the hedge layer and the condor layer pay for each leg once per snapshot.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

import structlog

from brokers.greeks import LayerGreeks
from brokers.orders import OrderLeg
from market.calendar import spx_settlement_time, years_between
from market.instruments import OPTION_MULTIPLIER, SPX_STRIKE_STEP, OptionContract, Right, Root
from strategies.config import CondorConfig
from strategies.events import CondorGreeks, CondorOpened

if TYPE_CHECKING:
    from brokers.portfolio import Position
    from market.snapshot import MarketSnapshot

LAYER = "condor"
log = structlog.get_logger("alvh.strategies.condor")
MAX_BE_STEPS = 400
"""Most rounds of outward steps (2,000 SPX points) for the break-evens; the credit is gone long
before, and the loop must end whatever the quotes say."""
MIN_CREDIT = 0.05
"""Mid credit (points per unit) below which a condor is not worth selling: one tick."""


class CondorState(StrEnum):
    OPENING = "opening"
    OPEN = "open"
    ROLLING = "rolling"
    """A roll or adjustment combo is working; the legs are still the old ones."""
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class RollPlan:
    """A roll decided at one snapshot: the combo to send and the structure it leaves."""

    kind: str
    """``time_shift`` or ``delta_band``."""
    reason: str
    combo_legs: tuple[OrderLeg, ...]
    """Legs closing the old structure and opening the new, merged per contract."""
    combo_quantity: int
    new_legs: tuple[OrderLeg, ...]
    """The condor's structure legs per unit after the roll (canonical order)."""
    new_expiry: date
    new_quantity: int
    before: CondorGreeks
    """Per-unit greeks of the condor when the roll was decided."""


@dataclass(slots=True)
class Condor:
    """One iron condor position of the layer, from its entry order to its exit."""

    position_id: str
    expiry: date
    legs: tuple[OrderLeg, ...]
    """Structure legs per unit: long put (+1), short put (-1), short call (-1), long call (+1)."""
    quantity: int
    state: CondorState = CondorState.OPENING
    credit: float = 0.0
    """Credit per unit in points the stop rule measures against: the entry fill's, plus every
    delta-band adjustment's net credit; after a time-shift, the new condor's own credit."""
    entry_order: str = ""
    close_order: str = ""
    exit_rule: str = ""
    close_attempts: int = 0
    retry_at_tick: int = 0
    """Snapshot count before which a rejected close is not sent again (backoff)."""
    settled_legs: set[OptionContract] = field(default_factory=set)
    entry_efficiency: float = math.nan
    """Theta efficiency (net / short) when the condor (or its latest time-shift) was opened;
    nan until greeks were seen (an adopted condor takes it at its first check)."""
    pending: RollPlan | None = None
    """The roll whose combo is working (state ROLLING), applied when it fills."""
    roll_order: str = ""
    band_session: int = -1
    """Session index of the last delta-band check that acted (at most one adjustment a session)."""
    next_roll_session: int = -1
    """Session index from which a time-shift may roll this condor again (``roll_cooldown``)."""
    roll_blocked_session: int = -1
    """Session index in which a time-shift was skipped or rejected: not tried again that day."""

    def cost_to_close(self, snap: MarketSnapshot) -> float | None:
        """Points per unit to buy back the condor at mid, or None without a full set of quotes."""
        cost = 0.0
        for leg in self.legs:
            quote = snap.quote(leg.contract)
            if quote is None:
                return None
            cost -= leg.ratio * quote.mid
        return cost

    def settlement_value(self, settlement: float) -> float:
        """Points per unit the condor costs at a settlement print (its legs' intrinsic)."""
        return sum(
            -leg.ratio * leg.contract.intrinsic(settlement)
            for leg in self.legs
            if isinstance(leg.contract, OptionContract)
        )

    def opened(self, ts: datetime) -> CondorOpened:
        return CondorOpened(
            ts,
            self.position_id,
            self.expiry,
            long_put=self.strike(Right.PUT, 1),
            short_put=self.strike(Right.PUT, -1),
            short_call=self.strike(Right.CALL, -1),
            long_call=self.strike(Right.CALL, 1),
            quantity=self.quantity,
            credit=self.credit,
        )

    def strike(self, right: Right, ratio: int) -> float:
        """The strike of the leg of ``right`` bought (+1) or sold (-1)."""
        for leg in self.legs:
            if leg.ratio == ratio and isinstance(leg.contract, OptionContract):
                if leg.contract.right is right:
                    return leg.contract.strike
        raise KeyError(f"{self.position_id} has no {right.value} leg of ratio {ratio:+d}")


@dataclass(slots=True)
class LayerStats:
    opened: int = 0
    closed: int = 0
    exits: Counter[str] = field(default_factory=Counter)
    """Exit rule name -> condors closed by it (``settlement`` when held to expiry)."""
    rolls: Counter[str] = field(default_factory=Counter)
    """Roll kind (``time_shift``, ``delta_band``) -> rolls filled; rolls are not opened/closed."""


@dataclass(frozen=True, slots=True)
class CondorPick:
    """Legs chosen for a new condor and their prices per unit at this snapshot."""

    legs: tuple[OrderLeg, ...]
    credit: float
    """Net credit at mid, points (what the break-evens are placed with)."""
    natural_credit: float
    """Net credit selling at the bid and buying at the ask, points (never better than a fill)."""
    width: float
    expected_move: float
    """S x IV x sqrt(T) to the expiry's settlement, index points."""
    steps: int
    """Strike steps the shorts moved outward in all for the break-evens."""

    @property
    def max_loss(self) -> float:
        """Dollars per contract at the natural price: (width - natural credit) x 100."""
        return (self.width - self.natural_credit) * OPTION_MULTIPLIER


def adopted_condors(
    positions: Iterable[Position], new_id: Callable[[], str]
) -> tuple[list[Condor], list[str]]:
    """Condors rebuilt from a layer's adopted positions, and the symbols that form none.

    Each expiry holding exactly a long put, short put, short call and long call of one size
    becomes an open condor whose credit is implied by the legs' average prices (its efficiency
    at entry is taken at its first check).
    """
    by_expiry: dict[date, list[Position]] = {}
    unmapped: list[str] = []
    for pos in positions:
        if isinstance(pos.contract, OptionContract):
            by_expiry.setdefault(pos.contract.expiry, []).append(pos)
        else:
            unmapped.append(pos.contract.symbol)
    condors: list[Condor] = []
    for expiry, held in sorted(by_expiry.items()):
        shape = sorted(
            (p.contract.right.value, p.quantity > 0)
            for p in held
            if isinstance(p.contract, OptionContract)
        )
        sizes = {abs(p.quantity) for p in held}
        if shape != [("C", False), ("C", True), ("P", False), ("P", True)] or len(sizes) != 1:
            unmapped += [p.contract.symbol for p in held]
            continue
        legs = tuple(OrderLeg(p.contract, 1 if p.quantity > 0 else -1) for p in held)
        condor = Condor(new_id(), expiry, canonical(legs), sizes.pop(), CondorState.OPEN)
        condor.credit = -sum(leg.ratio * p.avg_price for leg, p in zip(legs, held, strict=True))
        condors.append(condor)
    return condors, unmapped


# -- leg selection --------------------------------------------------------------------------------


def wing_width(spot: float, wing_width_pct: float) -> float:
    """``wing_width_pct`` of spot on the strike grid, at least one strike step (points)."""
    return max(SPX_STRIKE_STEP, round(spot * wing_width_pct / SPX_STRIKE_STEP) * SPX_STRIKE_STEP)


def condor_legs(
    expiry: date, short_put: float, short_call: float, width: float
) -> tuple[OrderLeg, ...]:
    """Legs of one short iron condor in canonical order (long put, short put, short call, long
    call)."""
    return (
        OrderLeg(OptionContract(Root.SPX, expiry, short_put - width, Right.PUT), 1),
        OrderLeg(OptionContract(Root.SPX, expiry, short_put, Right.PUT), -1),
        OrderLeg(OptionContract(Root.SPX, expiry, short_call, Right.CALL), -1),
        OrderLeg(OptionContract(Root.SPX, expiry, short_call + width, Right.CALL), 1),
    )


def canonical(legs: tuple[OrderLeg, ...]) -> tuple[OrderLeg, ...]:
    """Condor legs sorted puts first, by strike: long put, short put, short call, long call."""

    def key(leg: OrderLeg) -> tuple[bool, float]:
        contract = leg.contract
        assert isinstance(contract, OptionContract)
        return contract.right is Right.CALL, contract.strike

    return tuple(sorted(legs, key=key))


def leg_prices(snap: MarketSnapshot, legs: tuple[OrderLeg, ...]) -> tuple[float, float] | None:
    """(credit at mid, natural credit) per unit of ``legs``; None when a leg has no quote."""
    credit = natural = 0.0
    for leg in legs:
        quote = snap.quote(leg.contract)
        if quote is None:
            return None
        credit -= leg.ratio * quote.mid
        natural -= leg.ratio * (quote.ask if leg.ratio > 0 else quote.bid)
    return credit, natural


def years_to_settlement(snap: MarketSnapshot, expiry: date) -> float:
    """Calendar years from the snapshot to the expiry's 09:30 ET settlement (SPEC section 3)."""
    return years_between(snap.ts, spx_settlement_time(expiry))


def expected_move(snap: MarketSnapshot, expiry: date) -> float:
    """S x IV x sqrt(T): IV the surface's ATM vol at the expiry, T in years to its settlement."""
    years = years_to_settlement(snap, expiry)
    return snap.spx * snap.surface.vol(0.0, years) * math.sqrt(years)


def pick_condor(
    snap: MarketSnapshot,
    expiry: date,
    short_delta: float,
    wing_width_pct: float,
    be_move_mult: float,
) -> CondorPick | str:
    """Shorts at ``short_delta``, wings beyond, break-evens outside ``be_move_mult`` x the
    expected move; a reason string when no such condor is quotable.

    Each side whose break-even (short put - credit, short call + credit, credit at mid) sits
    inside the band steps its short one strike outward, its wing following; the credit falls
    as the shorts move, so the loop runs until both hold or the credit is gone (below
    :data:`MIN_CREDIT`: ``no_credit``), a leg has no quote (``no_quote``) or :data:`MAX_BE_STEPS`
    rounds pass.
    """
    chain = snap.chain(expiry)
    short_put = chain.strike_nearest_delta(Right.PUT, short_delta)
    short_call = chain.strike_nearest_delta(Right.CALL, short_delta)
    width = wing_width(snap.spx, wing_width_pct)
    move = expected_move(snap, expiry)
    low, high = snap.spx - be_move_mult * move, snap.spx + be_move_mult * move
    steps = 0
    for _ in range(MAX_BE_STEPS):
        legs = condor_legs(expiry, short_put, short_call, width)
        prices = leg_prices(snap, legs)
        if prices is None:
            return "no_quote"
        credit, natural = prices
        if credit < MIN_CREDIT:
            return "no_credit"
        if credit >= width:
            return "credit_not_below_wing"
        put_ok = be_move_mult <= 0.0 or short_put - credit <= low
        call_ok = be_move_mult <= 0.0 or short_call + credit >= high
        if put_ok and call_ok:
            return CondorPick(legs, credit, natural, width, move, steps)
        if not put_ok:
            short_put -= SPX_STRIKE_STEP
            steps += 1
        if not call_ok:
            short_call += SPX_STRIKE_STEP
            steps += 1
    return "break_evens_inside_expected_move"


def plan_entry(
    snap: MarketSnapshot,
    expiry: date,
    cfg: CondorConfig,
    short_delta: float,
    equity: float,
    buying_power: float,
) -> tuple[CondorPick, int] | None:
    """A new condor in ``expiry`` and its size, or None (logged as ``condor_entry_skipped``).

    Size is the most contracts whose max loss, at the natural price (sell at the bid, buy at
    the ask: never better than any fill), stays within ``risk_per_condor`` of equity and within
    the buying power left.
    """
    pick = pick_condor(snap, expiry, short_delta, cfg.wing_width_pct, cfg.be_move_mult)
    if isinstance(pick, str):
        log.info(
            "condor_entry_skipped", layer=LAYER, reason=pick, expiry=str(expiry), delta=short_delta
        )
        return None
    quantity = math.floor(min(cfg.risk_per_condor * equity, buying_power) / pick.max_loss)
    if quantity < 1:
        log.info(
            "condor_entry_skipped",
            layer=LAYER,
            reason="size_below_one_contract",
            expiry=str(expiry),
            credit=pick.credit,
            max_loss=pick.max_loss,
            equity=equity,
            buying_power=buying_power,
        )
        return None
    return pick, quantity


# -- greeks ---------------------------------------------------------------------------------------


def condor_greeks(snap: MarketSnapshot, legs: tuple[OrderLeg, ...]) -> CondorGreeks | None:
    """Per-unit greeks of a condor (sum of ratio x leg greek) and its theta split; None when a
    leg has no greeks at ``snap``.

    ``short_theta`` is what the two shorts earn a day (positive while they decay), ``wing_theta``
    what the two wings cost a day (positive while they decay); net theta = short - wing.
    """
    delta = vega = short = wing = 0.0
    for leg in legs:
        contract = leg.contract
        if not isinstance(contract, OptionContract):
            return None
        g = snap.option_greeks(contract)
        if g is None:
            return None
        ratio = leg.ratio
        delta += ratio * float(g.delta)
        vega += ratio * float(g.vega)
        theta = ratio * float(g.theta)
        if ratio < 0:
            short += theta
        else:
            wing -= theta
    return CondorGreeks(delta, vega, short - wing, short, wing)


NO_GREEKS = CondorGreeks(math.nan, math.nan, math.nan, math.nan, math.nan)
"""Greeks reported when a snapshot cannot price every leg."""


def dollar_greeks(snap: MarketSnapshot, legs: tuple[OrderLeg, ...], quantity: int) -> LayerGreeks:
    """Dollar greeks of ``quantity`` condors: legs x ratio x quantity x 100 (``LayerGreeks``
    units); a leg without greeks at ``snap`` is left out, as the broker's book greeks do."""
    delta = gamma = vega = theta = 0.0
    for leg in legs:
        contract = leg.contract
        if not isinstance(contract, OptionContract):
            continue
        g = snap.option_greeks(contract)
        if g is None:
            continue
        size = leg.ratio * quantity * OPTION_MULTIPLIER
        delta += size * float(g.delta)
        gamma += size * float(g.gamma)
        vega += size * float(g.vega)
        theta += size * float(g.theta)
    return LayerGreeks(spx_delta=delta, spx_gamma=gamma, vega_dollars=vega, theta_per_day=theta)

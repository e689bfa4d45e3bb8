"""Strategy events (past tense): regime changes, exits and layer structure changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


class Regime(StrEnum):
    CALM = "calm"
    ELEVATED = "elevated"
    STRESS = "stress"


class ExitRule(StrEnum):
    """Exit rule names as counted in summaries (SPEC section 14)."""

    CREDIT_STOP = "credit_stop"
    TAKE_PROFIT = "take_profit"
    PROFIT_TARGET = "profit_target"
    RSI = "rsi"
    DTE = "dte"
    UNWIND = "unwind"
    FLATTEN = "flatten"
    RISK_HALT = "risk_halt"


@dataclass(frozen=True, slots=True)
class RegimeChanged:
    ts: datetime
    previous: Regime
    current: Regime
    vix: float


@dataclass(frozen=True, slots=True)
class SessionClosed:
    """The last snapshot of a session has been handled; regime days are counted here."""

    ts: datetime
    session: date
    regime: Regime


@dataclass(frozen=True, slots=True)
class ExitTriggered:
    ts: datetime
    layer: str
    position_id: str
    rule: ExitRule
    cost_to_close: float
    credit: float
    dte: int
    rsi: float | None = None
    """The provisional RSI when the rule is ``rsi``."""
    value: float | None = None
    """Mid value per unit of a long position (take-profit), points."""
    cost: float | None = None
    """What a long position cost per unit (take-profit), points."""


@dataclass(frozen=True, slots=True)
class CondorOpened:
    ts: datetime
    position_id: str
    expiry: date
    long_put: float
    short_put: float
    short_call: float
    long_call: float
    quantity: int
    credit: float
    """Net credit per unit in points, as filled."""


@dataclass(frozen=True, slots=True)
class CondorClosed:
    ts: datetime
    position_id: str
    rule: str
    """An ExitRule value, or ``settlement`` when held to expiry."""
    debit: float
    """Net cost per unit in points paid to close (settlement value when settled)."""


@dataclass(frozen=True, slots=True)
class CondorGreeks:
    """Per-unit greeks of one condor (``market.pricing`` units: delta per point, vega per vol
    point, theta per calendar day; signed for the position), and its theta split."""

    delta: float
    vega: float
    theta: float
    short_theta: float
    """Theta income of the two short legs (positive when they earn decay)."""
    wing_theta: float
    """Theta cost of the two long wings (positive when they lose decay)."""

    @property
    def efficiency(self) -> float:
        """Net theta over short theta (nan when the shorts earn nothing)."""
        return self.theta / self.short_theta if self.short_theta > 0 else float("nan")


@dataclass(frozen=True, slots=True)
class CondorRolled:
    """A condor was rolled whole into a later cycle (time-shift) or had its untested side moved
    (delta band); greeks are per unit, before and after."""

    ts: datetime
    position_id: str
    kind: str
    """``time_shift`` or ``delta_band``."""
    reason: str
    old_expiry: date
    new_expiry: date
    quantity: int
    net_price: float
    """Net points per unit of the roll combo (positive = debit paid)."""
    credit: float
    """The credit the stop rule now measures against (points per unit)."""
    before: CondorGreeks
    after: CondorGreeks


@dataclass(frozen=True, slots=True)
class MacroClassified:
    """A VIX jump or regime upgrade classified by the macro overlay."""

    ts: datetime
    kind: str
    """``headline`` (a scheduled release explains it: the hedge waits, the press stays off) or
    ``stress`` (engage at once)."""
    trigger: str
    """``jump`` or ``regime_upgrade``."""
    vix: float
    vix_change_pct: float
    """Rise against the previous session's close (fraction)."""
    macro_events: tuple[str, ...]
    """Releases within the window (empty for stress)."""
    ad_change: float | None
    """The advance-decline line's change over ``macro.ad_sessions`` sessions (None: unknown)."""
    hold_until_session: int
    """Session index through which the headline hold lasts (-1 for stress)."""


@dataclass(frozen=True, slots=True)
class HedgeRebalanced:
    """Layer 2 sized (or resized) its hedge; every input of the formula is here."""

    ts: datetime
    instrument: str
    contract: str
    vega_dollars: float
    """The dollar vega per point of SPX implied vol (signed) the hedge was sized from: the
    condor book's, or the floor's (``base``)."""
    beta: float
    iv_beta: float
    carry: float
    """The hedge future's contango c = max(0, F / VIX - 1) (the formula's carry term)."""
    h_eff: float
    n_vx: float
    """Target in VX equivalents before rounding and the carry cap."""
    target: int
    """Target contracts of the instrument after rounding and the carry cap."""
    held: int
    """Contracts held before this rebalance."""
    carry_per_day: float
    """Expected daily carry of the target hedge, dollars (positive = a cost)."""
    theta_income_per_day: float
    """The daily theta income the carry check used, dollars: the condor book's, or the
    floor's (``base``)."""
    option_delta: float | None = None
    """Delta of the hedge call (instrument = call)."""
    base: str = "book"
    """``book``: sized from the open condors; ``floor``: from ``hedge.floor_fraction`` x the
    reference condor's vega and theta, because the open condors carry less vega."""
    book_vega_dollars: float = 0.0
    """The open condors' dollar vega at the sizing (equal to ``vega_dollars`` for ``book``)."""


@dataclass(frozen=True, slots=True)
class HedgeCarryCapped:
    ts: datetime
    contract: str
    uncapped: int
    capped: int
    carry_per_contract: float
    """Dollars per day per contract."""
    max_carry: float
    """Dollars per day allowed (max_carry_fraction x theta income)."""


@dataclass(frozen=True, slots=True)
class HedgeBelowMinimum:
    ts: datetime
    instrument: str
    target: float
    """Unrounded target contracts of the instrument (below one half)."""
    vega_dollars: float
    beta: float
    h_eff: float


@dataclass(frozen=True, slots=True)
class HedgeRolled:
    ts: datetime
    old_contract: str
    new_contract: str
    quantity: int
    net_price: float


@dataclass(frozen=True, slots=True)
class PositionOpened:
    """A hedge or press structure was opened (layer 2 or 3)."""

    ts: datetime
    layer: str
    position_id: str
    contracts: tuple[str, ...]
    quantity: int
    price: float
    """Net points per unit: positive a debit paid, negative a credit received."""


@dataclass(frozen=True, slots=True)
class PositionClosed:
    ts: datetime
    layer: str
    position_id: str
    rule: str
    """An ExitRule value, ``rebalance`` (a hedge sized to nothing), ``roll`` (a hedge roll's
    closing half sent alone while trading is paused) or ``settlement``."""
    quantity: int
    price: float


@dataclass(frozen=True, slots=True)
class RiskHalted:
    """A risk limit was breached: opening orders are blocked (and positions flattened)."""

    ts: datetime
    limit: str
    """``daily_loss`` or ``margin_use``."""
    value: float
    threshold: float
    equity: float
    start_equity: float
    requirement: float
    flatten: bool

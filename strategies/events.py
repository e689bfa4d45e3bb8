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

"""Turns pipeline events into structured log lines with stable snake_case names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from datetime import date, datetime
from enum import Enum
from typing import Any

import structlog

from brokers.events import (
    ContractSettled,
    FlattenStarted,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    TradingPaused,
    TradingResumed,
)
from brokers.orders import SubmitOrder
from market.instruments import OptionContract
from strategies.events import (
    CondorClosed,
    CondorOpened,
    CondorRolled,
    ExitTriggered,
    HedgeBelowMinimum,
    HedgeCarryCapped,
    HedgeRebalanced,
    HedgeRolled,
    MacroClassified,
    PositionClosed,
    PositionOpened,
    RegimeChanged,
    RiskHalted,
)

log = structlog.get_logger("alvh.events")

EVENT_NAMES: dict[type, str] = {
    SubmitOrder: "order_submitted",
    OrderAccepted: "order_accepted",
    OrderRejected: "order_rejected",
    OrderFilled: "fill_recorded",
    OrderCancelled: "order_cancelled",
    ContractSettled: "contract_settled",
    TradingPaused: "trading_paused",
    TradingResumed: "trading_resumed",
    FlattenStarted: "flatten_started",
    RegimeChanged: "regime_changed",
    ExitTriggered: "exit_triggered",
    CondorOpened: "condor_opened",
    CondorClosed: "condor_closed",
    CondorRolled: "condor_rolled",
    MacroClassified: "macro_classified",
    HedgeRebalanced: "hedge_rebalanced",
    HedgeCarryCapped: "hedge_carry_capped",
    HedgeBelowMinimum: "hedge_below_minimum",
    HedgeRolled: "hedge_rolled",
    PositionOpened: "position_opened",
    PositionClosed: "position_closed",
    RiskHalted: "risk_halt",
}
"""Bus event type -> log event name (the README lists these with their keys)."""


def _plain(value: Any) -> Any:
    if isinstance(value, OptionContract):
        return value.symbol
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    return value


def event_fields(event: object) -> dict[str, Any]:
    """Flat JSON-safe fields of a dataclass event; ``ts`` is renamed ``market_ts``."""
    out = {f.name: _plain(getattr(event, f.name)) for f in fields(event)}  # type: ignore[arg-type]
    if "ts" in out:
        out["market_ts"] = out.pop("ts")
    return out


def make_logger(event_type: type) -> Callable[[object], None]:
    name = EVENT_NAMES[event_type]
    level = log.warning if event_type in (OrderRejected, RiskHalted) else log.info

    def handler(event: object) -> None:
        level(name, **event_fields(event))

    return handler

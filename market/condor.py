"""Expiry metrics of a short iron condor: breakevens, max profit and loss, margin."""

from __future__ import annotations

import math
from dataclasses import dataclass

from market.instruments import OPTION_MULTIPLIER


@dataclass(frozen=True, slots=True)
class CondorMetrics:
    """Breakevens in index points; profit, loss and margin in dollars per condor (x100)."""

    breakeven_low: float
    breakeven_high: float
    max_profit: float
    max_loss: float
    margin: float


def condor_metrics(
    long_put: float, short_put: float, short_call: float, long_call: float, credit: float
) -> CondorMetrics:
    """Metrics at expiry of a short iron condor opened for ``credit`` index points.

    Margin is the wider wing times the multiplier (only one side can finish in the money);
    max loss is that margin less the credit received.
    Raises ValueError naming the problem when strikes are out of order or the credit is
    negative or not below the wider wing.
    """
    values = {
        "long_put": long_put,
        "short_put": short_put,
        "short_call": short_call,
        "long_call": long_call,
        "credit": credit,
    }
    for name, value in values.items():
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not long_put < short_put:
        raise ValueError(f"long_put ({long_put:g}) must be below short_put ({short_put:g})")
    if not short_put <= short_call:
        raise ValueError(f"short_put ({short_put:g}) must not be above short_call ({short_call:g})")
    if not short_call < long_call:
        raise ValueError(f"short_call ({short_call:g}) must be below long_call ({long_call:g})")
    wing = max(short_put - long_put, long_call - short_call)
    if credit < 0.0:
        raise ValueError(f"credit ({credit:g}) must not be negative")
    if not credit < wing:
        raise ValueError(f"credit ({credit:g}) must be below the wider wing width ({wing:g})")
    return CondorMetrics(
        breakeven_low=short_put - credit,
        breakeven_high=short_call + credit,
        max_profit=credit * OPTION_MULTIPLIER,
        max_loss=(wing - credit) * OPTION_MULTIPLIER,
        margin=wing * OPTION_MULTIPLIER,
    )

"""Expiry metrics of a short iron condor: breakevens, max profit and loss, margin."""

from __future__ import annotations

import math
from dataclasses import dataclass

from market.instruments import OPTION_MULTIPLIER


@dataclass(frozen=True, slots=True)
class CondorMetrics:
    """Breakevens in index points; profit, loss and margin in dollars per condor (x100).

    A side has a breakeven only when the credit is below that side's wing width; otherwise the
    P&L beyond that short strike never goes negative and the breakeven is ``None``.
    """

    breakeven_low: float | None
    breakeven_high: float | None
    max_profit: float
    max_loss: float
    margin: float


def condor_metrics(
    long_put: float, short_put: float, short_call: float, long_call: float, credit: float
) -> CondorMetrics:
    """Metrics at expiry of a short iron condor opened for ``credit`` index points.

    Margin is the wider wing times the multiplier (only one side can finish in the money);
    max loss is that margin less the credit received. A breakeven is ``None`` when the credit
    covers that side's whole wing (the P&L on that side never goes below zero).
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
    put_width = short_put - long_put
    call_width = long_call - short_call
    wing = max(put_width, call_width)
    if credit < 0.0:
        raise ValueError(f"credit ({credit:g}) must not be negative")
    if not credit < wing:
        raise ValueError(
            f"credit ({credit:g}) must be below the wider wing width ({wing:g})"
            " so that max loss is positive"
        )
    return CondorMetrics(
        breakeven_low=short_put - credit if credit < put_width else None,
        breakeven_high=short_call + credit if credit < call_width else None,
        max_profit=credit * OPTION_MULTIPLIER,
        max_loss=(wing - credit) * OPTION_MULTIPLIER,
        margin=wing * OPTION_MULTIPLIER,
    )

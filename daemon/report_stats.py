"""The report's performance measures of a value path: total return, CAGR, max drawdown and
Sharpe (README, "How each figure is computed").

A path starts at a positive value (the starting equity, or SPX at its first close). It may
fall to zero or below: the condor layer alone and the full stack are P&L added to the starting
equity, and a loss can exceed it. From the first value at or below zero on, compounding and
daily returns mean nothing (a return on a negative value flips sign), so CAGR and Sharpe are
not given there; :func:`performance` says why instead. Total return and drawdown, dollar
differences over a positive starting value or peak, still are (a drawdown can then pass 100%).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

TRADING_DAYS = 252
DAYS_PER_YEAR = 365.25
MIN_SPREAD = 1e-12
"""Daily returns whose sample standard deviation is below this do not vary: no Sharpe."""
PLACES = {"cagr": 6, "sharpe": 4}
"""Decimals each figure is rounded to in the summary."""


def drawdowns(values: Sequence[float]) -> list[float]:
    """Each value over the running peak, minus one (0 at a new high, negative below it;
    below -1 once a value is negative). The first value must be positive."""
    out, peak = [], -math.inf
    for v in values:
        peak = max(peak, v)
        out.append(v / peak - 1.0)
    return out


def max_drawdown(path: Sequence[float]) -> tuple[float, int, int]:
    """The deepest fall from a running peak as a fraction of that peak, with the indices of
    the peak and the trough (0, 0, 0 when the path never falls). The first value must be
    positive, so every peak is."""
    peak, worst, where = 0, 0.0, (0, 0)
    for i, value in enumerate(path):
        if value > path[peak]:
            peak = i
        if (fall := 1.0 - value / path[peak]) > worst:
            worst, where = fall, (peak, i)
    return worst, *where


def first_at_or_below_zero(path: Sequence[float]) -> int | None:
    """The index of the first value at or below zero, or None when the path stays above."""
    return next((i for i, v in enumerate(path) if v <= 0), None)


def cagr(growth: float, calendar_days: int) -> float | str:
    """``growth`` (final over first value, positive) compounded per year of 365.25 days over
    ``calendar_days``, minus one; or why it cannot be given."""
    if calendar_days < 1:
        return "no calendar day to compound over"
    try:
        rate = math.pow(growth, DAYS_PER_YEAR / calendar_days) - 1
    except OverflowError:
        rate = math.inf
    if not math.isfinite(rate):
        return f"too large to annualize ({growth:.3g}x in {calendar_days} calendar days)"
    return rate


def sharpe(path: Sequence[float], rate: float) -> float | str:
    """The annualized Sharpe ratio of a positive path's daily returns, or why there is none.

    Each return is a value over the one before, minus one, less ``rate / 252``; the ratio is
    their mean over their sample standard deviation (ddof 1), times sqrt(252)."""
    values = np.asarray(path, dtype=float)
    excess = values[1:] / values[:-1] - 1.0 - rate / TRADING_DAYS
    if len(excess) < 2:
        return "fewer than two daily returns"
    sd = float(np.std(excess, ddof=1))
    if not sd > MIN_SPREAD:
        return "the daily returns do not vary"
    return float(np.mean(excess)) / sd * math.sqrt(TRADING_DAYS)


def performance(
    path: Sequence[float], labels: Sequence[str], calendar_days: int, rate: float
) -> dict[str, Any]:
    """Total return, CAGR, max drawdown (peak and trough labelled) and Sharpe of a value path
    whose first value is positive; ``labels`` name its points (sessions).

    CAGR compounds the total return over ``calendar_days / 365.25`` years; Sharpe is
    :func:`sharpe` at the risk-free ``rate`` (a fraction per year). A figure that cannot be
    given is None, with its reason under ``undefined``; ``reached_zero`` labels the first
    value at or below zero (None while the path stays above), after which neither CAGR nor
    Sharpe is given."""
    if not path[0] > 0:
        raise ValueError(f"a value path starts above zero, not at {path[0]}")
    growth = path[-1] / path[0]
    depth, peak, trough = max_drawdown(path)
    zero = first_at_or_below_zero(path)
    figures: dict[str, float | str]
    if zero is None:
        figures = {"cagr": cagr(growth, calendar_days), "sharpe": sharpe(path, rate)}
    else:
        when = labels[zero]
        figures = {
            "cagr": f"the path reached zero on {when}",
            "sharpe": f"the path reached zero on {when}: returns on a value at or below zero"
            " mean nothing",
        }
    out: dict[str, Any] = {
        "final_equity": round(path[-1], 2),
        "total_return": round(growth - 1, 6),
        "cagr": None,
        "max_drawdown": round(depth, 6),
        "max_drawdown_peak": labels[peak] if depth > 0 else None,
        "max_drawdown_trough": labels[trough] if depth > 0 else None,
        "sharpe": None,
        "reached_zero": labels[zero] if zero is not None else None,
        "undefined": {},
    }
    for name, value in figures.items():
        if isinstance(value, str):
            out["undefined"][name] = value
        else:
            out[name] = round(value, PLACES[name])
    return out

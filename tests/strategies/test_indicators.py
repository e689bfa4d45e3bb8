"""Indicators against published values and independent references (numpy)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.snapshot import FuturePoint
from strategies.indicators import (
    Rsi,
    constant_maturity,
    days_to_settlement,
    hedge_beta,
    ols_slope,
    realized_vol,
    rsi_series,
)

# Wilder's classic 14-period worked example.
WILDER_CLOSES = [44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89,
                 46.03, 45.61, 46.28, 46.28, 46.00, 46.03, 46.41, 46.22, 45.64]  # fmt: skip
WILDER_LAST_SIX = [70.4641, 66.2496, 66.4809, 69.3469, 66.2947, 57.9150]


def test_wilder_rsi_matches_the_published_worked_example() -> None:
    series = rsi_series(WILDER_CLOSES, 14, "wilder")
    assert series[:14] == [None] * 14
    assert [round(v, 4) for v in series[14:] if v is not None] == WILDER_LAST_SIX


def _cutler(closes: list[float], n: int) -> float:
    d = np.diff(np.asarray(closes[-(n + 1) :]))
    gain, loss = d[d > 0].sum(), -d[d < 0].sum()
    return 100.0 if loss == 0 else float(100 - 100 / (1 + gain / loss))


def test_cutler_rsi_is_simple_means_of_the_last_n_changes() -> None:
    series = rsi_series(WILDER_CLOSES, 14, "cutler")
    for i in range(14, len(WILDER_CLOSES)):
        assert series[i] == pytest.approx(_cutler(WILDER_CLOSES[: i + 1], 14), abs=1e-12)
    # the first value is the same for both methods (both start from simple means)
    assert series[14] == pytest.approx(rsi_series(WILDER_CLOSES, 14, "wilder")[14])


@pytest.mark.parametrize("method", ["cutler", "wilder"])
def test_provisional_close_equals_committing_it(method: str) -> None:
    for k in range(13, len(WILDER_CLOSES)):
        rsi = Rsi(14, method)  # type: ignore[arg-type]
        for c in WILDER_CLOSES[:k]:
            rsi.commit(c)
        committed = Rsi(14, method)  # type: ignore[arg-type]
        for c in WILDER_CLOSES[: k + 1]:
            committed.commit(c)
        assert rsi.value(WILDER_CLOSES[k]) == pytest.approx(committed.value(), abs=1e-12)


def test_rsi_bounds_and_flat_series() -> None:
    assert rsi_series([1.0, 2.0, 3.0, 4.0], 3)[-1] == 100.0
    assert rsi_series([4.0, 3.0, 2.0, 1.0], 3)[-1] == 0.0
    assert rsi_series([2.0] * 5, 3)[-1] == 50.0
    with pytest.raises(ValueError, match="finite"):
        Rsi(3).commit(math.nan)


@given(
    st.lists(st.floats(-5, 5), min_size=3, max_size=40),
    st.lists(st.floats(-5, 5), min_size=3, max_size=40),
)
def test_ols_slope_matches_numpy_polyfit(xs: list[float], ys: list[float]) -> None:
    n = min(len(xs), len(ys))
    xs, ys = xs[:n], ys[:n]
    slope = ols_slope(xs, ys)
    if np.ptp(xs) < 1e-6:
        return
    assert slope is not None
    assert slope == pytest.approx(np.polyfit(xs, ys, 1)[0], rel=1e-6, abs=1e-6)


def test_hedge_beta_clips_defaults_and_uses_the_last_window() -> None:
    rng = np.random.default_rng(3)
    vix = rng.normal(0, 1, 200).tolist()
    fut = [0.6 * v + 0.05 * e for v, e in zip(vix, rng.normal(0, 1, 200), strict=True)]
    kw = {"window": 60, "min_observations": 20, "default": 0.5, "low": 0.2, "high": 1.0}
    beta = hedge_beta(fut, vix, **kw)  # type: ignore[arg-type]
    assert beta == pytest.approx(np.polyfit(vix[-60:], fut[-60:], 1)[0])
    assert hedge_beta(fut[:19], vix[:19], **kw) == 0.5  # type: ignore[arg-type]
    assert hedge_beta([2 * v for v in vix], vix, **kw) == 1.0  # type: ignore[arg-type]
    assert hedge_beta([0.01 * v for v in vix], vix, **kw) == 0.2  # type: ignore[arg-type]


def test_realized_vol_matches_numpy() -> None:
    closes = [100 * math.exp(0.01 * math.sin(i)) for i in range(40)]
    returns = np.diff(np.log(closes))[-20:]
    assert realized_vol(closes, 20) == pytest.approx(np.std(returns, ddof=1) * math.sqrt(252))
    assert realized_vol([100.0, 101.0], 20) is None


def test_constant_maturity_interpolates_in_time_between_the_straddling_futures() -> None:
    ts = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)  # 10:00 New York
    e1, e2, e3 = date(2025, 3, 19), date(2025, 4, 16), date(2025, 5, 21)
    curve = (FuturePoint(e1, 18.0), FuturePoint(e2, 20.0), FuturePoint(e3, 21.0))
    t1, t2 = days_to_settlement(ts, e1), days_to_settlement(ts, e2)
    # 15:00 UTC (10:00 EST) to 09:30 EDT = 13:30 UTC sixteen days later, across the DST change
    assert t1 == pytest.approx(16 - 1.5 / 24)
    expected = 18.0 + (30 - t1) / (t2 - t1) * 2.0
    assert constant_maturity(curve, ts, 30.0) == pytest.approx(expected)
    assert constant_maturity(curve, ts, 5.0) == 18.0  # inside the front: the front
    assert constant_maturity(curve, ts, 400.0) == 21.0
    assert constant_maturity((), ts) is None
    late = ts + timedelta(days=17)  # the front has settled: skipped
    assert constant_maturity(curve, late, 1.0) == 20.0

"""Indicators the layers read (SPEC sections 7 and 9): RSI, the hedge future's beta on the VIX,
realized volatility and the constant-maturity VX price.

All are pure functions of daily closes the market state keeps; the RSI also takes the live value
as a provisional close, so the exit rule sees today's move before the session ends.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from market.calendar import NEW_YORK

if TYPE_CHECKING:
    from market.snapshot import FuturePoint

RsiMethod = Literal["cutler", "wilder"]


def _rsi(gain: float, loss: float) -> float:
    if loss == 0.0:
        return 100.0 if gain > 0.0 else 50.0
    return 100.0 - 100.0 / (1.0 + gain / loss)


class Rsi:
    """Relative strength index over ``periods`` daily changes.

    ``cutler``: simple means of the last ``periods`` gains and losses. ``wilder``: seeded with
    the simple means of the first ``periods`` changes, then smoothed, avg = (avg x (n - 1) +
    change) / n. :meth:`commit` adds a session's close; :meth:`value` reads the RSI with an
    optional provisional close (the live value) appended without committing it.
    """

    __slots__ = (
        "_avg_gain",
        "_avg_loss",
        "_changes",
        "_last",
        "_n",
        "_seen",
        "_tail",
        "method",
    )

    def __init__(self, periods: int, method: RsiMethod = "cutler") -> None:
        if periods < 1:
            raise ValueError(f"RSI periods must be at least 1, got {periods}")
        self._n = periods
        self.method = method
        self._last: float | None = None
        self._changes: deque[float] = deque(maxlen=periods)
        self._seen = 0
        """Changes committed so far."""
        self._avg_gain = 0.0
        self._avg_loss = 0.0
        self._tail = (0.0, 0.0)
        """Cutler: gains and losses of the last ``periods - 1`` changes (what a provisional close
        is added to), refreshed once per commit so reading the RSI costs O(1)."""

    @property
    def last_close(self) -> float | None:
        return self._last

    def commit(self, close: float) -> None:
        """Add one session's close."""
        if not math.isfinite(close):
            raise ValueError(f"RSI close must be finite, got {close!r}")
        last = self._last
        self._last = close
        if last is None:
            return
        change = close - last
        n = self._n
        self._seen += 1
        if self.method == "wilder":
            gain, loss = max(change, 0.0), max(-change, 0.0)
            if self._seen < n:
                self._changes.append(change)
            elif self._seen == n:
                self._changes.append(change)
                self._avg_gain = sum(max(c, 0.0) for c in self._changes) / n
                self._avg_loss = sum(max(-c, 0.0) for c in self._changes) / n
            else:
                self._avg_gain = (self._avg_gain * (n - 1) + gain) / n
                self._avg_loss = (self._avg_loss * (n - 1) + loss) / n
        else:
            self._changes.append(change)
            tail = list(self._changes)[-(n - 1) :] if n > 1 else []
            self._tail = (sum(max(c, 0.0) for c in tail), sum(max(-c, 0.0) for c in tail))

    def value(self, provisional: float | None = None) -> float | None:
        """The RSI through the last close, or through ``provisional`` as today's close; None
        until enough changes exist."""
        n = self._n
        last = self._last
        if provisional is None or last is None:
            if self._seen < n:
                return None
            if self.method == "wilder":
                return _rsi(self._avg_gain, self._avg_loss)
            return _rsi(
                sum(max(c, 0.0) for c in self._changes), sum(max(-c, 0.0) for c in self._changes)
            )
        change = provisional - last
        if self._seen + 1 < n:
            return None
        gain, loss = max(change, 0.0), max(-change, 0.0)
        if self.method == "wilder":
            if self._seen + 1 == n:
                changes = [*self._changes, change]
                return _rsi(sum(max(c, 0.0) for c in changes), sum(max(-c, 0.0) for c in changes))
            return _rsi(
                (self._avg_gain * (n - 1) + gain) / n, (self._avg_loss * (n - 1) + loss) / n
            )
        tail_gain, tail_loss = self._tail
        return _rsi(tail_gain + gain, tail_loss + loss)


def rsi_series(
    closes: Sequence[float], periods: int, method: RsiMethod = "cutler"
) -> list[float | None]:
    """The RSI after each close (None during the warm-up)."""
    rsi = Rsi(periods, method)
    out: list[float | None] = []
    for close in closes:
        rsi.commit(close)
        out.append(rsi.value())
    return out


def ols_slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope of ``ys`` on ``xs`` (with an intercept); None when ``xs`` has no
    spread or fewer than two points."""
    n = len(xs)
    if n != len(ys):
        raise ValueError(f"ols_slope needs equal lengths, got {n} and {len(ys)}")
    if n < 2:
        return None
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx <= 0.0:
        return None
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    return sxy / sxx


def hedge_beta(
    future_changes: Sequence[float],
    vix_changes: Sequence[float],
    *,
    window: int,
    min_observations: int,
    default: float,
    low: float,
    high: float,
) -> float:
    """The article's CAPM-style beta (SPEC section 7): the OLS slope of the hedge future's daily
    changes on the VIX's over the last ``window`` pairs, clipped to [low, high]; ``default``
    with fewer than ``min_observations`` pairs (or no VIX movement)."""
    xs = list(vix_changes)[-window:]
    ys = list(future_changes)[-window:]
    if len(xs) < min_observations:
        return default
    slope = ols_slope(xs, ys)
    if slope is None:
        return default
    return min(max(slope, low), high)


def realized_vol(
    closes: Sequence[float], window: int, periods_per_year: float = 252.0
) -> float | None:
    """Annualized standard deviation of the last ``window`` daily log returns (sample, n - 1);
    None with fewer than two returns."""
    tail = list(closes)[-(window + 1) :]
    returns = [math.log(b / a) for a, b in zip(tail, tail[1:], strict=False) if a > 0 and b > 0]
    if len(returns) < 2:
        return None
    mean = sum(returns) / len(returns)
    var = sum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
    return math.sqrt(var * periods_per_year)


@lru_cache(maxsize=256)
def _settlement_seconds(expiry: date) -> float:
    return datetime(expiry.year, expiry.month, expiry.day, 9, 30, tzinfo=NEW_YORK).timestamp()


def days_to_settlement(ts: datetime, expiry: date) -> float:
    """Calendar days from ``ts`` to 09:30 New York time on ``expiry`` (the VRO)."""
    return (_settlement_seconds(expiry) - ts.timestamp()) / 86400.0


def constant_maturity(
    curve: Sequence[FuturePoint], ts: datetime, days: float = 30.0
) -> float | None:
    """The VX price ``days`` calendar days out, linear in time between the two futures around it
    (the nearest one when the curve does not straddle it); None for an empty curve. Futures
    settled by ``ts`` are skipped. The curve is listed nearest expiry first."""
    now = ts.timestamp()
    previous: tuple[float, float] | None = None
    for point in sorted(curve, key=lambda p: p.expiry):
        t = (_settlement_seconds(point.expiry) - now) / 86400.0
        if t <= 0.0:
            continue
        if t >= days:
            if previous is None:
                return point.price
            t0, p0 = previous
            return p0 + (days - t0) / (t - t0) * (point.price - p0)
        previous = (t, point.price)
    return previous[1] if previous is not None else None

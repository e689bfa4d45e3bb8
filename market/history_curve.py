"""The VX curve history mode's snapshots carry when they need the model (SPEC sections 4 and 11):
the simulator's curve at a VIX, time and moving anchor, and a term structure's settlements moved
by the model's change from one VIX, time and anchor to another (a session's open).
"""

from __future__ import annotations

import math
from datetime import date, datetime

from market.calendar import vx_settlement_time
from market.sim_anchor import CurveAnchor
from market.sim_config import SimulatorConfig
from market.snapshot import FuturePoint

SECONDS_PER_YEAR = 365.0 * 86400.0
"""The simulator's year for the VX curve's time to settlement."""


def model_curve(
    market: SimulatorConfig,
    vix: float,
    ts: datetime,
    expiries: tuple[date, ...],
    anchor: float | None = None,
) -> tuple[FuturePoint, ...]:
    """The simulator's VX curve at ``vix`` and ``ts``: log-VIX relaxing with half-life
    ``vx_curve_half_life_years`` towards ``log(anchor)`` until each settlement. ``anchor`` (VIX
    points) is the curve's moving anchor (:attr:`CurveAnchor.level`); None: the anchor of a VIX
    whose slow average stands at ``vix``."""
    settle = tuple(vx_settlement_time(e).timestamp() for e in expiries)
    log_anchor = CurveAnchor(market, vix).log_level if anchor is None else math.log(anchor)
    return model_curve_at_seconds(market, vix, ts.timestamp(), expiries, settle, log_anchor)


def model_curve_at_seconds(
    market: SimulatorConfig,
    vix: float,
    now: float,
    expiries: tuple[date, ...],
    settle: tuple[float, ...],
    log_anchor: float,
) -> tuple[FuturePoint, ...]:
    """:func:`model_curve` with the times as POSIX seconds (``now``, each expiry's ``settle``)
    and the anchor as its log: the snapshot loop computes these once."""
    kappa = math.log(2.0) / market.vx_curve_half_life_years
    x = math.log(vix)
    return tuple(
        FuturePoint(
            e,
            math.exp(
                log_anchor + (x - log_anchor) * math.exp(-kappa * (s - now) / SECONDS_PER_YEAR)
            ),
        )
        for e, s in zip(expiries, settle, strict=True)
    )


def moved_curve(
    market: SimulatorConfig,
    settlements: tuple[tuple[date, float], ...],
    vix_then: float,
    then: float,
    anchor_then: float,
    vix_now: float,
    now: float,
    anchor_now: float,
) -> tuple[FuturePoint, ...]:
    """Each future's settlement at ``then`` (VIX ``vix_then``, log-anchor ``anchor_then``) times
    the model's change to ``now`` (VIX ``vix_now``, log-anchor ``anchor_now``)."""
    expiries = tuple(e for e, _ in settlements)
    settle = tuple(vx_settlement_time(e).timestamp() for e in expiries)
    before = model_curve_at_seconds(market, vix_then, then, expiries, settle, anchor_then)
    after = model_curve_at_seconds(market, vix_now, now, expiries, settle, anchor_now)
    return tuple(
        FuturePoint(e, price * a.price / b.price)
        for (e, price), b, a in zip(settlements, before, after, strict=True)
    )

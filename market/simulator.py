"""The simulated market: a seeded, reproducible joint model of SPX, VIX and the VX curve
(SPEC section 4), emitted as :class:`~market.snapshot.MarketSnapshot` ticks.

Model, in trading-session time (one session = one unit; 252 a year):

- log-VIX is an Ornstein-Uhlenbeck process towards ``log(vix_reversion_level)`` with upward
  exponential jumps (Poisson). The jumps lift the long-run mean and median above the reversion level
  and give the right tail: calm stretches, spikes and slow decays.
- SPX log returns have volatility ``realized_vol_ratio * VIX`` (realized below implied: the variance
  risk premium), diffusion shocks correlated ``spx_vix_corr`` with log-VIX shocks, a drop of
  ``spx_vix_jump_beta`` times each VIX jump, and drift ``r - q`` (jumps compensated).
- The VX curve prices each listed future as the VIX's expectation under a premium-bearing pricing
  measure: log-VIX relaxing with half-life ``vx_curve_half_life_years`` towards a moving anchor,
  ``log(future) = a + (log(VIX) - a) * exp(-ln 2 * tau / vx_curve_half_life_years)`` for ``tau``
  calendar years to the future's 09:30 settlement. The anchor ``a = log(vx_curve_level) +
  vx_anchor_weight * (s - log(vx_curve_level))`` weights the log of a slow average of the VIX,
  ``s``, against a fixed level: ``s`` is an exponentially weighted average of log-VIX with
  half-life ``vx_anchor_half_life_days`` sessions, starting at the first VIX and moved at each
  snapshot by the step's share of a session (:class:`CurveAnchor`; no random draws). The anchor
  sits a premium above a calm VIX (contango), far below a fresh spike (backwardation), and climbs
  towards a VIX that has stayed high for weeks, so in long stress the front future can sit at or
  above spot: the market prices persistence.
- Each session is stepped at the snapshot cadence; the overnight gap (weekends and holidays
  alike) is one step carrying ``overnight_variance_fraction`` of a session's variance, mean
  reversion and jump odds.
- The SOQ (VRO) prints on the first snapshot of an SPX (VX) expiry session: the opening SPX (VIX)
  with its own small log-normal noise.
- Macro state: each session carries its scheduled releases from the synthetic calendar of
  :mod:`market.macro`. The advance-decline line starts at 0 and adds each session's net advancing
  issues; intraday it stands at the previous close's level plus the net advancers so far. Net
  advancers are ``ad_issues * tanh(ad_net_per_sd * b / ad_issues)`` (saturating: a session cannot
  have more advancers than issues), where the breadth ``b`` is ``ad_spx_corr`` times SPX's log
  return since the previous close in units of the session's standard deviation (at the previous
  close's VIX) plus ``sqrt(1 - ad_spx_corr**2)`` times an independent Brownian motion over the
  session; so session changes of the line correlate about 0.8 with SPX's session returns.
- Option surfaces follow the VIX deterministically: SPX vols from ``SpxSurface.from_vix``, VIX
  option vols (vol-of-vol with call skew) from a ``VixSurface`` evaluated at the VIX; no random
  draws.

A scenario (``market.scenarios``) replaces the model's log-VIX with its script plus noise; the
noise takes the place of the VIX diffusion shock, and scripted moves push SPX like jumps do. The VX
curve's anchor follows whichever VIX is printed, scripted or not.

Random numbers come from one ``numpy.random.default_rng(seed)``, drawn in a fixed block per
session, so the same config, seed, start and scenario give bitwise identical snapshots. The breadth
noise has its own generator, ``default_rng([seed, 0xAD])`` (also a fixed block per session), so
adding it left every SPX and VIX path as it was.

The parameters are :class:`~market.sim_config.SimulatorConfig`; each session's snapshot times and
step lengths come from :mod:`market.sim_sessions`; :class:`~market.sim_anchor.CurveAnchor` is the
anchor's arithmetic for history mode. This module steps the joint path and assembles the snapshots.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date

import numpy as np

from market.calendar import CalendarRangeError, trading_calendar
from market.scenarios import Scenario, get_scenario
from market.sim_anchor import CurveAnchor
from market.sim_config import SimulatorConfig
from market.sim_sessions import session_plan
from market.snapshot import FuturePoint, MarketSnapshot
from market.surface import VixSpreadModel

__all__ = ["SESSIONS_PER_YEAR", "CurveAnchor", "Simulator", "SimulatorConfig"]

SESSIONS_PER_YEAR = 252.0
_SECONDS_PER_YEAR = 365.0 * 86400.0


class Simulator:
    """Seeded generator of market snapshots (see the module docstring for the model)."""

    def __init__(
        self, config: SimulatorConfig, *, seed: int, start: date, scenario: str | None = None
    ) -> None:
        self.config = config
        self.seed = seed
        self.scenario: Scenario | None = None if scenario is None else get_scenario(scenario)
        self.start = trading_calendar().session_on_or_after(start)

    def _sessions(self, count: int | None) -> Iterator[date]:
        cal = trading_calendar()
        session = self.start
        n = 0
        while count is None or n < count:
            yield session
            n += 1
            try:
                session = cal.next_session(session)
            except CalendarRangeError:
                return

    def snapshots(self, sessions: int | None = None) -> Iterator[MarketSnapshot]:
        """Snapshots every ``cadence_minutes`` from each open through its close (inclusive) for
        ``sessions`` sessions (None: until the calendar, whose expiries run to 2040, ends; a count
        beyond it raises ``CalendarRangeError``). Each call starts afresh."""
        cfg = self.config
        scenario = self.scenario
        rng = np.random.default_rng(self.seed)
        breadth_rng = np.random.default_rng([self.seed, 0xAD])  # own stream: SPX/VIX unchanged
        spreads = cfg.spread_model()
        surface_for = cfg.surface
        vix_surface = cfg.vix_surface()
        vix_spreads = VixSpreadModel()
        rate, div = cfg.rate, cfg.div_yield
        carry = rate - div

        # VIX model constants (per session of model time).
        theta = math.log(cfg.vix_reversion_level)
        kappa = math.log(2.0) / cfg.vix_half_life_days
        sigma_v = cfg.vix_vol_of_log
        jumps_per_session = cfg.vix_jumps_per_year / SESSIONS_PER_YEAR
        jump_mean = cfg.vix_jump_mean
        log_floor, log_cap = math.log(cfg.vix_floor), math.log(cfg.vix_cap)
        # SPX constants.
        rho = cfg.spx_vix_corr
        rho_perp = math.sqrt(max(0.0, 1.0 - rho * rho))
        var_scale = (cfg.realized_vol_ratio / 100.0) ** 2 / SESSIONS_PER_YEAR
        beta = cfg.spx_vix_jump_beta
        # E[exp(-beta J)] = 1 / (1 + beta m) for J ~ Exp(mean m): compensate so E[dS/S] = r - q.
        jump_comp = jumps_per_session * beta * jump_mean / (1.0 + beta * jump_mean)
        # VX curve constants: the anchor is anchor_base + anchor_weight * (slow average of x).
        curve_rest = math.log(cfg.vx_curve_level)
        curve_kappa = math.log(2.0) / cfg.vx_curve_half_life_years
        anchor_weight = cfg.vx_anchor_weight
        anchor_base = (1.0 - anchor_weight) * curve_rest
        anchor_rate = math.log(2.0) / cfg.vx_anchor_half_life_days
        # Advance-decline constants.
        ad_issues = cfg.ad_issues
        ad_gain = cfg.ad_net_per_sd / ad_issues
        ad_signal = cfg.ad_spx_corr / math.sqrt(var_scale)  # per log-return per VIX point
        ad_noise = math.sqrt(max(0.0, 1.0 - cfg.ad_spx_corr**2))
        # Scenario noise constants.
        if scenario is not None:
            noise_kappa = math.log(2.0) / scenario.noise_half_life_sessions
            noise_sd = scenario.noise
            noise_bound = scenario.noise * scenario.noise_bound
            x = scenario.log_level(0.0)
        else:
            noise_kappa = noise_sd = noise_bound = 0.0
            x = math.log(cfg.vix_start)
        x = min(max(x, log_floor), log_cap)
        anchor_average = x  # the slow average of log-VIX starts at the first VIX
        noise = 0.0
        script = x
        log_spx = math.log(cfg.spx_start)
        ad_close = 0.0
        ad = 0.0
        prev_seconds: float | None = None
        seq = 0
        step_cache: dict[float, tuple[float, float, float, float, float, float]] = {}

        for index, session in enumerate(self._sessions(sessions)):
            try:
                plan = session_plan(
                    session,
                    cfg.cadence_minutes,
                    cfg.vx_curve_points,
                    cfg.overnight_variance_fraction,
                )
            except CalendarRangeError:
                if sessions is None:
                    return  # the calendar (and its expiries) ends: so does the endless feed
                raise
            n = len(plan.times)
            normals = rng.standard_normal((2, n))
            z_vix = normals[0].tolist()
            z_spx = normals[1].tolist()
            jump_odds = rng.random(n).tolist()
            jump_sizes = rng.exponential(jump_mean, n).tolist() if jump_mean > 0 else [0.0] * n
            z_soq, z_vro = rng.standard_normal(2).tolist()
            # Breadth: the session's standardized SPX return plus a Brownian motion of its own.
            breadth_walk = np.cumsum(plan.sqrt_steps * breadth_rng.standard_normal(n))
            if index == 0:
                breadth_walk -= breadth_walk[0]  # the line starts at 0 on the first snapshot
            breadth_noise = (ad_gain * ad_noise * breadth_walk).tolist()
            spx_ref = log_spx
            ad_slope = ad_gain * ad_signal / math.exp(x)  # at the previous close's VIX
            macro = plan.macro_events
            steps = plan.step_sessions
            session_seconds = plan.ts_seconds
            settle = plan.vx_settle_seconds
            vx_expiries = plan.vx_expiries
            span = session_seconds[-1] - session_seconds[0]

            for i in range(n):
                ts_s = session_seconds[i]
                if prev_seconds is not None:
                    dt = steps[i]
                    consts = step_cache.get(dt)
                    if consts is None:
                        decay = math.exp(-kappa * dt)
                        noise_decay = math.exp(-noise_kappa * dt)
                        consts = (
                            decay,
                            sigma_v * math.sqrt(-math.expm1(-2.0 * kappa * dt) / (2.0 * kappa))
                            if kappa > 0
                            else sigma_v * math.sqrt(dt),
                            noise_decay,
                            noise_sd * math.sqrt(max(0.0, 1.0 - noise_decay * noise_decay)),
                            -math.expm1(-jumps_per_session * dt),
                            -math.expm1(-anchor_rate * dt),
                        )
                        step_cache[dt] = consts
                    decay, vol_step, noise_decay, noise_step, jump_odd, anchor_pull = consts
                    zv = z_vix[i]
                    jumped = jump_odds[i] < jump_odd
                    vix_prev = math.exp(x)
                    if scenario is None:
                        move = jump_sizes[i] if jumped else 0.0
                        x = theta + (x - theta) * decay + vol_step * zv + move
                        pushed = move
                        compensation = jump_comp * dt
                    else:
                        t = index + (ts_s - session_seconds[0]) / span if span > 0 else index
                        new_script = scenario.log_level(t)
                        pushed = new_script - script
                        script = new_script
                        noise = noise * noise_decay + noise_step * zv
                        noise = min(max(noise, -noise_bound), noise_bound)
                        x = script + noise
                        compensation = 0.0
                    x = min(max(x, log_floor), log_cap)
                    anchor_average += anchor_pull * (x - anchor_average)
                    var = var_scale * vix_prev * vix_prev * dt
                    log_spx += (
                        carry * (ts_s - prev_seconds) / _SECONDS_PER_YEAR
                        - 0.5 * var
                        + math.sqrt(var) * (rho * zv + rho_perp * z_spx[i])
                        - beta * pushed
                        + compensation
                    )
                prev_seconds = ts_s

                vix = math.exp(x)
                spx = math.exp(log_spx)
                ad = ad_close + ad_issues * math.tanh(
                    ad_slope * (log_spx - spx_ref) + breadth_noise[i]
                )
                anchor = anchor_base + anchor_weight * anchor_average
                curve = tuple(
                    FuturePoint(
                        e,
                        math.exp(
                            anchor
                            + (x - anchor) * math.exp(-curve_kappa * (s - ts_s) / _SECONDS_PER_YEAR)
                        ),
                    )
                    for e, s in zip(vx_expiries, settle, strict=True)
                )
                first = i == 0
                yield MarketSnapshot(
                    seq,
                    plan.times[i],
                    session,
                    spx,
                    vix,
                    rate,
                    div,
                    curve,
                    surface_for(vix),
                    plan.spx_expiries,
                    # settlement prints are published to index precision (0.01)
                    round(spx * math.exp(cfg.soq_noise * z_soq), 2)
                    if first and plan.is_spx_expiry
                    else None,
                    round(vix * math.exp(cfg.vro_noise * z_vro), 2)
                    if first and plan.is_vx_expiry
                    else None,
                    spreads,
                    vix_surface,
                    vix_spreads,
                    macro,
                    ad,
                )
                seq += 1
            ad_close = ad

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
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from functools import lru_cache

import numpy as np
from pydantic import BaseModel, Field, model_validator

from market.calendar import (
    NEW_YORK,
    CalendarRangeError,
    TradingCalendar,
    spx_expiries_after,
    trading_calendar,
    vx_expiries_after,
)
from market.macro import macro_events
from market.scenarios import Scenario, get_scenario
from market.snapshot import SPX_EXPIRIES_LISTED, FuturePoint, MarketSnapshot
from market.surface import SpreadModel, SpxSurface, VixSpreadModel, VixSurface

SESSIONS_PER_YEAR = 252.0
_SECONDS_PER_YEAR = 365.0 * 86400.0


class SimulatorConfig(
    BaseModel, frozen=True, extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False
):
    """Parameters of the simulated market (defaults fitted to 1990-2026 history)."""

    cadence_minutes: int = Field(1, ge=1, le=405)
    """Minutes of market time between snapshots; each session also ends with a snapshot at its
    close."""
    spx_start: float = Field(5900.0, gt=0)
    """SPX at the first open (index points). Not capped (``bench/realism.py`` chains 1,000 model
    years, each segment starting where the last ended); the replay reader rejects SPX levels above
    10,000,000 as damage, 1,700 times the default."""
    vix_start: float = Field(17.0, gt=0, le=500)
    """VIX at the first open (ignored under a scenario, which starts at its first anchor)."""
    rate: float = 0.04
    """Risk-free rate (decimal, continuously compounded)."""
    div_yield: float = 0.013
    """SPX dividend yield (decimal, continuous)."""

    vix_reversion_level: float = Field(13.4, gt=0)
    """VIX level the log-VIX diffusion reverts to; jumps lift the long-run median to ~17.6 and the
    mean to ~19.4 (1990-2026 closes: 17.58 and 19.45; ``bench/realism.py`` compares)."""
    vix_half_life_days: float = Field(35.0, gt=0)
    """Half-life of log-VIX mean reversion (sessions); an AR(1) fit on 1990-2026 daily log closes
    gives 34.6."""
    vix_vol_of_log: float = Field(0.053, ge=0)
    """Diffusion volatility of log-VIX per square-root session."""
    vix_jumps_per_year: float = Field(7.0, ge=0)
    """Poisson intensity of upward VIX jumps (per 252 sessions)."""
    vix_jump_mean: float = Field(0.21, ge=0)
    """Mean size of a jump in log-VIX (exponentially distributed)."""
    vix_floor: float = Field(8.0, gt=0)
    """Lowest VIX the model prints."""
    vix_cap: float = Field(150.0, gt=0, le=500)
    """Highest VIX the model prints. At most 500: the replay reader rejects a VIX, VRO or VX price
    above 1,000 as damage (the highest VIX ever printed is 89.53)."""

    realized_vol_ratio: float = Field(0.78, gt=0)
    """SPX diffusion volatility as a fraction of the VIX (below 1: the variance risk premium)."""
    spx_vix_corr: float = Field(-0.7, ge=-1, le=1)
    """Correlation of SPX diffusion shocks with log-VIX diffusion shocks."""
    spx_vix_jump_beta: float = Field(0.08, ge=0)
    """SPX log-return drop per unit of log-VIX jump (or of scripted scenario move)."""
    overnight_variance_fraction: float = Field(0.2, ge=0, lt=1)
    """Share of a session's variance, mean reversion and jump odds carried by the overnight gap."""

    vx_curve_level: float = Field(100.0, gt=0, le=500)
    """Fixed level (VIX points) in the VX curve's anchor: the anchor is the weighted geometric mean
    ``vx_curve_level ** (1 - w) * average ** w`` (``w = vx_anchor_weight``) of this level and the
    slow average of the VIX, so it is a premium above an average below this level (about 23% at
    13, 13% at 30). With ``w = 0`` it is the level long-dated futures head to."""
    vx_curve_half_life_years: float = Field(0.1, gt=0)
    """Half-life (calendar years) of the VIX's reversion towards the anchor priced into the VX
    curve. With the anchor, the median VX2 / VX1 - 1 is 6.1% (2004-2026: 6.4%)."""
    vx_anchor_weight: float = Field(0.9, ge=0, le=1)
    """Weight of the slow average of the VIX in the curve's anchor (0: a fixed anchor at
    ``vx_curve_level``; 1: the average itself). VX2 is above VX1 exactly when the VIX is below
    the anchor: 84% of days (2004-2026: 83%); VX1 is below the VIX on 66% of days with the VIX at
    or above 30 (2004-2026: 66%)."""
    vx_anchor_half_life_days: float = Field(15.0, gt=0)
    """Half-life (sessions) of the exponentially weighted average of log-VIX in the curve's
    anchor: how long stress must last before the curve prices its persistence."""
    vx_curve_points: int = Field(8, ge=4, le=12)
    """How many VX futures are listed."""
    soq_noise: float = Field(0.001, ge=0)
    """Log standard deviation of the SOQ around the opening SPX."""
    vro_noise: float = Field(0.02, ge=0)
    """Log standard deviation of the VRO around the opening VIX."""

    atm_vol_ratio: float = Field(0.85, gt=0)
    """30-day ATM SPX vol as a fraction of VIX / 100."""
    long_run_atm_vol: float = Field(0.16, gt=0)
    """ATM vol (decimal) the SPX term structure heads to at long maturities."""
    atm_var_half_life_years: float = Field(0.2, gt=0)
    """How fast (calendar years) the ATM term structure reaches its long-run level."""
    skew_put_slope: float = Field(0.33, gt=0)
    """Put-wing vol per unit of log-moneyness / sqrt(years)."""
    skew_call_slope: float = Field(0.02, ge=0)
    """Far call-wing vol per unit of log-moneyness / sqrt(years)."""
    skew_kink: float = 0.07
    """Log-moneyness / sqrt(years) where the smile bottoms out."""
    skew_smoothness: float = Field(0.035, gt=0)
    """Width of the smile's rounding, in log-moneyness / sqrt(years)."""

    vix_option_atm_vol: float = Field(0.90, gt=0)
    """30-day ATM implied vol (decimal) of VIX options when the VIX is at
    ``vix_option_reference_vix``."""
    vix_option_reference_vix: float = Field(14.0, gt=0)
    """VIX level at which the 30-day VIX-option ATM vol is ``vix_option_atm_vol``."""
    vix_option_vol_elasticity: float = Field(0.30, ge=0)
    """Elasticity of VIX-option ATM vol to the VIX level (below 1: vol-of-vol rises less than
    proportionally)."""
    vix_option_term_exponent: float = Field(0.25, ge=0)
    """Power-law decay of VIX-option ATM vol with maturity."""
    vix_option_call_wing: float = Field(0.30, ge=0)
    """Relative VIX-option vol added per ATM standard deviation up the call wing."""
    vix_option_put_wing: float = Field(0.05, ge=0)
    """Relative VIX-option vol removed per ATM standard deviation down the put wing."""

    spread_base_width: float = Field(0.10, gt=0)
    """Quoted width of a near-worthless option at the reference VIX (index points)."""
    spread_price_fraction: float = Field(0.008, ge=0)
    """Quoted width added per point of premium."""
    spread_reference_vix: float = Field(15.0, gt=0)
    """VIX at which widths are as stated."""
    spread_vix_exponent: float = Field(1.0, ge=0)
    """Elasticity of quoted widths to the VIX."""
    spread_max_width: float = Field(20.0, gt=0)
    """Widest quote before rounding (index points)."""

    ad_issues: float = Field(3000.0, gt=0)
    """Issues in the advance-decline universe (NYSE-like): the most net advancers (or decliners) a
    session can print."""
    ad_net_per_sd: float = Field(1100.0, gt=0)
    """Net advancing issues of a session whose breadth is one standard deviation (before the
    saturation at ``ad_issues``)."""
    ad_spx_corr: float = Field(0.85, ge=0, le=1)
    """Correlation of a session's breadth with SPX's standardized session return; the rest is
    independent noise. Saturation brings the line's correlation with SPX to about 0.8."""

    @model_validator(mode="after")
    def _bounds_ordered(self) -> SimulatorConfig:
        if self.vix_floor >= self.vix_cap:
            raise ValueError(f"vix_floor ({self.vix_floor}) must be below vix_cap ({self.vix_cap})")
        if not self.vix_floor <= self.vix_start <= self.vix_cap:
            raise ValueError(
                f"vix_start ({self.vix_start}) must lie within [vix_floor, vix_cap]"
                f" = [{self.vix_floor}, {self.vix_cap}]"
            )
        return self

    def spread_model(self) -> SpreadModel:
        return SpreadModel(
            self.spread_base_width,
            self.spread_price_fraction,
            self.spread_reference_vix,
            self.spread_vix_exponent,
            self.spread_max_width,
        )

    def surface(self, vix: float) -> SpxSurface:
        """The SPX surface anchored on ``vix``."""
        return SpxSurface.from_vix(
            vix,
            atm_ratio=self.atm_vol_ratio,
            long_run_atm_vol=self.long_run_atm_vol,
            atm_var_half_life_years=self.atm_var_half_life_years,
            put_slope=self.skew_put_slope,
            call_slope=self.skew_call_slope,
            kink=self.skew_kink,
            smoothness=self.skew_smoothness,
        )

    def vix_surface(self) -> VixSurface:
        """The VIX-option surface (evaluated at each snapshot's VIX)."""
        return VixSurface(
            self.vix_option_atm_vol,
            self.vix_option_reference_vix,
            self.vix_option_vol_elasticity,
            self.vix_option_term_exponent,
            self.vix_option_call_wing,
            self.vix_option_put_wing,
        )


class CurveAnchor:
    """The VX curve's moving anchor (see the module docstring): the slow exponentially weighted
    average ``s`` of log-VIX, started at a first VIX and moved by :meth:`step`, and the anchor
    ``log(vx_curve_level) + vx_anchor_weight * (s - log(vx_curve_level))`` it gives. The simulator
    runs the same arithmetic inline; history mode (:mod:`market.history_feed`) uses this class."""

    __slots__ = ("_base", "_weight", "_rate", "average")

    def __init__(self, config: SimulatorConfig, vix: float) -> None:
        self._weight = config.vx_anchor_weight
        self._base = (1.0 - self._weight) * math.log(config.vx_curve_level)
        self._rate = math.log(2.0) / config.vx_anchor_half_life_days
        self.average = math.log(vix)
        """The slow average of log-VIX."""

    def step(self, vix: float, sessions: float) -> None:
        """Move the average towards ``log(vix)`` over ``sessions`` sessions of model time (a
        snapshot step: the overnight gap counts ``overnight_variance_fraction`` of a session)."""
        self.average += -math.expm1(-self._rate * sessions) * (math.log(vix) - self.average)

    @property
    def log_level(self) -> float:
        """The anchor: log of a VIX level."""
        return self._base + self._weight * self.average

    @property
    def level(self) -> float:
        """The anchor in VIX points."""
        return math.exp(self.log_level)


class _SessionPlan:
    """Snapshot times of one session and the model-time length of each step into them."""

    __slots__ = (
        "session",
        "times",
        "ts_seconds",
        "step_sessions",
        "spx_expiries",
        "vx_expiries",
        "vx_settle_seconds",
        "is_spx_expiry",
        "is_vx_expiry",
        "sqrt_steps",
        "macro_events",
    )

    def __init__(
        self, cal: TradingCalendar, session: date, cadence: int, points: int, overnight: float
    ) -> None:
        open_utc, close_utc = cal.session_hours(session)
        total = (close_utc - open_utc).total_seconds() / 60.0
        offsets = list(range(0, int(total), cadence))
        if offsets[-1] != total:
            offsets.append(int(total))
        self.session = session
        self.times = [open_utc + timedelta(minutes=m) for m in offsets]
        self.ts_seconds = [t.timestamp() for t in self.times]
        # Step 0 is the overnight gap into the open; step i the stretch between snapshots i-1, i.
        self.step_sessions = [overnight] + [
            (1.0 - overnight) * (b - a) / total for a, b in zip(offsets, offsets[1:], strict=False)
        ]
        self.spx_expiries = tuple(spx_expiries_after(session, SPX_EXPIRIES_LISTED, cal))
        self.vx_expiries = tuple(vx_expiries_after(session, points, cal))
        self.vx_settle_seconds = [
            datetime(e.year, e.month, e.day, 9, 30, tzinfo=NEW_YORK).timestamp()
            for e in self.vx_expiries
        ]
        yesterday = session - timedelta(days=1)
        self.is_spx_expiry = spx_expiries_after(yesterday, 1, cal)[0] == session
        self.is_vx_expiry = vx_expiries_after(yesterday, 1, cal)[0] == session
        self.sqrt_steps = np.sqrt(self.step_sessions)
        self.macro_events = macro_events(session)


@lru_cache(maxsize=64)
def _plan(session: date, cadence: int, points: int, overnight: float) -> _SessionPlan:
    return _SessionPlan(trading_calendar(), session, cadence, points, overnight)


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
                plan = _plan(
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

"""The simulated market's parameters: :class:`SimulatorConfig`, one frozen pydantic model with
defaults fitted to 1990-2026 history, its cross-field checks (VIX floor below cap, the starting VIX
between them), and the SPX surface, VIX-option surface and spread model it builds. The model these
parameters drive is described in :mod:`market.simulator`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from market.surface import SpreadModel, SpxSurface, VixSurface


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

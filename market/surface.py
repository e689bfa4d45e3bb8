"""The SPX implied-volatility surface and the bid/ask spread model (SPEC section 4).

Both are a handful of numbers carried by every snapshot, so a snapshot can price and quote any
listed contract on its own and a recorded session stays small.

The surface, in log-moneyness ``k = ln(K / F)`` against the forward and calendar years ``T``::

    vol(k, T) = softcap(atm(T) + smile(k / sqrt(T)))

- ``atm(T)``: ATM variance relaxes from a short-term level to a long-run level (a Heston-like
  term structure): ``atm(T)^2 = v_long + (v_short - v_long) * (1 - exp(-kappa T)) / (kappa T)``.
  Upward sloping when the VIX is low, inverted when it is high; ATM total variance
  ``atm(T)^2 T`` always increases with ``T``.
- ``smile(x)``: a hyperbola in normalized moneyness ``x = k / sqrt(T)`` (vol points per unit of
  ``x``): a steep linear put wing, a flat call wing, its minimum a little out of the money on the
  call side. Because ``sqrt(T) * smile(k / sqrt(T))`` grows with ``T`` up to a small bounded
  term, total variance at fixed ``k`` increases with ``T`` for the default parameters.
- ``softcap``: ``cap * tanh(v / cap)`` then a floor; it bends the far put wing over so deep puts
  keep increasing in strike (a linear vol wing eventually breaks that), and it keeps total variance
  monotone in ``T`` (``tanh(u) >= u sech(u)^2``).

The surface is anchored on the VIX: the 30-day ATM vol is ``atm_ratio * VIX / 100`` (the VIX is a
variance-swap level, above ATM because of the put skew).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

THIRTY_DAYS = 30.0 / 365.0
"""The VIX horizon in calendar years."""
_MIN_YEARS = 1e-6
"""Shortest maturity the surface evaluates (avoids 0/0 at expiry; ~30 s)."""


@dataclass(frozen=True, slots=True)
class SpxSurface:
    """SPX implied vols from seven numbers (vols are decimals: 0.15 is 15%)."""

    short_var: float
    """ATM variance at ``T -> 0`` (decimal vol squared)."""
    long_var: float
    """ATM variance for long maturities (decimal vol squared)."""
    kappa: float
    """Speed (per year) at which ATM variance moves from ``short_var`` to ``long_var``."""
    put_slope: float
    """Vol added per unit of ``x = k / sqrt(T)`` going down the put wing (0.33: +3.3 vol points
    at x = -0.1, about the 25-delta put of a 30-day option at VIX 14)."""
    call_slope: float
    """Far call-wing slope, vol per unit of ``x`` (small: SPX call wings are nearly flat)."""
    kink: float
    """``x`` where the smile bottoms out (out of the money on the call side)."""
    smoothness: float
    """Width in ``x`` of the rounding between the two wings."""
    vol_floor: float = 0.02
    vol_cap: float = 2.5

    @classmethod
    def from_vix(
        cls,
        vix: float,
        *,
        atm_ratio: float = 0.85,
        long_run_atm_vol: float = 0.16,
        atm_var_half_life_years: float = 0.2,
        put_slope: float = 0.33,
        call_slope: float = 0.02,
        kink: float = 0.07,
        smoothness: float = 0.035,
    ) -> SpxSurface:
        """Anchor the surface on the VIX (index points, e.g. 14.5).

        The 30-day ATM vol is ``atm_ratio * vix / 100``; ``long_run_atm_vol`` is where the ATM term
        structure heads (decimal); ``atm_var_half_life_years`` sets how fast it gets there.
        """
        atm30 = atm_ratio * vix / 100.0
        kappa = math.log(2.0) / atm_var_half_life_years
        long_var = long_run_atm_vol * long_run_atm_vol
        phi = -math.expm1(-kappa * THIRTY_DAYS) / (kappa * THIRTY_DAYS)
        short_var = long_var + (atm30 * atm30 - long_var) / phi
        # A very low VIX would ask for a negative short-term variance: keep a quarter of the
        # 30-day variance instead (the 30-day ATM then comes out slightly above target).
        short_var = max(short_var, 0.25 * atm30 * atm30)
        return cls(short_var, long_var, kappa, put_slope, call_slope, kink, smoothness)

    def atm_vol(self, years: float) -> float:
        """ATM implied vol (decimal) for a maturity in calendar years."""
        kt = self.kappa * max(years, _MIN_YEARS)
        phi = -math.expm1(-kt) / kt
        return math.sqrt(self.long_var + (self.short_var - self.long_var) * phi)

    def _smile_constants(self) -> tuple[float, float, float]:
        beta = 0.5 * (self.put_slope + self.call_slope)
        rho = (self.call_slope - self.put_slope) / (self.put_slope + self.call_slope)
        at_zero = beta * (-rho * self.kink + math.hypot(self.kink, self.smoothness))
        return beta, rho, at_zero

    def vols(self, log_moneyness: FloatArray, years: float) -> FloatArray:
        """Implied vols (decimal) at log-moneyness ``ln(K / F)`` for one maturity (calendar years).

        Always finite and within ``[vol_floor, vol_cap]``.
        """
        t = max(years, _MIN_YEARS)
        sqrt_t = math.sqrt(t)
        beta, rho, at_zero = self._smile_constants()
        x = np.asarray(log_moneyness, dtype=np.float64) / sqrt_t - self.kink
        raw = self.atm_vol(t) + beta * (rho * x + np.sqrt(x * x + self.smoothness**2)) - at_zero
        capped = self.vol_cap * np.tanh(raw / self.vol_cap)
        return np.maximum(capped, self.vol_floor)

    def vol(self, log_moneyness: float, years: float) -> float:
        """Scalar :meth:`vols` in plain float math (the per-contract quoting path)."""
        t = max(years, _MIN_YEARS)
        sqrt_t = math.sqrt(t)
        beta, rho, at_zero = self._smile_constants()
        x = log_moneyness / sqrt_t - self.kink
        raw = self.atm_vol(t) + beta * (rho * x + math.sqrt(x * x + self.smoothness**2)) - at_zero
        return max(self.vol_cap * math.tanh(raw / self.vol_cap), self.vol_floor)

    def to_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, float]) -> SpxSurface:
        return cls(**{k: float(v) for k, v in d.items()})


@dataclass(frozen=True, slots=True)
class SpreadModel:
    """Quoted bid/ask width of an SPX option, before rounding out to the tick grid.

    ``width = min(max_width, (base_width + price_fraction * theo) * (vix / reference_vix) **
    vix_exponent)`` in index points, split evenly around the theoretical value; the bid is then
    rounded down and the ask up to the tick grid, so quotes straddle the theo and are at least a
    tick wide. At VIX 14 a 0.16-delta 45-DTE put (theo ~30) is quoted about 0.4-0.6 wide, an ATM
    option (theo ~140) about 1.2 wide.
    """

    base_width: float = 0.10
    """Width of a near-worthless option at the reference VIX (index points)."""
    price_fraction: float = 0.008
    """Width added per point of premium."""
    reference_vix: float = 15.0
    vix_exponent: float = 1.0
    """Elasticity of width to the VIX (1: width proportional to the VIX)."""
    max_width: float = 20.0
    """Widest quote (index points), before rounding."""

    def half_width(self, theo: float, vix: float) -> float:
        """Half the quoted width (index points) of one option."""
        scale = math.pow(vix / self.reference_vix, self.vix_exponent)
        return 0.5 * min(self.max_width, (self.base_width + self.price_fraction * theo) * scale)

    def half_widths(self, theo: FloatArray, vix: float) -> FloatArray:
        """Vectorized :meth:`half_width`."""
        scale = math.pow(vix / self.reference_vix, self.vix_exponent)
        widths: FloatArray = np.minimum(
            self.max_width, (self.base_width + self.price_fraction * theo) * scale
        )
        return 0.5 * widths

    def to_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, float]) -> SpreadModel:
        return cls(**{k: float(v) for k, v in d.items()})

"""Implied-volatility surfaces (SPX, VIX options), bid/ask spread and quote-size models (SPEC
section 4).

Each is a handful of numbers carried by every snapshot (the size models are fixed conventions), so
a snapshot can price and quote any listed contract on its own and a recorded session stays small.

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


@dataclass(frozen=True, slots=True)
class VixSurface:
    """Implied vols of VIX options (Black-76 on the VX future of the same expiry), given the VIX.

    Like :class:`SpreadModel`, it is a rule evaluated at the snapshot's VIX, so one instance serves
    a whole simulated session. In standardized moneyness ``x = ln(K / F) / (atm * sqrt(T))`` (ATM
    standard deviations)::

        atm(T, vix) = atm_vol_at_reference * (vix / reference_vix) ** vix_elasticity
                      * (max(T, min_years) / 30 days) ** -term_exponent
        vol(x) = softcap(atm * (1 + a x + b (sqrt(x^2 + s^2) - s)))

    - Level: vol-of-vol rises with the VIX but far less than proportionally (90% at VIX 14, 113%
      at 30, 140% at 60 for 30 days; VVIX history 2007-2025: median ~85 at VIX 12-15, ~105 at
      28-35, ~116 above 50, and VVIX, a variance-swap level, sits above the ATM vol). History mode
      can pin the level to a VVIX print by setting ``reference_vix`` to that day's VIX.
    - Term structure: a power law, shorter expiries carrying more vol-of-vol.
    - Smile: ``a = (call_wing + put_wing) / 2``, ``b = (call_wing - put_wing) / 2``: the vol rises
      by ``call_wing`` of the ATM vol per standard deviation up the call wing (the VIX spikes up,
      not down) and falls by ``put_wing`` per standard deviation down the put wing. ``softcap``
      is ``vol_cap * tanh(v / vol_cap)`` then ``vol_floor``; it bends the far call wing over so
      call prices keep falling, and convex, in the strike.
    """

    atm_vol_at_reference: float = 0.90
    """ATM implied vol (decimal) of a 30-day VIX option when the VIX is at ``reference_vix``."""
    reference_vix: float = 14.0
    vix_elasticity: float = 0.30
    """Elasticity of the ATM vol to the VIX level (below 1: less than proportional)."""
    term_exponent: float = 0.25
    """Power-law decay of ATM vol with maturity (0.25: a 90-day option at 76% of the 30-day vol)."""
    call_wing: float = 0.30
    """Relative vol added per ATM standard deviation up the call wing."""
    put_wing: float = 0.05
    """Relative vol removed per ATM standard deviation down the put wing."""
    smoothness: float = 0.5
    """Width (standard deviations) of the rounding between the two wings."""
    min_years: float = 7.0 / 365.0
    """Maturities shorter than this take its ATM vol (keeps the power law finite at expiry)."""
    vol_floor: float = 0.05
    vol_cap: float = 4.0

    def atm_vol(self, years: float, vix: float) -> float:
        """ATM implied vol (decimal) for a maturity in calendar years at a VIX level (points)."""
        t = max(years, self.min_years)
        return (
            self.atm_vol_at_reference
            * math.pow(vix / self.reference_vix, self.vix_elasticity)
            * math.pow(t / THIRTY_DAYS, -self.term_exponent)
        )

    def _wings(self) -> tuple[float, float, float]:
        a = 0.5 * (self.call_wing + self.put_wing)
        b = 0.5 * (self.call_wing - self.put_wing)
        return a, b, self.smoothness

    def vols(self, log_moneyness: FloatArray, years: float, vix: float) -> FloatArray:
        """Implied vols (decimal) at ``ln(K / F)`` for one maturity; within the floor and cap."""
        atm = self.atm_vol(years, vix)
        a, b, s = self._wings()
        x = np.asarray(log_moneyness, dtype=np.float64) / (atm * math.sqrt(max(years, _MIN_YEARS)))
        raw = atm * (1.0 + a * x + b * (np.sqrt(x * x + s * s) - s))
        capped = self.vol_cap * np.tanh(raw / self.vol_cap)
        return np.maximum(capped, self.vol_floor)

    def vol(self, log_moneyness: float, years: float, vix: float) -> float:
        """Scalar :meth:`vols` in plain float math."""
        atm = self.atm_vol(years, vix)
        a, b, s = self._wings()
        x = log_moneyness / (atm * math.sqrt(max(years, _MIN_YEARS)))
        raw = atm * (1.0 + a * x + b * (math.sqrt(x * x + s * s) - s))
        return max(self.vol_cap * math.tanh(raw / self.vol_cap), self.vol_floor)

    def to_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, float]) -> VixSurface:
        return cls(**{k: float(v) for k, v in d.items()})


@dataclass(frozen=True, slots=True)
class VixSpreadModel:
    """Quoted widths of VIX options and of VX / VXM futures.

    Options: ``SpreadModel`` rules with their own parameters (:meth:`options`): at VIX 15 a 1.50
    option is quoted about 0.10-0.15 wide, a 0.20 one 0.05-0.10.

    Futures: ``round(future_ticks * (1 + future_ticks_per_month * i) * (vix / reference_vix) **
    vix_exponent)`` ticks of 0.05 (at least one, at most ``max_future_ticks``) for the ``i``-th
    listed VX (0: front month), placed around the curve price so the quote straddles it; VXM is
    the VX quote widened by ``mini_extra_ticks`` on each side (same mid). Front VX: 0.05 wide at
    VIX 15-22, 0.10 at 23-37, 0.20 at 60.
    """

    option_base_width: float = 0.05
    option_price_fraction: float = 0.04
    option_max_width: float = 5.0
    future_ticks: float = 1.0
    future_ticks_per_month: float = 0.25
    mini_extra_ticks: int = 1
    max_future_ticks: int = 10
    reference_vix: float = 15.0
    vix_exponent: float = 1.0

    def options(self) -> SpreadModel:
        """The option-width rule as a :class:`SpreadModel`."""
        return SpreadModel(
            self.option_base_width,
            self.option_price_fraction,
            self.reference_vix,
            self.vix_exponent,
            self.option_max_width,
        )

    def future_width_ticks(self, month_index: int, vix: float) -> int:
        """Width of the VX quote in ticks for the ``month_index``-th listed expiry (0: front)."""
        scale = math.pow(vix / self.reference_vix, self.vix_exponent)
        raw = self.future_ticks * (1.0 + self.future_ticks_per_month * month_index) * scale
        return min(self.max_future_ticks, max(1, math.floor(raw + 0.5)))

    def to_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, float]) -> VixSpreadModel:
        ints = {"mini_extra_ticks", "max_future_ticks"}
        return cls(**{k: int(v) if k in ints else float(v) for k, v in d.items()})  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class SizeModel:
    """Displayed size (contracts) on each side of a quote: deterministic, no random draws.

    ``size = round(largest / ((1 + distance / distance_halving) * (vix / reference_vix) **
    vix_exponent))`` clamped to ``[smallest, largest]``. ``distance`` is how far the contract is
    from the most liquid one: ``|ln(K / F)| / (vol * sqrt(T))`` (standard deviations from the
    money) for options, the position on the curve (0: front month) for futures. So size is largest
    at the money (front month) in calm markets, and shrinks away from it and as the VIX rises.
    """

    largest: int
    smallest: int
    distance_halving: float = 1.0
    """Distance at which the size halves."""
    reference_vix: float = 15.0
    """VIX at and below which the closest contract shows ``largest``."""
    vix_exponent: float = 1.0

    def size(self, distance: float, vix: float) -> int:
        raw = self.largest / (
            (1.0 + distance / self.distance_halving)
            * (vix / self.reference_vix) ** self.vix_exponent
        )
        return min(self.largest, max(self.smallest, int(raw + 0.5)))  # raw >= 0: int() floors

    def sizes(self, distance: FloatArray, vix: float) -> NDArray[np.int64]:
        """Vectorized :meth:`size`."""
        scale = (1.0 + distance / self.distance_halving) * math.pow(
            vix / self.reference_vix, self.vix_exponent
        )
        raw = np.floor(self.largest / scale + 0.5)
        return np.clip(raw, self.smallest, self.largest).astype(np.int64)


SPX_OPTION_SIZES = SizeModel(200, 20)
"""SPX options: 200 contracts at the money at VIX 15 and below, 67 two deviations out, 20 floor."""
VIX_OPTION_SIZES = SizeModel(500, 50)
"""VIX options: 500 at the money when calm, down to 50."""
VX_SIZES = SizeModel(500, 100, distance_halving=2.0)
"""VX futures: 500 on the front month when calm, half that two months out, down to 100."""
VXM_SIZES = SizeModel(100, 20, distance_halving=2.0)
"""Mini VIX futures: 100 on the front month when calm, down to 20."""

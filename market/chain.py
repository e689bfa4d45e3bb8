"""Option chains and the pricing of single options (SPEC section 4).

An :class:`OptionChain` is every listed strike of one expiry within a window around the money,
priced vectorized with numpy: SPX options by Black-Scholes-Merton on spot at the SPX surface vol,
VIX options by Black-76 on the VX future of the same expiry at the VIX surface vol (to the 09:30 ET
VRO settlement). A single contract is priced with the same formula in plain float math
(:func:`black_price`), so stop checks on a few legs stay cheap. Quotes follow
:mod:`market.quote`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from market.instruments import SPX_STRIKE_STEP, VIX_STRIKE_STEP, Right
from market.pricing import Greeks, black76_greeks, bs_greeks
from market.quote import Quote, option_quotes_on_grid
from market.surface import (
    SPX_OPTION_SIZES,
    VIX_OPTION_SIZES,
    SizeModel,
    SpreadModel,
    SpxSurface,
    VixSurface,
)

FloatArray = NDArray[np.float64]

CHAIN_MIN_HALF_WIDTH = 0.10
"""A chain spans at least +-10% of spot ..."""
CHAIN_SD_HALF_WIDTH = 5.0
"""... or +-5 ATM standard deviations to expiry, whichever is wider ..."""
CHAIN_MAX_HALF_WIDTH = 0.5
"""... but never more than +-50% of spot."""
VIX_CHAIN_SD_DOWN = 2.5
"""A VIX option chain spans 2.5 ATM standard deviations below the future ..."""
VIX_CHAIN_SD_UP = 5.0
"""... and 5 above (the call wing is where the trading is) ..."""
VIX_CHAIN_LOG_BOUNDS = (0.2, math.log(3.0), math.log(5.0))
"""... in log-moneyness at least 0.2 either way, at most down to F / 3 and up to 5 F."""
_SQRT_HALF = math.sqrt(0.5)
_MIN_YEARS = 1e-12
"""Guard for the size model's standard deviations at expiry."""


class OptionModel(StrEnum):
    """How a chain is priced."""

    BSM = "bsm"
    """Black-Scholes-Merton on the index spot with a dividend yield (SPX)."""
    BLACK76 = "black76"
    """Black-76 on the futures price of the same expiry (VIX options on VX)."""


def model_greeks(
    model: OptionModel,
    is_call: bool | NDArray[np.bool_],
    underlying: float,
    strike: float | FloatArray,
    years: float,
    rate: float,
    div_yield: float,
    vol: float | FloatArray,
) -> Greeks:
    """Price and greeks (``market.pricing`` units) under ``model``; ``div_yield`` is unused by
    Black-76."""
    if model is OptionModel.BSM:
        return bs_greeks(is_call, underlying, strike, years, rate, div_yield, vol)
    return black76_greeks(is_call, underlying, strike, years, rate, vol)


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x * _SQRT_HALF)


def black_price(
    is_call: bool, forward: float, strike: float, years: float, discount: float, vol: float
) -> float:
    """Black price from the forward: BSM for SPX (forward ``S e^{(r-q)T}``) and Black-76 for VIX
    options (forward = the VX future). The same formula as ``market.pricing``, in float math."""
    sd = vol * math.sqrt(years)
    d1 = (math.log(forward / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    if is_call:
        return discount * (forward * _norm_cdf(d1) - strike * _norm_cdf(d2))
    return discount * (strike * _norm_cdf(-d2) - forward * _norm_cdf(-d1))


_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_DAYS_PER_YEAR = 365.0


def scalar_greeks(
    model: OptionModel,
    is_call: bool,
    underlying: float,
    strike: float,
    years: float,
    rate: float,
    div_yield: float,
    vol: float,
) -> Greeks:
    """:func:`model_greeks` for one option in float math (the exit and roll checks' hot path:
    numpy's per-call overhead is ~50 us on a scalar, this is ~3 us). The same formulas and the
    same limits at T = 0 and vol = 0; tests hold the two equal."""
    bsm = model is OptionModel.BSM
    q = div_yield if bsm else 0.0
    t = max(years, 0.0)
    df = math.exp(-rate * t)
    dq = math.exp(-q * t) if bsm else df
    fwd = underlying * math.exp((rate - q) * t) if bsm else underlying
    sqrt_t = math.sqrt(t)
    sd = vol * sqrt_t
    lm = math.log(fwd / strike)
    if sd > 0.0:
        d1 = (lm + 0.5 * sd * sd) / sd
    else:
        d1 = math.copysign(math.inf, lm) if lm != 0.0 else 0.0
    d2 = d1 - sd
    sign = 1.0 if is_call else -1.0
    nd1 = _norm_cdf(sign * d1)
    nd2 = _norm_cdf(sign * d2)
    price = df * sign * (fwd * nd1 - strike * nd2)
    fdelta = sign * nd1
    pdf1 = math.exp(-0.5 * d1 * d1) * _INV_SQRT_2PI if math.isfinite(d1) else 0.0
    live = sd > 0.0
    if bsm:
        delta = dq * fdelta
        gamma = dq * pdf1 / (underlying * sd) if live else 0.0
        vega = underlying * dq * pdf1 * sqrt_t if live else 0.0
        decay = -underlying * dq * pdf1 * vol / (2.0 * sqrt_t) if live else 0.0
        theta_year = (
            decay - sign * rate * strike * df * nd2 + sign * q * underlying * dq * abs(fdelta)
        )
        rho = sign * strike * t * df * nd2
    else:
        delta = df * fdelta
        gamma = df * pdf1 / (underlying * sd) if live else 0.0
        vega = underlying * df * pdf1 * sqrt_t if live else 0.0
        decay = -underlying * df * pdf1 * vol / (2.0 * sqrt_t) if live else 0.0
        theta_year = decay + rate * price
        rho = -t * price
    if not t > 0.0:
        theta_year = 0.0
    f64 = np.float64
    return Greeks(
        f64(price),  # type: ignore[arg-type]
        f64(delta),  # type: ignore[arg-type]
        f64(gamma),  # type: ignore[arg-type]
        f64(vega / 100.0),  # type: ignore[arg-type]
        f64(theta_year / _DAYS_PER_YEAR),  # type: ignore[arg-type]
        f64(rho / 100.0),  # type: ignore[arg-type]
    )


class ExpiryTerms:
    """Per-expiry scalars shared by every option of that expiry in one snapshot."""

    __slots__ = ("years", "sqrt_years", "forward", "discount")

    def __init__(self, years: float, forward: float, discount: float) -> None:
        self.years = years
        self.sqrt_years = math.sqrt(max(years, _MIN_YEARS))
        self.forward = forward
        self.discount = discount


class OptionChain:
    """All listed strikes of one expiry within a window around the money, as arrays.

    ``model`` says how it is priced (SPX: BSM on spot; VIX: Black-76 on the VX future of the
    expiry); ``underlying`` is that spot or future and deltas are per point of it; ``forward`` is
    the forward the surface's moneyness is measured against (the future itself for VIX options).
    """

    __slots__ = (
        "expiry",
        "model",
        "underlying",
        "years",
        "forward",
        "strike_step",
        "strikes",
        "vols",
        "call_theo",
        "put_theo",
        "call_bid",
        "call_ask",
        "put_bid",
        "put_ask",
        "call_delta",
        "put_delta",
        "quote_sizes",
        "_rate",
        "_div_yield",
        "_first",
        "_count",
    )

    def __init__(
        self,
        expiry: date,
        model: OptionModel,
        underlying: float,
        forward: float,
        years: float,
        rate: float,
        div_yield: float,
        strike_range: tuple[int, int],
        strike_step: float,
        smile: Callable[[FloatArray], FloatArray],
        spreads: SpreadModel,
        sizes: SizeModel,
        vix: float,
    ) -> None:
        """``strike_range``: first and last listed strike, in strike steps; ``smile``: implied
        vols at log-moneyness ``ln(K / forward)`` for this expiry."""
        self.expiry = expiry
        self.model = model
        self.underlying = underlying
        self.years = years
        self.forward = forward
        self.strike_step = strike_step
        self._rate, self._div_yield = rate, div_yield
        first, last = strike_range
        self._first, self._count = first, last - first + 1
        self.strikes: FloatArray = np.arange(first, last + 1, dtype=np.float64) * strike_step
        log_moneyness = np.log(self.strikes / self.forward)
        self.vols: FloatArray = smile(log_moneyness)
        n = self._count
        g = model_greeks(
            model,
            np.repeat([True, False], n),
            underlying,
            np.tile(self.strikes, 2),
            years,
            rate,
            div_yield,
            np.tile(self.vols, 2),
        )
        theo = np.maximum(g.price, 0.0)
        self.call_theo: FloatArray = theo[:n]
        self.put_theo: FloatArray = theo[n:]
        self.call_delta: FloatArray = g.delta[:n]
        self.put_delta: FloatArray = g.delta[n:]
        self.call_bid, self.call_ask = option_quotes_on_grid(
            self.call_theo, spreads.half_widths(self.call_theo, vix)
        )
        self.put_bid, self.put_ask = option_quotes_on_grid(
            self.put_theo, spreads.half_widths(self.put_theo, vix)
        )
        distance = np.abs(log_moneyness) / (self.vols * math.sqrt(max(years, _MIN_YEARS)))
        self.quote_sizes: NDArray[np.int64] = sizes.sizes(distance, vix)
        """Contracts shown on each side of the call and the put of each strike."""

    def _index(self, strike: float) -> int | None:
        steps = strike / self.strike_step
        i = round(steps)
        if abs(steps - i) > 1e-9:
            return None
        i -= self._first
        return i if 0 <= i < self._count else None

    def __contains__(self, strike: float) -> bool:
        return self._index(strike) is not None

    def quote(self, strike: float, right: Right) -> Quote | None:
        """The quote of one strike, or None if the strike is not in this chain."""
        i = self._index(strike)
        if i is None:
            return None
        size = int(self.quote_sizes[i])
        if right is Right.CALL:
            return Quote(float(self.call_bid[i]), float(self.call_ask[i]), size, size)
        return Quote(float(self.put_bid[i]), float(self.put_ask[i]), size, size)

    def strike_nearest_delta(self, right: Right, abs_delta: float) -> float:
        """The listed strike whose |delta| is closest to ``abs_delta`` (lower strike on a tie)."""
        deltas = self.call_delta if right is Right.CALL else self.put_delta
        return float(self.strikes[int(np.argmin(np.abs(np.abs(deltas) - abs_delta)))])

    def greeks(self, strike: float, right: Right) -> Greeks | None:
        """Price and greeks (``market.pricing`` units) at the surface vol; None if unlisted."""
        i = self._index(strike)
        if i is None:
            return None
        return model_greeks(
            self.model,
            right is Right.CALL,
            self.underlying,
            float(self.strikes[i]),
            self.years,
            self._rate,
            self._div_yield,
            float(self.vols[i]),
        )

    def __repr__(self) -> str:
        return (
            f"OptionChain({self.model.value} {self.expiry.isoformat()}, {self._count} strikes"
            f" {self.strikes[0]:g}..{self.strikes[-1]:g}, T={self.years:.4f}y)"
        )


# -- the listed chains --------------------------------------------------------------------------


def _spx_strike_range(spot: float, years: float, surface: SpxSurface) -> tuple[int, int]:
    half_width = min(
        CHAIN_MAX_HALF_WIDTH,
        max(CHAIN_MIN_HALF_WIDTH, CHAIN_SD_HALF_WIDTH * surface.atm_vol(years) * math.sqrt(years)),
    )
    first = max(1, math.floor(spot * (1.0 - half_width) / SPX_STRIKE_STEP))
    return first, math.ceil(spot * (1.0 + half_width) / SPX_STRIKE_STEP)


def _vix_strike_range(future: float, years: float, atm_vol: float) -> tuple[int, int]:
    sd = atm_vol * math.sqrt(years)
    least, most_down, most_up = VIX_CHAIN_LOG_BOUNDS
    down = min(most_down, max(least, VIX_CHAIN_SD_DOWN * sd))
    up = min(most_up, max(least, VIX_CHAIN_SD_UP * sd))
    first = max(1, math.floor(future * math.exp(-down) / VIX_STRIKE_STEP))
    return first, math.ceil(future * math.exp(up) / VIX_STRIKE_STEP)


def spx_option_chain(
    expiry: date,
    spot: float,
    terms: ExpiryTerms,
    rate: float,
    div_yield: float,
    surface: SpxSurface,
    spreads: SpreadModel,
    vix: float,
) -> OptionChain:
    """The SPX chain of ``expiry``: BSM on ``spot``, strikes +-max(10%, 5 ATM sd) capped at 50%."""
    return OptionChain(
        expiry,
        OptionModel.BSM,
        spot,
        terms.forward,
        terms.years,
        rate,
        div_yield,
        _spx_strike_range(spot, terms.years, surface),
        SPX_STRIKE_STEP,
        lambda k: surface.vols(k, terms.years),
        spreads,
        SPX_OPTION_SIZES,
        vix,
    )


def vix_option_chain(
    expiry: date,
    terms: ExpiryTerms,
    rate: float,
    div_yield: float,
    surface: VixSurface,
    spreads: SpreadModel,
    vix: float,
) -> OptionChain:
    """The VIX option chain of ``expiry``: Black-76 on the VX future ``terms.forward``."""
    return OptionChain(
        expiry,
        OptionModel.BLACK76,
        terms.forward,
        terms.forward,
        terms.years,
        rate,
        div_yield,
        _vix_strike_range(terms.forward, terms.years, surface.atm_vol(terms.years, vix)),
        VIX_STRIKE_STEP,
        lambda k: surface.vols(k, terms.years, vix),
        spreads,
        VIX_OPTION_SIZES,
        vix,
    )

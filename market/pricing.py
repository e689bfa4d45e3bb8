"""Vectorized Black-Scholes-Merton (SPX, with rate and dividend yield) and Black-76 (options on
VX futures): prices and greeks.

Arrays in, arrays out; scalars broadcast. Units (the public contract used by ``alvh calc``):

- price: index points per unit
- delta: per 1 point of the underlying (spot for BSM, the future for Black-76)
- gamma: delta per 1 point of the underlying
- vega: price change per 1 vol point (0.01 of volatility)
- theta: price change per calendar day (1/365 year) of passing time, other inputs fixed
- rho: price change per 1% (0.01) of the rate; for Black-76 the future is held fixed

At ``T == 0`` prices are intrinsic and delta is the exercise indicator (0.5 exactly at the money);
gamma, vega, theta and rho are 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

FloatArray = NDArray[np.float64]
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)
_DAYS_PER_YEAR = 365.0
_BLOCK = 16_384
"""Options per block for large inputs. A block's temporaries (128 KiB each) stay in cache and
reuse freed memory, where whole-array temporaries page-fault fresh multi-megabyte buffers: about
1.7x faster at a million options, with bit-identical results (the arithmetic is elementwise)."""


@dataclass(frozen=True, slots=True)
class Greeks:
    """Price and greeks in the units of the module docstring; each an array of the broadcast shape."""

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray
    rho: FloatArray


def _greeks(*arrays: FloatArray) -> Greeks:
    """Pack results, broadcast to one common shape (gamma and vega do not depend on the right)."""
    return Greeks(*(np.array(a, dtype=np.float64) for a in np.broadcast_arrays(*arrays)))


def _broadcast_size(inputs: tuple[ArrayLike, ...]) -> tuple[tuple[int, ...], int]:
    shape = np.broadcast_shapes(*(np.shape(a) for a in inputs))
    return shape, math.prod(shape)


def _blocks(
    kernel: Callable[..., tuple[FloatArray, ...]],
    n_out: int,
    shape: tuple[int, ...],
    size: int,
    inputs: tuple[ArrayLike, ...],
) -> list[FloatArray]:
    """Run the elementwise ``kernel`` over the broadcast ``inputs`` in blocks of ``_BLOCK``."""
    flat = [
        np.asarray(a) if np.ndim(a) == 0 else np.broadcast_to(a, shape).reshape(-1) for a in inputs
    ]
    outs = [np.empty(size, dtype=np.float64) for _ in range(n_out)]
    for start in range(0, size, _BLOCK):
        block = slice(start, start + _BLOCK)
        results = kernel(*(a if a.ndim == 0 else a[block] for a in flat))
        for out, res in zip(outs, results, strict=True):
            out[block] = res
    return [out.reshape(shape) for out in outs]


def _greeks_of(kernel: Callable[..., tuple[FloatArray, ...]], *inputs: ArrayLike) -> Greeks:
    shape, size = _broadcast_size(inputs)
    if size <= _BLOCK:
        return _greeks(*kernel(*inputs))
    return Greeks(*_blocks(kernel, 6, shape, size, inputs))


def _price_of(kernel: Callable[..., FloatArray], *inputs: ArrayLike) -> FloatArray:
    shape, size = _broadcast_size(inputs)
    if size <= _BLOCK:
        return kernel(*inputs)
    return _blocks(lambda *a: (kernel(*a),), 1, shape, size, inputs)[0]


def _as(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _pdf(x: FloatArray) -> FloatArray:
    out: FloatArray = np.exp(-0.5 * x * x) * _INV_SQRT_2PI
    return out


def _d1d2(
    fwd: FloatArray, strike: FloatArray, t: FloatArray, vol: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """d1, d2 and the total standard deviation; handles T == 0 and vol == 0 as limits."""
    sd = vol * np.sqrt(t)
    with np.errstate(divide="ignore", invalid="ignore"):
        lm = np.log(fwd / strike)
        d1 = np.where(sd > 0.0, (lm + 0.5 * sd * sd) / sd, np.sign(lm) * np.inf)
    d1 = np.where(np.isnan(d1), 0.0, d1)  # exactly at the money with no time: 0.5 exercise odds
    d2 = d1 - sd
    return d1, d2, sd


def _black_core(
    is_call: ArrayLike,
    fwd: FloatArray,
    strike: FloatArray,
    t: FloatArray,
    df: FloatArray,
    vol: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Undiscounted-forward Black kernel: price, forward delta N(±d1), pdf(d1), d1-sd terms."""
    call = np.asarray(is_call, dtype=bool)
    d1, d2, sd = _d1d2(fwd, strike, t, vol)
    sign = np.where(call, 1.0, -1.0)
    nd1 = ndtr(sign * d1)
    nd2 = ndtr(sign * d2)
    price = df * sign * (fwd * nd1 - strike * nd2)
    return price, sign * nd1, _pdf(d1), sd, nd2


def bs_price(
    is_call: ArrayLike,
    spot: ArrayLike,
    strike: ArrayLike,
    years: ArrayLike,
    rate: ArrayLike,
    div: ArrayLike,
    vol: ArrayLike,
) -> FloatArray:
    """Black-Scholes-Merton price of European options on an index paying a continuous yield."""
    return _price_of(_bs_price, is_call, spot, strike, years, rate, div, vol)


def _bs_price(
    is_call: ArrayLike,
    spot: ArrayLike,
    strike: ArrayLike,
    years: ArrayLike,
    rate: ArrayLike,
    div: ArrayLike,
    vol: ArrayLike,
) -> FloatArray:
    s, k, t, r, q, v = map(_as, (spot, strike, years, rate, div, vol))
    df = np.exp(-r * t)
    fwd = s * np.exp((r - q) * t)
    return _black_core(is_call, fwd, k, t, df, v)[0]


def black76_price(
    is_call: ArrayLike,
    future: ArrayLike,
    strike: ArrayLike,
    years: ArrayLike,
    rate: ArrayLike,
    vol: ArrayLike,
) -> FloatArray:
    """Black-76 price of European options on a futures price."""
    return _price_of(_black76_price, is_call, future, strike, years, rate, vol)


def _black76_price(
    is_call: ArrayLike,
    future: ArrayLike,
    strike: ArrayLike,
    years: ArrayLike,
    rate: ArrayLike,
    vol: ArrayLike,
) -> FloatArray:
    f, k, t, r, v = map(_as, (future, strike, years, rate, vol))
    return _black_core(is_call, f, k, t, np.exp(-r * t), v)[0]


def bs_greeks(
    is_call: ArrayLike,
    spot: ArrayLike,
    strike: ArrayLike,
    years: ArrayLike,
    rate: ArrayLike,
    div: ArrayLike,
    vol: ArrayLike,
) -> Greeks:
    """BSM price and greeks (units in the module docstring)."""
    return _greeks_of(_bs_greeks, is_call, spot, strike, years, rate, div, vol)


def _bs_greeks(
    is_call: ArrayLike,
    spot: ArrayLike,
    strike: ArrayLike,
    years: ArrayLike,
    rate: ArrayLike,
    div: ArrayLike,
    vol: ArrayLike,
) -> tuple[FloatArray, ...]:
    s, k, t, r, q, v = map(_as, (spot, strike, years, rate, div, vol))
    call = np.asarray(is_call, dtype=bool)
    df = np.exp(-r * t)
    dq = np.exp(-q * t)
    fwd = s * np.exp((r - q) * t)
    price, fdelta, pdf1, sd, nd2 = _black_core(call, fwd, k, t, df, v)
    live = sd > 0.0
    safe_sd = np.where(live, sd, 1.0)
    sqrt_t = np.sqrt(t)
    delta = dq * fdelta
    gamma = np.where(live, dq * pdf1 / (s * safe_sd), 0.0)
    vega = np.where(live, s * dq * pdf1 * sqrt_t, 0.0)
    sign = np.where(call, 1.0, -1.0)
    # dV/dt (calendar time passing) = -dV/dT
    decay = np.where(live, -s * dq * pdf1 * v / (2.0 * np.where(live, sqrt_t, 1.0)), 0.0)
    theta_year = decay - sign * r * k * df * nd2 + sign * q * s * dq * np.abs(fdelta)
    theta_year = np.where(t > 0.0, theta_year, 0.0)
    rho = sign * k * t * df * nd2
    return price, delta, gamma, vega / 100.0, theta_year / _DAYS_PER_YEAR, rho / 100.0


def black76_greeks(
    is_call: ArrayLike,
    future: ArrayLike,
    strike: ArrayLike,
    years: ArrayLike,
    rate: ArrayLike,
    vol: ArrayLike,
) -> Greeks:
    """Black-76 price and greeks; delta and gamma against the future, rho with the future fixed."""
    return _greeks_of(_black76_greeks, is_call, future, strike, years, rate, vol)


def _black76_greeks(
    is_call: ArrayLike,
    future: ArrayLike,
    strike: ArrayLike,
    years: ArrayLike,
    rate: ArrayLike,
    vol: ArrayLike,
) -> tuple[FloatArray, ...]:
    f, k, t, r, v = map(_as, (future, strike, years, rate, vol))
    call = np.asarray(is_call, dtype=bool)
    df = np.exp(-r * t)
    price, fdelta, pdf1, sd, _ = _black_core(call, f, k, t, df, v)
    live = sd > 0.0
    safe_sd = np.where(live, sd, 1.0)
    sqrt_t = np.sqrt(t)
    delta = df * fdelta
    gamma = np.where(live, df * pdf1 / (f * safe_sd), 0.0)
    vega = np.where(live, f * df * pdf1 * sqrt_t, 0.0)
    decay = np.where(live, -f * df * pdf1 * v / (2.0 * np.where(live, sqrt_t, 1.0)), 0.0)
    theta_year = np.where(t > 0.0, decay + r * price, 0.0)
    rho = -t * price
    return price, delta, gamma, vega / 100.0, theta_year / _DAYS_PER_YEAR, rho / 100.0

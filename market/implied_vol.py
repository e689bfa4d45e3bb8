"""Vectorized implied volatility for Black-Scholes-Merton and Black-76 European options.

Every option is reduced to normalized Black terms: log-moneyness ``x = -|ln(F/K)|`` (so the
out-of-the-money option of the pair is a call) and the undiscounted out-of-the-money premium
divided by ``sqrt(F*K)``. That normalized premium ``b(s)`` depends only on the total standard
deviation ``s = vol*sqrt(T)``; it is convex below the inflection point ``s_c = sqrt(2|x|)`` and
concave above it. Below ``b(s_c)`` the solver works on ``ln b(s)``; above it, on
``ln(b_max - b(s))``. Both transforms keep deep out-of-the-money and near-the-bound options well
conditioned. It starts from Corrado-Miller near the money (an asymptotic inversion far from it)
and takes Halley steps safeguarded by the bracket the region gives, bisecting when a step
leaves it; only unconverged elements are iterated (typically 3-4 rounds to full precision).

Elements with no solution get ``NaN`` and a machine-readable reason (see :data:`REASONS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import erfcx, ndtr

FloatArray = NDArray[np.float64]
Model = Literal["bs", "black76"]

REASONS: dict[str, str] = {
    "": "solved",
    "invalid_input": "a NaN or infinite input, or a non-positive underlying or strike",
    "expired": "years <= 0: no time value to invert",
    "nonpositive_price": "price <= 0",
    "below_intrinsic": "price at or below the discounted intrinsic value (no time value)",
    "above_upper_bound": "price >= discounted forward (call) or discounted strike (put)",
    "no_convergence": "the solver did not converge (should not happen; please report)",
}

_REASON_DTYPE = f"<U{max(map(len, REASONS))}"
_S_MAX = 40.0
"""Largest total standard deviation searched; any premium below the bound in float64 is
reached well before (b_max - b(40) is ~1e-89 of b_max)."""
_MAX_ITER = 100
_STEP_TOL = 1e-14
_STALL_TOL = 1e-10
_SQRT2 = np.sqrt(2.0)
_SQRT_2_OVER_PI = np.sqrt(2.0 / np.pi)
_SQRT_2PI = np.sqrt(2.0 * np.pi)
_ASYMPTOTIC_ROUNDS = 3
_FAR_STDS = 2.5
_LN_INV_SQRT_2PI = -0.5 * np.log(2.0 * np.pi)


@dataclass(frozen=True, slots=True)
class ImpliedVolResult:
    """Implied vols (annualized decimals, NaN where unsolved) and reasons ("" where solved)."""

    iv: FloatArray
    reason: NDArray[np.str_]

    @property
    def ok(self) -> NDArray[np.bool_]:
        """True where a volatility was found."""
        solved: NDArray[np.bool_] = self.reason == ""
        return solved


def implied_vol(
    price: ArrayLike,
    is_call: ArrayLike,
    underlying: ArrayLike,
    strike: ArrayLike,
    years: ArrayLike,
    rate: ArrayLike,
    div: ArrayLike = 0.0,
    model: Model = "bs",
) -> ImpliedVolResult:
    """Volatility that reproduces ``price`` (index points) under ``model``.

    ``model="bs"``: Black-Scholes-Merton with spot ``underlying``, rate and dividend yield ``div``.
    ``model="black76"``: ``underlying`` is the futures price and ``div`` is ignored.
    Inputs broadcast together; the result has the broadcast shape.
    """
    if model not in ("bs", "black76"):
        raise ValueError(f"model must be 'bs' or 'black76', not {model!r}")
    arrays = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.float64) for a in (price, underlying, strike, years, rate, div)),
        np.asarray(is_call, dtype=bool),
    )
    shape = arrays[0].shape
    p, u, k, t, r, q = (np.ravel(a) for a in arrays[:6])
    call = np.ravel(arrays[6])
    if model == "black76":
        q = np.zeros_like(p)

    reason = np.full(p.shape, "", dtype=_REASON_DTYPE)
    iv = np.full(p.shape, np.nan)
    finite = np.isfinite(p) & np.isfinite(u) & np.isfinite(k) & np.isfinite(t)
    finite &= np.isfinite(r) & np.isfinite(q)
    bad = ~finite | ~(u > 0.0) | ~(k > 0.0)
    reason[bad] = "invalid_input"
    todo = ~bad
    _flag(reason, todo, ~(t > 0.0), "expired")
    _flag(reason, todo, ~(p > 0.0), "nonpositive_price")

    with np.errstate(all="ignore"):
        fwd = u if model == "black76" else u * np.exp((r - q) * t)
        df = np.exp(-r * t)
        undiscounted = p / df
        itm = np.where(call, fwd > k, fwd < k)
        intrinsic = np.abs(fwd - k)
        otm = np.where(itm, undiscounted - intrinsic, undiscounted)
        # The bounds as documented, in discounted terms: a call is worth less than S e^{-qT}
        # (F e^{-rT} for a future), a put less than K e^{-rT}.
        discounted_fwd = u * df if model == "black76" else u * np.exp(-q * t)
        upper = np.where(call, discounted_fwd, k * df)
        _flag(reason, todo, ~(np.isfinite(fwd) & np.isfinite(undiscounted)), "invalid_input")
        _flag(reason, todo, ~(otm > 0.0), "below_intrinsic")
        _flag(reason, todo, ~(p < upper), "above_upper_bound")
        x = -np.abs(np.log(fwd / k))
        beta = otm / np.sqrt(fwd * k)
        # The same bound after normalization, in case rounding moved it.
        _flag(reason, todo, ~(beta < np.exp(0.5 * x)), "above_upper_bound")

        i = np.flatnonzero(todo)
        s, converged = _normalized_implied_std(x[i], beta[i])
    iv[i] = np.where(converged, s / np.sqrt(t[i]), np.nan)
    reason[i[~converged]] = "no_convergence"
    return ImpliedVolResult(iv.reshape(shape), reason.reshape(shape))


def _flag(
    reason: NDArray[np.str_], todo: NDArray[np.bool_], mask: NDArray[np.bool_], why: str
) -> None:
    """Give ``why`` to still-unresolved elements where ``mask`` holds, and retire them."""
    hit = todo & mask
    reason[hit] = why
    todo &= ~hit


def _log_b_lower(x: FloatArray, s: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``ln b(s)``, its derivative in ``s`` and ``d ln(vega)/ds``, for the normalized OTM call
    (``x <= 0``).

    Uses the scaled complementary error function so nothing underflows deep out of the money:
    ``b = exp(-x^2/(2 s^2) - s^2/8) * (erfcx(-d1/sqrt2) - erfcx(-d2/sqrt2)) / 2``.
    """
    h = x / s
    d1 = h + 0.5 * s
    d2 = h - 0.5 * s
    log_vega = _LN_INV_SQRT_2PI - 0.5 * h * h - 0.125 * s * s
    # Far tail (d1 < 0): scaled erfc, nothing underflows. Elsewhere the plain formula has no
    # harmful cancellation because N(d1) >= 1/2.
    log_b = np.empty_like(s)
    tail = d1 < 0.0
    if tail.all():
        log_b[:] = _log_b_tail(h, s, d1, d2)
    else:
        body = ~tail
        log_b[tail] = _log_b_tail(h[tail], s[tail], d1[tail], d2[tail])
        half = 0.5 * x[body]
        log_b[body] = np.log(np.exp(half) * ndtr(d1[body]) - np.exp(-half) * ndtr(d2[body]))
    return log_b, np.exp(log_vega - log_b), x * x / (s * s * s) - 0.25 * s


def _log_b_tail(h: FloatArray, s: FloatArray, d1: FloatArray, d2: FloatArray) -> FloatArray:
    e: FloatArray = erfcx(-d1 / _SQRT2) - erfcx(-d2 / _SQRT2)
    log_b: FloatArray = np.log(0.5 * e) - 0.5 * h * h - 0.125 * s * s
    return log_b


def _log_gap_upper(x: FloatArray, s: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``ln(b_max - b(s))``, its derivative and ``d ln(vega)/ds``; ``b_max - b`` is a sum of
    positive terms, so it keeps its precision up to the bound."""
    h = x / s
    d1 = h + 0.5 * s
    d2 = h - 0.5 * s
    half = 0.5 * x
    gap = np.exp(half) * ndtr(-d1) + np.exp(-half) * ndtr(d2)
    log_gap = np.log(gap)
    log_vega = _LN_INV_SQRT_2PI - 0.5 * h * h - 0.125 * s * s
    return log_gap, -np.exp(log_vega - log_gap), x * x / (s * s * s) - 0.25 * s


def _normalized_implied_std(
    x: FloatArray, beta: FloatArray
) -> tuple[FloatArray, NDArray[np.bool_]]:
    """Total standard deviation ``s`` with ``b(x, s) == beta`` and a convergence mask.

    Requires ``x <= 0`` and ``0 < beta < e^{x/2}`` elementwise.
    """
    s_c = np.sqrt(-2.0 * x)
    log_b_c = _log_b_lower(x, np.where(s_c > 0.0, s_c, 1.0))[0]
    lower = (s_c > 0.0) & (np.log(beta) < log_b_c)
    b_max = np.exp(0.5 * x)
    target = np.where(lower, np.log(beta), np.log(b_max - beta))
    lo = np.where(lower, 0.0, s_c)
    hi = np.where(lower, s_c, np.maximum(_S_MAX, 2.0 * s_c))
    s = _initial_guess(x, beta, lower, s_c)
    converged = np.zeros(x.shape, dtype=bool)
    prev_step = np.full(x.shape, np.inf)
    active = np.arange(x.size)
    for _ in range(_MAX_ITER):
        if active.size == 0:
            break
        xa, sa, la = x[active], s[active], lower[active]
        f = np.empty_like(sa)
        g = np.empty_like(sa)
        dlv = np.empty_like(sa)
        ua = ~la
        f[la], g[la], dlv[la] = _log_b_lower(xa[la], sa[la])
        f[ua], g[ua], dlv[ua] = _log_gap_upper(xa[ua], sa[ua])
        f -= target[active]
        # f increases with s in the lower region and decreases in the upper one.
        below_root = np.where(la, f < 0.0, f > 0.0)
        lo_a = np.where(below_root, sa, lo[active])
        hi_a = np.where(below_root, hi[active], sa)
        # Halley: with f' = g, f'' = g * (dlv - g) for both transforms (vega'/vega = dlv).
        newton_step = f / g
        halley = 1.0 - 0.5 * newton_step * (dlv - g)
        step = np.where(halley > 0.5, newton_step / halley, newton_step)
        newton = sa - step
        inside = (newton >= lo_a) & (newton <= hi_a)  # False for NaN
        # Stop on a negligible step, a collapsed bracket, or at the noise floor: a small step
        # that no longer shrinks (Newton would halve it at least) is rounding noise in f.
        size = np.abs(step)
        stalled = (size <= _STALL_TOL * sa) & (size >= 0.5 * prev_step[active])
        done = (size <= _STEP_TOL * sa) | (hi_a - lo_a <= _STEP_TOL * hi_a) | stalled
        prev_step[active] = size
        done = (f == 0.0) | (done & np.isfinite(f))
        # Bisect when a step leaves the bracket (a converged one may leave it by a rounding
        # error: then stay put).
        nxt = np.where(inside, newton, np.where(done, sa, 0.5 * (lo_a + hi_a)))
        s[active] = np.where(f == 0.0, sa, nxt)
        lo[active] = lo_a
        hi[active] = hi_a
        converged[active[done]] = True
        active = active[~done]
    return s, converged


def _initial_guess(
    x: FloatArray, beta: FloatArray, lower: NDArray[np.bool_], s_c: FloatArray
) -> FloatArray:
    """Start near the root: Corrado-Miller near the money, an asymptotic inversion far out.

    Far out of the money ``ln b = ln(e/2) - x^2/(2 s^2) - s^2/8`` with ``e`` close to
    ``sqrt(2/pi) s^3 / x^2``; a few fixed-point rounds of the quadratic in ``s^2`` (``e``
    frozen each round) land within a few percent beyond three standard deviations.
    """
    with np.errstate(all="ignore"):
        sh = np.sinh(0.5 * x)
        a = beta - sh
        cm = (
            _SQRT_2PI
            / (2.0 * np.cosh(0.5 * x))
            * (a + np.sqrt(np.maximum(a * a - 4.0 * sh * sh / np.pi, 0.0)))
        )
        asym = 0.5 * s_c
        for _ in range(_ASYMPTOTIC_ROUNDS):
            level = np.log(0.5 * _SQRT_2_OVER_PI * asym**3 / (x * x)) - np.log(beta)
            disc = np.maximum(level * level - 0.25 * x * x, 0.0)
            asym = 2.0 * np.sqrt(level - np.sqrt(disc))
    far = lower & (np.abs(x) > _FAR_STDS * asym) & np.isfinite(asym) & (asym > 0.0)
    guess = np.where(far, asym, cm)
    # Keep the start inside the region's bracket.
    inside = np.where(lower, (guess > 0.0) & (guess < s_c), (guess > s_c) & (guess < _S_MAX))
    # (an extreme |x| can put s_c beyond _S_MAX; the fallback then starts at s_c)
    fallback = np.where(lower, 0.5 * s_c, np.maximum(s_c, np.sqrt(2.0 * np.pi) * beta))
    return np.where(inside & np.isfinite(guess), guess, fallback)

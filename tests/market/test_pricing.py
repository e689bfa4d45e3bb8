"""BSM and Black-76 prices and greeks against QuantLib, published examples, finite differences
and put-call parity."""

from __future__ import annotations

import math

import numpy as np
import pytest
import QuantLib as ql
from hypothesis import given, settings
from hypothesis import strategies as st

from market.pricing import black76_greeks, black76_price, bs_greeks, bs_price

DAYS = [1, 7, 30, 91, 365, 730]
MONEYNESS = [0.7, 0.9, 0.97, 1.0, 1.03, 1.1, 1.3]
VOLS = [0.08, 0.25, 0.9]
TODAY = ql.Date(15, 1, 2025)


def _close(actual: float, expected: float, rel: float, abs_: float) -> bool:
    return math.isclose(actual, expected, rel_tol=rel, abs_tol=abs_)


def _quantlib_bsm(
    is_call: bool, spot: float, strike: float, days: int, rate: float, div: float, vol: float
) -> dict[str, float]:
    """QuantLib's analytic BSM in our units (vega per vol point, theta per day, rho per 1%)."""
    ql.Settings.instance().evaluationDate = TODAY
    dc = ql.Actual365Fixed()  # T = days / 365 exactly, as in our tests
    right = ql.Option.Call if is_call else ql.Option.Put
    option = ql.VanillaOption(
        ql.PlainVanillaPayoff(right, strike), ql.EuropeanExercise(TODAY + days)
    )
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(spot)),
        ql.YieldTermStructureHandle(ql.FlatForward(TODAY, div, dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(TODAY, rate, dc)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(TODAY, ql.NullCalendar(), vol, dc)),
    )
    option.setPricingEngine(ql.AnalyticEuropeanEngine(process))
    return {
        "price": option.NPV(),
        "delta": option.delta(),
        "gamma": option.gamma(),
        "vega": option.vega() / 100.0,  # QuantLib: per 1.00 of vol
        "theta": option.theta() / 365.0,  # QuantLib: per year of time passing
        "rho": option.rho() / 100.0,  # QuantLib: per 1.00 of rate
    }


def _ql_black(is_call: bool, fut: float, strike: float, t: float, rate: float, vol: float) -> float:
    right = ql.Option.Call if is_call else ql.Option.Put
    return ql.blackFormula(right, strike, fut, vol * math.sqrt(t), math.exp(-rate * t))


def _quantlib_black76(
    is_call: bool, fut: float, strike: float, days: int, rate: float, vol: float
) -> dict[str, float]:
    """QuantLib's BlackCalculator for price, delta, gamma, vega; theta and rho by central
    differences of QuantLib's blackFormula (the future held fixed)."""
    t = days / 365.0
    right = ql.Option.Call if is_call else ql.Option.Put
    payoff = ql.PlainVanillaPayoff(right, strike)
    calc = ql.BlackCalculator(payoff, fut, vol * math.sqrt(t), math.exp(-rate * t))
    h_t = min(1e-6, 0.1 * t)
    h_r = 1e-6
    theta_year = -(
        _ql_black(is_call, fut, strike, t + h_t, rate, vol)
        - _ql_black(is_call, fut, strike, t - h_t, rate, vol)
    ) / (2 * h_t)
    rho = (
        _ql_black(is_call, fut, strike, t, rate + h_r, vol)
        - _ql_black(is_call, fut, strike, t, rate - h_r, vol)
    ) / (2 * h_r)
    return {
        "price": calc.value(),
        "delta": calc.deltaForward(),
        "gamma": calc.gammaForward(),
        "vega": calc.vega(t) / 100.0,
        "theta": theta_year / 365.0,
        "rho": rho / 100.0,
    }


@pytest.mark.parametrize("is_call", [True, False])
@pytest.mark.parametrize("days", DAYS)
def test_bsm_price_and_greeks_match_quantlib(is_call: bool, days: int) -> None:
    spot, rate, div = 5000.0, 0.043, 0.013
    for m in MONEYNESS:
        for vol in VOLS:
            strike = spot * m
            ours = bs_greeks(is_call, spot, strike, days / 365.0, rate, div, vol)
            ref = _quantlib_bsm(is_call, spot, strike, days, rate, div, vol)
            for name, expected in ref.items():
                actual = float(getattr(ours, name))
                assert _close(actual, expected, 1e-9, 1e-11), (name, m, vol, actual, expected)


@pytest.mark.parametrize("is_call", [True, False])
@pytest.mark.parametrize("days", DAYS)
def test_black76_price_and_greeks_match_quantlib(is_call: bool, days: int) -> None:
    fut, rate = 18.5, 0.043
    for m in MONEYNESS:
        for vol in [0.4, 0.8, 1.5]:
            strike = fut * m
            ours = black76_greeks(is_call, fut, strike, days / 365.0, rate, vol)
            ref = _quantlib_black76(is_call, fut, strike, days, rate, vol)
            for name, expected in ref.items():
                analytic = name in ("price", "delta", "gamma", "vega")
                rel, abs_ = (1e-9, 1e-12) if analytic else (1e-5, 1e-9)
                actual = float(getattr(ours, name))
                assert _close(actual, expected, rel, abs_), (name, m, vol, actual, expected)


def test_hull_black_scholes_example_prices_call_476_and_put_081() -> None:
    # Hull, Options, Futures, and Other Derivatives: S=42, K=40, r=10%, T=0.5, vol=20%.
    assert round(float(bs_price(True, 42, 40, 0.5, 0.10, 0.0, 0.20)), 2) == 4.76
    assert round(float(bs_price(False, 42, 40, 0.5, 0.10, 0.0, 0.20)), 2) == 0.81


def test_haug_examples_with_dividend_yield() -> None:
    # Haug, The Complete Guide to Option Pricing Formulas: generalized BSM worked examples.
    assert round(float(bs_price(True, 60, 65, 0.25, 0.08, 0.0, 0.30)), 4) == 2.1334
    assert round(float(bs_price(False, 100, 95, 0.5, 0.10, 0.05, 0.20)), 4) == 2.4648


def test_black76_published_examples() -> None:
    # Hull: put on crude-oil futures, F=K=20, r=9%, T=4 months, vol=25% -> 1.12.
    assert round(float(black76_price(False, 20, 20, 4 / 12, 0.09, 0.25)), 2) == 1.12
    # Haug: F=K=19, T=0.75, r=10%, vol=28% -> call = put = 1.7011.
    assert round(float(black76_price(True, 19, 19, 0.75, 0.10, 0.28)), 4) == 1.7011
    assert round(float(black76_price(False, 19, 19, 0.75, 0.10, 0.28)), 4) == 1.7011


def test_prices_broadcast_over_arrays() -> None:
    strikes = np.array([[4800.0, 5000.0, 5200.0]])
    years = np.array([[0.1], [0.5]])
    out = bs_greeks(True, 5000.0, strikes, years, 0.04, 0.01, 0.2)
    assert out.price.shape == out.gamma.shape == (2, 3)
    assert float(out.price[1, 1]) == pytest.approx(
        float(bs_price(True, 5000, 5000, 0.5, 0.04, 0.01, 0.2))
    )


def test_expiry_gives_intrinsic_value_and_exercise_delta() -> None:
    strikes = np.array([90.0, 100.0, 110.0])
    call = bs_greeks(True, 100.0, strikes, 0.0, 0.05, 0.02, 0.3)
    put = bs_greeks(False, 100.0, strikes, 0.0, 0.05, 0.02, 0.3)
    np.testing.assert_array_equal(call.price, [10.0, 0.0, 0.0])
    np.testing.assert_array_equal(put.price, [0.0, 0.0, 10.0])
    np.testing.assert_array_equal(call.delta, [1.0, 0.5, 0.0])
    np.testing.assert_array_equal(put.delta, [0.0, -0.5, -1.0])
    for g in (call, put):
        for name in ("gamma", "vega", "theta", "rho"):
            np.testing.assert_array_equal(getattr(g, name), 0.0)
    fut = black76_greeks(True, 20.0, strikes / 5, 0.0, 0.05, 0.8)
    np.testing.assert_array_equal(fut.price, [2.0, 0.0, 0.0])


# Sensible ranges for property tests: moneyness within ~4 sd keeps finite differences meaningful.
spots = st.floats(50.0, 8000.0)
log_moneyness = st.floats(-0.5, 0.5)
years_st = st.floats(7 / 365, 2.0)
rates = st.floats(-0.01, 0.08)
divs = st.floats(0.0, 0.05)
vols = st.floats(0.05, 1.5)


@settings(max_examples=200, deadline=None)
@given(st.booleans(), spots, log_moneyness, years_st, rates, divs, vols)
def test_bsm_greeks_equal_central_differences_of_price(
    is_call: bool, s: float, lm: float, t: float, r: float, q: float, v: float
) -> None:
    k = s * math.exp(lm)
    g = bs_greeks(is_call, s, k, t, r, q, v)

    def price(**kw: float) -> float:
        a = {"s": s, "t": t, "r": r, "v": v} | kw
        return float(bs_price(is_call, a["s"], k, a["t"], a["r"], q, a["v"]))

    hs, ht, hr, hv = 1e-3 * s * v * math.sqrt(t), 1e-5, 1e-5, 1e-5  # spot bump << one sd
    scale = s * 1e-8  # FD truncation and rounding allowance, in price units
    fd_delta = (price(s=s + hs) - price(s=s - hs)) / (2 * hs)
    fd_gamma = (price(s=s + hs) - 2 * price() + price(s=s - hs)) / (hs * hs)
    fd_vega = (price(v=v + hv) - price(v=v - hv)) / (2 * hv) / 100
    fd_theta = -(price(t=t + ht) - price(t=t - ht)) / (2 * ht) / 365
    fd_rho = (price(r=r + hr) - price(r=r - hr)) / (2 * hr) / 100
    assert float(g.delta) == pytest.approx(fd_delta, rel=1e-5, abs=1e-7)
    assert float(g.gamma) == pytest.approx(fd_gamma, rel=1e-3, abs=1e-4 / s)
    assert float(g.vega) == pytest.approx(fd_vega, rel=1e-6, abs=scale)
    assert float(g.theta) == pytest.approx(fd_theta, rel=1e-5, abs=scale)
    assert float(g.rho) == pytest.approx(fd_rho, rel=1e-6, abs=scale)


@settings(max_examples=200, deadline=None)
@given(st.booleans(), st.floats(5.0, 80.0), log_moneyness, years_st, rates, st.floats(0.2, 2.0))
def test_black76_greeks_equal_central_differences_of_price(
    is_call: bool, f: float, lm: float, t: float, r: float, v: float
) -> None:
    k = f * math.exp(lm)
    g = black76_greeks(is_call, f, k, t, r, v)

    def price(**kw: float) -> float:
        a = {"f": f, "t": t, "r": r, "v": v} | kw
        return float(black76_price(is_call, a["f"], k, a["t"], a["r"], a["v"]))

    hf, ht, hr, hv = 1e-3 * f * v * math.sqrt(t), 1e-5, 1e-5, 1e-5
    scale = f * 1e-8
    fd_delta = (price(f=f + hf) - price(f=f - hf)) / (2 * hf)
    fd_gamma = (price(f=f + hf) - 2 * price() + price(f=f - hf)) / (hf * hf)
    fd_vega = (price(v=v + hv) - price(v=v - hv)) / (2 * hv) / 100
    fd_theta = -(price(t=t + ht) - price(t=t - ht)) / (2 * ht) / 365
    fd_rho = (price(r=r + hr) - price(r=r - hr)) / (2 * hr) / 100
    assert float(g.delta) == pytest.approx(fd_delta, rel=1e-5, abs=1e-7)
    assert float(g.gamma) == pytest.approx(fd_gamma, rel=1e-3, abs=1e-4 / f)
    assert float(g.vega) == pytest.approx(fd_vega, rel=1e-6, abs=scale)
    assert float(g.theta) == pytest.approx(fd_theta, rel=1e-5, abs=scale)
    assert float(g.rho) == pytest.approx(fd_rho, rel=1e-6, abs=scale)


@settings(max_examples=300, deadline=None)
@given(spots, log_moneyness, st.floats(1 / 365, 2.0), rates, divs, vols)
def test_bsm_put_call_parity(s: float, lm: float, t: float, r: float, q: float, v: float) -> None:
    k = s * math.exp(lm)
    c = float(bs_price(True, s, k, t, r, q, v))
    p = float(bs_price(False, s, k, t, r, q, v))
    assert c - p == pytest.approx(s * math.exp(-q * t) - k * math.exp(-r * t), abs=1e-12 * s)


@settings(max_examples=300, deadline=None)
@given(st.floats(5.0, 80.0), log_moneyness, st.floats(1 / 365, 2.0), rates, st.floats(0.1, 2.5))
def test_black76_put_call_parity(f: float, lm: float, t: float, r: float, v: float) -> None:
    k = f * math.exp(lm)
    c = float(black76_price(True, f, k, t, r, v))
    p = float(black76_price(False, f, k, t, r, v))
    assert c - p == pytest.approx(math.exp(-r * t) * (f - k), abs=1e-12 * f)


@settings(max_examples=300, deadline=None)
@given(
    st.booleans(),
    st.sampled_from(["bsm", "black76"]),
    st.floats(5.0, 8000.0),
    st.floats(-0.6, 0.6),
    st.one_of(st.just(0.0), st.floats(1e-4, 2.0)),
    st.floats(-0.01, 0.08),
    st.floats(0.0, 0.04),
    st.one_of(st.just(0.0), st.floats(0.01, 3.0)),
)
def test_scalar_greeks_equal_the_vectorized_kernel(
    is_call: bool, model: str, s: float, lm: float, t: float, r: float, q: float, v: float
) -> None:
    """The exit rules' float fast path is the same math as ``market.pricing``, limits included."""
    from market.chain import OptionModel, model_greeks, scalar_greeks

    k = s * math.exp(lm)
    kind = OptionModel(model)
    fast = scalar_greeks(kind, is_call, s, k, t, r, q, v)
    ref = model_greeks(kind, is_call, s, k, t, r, q, v)
    for name in ("price", "delta", "gamma", "vega", "theta", "rho"):
        assert float(getattr(fast, name)) == pytest.approx(
            float(getattr(ref, name)), rel=1e-9, abs=1e-9
        ), name

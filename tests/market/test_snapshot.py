"""Snapshots and quote materialization: invariants over simulated snapshots (SPEC section 4)."""

from __future__ import annotations

import json
import math
import pickle
from datetime import UTC, date, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market import chain, quote, snapshot
from market.instruments import OptionContract, Right, Root, option_tick
from market.pricing import bs_price
from market.simulator import Simulator, SimulatorConfig
from market.snapshot import MarketSnapshot, Quote
from market.surface import SpxSurface

COARSE = SimulatorConfig(cadence_minutes=60)


def _snapshots(scenario: str | None, sessions: int, seed: int = 3) -> list[MarketSnapshot]:
    sim = Simulator(COARSE, seed=seed, start=date(2025, 1, 2), scenario=scenario)
    return list(sim.snapshots(sessions))


@pytest.fixture(scope="module")
def sample() -> list[MarketSnapshot]:
    """Every 7th hourly snapshot of a spike-and-revert run and a base-model run."""
    snaps = _snapshots("spike-and-revert", 60) + _snapshots(None, 30, seed=11)
    return snaps[::7]


def _on_grid(price: float) -> bool:
    tick = option_tick(price)
    return abs(price / tick - round(price / tick)) < 1e-9


def test_snapshot_re_exports_the_quote_and_chain_types() -> None:
    assert snapshot.Quote is quote.Quote
    assert snapshot.OptionChain is chain.OptionChain
    assert snapshot.OptionModel is chain.OptionModel


def test_quote_mid_and_half_spread() -> None:
    q = Quote(1.20, 1.40)
    assert q.mid == pytest.approx(1.30)
    assert q.half_spread == pytest.approx(0.10)


def test_chain_quotes_are_positive_on_grid_and_straddle_theo(sample: list[MarketSnapshot]) -> None:
    for snap in sample:
        for expiry in snap.spx_expiries:
            ch = snap.chain(expiry)
            assert np.all(np.diff(ch.strikes) == 5.0) and np.all(ch.strikes % 5.0 == 0.0)
            assert ch.strikes[0] <= snap.spx * 0.9 and ch.strikes[-1] >= snap.spx * 1.1
            assert np.all(np.isfinite(ch.vols)) and np.all(ch.vols > 0)
            for bid, ask, theo in (
                (ch.call_bid, ch.call_ask, ch.call_theo),
                (ch.put_bid, ch.put_ask, ch.put_theo),
            ):
                assert np.all(bid >= 0.0) and np.all(bid < ask)
                assert np.all(bid <= theo) and np.all(theo <= ask)
                assert all(_on_grid(p) for p in np.concatenate([bid, ask]))


def test_chain_quotes_respect_put_call_parity_bounds(sample: list[MarketSnapshot]) -> None:
    for snap in sample:
        for expiry in snap.spx_expiries:
            ch = snap.chain(expiry)
            t = ch.years
            parity = snap.spx * math.exp(-snap.div_yield * t) - ch.strikes * math.exp(
                -snap.rate * t
            )
            assert np.all(ch.call_bid - ch.put_ask <= parity + 1e-9)
            assert np.all(ch.call_ask - ch.put_bid >= parity - 1e-9)
            # no-arbitrage bounds on each side
            assert np.all(ch.call_ask >= np.maximum(parity, 0.0) - 1e-9)
            assert np.all(ch.put_ask >= np.maximum(-parity, 0.0) - 1e-9)
            assert np.all(ch.call_bid <= snap.spx * math.exp(-snap.div_yield * t))


def test_call_theo_falls_and_put_theo_rises_with_strike(sample: list[MarketSnapshot]) -> None:
    for snap in sample:
        for expiry in snap.spx_expiries:
            ch = snap.chain(expiry)
            assert np.all(np.diff(ch.call_theo) <= 1e-9)
            assert np.all(np.diff(ch.put_theo) >= -1e-9)
            assert np.all(np.diff(ch.call_ask + ch.call_bid) <= 1e-9)
            assert np.all(np.diff(ch.put_ask + ch.put_bid) >= -1e-9)


def test_chain_theo_is_bsm_at_the_surface_vol() -> None:
    snap = _snapshots(None, 1)[0]
    ch = snap.chain(snap.spx_expiries[1])
    k = np.log(ch.strikes / ch.forward)
    np.testing.assert_allclose(ch.vols, snap.surface.vols(k, ch.years))
    ref = bs_price(False, snap.spx, ch.strikes, ch.years, snap.rate, snap.div_yield, ch.vols)
    np.testing.assert_allclose(ch.put_theo, np.maximum(ref, 0.0), rtol=0, atol=1e-10)
    assert np.all(ch.put_delta < 0) and np.all(ch.call_delta > 0)


def test_a_45_dte_16_delta_put_is_quoted_realistically_wide() -> None:
    at = datetime(2025, 2, 4, 15, 0, tzinfo=UTC)  # 45 days to the 2025-03-21 expiry
    snap = MarketSnapshot(0, at, None, 6000.0, 14.0)
    expiry = date(2025, 3, 21)
    ch = snap.chain(expiry)
    strike = ch.strike_nearest_delta(Right.PUT, 0.16)
    q = ch.quote(strike, Right.PUT)
    assert q is not None and 0.2 <= q.ask - q.bid <= 1.0
    assert strike < 6000 * 0.97
    stressed = MarketSnapshot(0, at, None, 6000.0, 35.0).chain(expiry)
    k35 = stressed.strike_nearest_delta(Right.PUT, 0.16)
    q35 = stressed.quote(k35, Right.PUT)
    assert q35 is not None and q35.ask - q35.bid > q.ask - q.bid


def test_snapshot_quote_matches_chain_and_prices_off_window_strikes() -> None:
    snap = _snapshots(None, 1)[0]
    fresh = MarketSnapshot.from_dict(snap.to_dict())  # no chain cached: the direct path
    expiry = snap.spx_expiries[1]
    ch = snap.chain(expiry)
    for strike in ch.strikes[::17]:
        for right in (Right.CALL, Right.PUT):
            contract = OptionContract(Root.SPX, expiry, float(strike), right)
            assert fresh.quote(contract) == ch.quote(float(strike), right)
            assert snap.quote(contract) == ch.quote(float(strike), right)
    far = OptionContract(Root.SPX, expiry, ch.strikes[0] - 500.0, Right.PUT)
    assert ch.quote(far.strike, Right.PUT) is None
    q = snap.quote(far)
    assert q is not None and 0.0 <= q.bid < q.ask and _on_grid(q.ask)
    far_call = OptionContract(Root.SPX, expiry, ch.strikes[-1] + 1000.0, Right.CALL)
    worthless = snap.quote(far_call)
    assert worthless is not None and worthless.bid == 0.0 and worthless.ask <= 0.10
    greeks = snap.option_greeks(far)
    assert greeks is not None and q.bid <= float(greeks.price) <= q.ask


def test_chain_greeks_match_option_greeks() -> None:
    snap = _snapshots(None, 1)[0]
    expiry = snap.spx_expiries[0]
    ch = snap.chain(expiry)
    strike = ch.strike_nearest_delta(Right.CALL, 0.3)
    g = ch.greeks(strike, Right.CALL)
    g2 = snap.option_greeks(OptionContract(Root.SPX, expiry, strike, Right.CALL))
    assert g is not None and g2 is not None
    assert float(g.delta) == pytest.approx(0.3, abs=0.03)
    assert float(g.price) == pytest.approx(float(g2.price), rel=1e-12)
    assert ch.greeks(strike + 1.0, Right.CALL) is None


def test_unlisted_contracts_have_no_quote() -> None:
    snap = _snapshots(None, 1)[0]  # 2025-01-02
    listed = snap.spx_expiries[0]
    assert snap.quote(OptionContract(Root.SPX, date(2024, 12, 20), 5900.0, Right.PUT)) is None
    assert snap.quote(OptionContract(Root.SPX, listed, 5902.0, Right.PUT)) is None
    assert snap.quote(OptionContract(Root.VIX, listed, 20.0, Right.CALL)) is None
    assert snap.option_greeks(OptionContract(Root.SPX, date(2024, 12, 20), 5900, Right.PUT)) is None
    with pytest.raises(KeyError, match="not listed"):
        snap.chain(date(2024, 12, 20))


def test_expiring_series_stops_trading_the_day_before_expiry() -> None:
    day_before = datetime(2025, 1, 16, 20, 0, tzinfo=UTC)
    on_expiry = datetime(2025, 1, 17, 15, 0, tzinfo=UTC)
    contract = OptionContract(Root.SPX, date(2025, 1, 17), 5900.0, Right.CALL)
    assert MarketSnapshot(0, day_before, None, 5900.0, 16.0).quote(contract) is not None
    assert MarketSnapshot(1, on_expiry, None, 5900.0, 16.0).quote(contract) is None


def test_to_dict_from_dict_round_trip_quotes_identically() -> None:
    for snap in _snapshots("spike-and-revert", 2)[::3]:
        restored = MarketSnapshot.from_dict(json.loads(json.dumps(snap.to_dict())))
        assert restored == snap
        assert restored.to_dict() == snap.to_dict()
        expiry = snap.spx_expiries[1]
        a, b = snap.chain(expiry), restored.chain(expiry)
        np.testing.assert_array_equal(a.call_bid, b.call_bid)
        np.testing.assert_array_equal(a.put_ask, b.put_ask)
    assert pickle.loads(pickle.dumps(snap)) == snap


def test_snapshot_is_immutable() -> None:
    snap = _snapshots(None, 1)[0]
    with pytest.raises(AttributeError):
        snap.spx = 1.0


@settings(max_examples=60, deadline=None)
@given(
    spx=st.floats(500.0, 20000.0),
    vix=st.floats(8.0, 120.0),
    minutes=st.integers(0, 60 * 24 * 120),
    rel_strike=st.floats(0.3, 2.0),
    right=st.sampled_from([Right.CALL, Right.PUT]),
)
def test_any_quote_straddles_theo_on_the_tick_grid(
    spx: float, vix: float, minutes: int, rel_strike: float, right: Right
) -> None:
    ts = datetime(2025, 1, 2, 15, 0, tzinfo=UTC).timestamp() + 60.0 * minutes
    snap = MarketSnapshot(0, datetime.fromtimestamp(ts, UTC), None, spx, vix)
    expiry = snap.spx_expiries[0]
    contract = OptionContract(Root.SPX, expiry, round(spx * rel_strike / 5.0) * 5.0 or 5.0, right)
    q = snap.quote(contract)
    g = snap.option_greeks(contract)
    assert q is not None and g is not None
    assert 0.0 <= q.bid < q.ask and _on_grid(q.bid) and _on_grid(q.ask)
    assert q.bid <= max(float(g.price), 0.0) + 1e-9 and float(g.price) <= q.ask + 1e-9


@settings(max_examples=40, deadline=None)
@given(vix=st.floats(8.0, 120.0), k=st.floats(-1.5, 0.8), years=st.floats(1e-4, 0.4))
def test_surface_vols_are_bounded_and_total_variance_grows_with_maturity(
    vix: float, k: float, years: float
) -> None:
    surface = SpxSurface.from_vix(vix)
    v = surface.vols(np.array([k]), years)[0]
    assert surface.vol_floor <= v <= surface.vol_cap
    assert surface.vol(k, years) == pytest.approx(v, rel=1e-12)
    later = surface.vols(np.array([k]), years * 1.25)[0]
    assert later**2 * years * 1.25 >= v**2 * years


def test_surface_is_anchored_below_the_vix_with_put_skew() -> None:
    calm, stressed = SpxSurface.from_vix(13.0), SpxSurface.from_vix(40.0)
    month = 30 / 365
    assert 0.10 < calm.atm_vol(month) < 0.13
    assert calm.atm_vol(0.3) > calm.atm_vol(month)  # upward-sloping term structure when calm
    assert stressed.atm_vol(0.3) < stressed.atm_vol(month)  # inverted in a spike
    v = calm.vols(np.array([-0.05, 0.0, 0.05]), month)
    assert v[0] > v[1] > v[2]


# -- macro state ------------------------------------------------------------------------------

_AT = datetime(2025, 1, 15, 15, 0, tzinfo=UTC)


def test_macro_state_defaults_to_none_known() -> None:
    snap = MarketSnapshot(0, _AT, None, 5900.0, 15.0)
    assert snap.macro_events == () and snap.ad_line is None


def test_macro_state_round_trips_through_dict_json_and_pickle() -> None:
    snap = MarketSnapshot(3, _AT, None, 5900.0, 15.0, macro_events=("fomc", "cpi"), ad_line=-1234.5)
    assert snap.macro_events == ("cpi", "fomc")  # stored sorted
    for restored in (
        MarketSnapshot.from_dict(json.loads(json.dumps(snap.to_dict()))),
        pickle.loads(pickle.dumps(snap)),
    ):
        assert restored == snap
        assert (restored.macro_events, restored.ad_line) == (("cpi", "fomc"), -1234.5)
    plain = MarketSnapshot(3, _AT, None, 5900.0, 15.0)
    assert MarketSnapshot.from_dict(plain.to_dict()) == plain
    assert plain != snap


def test_a_record_without_macro_state_loads_with_the_defaults() -> None:
    record = MarketSnapshot(3, _AT, None, 5900.0, 15.0, macro_events=("ppi",), ad_line=7.0)
    old = record.to_dict()
    del old["macro_events"], old["ad_line"]
    restored = MarketSnapshot.from_dict(old)
    assert (restored.macro_events, restored.ad_line) == ((), None)
    assert restored.spx == record.spx and restored.session == record.session


def test_unknown_macro_events_and_non_finite_ad_lines_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown macro events"):
        MarketSnapshot(0, _AT, None, 5900.0, 15.0, macro_events=("cpi", "nfp"))
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="ad_line"):
            MarketSnapshot(0, _AT, None, 5900.0, 15.0, ad_line=bad)


def test_simulated_snapshots_carry_macro_state_through_a_recording() -> None:
    snaps = _snapshots(None, 10)
    assert any(s.macro_events for s in snaps)  # 2025-01-15 (CPI) and 2025-01-16 (PPI)
    for snap in snaps[::5]:
        assert snap.ad_line is not None
        restored = MarketSnapshot.from_dict(json.loads(json.dumps(snap.to_dict())))
        assert restored == snap

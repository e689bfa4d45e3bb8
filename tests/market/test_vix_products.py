"""VX / VXM futures and VIX options in the snapshot, and quote sizes (SPEC sections 3 and 4)."""

from __future__ import annotations

import itertools
import json
import math
import pickle
from datetime import UTC, date, datetime

import numpy as np
import pytest

from market.calendar import NEW_YORK, trading_calendar, vx_expiries_after
from market.implied_vol import implied_vol
from market.instruments import (
    FUTURE_TICK,
    FutureContract,
    FutureRoot,
    OptionContract,
    Right,
    Root,
    option_tick,
)
from market.pricing import black76_greeks, black76_price
from market.simulator import Simulator, SimulatorConfig
from market.snapshot import FuturePoint, MarketSnapshot, OptionModel, Quote
from market.surface import VixSurface

HOURLY = SimulatorConfig(cadence_minutes=60)
AT = datetime(2025, 1, 2, 15, 0, tzinfo=UTC)  # 10:00 ET
CALM_VIX, SPIKE_VIX = 13.0, 45.0


def _snap(vix: float, *, curve_premium: float = 1.0, at: datetime = AT) -> MarketSnapshot:
    session = at.astimezone(NEW_YORK).date()
    curve = tuple(
        FuturePoint(e, vix + curve_premium * i + 0.013)
        for i, e in enumerate(vx_expiries_after(session, 8))
    )
    return MarketSnapshot(0, at, None, 5900.0, vix, vx_curve=curve)


@pytest.fixture(scope="module")
def sample() -> list[MarketSnapshot]:
    """Hourly snapshots of a spike-and-revert run, every 9th, plus a calm and a spiked one."""
    sim = Simulator(HOURLY, seed=5, start=date(2025, 1, 2), scenario="spike-and-revert")
    return list(sim.snapshots(40))[::9] + [_snap(CALM_VIX), _snap(SPIKE_VIX, curve_premium=-1.5)]


def _on_grid(price: float, tick: float) -> bool:
    return abs(price / tick - round(price / tick)) < 1e-9


def _option_on_grid(price: float) -> bool:
    return _on_grid(price, option_tick(price))


# -- the SPX quotes this work must not move ----------------------------------------------------


def test_seeded_spx_quotes_are_unchanged_by_the_vix_products() -> None:
    sim = Simulator(SimulatorConfig(cadence_minutes=30), seed=1, start=date(2025, 1, 2))
    snap = next(itertools.islice(sim.snapshots(2), 9, None))
    assert snap.spx == 5868.314238883264 and snap.vix == 17.377001733798775
    chain = snap.chain(snap.spx_expiries[1])
    assert chain.expiry == date(2025, 2, 21)
    expected = {
        5570.0: ((52.6, 53.3), (369.3, 373.0)),
        5720.0: ((78.1, 79.0), (246.3, 248.8)),
        5870.0: ((120.2, 121.5), (140.0, 141.5)),
        5970.0: ((162.8, 164.6), (83.6, 84.6)),
        6070.0: ((223.1, 225.4), (44.9, 45.5)),
    }
    for strike, (put, call) in expected.items():
        for right, (bid, ask) in ((Right.PUT, put), (Right.CALL, call)):
            q = chain.quote(strike, right)
            assert q is not None and (q.bid, q.ask) == (bid, ask)


# -- futures ------------------------------------------------------------------------------------


def test_futures_quotes_straddle_the_curve_on_the_tick_grid(sample: list[MarketSnapshot]) -> None:
    for snap in sample:
        assert snap.vix_expiries == tuple(p.expiry for p in snap.vx_curve)
        for point in snap.vx_curve:
            vx = snap.quote(FutureContract(FutureRoot.VX, point.expiry))
            vxm = snap.quote(FutureContract(FutureRoot.VXM, point.expiry))
            assert vx is not None and vxm is not None
            for q in (vx, vxm):
                assert _on_grid(q.bid, FUTURE_TICK) and _on_grid(q.ask, FUTURE_TICK)
                assert q.bid <= point.price <= q.ask and q.bid < q.ask
                assert q.bid_size > 0 and q.ask_size > 0
            assert vxm.mid == pytest.approx(vx.mid, abs=1e-9)
            assert vxm.ask - vxm.bid > vx.ask - vx.bid


def test_front_vx_is_a_tick_wide_when_calm_and_wider_in_stress() -> None:
    calm, spiked = _snap(CALM_VIX), _snap(SPIKE_VIX, curve_premium=-1.5)
    front, back = calm.vix_expiries[0], calm.vix_expiries[-1]
    calm_q = calm.quote(FutureContract(FutureRoot.VX, front))
    spiked_q = spiked.quote(FutureContract(FutureRoot.VX, front))
    back_q = calm.quote(FutureContract(FutureRoot.VX, back))
    assert calm_q is not None and spiked_q is not None and back_q is not None
    assert calm_q.ask - calm_q.bid == pytest.approx(0.05)
    assert 0.10 - 1e-9 <= spiked_q.ask - spiked_q.bid <= 0.20 + 1e-9
    assert back_q.ask - back_q.bid > calm_q.ask - calm_q.bid  # further months wider


def test_unlisted_futures_have_no_quote() -> None:
    snap = _snap(CALM_VIX)
    for expiry in (date(2024, 12, 18), date(2025, 1, 23), snap.vx_curve[-1].expiry.replace(day=1)):
        for root in FutureRoot:
            assert snap.quote(FutureContract(root, expiry)) is None


def test_a_future_quote_is_a_cached_lookup() -> None:
    snap = _snap(CALM_VIX)
    contract = FutureContract(FutureRoot.VX, snap.vix_expiries[0])
    assert snap.quote(contract) is snap.quote(contract)


# -- VIX options --------------------------------------------------------------------------------


def test_vix_option_quotes_respect_black76_parity_and_the_tick_grid(
    sample: list[MarketSnapshot],
) -> None:
    for snap in sample:
        for expiry in snap.vix_expiries:
            ch = snap.vix_chain(expiry)
            assert ch.model is OptionModel.BLACK76
            assert ch.forward == ch.underlying == snap.vx_price(expiry)
            assert np.all(np.diff(ch.strikes) == 1.0) and np.all(ch.strikes % 1.0 == 0.0)
            assert ch.strikes[0] < ch.forward < ch.strikes[-1]
            parity = math.exp(-snap.rate * ch.years) * (ch.forward - ch.strikes)
            assert np.all(ch.call_bid - ch.put_ask <= parity + 1e-9)
            assert np.all(ch.call_ask - ch.put_bid >= parity - 1e-9)
            for bid, ask, theo in (
                (ch.call_bid, ch.call_ask, ch.call_theo),
                (ch.put_bid, ch.put_ask, ch.put_theo),
            ):
                assert np.all(bid >= 0.0) and np.all(bid < ask)
                assert np.all(bid <= theo) and np.all(theo <= ask)
                assert all(_option_on_grid(p) for p in np.concatenate([bid, ask]))
                ticks = np.where(bid >= 3.0, 0.10, 0.05)
                assert np.all(ask >= bid + ticks - 1e-9)
            # prices fall (calls) and rise (puts) with the strike; calls convex in the strike
            assert np.all(np.diff(ch.call_theo) <= 1e-12)
            assert np.all(np.diff(ch.put_theo) >= -1e-12)
            assert np.all(np.diff(ch.call_theo, 2) >= -1e-9)
            assert np.all(np.diff(ch.call_ask) <= 1e-9) and np.all(np.diff(ch.call_bid) <= 1e-9)


def test_vix_option_theo_is_black76_on_the_future_at_the_vix_surface_vol() -> None:
    snap = _snap(17.0)
    expiry = snap.vix_expiries[1]
    ch = snap.vix_chain(expiry)
    settlement = datetime(expiry.year, expiry.month, expiry.day, 9, 30, tzinfo=NEW_YORK)
    assert ch.years == pytest.approx((settlement - AT).total_seconds() / (365 * 86400), rel=1e-12)
    k = np.log(ch.strikes / ch.forward)
    np.testing.assert_allclose(ch.vols, snap.vix_surface.vols(k, ch.years, snap.vix))
    ref = black76_price(True, ch.forward, ch.strikes, ch.years, snap.rate, ch.vols)
    np.testing.assert_allclose(ch.call_theo, np.maximum(ref, 0.0), rtol=0, atol=1e-12)


def test_vix_options_have_call_skew() -> None:
    snap = _snap(16.0)
    for expiry in snap.vix_expiries[:3]:
        ch = snap.vix_chain(expiry)
        above = ch.strikes > ch.forward
        assert np.all(np.diff(ch.vols[above]) > 0)
        # the implied vol backed out of the call theo rises with the strike as well
        wing = above & (ch.strikes <= 2.0 * ch.forward)
        solved = implied_vol(
            ch.call_theo[wing],
            True,
            ch.forward,
            ch.strikes[wing],
            ch.years,
            snap.rate,
            model="black76",
        )
        assert np.all(solved.ok) and np.all(np.diff(solved.iv) > 0)
        np.testing.assert_allclose(solved.iv, ch.vols[wing], rtol=1e-6)


def test_vol_of_vol_is_higher_when_the_vix_is_high_but_less_than_proportionally() -> None:
    surface = VixSurface()
    month = 30 / 365
    calm = [surface.atm_vol(month, v) for v in (12.0, 15.0)]
    spike = [surface.atm_vol(month, v) for v in (35.0, 50.0)]
    assert all(0.80 <= v <= 1.10 for v in calm)
    assert all(1.15 <= v <= 1.50 for v in spike)
    assert surface.atm_vol(month, 45.0) / surface.atm_vol(month, 15.0) < 45.0 / 15.0
    # shorter expiries carry more vol-of-vol
    assert surface.atm_vol(10 / 365, 15.0) > surface.atm_vol(month, 15.0)
    assert surface.atm_vol(month, 15.0) > surface.atm_vol(120 / 365, 15.0)
    calm_chain = _snap(CALM_VIX).vix_chain(_snap(CALM_VIX).vix_expiries[0])
    spike_snap = _snap(SPIKE_VIX, curve_premium=-1.5)
    spike_chain = spike_snap.vix_chain(spike_snap.vix_expiries[0])
    atm = int(np.argmin(np.abs(calm_chain.strikes - calm_chain.forward)))
    spike_atm = int(np.argmin(np.abs(spike_chain.strikes - spike_chain.forward)))
    assert spike_chain.vols[spike_atm] > calm_chain.vols[atm]


def test_vix_option_deltas_and_greeks_are_black76_against_the_future() -> None:
    snap = _snap(18.0)
    expiry = snap.vix_expiries[0]
    ch = snap.vix_chain(expiry)
    ref = black76_greeks(True, ch.forward, ch.strikes, ch.years, snap.rate, ch.vols)
    np.testing.assert_allclose(ch.call_delta, ref.delta, rtol=1e-12)
    put_ref = black76_greeks(False, ch.forward, ch.strikes, ch.years, snap.rate, ch.vols)
    np.testing.assert_allclose(ch.put_delta, put_ref.delta, rtol=1e-12)
    strike = ch.strike_nearest_delta(Right.CALL, 0.25)
    contract = OptionContract(Root.VIX, expiry, strike, Right.CALL)
    g = snap.option_greeks(contract)
    g_chain = ch.greeks(strike, Right.CALL)
    assert g is not None and g_chain is not None
    i = int(strike - ch.strikes[0])
    vol = float(ch.vols[i])
    direct = black76_greeks(True, ch.forward, strike, ch.years, snap.rate, vol)
    for name in ("price", "delta", "gamma", "vega", "theta", "rho"):
        assert float(getattr(g, name)) == pytest.approx(float(getattr(direct, name)), rel=1e-9)
        assert float(getattr(g_chain, name)) == pytest.approx(float(getattr(g, name)), rel=1e-9)
    assert float(g.delta) == pytest.approx(0.25, abs=0.05)
    q = snap.quote(contract)
    assert q is not None and q.bid <= float(g.price) <= q.ask


def test_direct_vix_quotes_match_the_chain_and_price_strikes_beyond_it() -> None:
    snap = _snap(21.0)
    fresh = MarketSnapshot.from_dict(snap.to_dict())  # no chain cached: the direct path
    expiry = snap.vix_expiries[2]
    ch = snap.vix_chain(expiry)
    for strike in ch.strikes[::5]:
        for right in (Right.CALL, Right.PUT):
            contract = OptionContract(Root.VIX, expiry, float(strike), right)
            assert fresh.quote(contract) == ch.quote(float(strike), right)
    far = OptionContract(Root.VIX, expiry, float(ch.strikes[-1]) + 40.0, Right.CALL)
    q, g = snap.quote(far), snap.option_greeks(far)
    assert q is not None and g is not None and _option_on_grid(q.ask) and _option_on_grid(q.bid)
    assert 0.0 <= q.bid <= float(g.price) <= q.ask < float(ch.call_ask[-1]) + 1e-9


def test_unlisted_vix_options_have_no_quote() -> None:
    snap = _snap(CALM_VIX)
    expiry = snap.vix_expiries[0]
    assert snap.quote(OptionContract(Root.VIX, expiry, 17.5, Right.CALL)) is None  # off-grid
    assert snap.quote(OptionContract(Root.VIX, expiry, 0.0, Right.CALL)) is None
    assert snap.quote(OptionContract(Root.VIX, date(2025, 2, 21), 17.0, Right.CALL)) is None
    assert snap.option_greeks(OptionContract(Root.VIX, expiry, 17.5, Right.PUT)) is None
    assert snap.quote(OptionContract(Root.SPX, expiry, 5900.0, Right.PUT)) is None
    with pytest.raises(KeyError, match="not listed"):
        snap.vix_chain(date(2025, 2, 21))


def test_vix_options_stop_trading_the_day_before_expiry() -> None:
    expiry = date(2025, 1, 22)
    day_before = datetime(2025, 1, 21, 20, 0, tzinfo=UTC)
    on_expiry = datetime(2025, 1, 22, 15, 0, tzinfo=UTC)
    contract = OptionContract(Root.VIX, expiry, 16.0, Right.CALL)
    future = FutureContract(FutureRoot.VX, expiry)
    live = MarketSnapshot(0, day_before, None, 5900.0, 16.0)
    assert live.quote(contract) is not None and live.quote(future) is not None
    assert live.vix_expiries[0] == expiry
    # a stale curve that still carries the expiring contract: it is not listed any more
    curve = (FuturePoint(expiry, 16.0), FuturePoint(date(2025, 2, 19), 17.0))
    expired = MarketSnapshot(1, on_expiry, None, 5900.0, 16.0, vx_curve=curve)
    assert expired.quote(contract) is None and expired.quote(future) is None
    assert expired.vix_expiries == (date(2025, 2, 19),)


# -- sizes --------------------------------------------------------------------------------------


def test_quote_sizes_are_positive_deterministic_and_shrink_away_from_the_money() -> None:
    assert Quote(1.0, 1.1) == Quote(1.0, 1.1, 0, 0)  # 0: unknown size, no cap
    calm, spiked = _snap(CALM_VIX), _snap(SPIKE_VIX, curve_premium=-1.5)
    for snap in (calm, spiked):
        spx = snap.chain(snap.spx_expiries[1])
        vix = snap.vix_chain(snap.vix_expiries[0])
        for ch, lo, hi in ((spx, 20, 200), (vix, 50, 500)):
            assert np.all(ch.quote_sizes >= lo) and np.all(ch.quote_sizes <= hi)
            atm = int(np.argmin(np.abs(ch.strikes - ch.forward)))
            assert ch.quote_sizes[atm] == ch.quote_sizes.max()
            assert ch.quote_sizes[0] < ch.quote_sizes[atm] > ch.quote_sizes[-1]
            q = ch.quote(float(ch.strikes[atm]), Right.PUT)
            assert q is not None and q.bid_size == q.ask_size == ch.quote_sizes[atm]
    calm_atm = calm.chain(calm.spx_expiries[1]).quote_sizes.max()
    assert spiked.chain(spiked.spx_expiries[1]).quote_sizes.max() < calm_atm
    for root, lo, hi in ((FutureRoot.VX, 100, 500), (FutureRoot.VXM, 20, 100)):
        sizes = [
            q.bid_size
            for e in calm.vix_expiries
            if (q := calm.quote(FutureContract(root, e))) is not None
        ]
        assert sizes[0] == hi and all(lo <= s <= hi for s in sizes)
        assert sizes == sorted(sizes, reverse=True) and sizes[-1] < sizes[0]
    again = _snap(CALM_VIX)
    np.testing.assert_array_equal(
        again.vix_chain(again.vix_expiries[0]).quote_sizes,
        calm.vix_chain(calm.vix_expiries[0]).quote_sizes,
    )


# -- recording and determinism ------------------------------------------------------------------


def test_round_trip_preserves_vix_products(sample: list[MarketSnapshot]) -> None:
    for snap in sample:
        restored = MarketSnapshot.from_dict(json.loads(json.dumps(snap.to_dict())))
        assert restored == snap and restored.to_dict() == snap.to_dict()
        assert restored.vix_surface == snap.vix_surface
        assert restored.vix_spreads == snap.vix_spreads
        assert pickle.loads(pickle.dumps(snap)) == snap
        expiry = snap.vix_expiries[1]
        a, b = snap.vix_chain(expiry), restored.vix_chain(expiry)
        for name in ("call_bid", "call_ask", "put_bid", "put_ask", "call_delta", "quote_sizes"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        for root in FutureRoot:
            contract = FutureContract(root, expiry)
            assert restored.quote(contract) == snap.quote(contract)


def test_a_record_without_vix_fields_gets_the_defaults() -> None:
    snap = _snap(CALM_VIX)
    old = snap.to_dict()
    del old["vix_surface"], old["vix_spreads"]
    assert MarketSnapshot.from_dict(old) == snap


def test_vix_products_are_deterministic_per_seed() -> None:
    def run() -> list[tuple[Quote | None, ...]]:
        out: list[tuple[Quote | None, ...]] = []
        for snap in Simulator(HOURLY, seed=8, start=date(2025, 1, 2)).snapshots(3):
            expiry = snap.vix_expiries[0]
            ch = snap.vix_chain(expiry)
            k = float(ch.strikes[len(ch.strikes) // 2])
            out.append(
                (
                    snap.quote(FutureContract(FutureRoot.VX, expiry)),
                    snap.quote(FutureContract(FutureRoot.VXM, snap.vix_expiries[3])),
                    snap.quote(OptionContract(Root.VIX, expiry, k, Right.CALL)),
                    snap.quote(OptionContract(Root.VIX, snap.vix_expiries[2], 30.0, Right.PUT)),
                )
            )
        return out

    assert run() == run()


# -- settlement prints --------------------------------------------------------------------------


def test_every_vx_expiry_session_opens_with_a_vro_near_the_vix_open() -> None:
    config = SimulatorConfig(cadence_minutes=405)  # the open and the close of each session
    start = date(2025, 1, 2)
    sessions = len(trading_calendar().sessions_between(start, date(2025, 12, 31)))
    expiries = set(vx_expiries_after(start, 12))
    seen: set[date] = set()
    for scenario in (None, "spike-and-revert"):
        sim = Simulator(config, seed=3, start=start, scenario=scenario)
        for snap in sim.snapshots(sessions):
            first = snap.ts.astimezone(NEW_YORK).hour == 9
            if snap.session in expiries and first:
                assert snap.vro is not None and round(snap.vro, 2) == snap.vro
                # the VRO noise is 2% (log sd): within five of them of the VIX open
                assert abs(math.log(snap.vro / snap.vix)) < 5 * config.vro_noise
                assert snap.session not in snap.vix_expiries
                seen.add(snap.session)
            else:
                assert snap.vro is None
    assert seen == {e for e in expiries if e.year == 2025}

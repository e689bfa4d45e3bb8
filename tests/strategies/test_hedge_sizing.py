"""Layer 2's sizing math against hand-worked numbers (SPEC section 7)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import pytest

from market.calendar import vx_expiries_after
from market.instruments import FutureContract, FutureRoot, OptionContract, Right, Root
from market.snapshot import FuturePoint, MarketSnapshot
from strategies.hedge_sizing import (
    call_carry_per_contract,
    carry_cap,
    contango,
    contracts_to_trade,
    effective_ratio,
    futures_carry_per_contract,
    hedge_expiry,
    instrument_terms,
    round_contracts,
    size_hedge,
    vx_target,
)

SESSION = date(2025, 2, 3)
FRONT, SECOND = date(2025, 2, 19), date(2025, 3, 18)


def test_contango_is_the_premium_of_the_future_over_spot_and_zero_in_backwardation() -> None:
    assert contango(21.6, 18.0) == pytest.approx(0.2)
    assert contango(16.0, 18.0) == 0.0
    assert contango(18.0, 18.0) == 0.0


def test_effective_ratio_halves_when_contango_equals_vrp_scale() -> None:
    assert effective_ratio(0.5, 0.2, 0.2) == pytest.approx(0.25)
    assert effective_ratio(0.5, 0.0, 0.2) == 0.5
    assert effective_ratio(0.5, 0.1, 0.2) == pytest.approx(0.5 / 1.5)


def test_vx_target_follows_the_formula_for_a_short_vega_book() -> None:
    # h_eff 0.25, iv_beta 0.8, vega -$12,000 per vol point, beta 0.6: 0.25*0.8*12000/600 = 4
    assert vx_target(0.25, 0.8, -12_000.0, 0.6) == pytest.approx(4.0)


def test_a_book_that_is_not_short_vega_needs_no_long_vix_hedge() -> None:
    assert vx_target(0.5, 1.0, 0.0, 0.5) == 0.0
    assert vx_target(0.5, 1.0, 5_000.0, 0.5) == 0.0


@pytest.mark.parametrize(
    ("raw", "contracts"), [(0.0, 0), (0.49, 0), (0.5, 1), (1.49, 1), (2.5, 3), (15.51, 16)]
)
def test_rounding_is_to_the_nearest_contract_halves_up(raw: float, contracts: int) -> None:
    assert round_contracts(raw) == contracts


@pytest.mark.parametrize(
    ("target", "held", "flat", "trade"),
    [
        (0.49, 0.0, True, 0),  # under half a contract: no hedge
        (0.5, 0.0, True, 1),  # from flat, halves round up
        (2.6, 0.0, True, 3),
        (2.6, 2.0, False, 0),  # held: less than a whole contract away
        (2.99, 2.0, False, 0),
        (3.0, 2.0, False, 1),  # a whole contract away: to round(target)
        (3.6, 2.0, False, 2),
        (1.4, 2.0, False, 0),
        (0.4, 1.0, False, 0),
        (1.0, 2.0, False, -1),
        (0.0, 1.0, False, -1),  # nothing to hedge closes a hedge of one
        (0.6, 2.0, False, -1),  # 1.4 below: to round(0.6) = 1
        (5.0, 3.4, False, 2),  # calls: held counted in target-strike contracts
        (5.0, 4.3, False, 0),
    ],
)
def test_a_held_hedge_trades_only_when_the_target_is_a_whole_contract_away(
    target: float, held: float, flat: bool, trade: int
) -> None:
    assert contracts_to_trade(target, held, flat=flat) == trade


def test_futures_carry_is_the_roll_down_toward_spot_per_calendar_day() -> None:
    # F 20, VIX 18, 16 days: 2/16 = 0.125 points a day; x100 per VXM, x1000 per VX
    assert futures_carry_per_contract(20.0, 18.0, 16, 100) == pytest.approx(12.5)
    assert futures_carry_per_contract(20.0, 18.0, 16, 1000) == pytest.approx(125.0)
    assert futures_carry_per_contract(16.0, 18.0, 16, 100) == pytest.approx(-12.5)
    assert futures_carry_per_contract(20.0, 18.0, 0, 100) == pytest.approx(200.0)


def test_call_carry_is_its_decay_in_dollars() -> None:
    assert call_carry_per_contract(-0.05) == pytest.approx(5.0)


def test_carry_cap_floors_to_what_the_theta_income_pays_for() -> None:
    # theta $1,000/day, fraction 0.5: $500/day allowed; $12.5 per contract -> 40 contracts
    assert carry_cap(60, 12.5, 1_000.0, 0.5) == (40, 500.0)
    assert carry_cap(40, 12.5, 1_000.0, 0.5) == (40, 500.0)
    assert carry_cap(41, 12.5, 1_000.0, 0.5) == (40, 500.0)


def test_backwardation_never_caps_and_a_book_without_income_allows_no_cost() -> None:
    assert carry_cap(60, -12.5, 0.0, 0.5) == (60, 0.0)
    assert carry_cap(60, 12.5, 0.0, 0.5) == (0, 0.0)
    assert carry_cap(60, 12.5, -400.0, 0.5) == (0, -200.0)


def test_hedge_expiry_is_the_front_until_it_settles_within_roll_days() -> None:
    listed = vx_expiries_after(SESSION, 8)
    assert hedge_expiry(listed, SESSION, 7) == FRONT
    assert hedge_expiry(listed, date(2025, 2, 11), 7) == FRONT  # 8 days out
    assert hedge_expiry(listed, date(2025, 2, 12), 7) == SECOND  # 7 days out
    assert hedge_expiry(listed, date(2025, 2, 18), 0) == FRONT
    assert hedge_expiry((FRONT,), date(2025, 2, 14), 7) is None
    assert hedge_expiry((), SESSION, 7) is None


def _snap(vix: float, prices: list[float]) -> MarketSnapshot:
    expiries = vx_expiries_after(SESSION, len(prices))
    curve = tuple(FuturePoint(e, p) for e, p in zip(expiries, prices, strict=True))
    return MarketSnapshot(
        1, datetime(2025, 2, 3, 15, tzinfo=UTC), SESSION, 6000.0, vix, vx_curve=curve
    )


def test_instrument_terms_of_the_futures() -> None:
    snap = _snap(18.0, [20.0, 21.0])
    vxm = instrument_terms(snap, "mini_future", FRONT, 0.3)
    vx = instrument_terms(snap, "future", FRONT, 0.3)
    assert vxm is not None and vx is not None
    assert vxm.contract == FutureContract(FutureRoot.VXM, FRONT)
    assert vx.contract == FutureContract(FutureRoot.VX, FRONT)
    assert (vxm.contracts_per_vx, vx.contracts_per_vx) == (10.0, 1.0)
    assert vxm.carry_per_contract == pytest.approx((20.0 - 18.0) / 16 * 100)
    assert vx.carry_per_contract == pytest.approx((20.0 - 18.0) / 16 * 1000)
    assert vxm.future == 20.0 and vxm.option_delta is None
    assert instrument_terms(snap, "future", date(2025, 4, 16), 0.3) is None


def test_instrument_terms_of_the_calls_use_the_strike_nearest_the_target_delta() -> None:
    snap = _snap(18.0, [20.0, 21.0])
    terms = instrument_terms(snap, "call", SECOND, 0.30)
    assert terms is not None
    chain = snap.vix_chain(SECOND)
    strike = chain.strike_nearest_delta(Right.CALL, 0.30)
    greeks = snap.option_greeks(OptionContract(Root.VIX, SECOND, strike, Right.CALL))
    assert greeks is not None
    assert terms.contract == OptionContract(Root.VIX, SECOND, strike, Right.CALL)
    assert terms.option_delta == pytest.approx(float(greeks.delta))
    assert terms.contracts_per_vx == pytest.approx(1000 / (float(greeks.delta) * 100))
    assert terms.carry_per_contract == pytest.approx(-float(greeks.theta) * 100)
    assert terms.future == 21.0


def test_size_hedge_end_to_end() -> None:
    # c = 21.6/18 - 1 = 0.2 -> h_eff 0.25; n = 0.25 * 1 * 20000 / (1000 * 0.5) = 10 VX = 100 VXM;
    # carry 100 x $5 = $500/day > 0.5 x $800: capped at floor(400 / 5) = 80
    size = size_hedge(
        vega_dollars=-20_000.0,
        theta_income_per_day=800.0,
        beta=0.5,
        iv_beta=1.0,
        h=0.5,
        vrp_scale=0.2,
        future=21.6,
        vix=18.0,
        contracts_per_vx=10.0,
        carry_per_contract=5.0,
        max_carry_fraction=0.5,
    )
    assert size.carry == pytest.approx(0.2)
    assert size.h_eff == pytest.approx(0.25)
    assert size.n_vx == pytest.approx(10.0)
    assert (size.rounded, size.target, size.max_carry) == (100, 80, 400.0)
    assert size.capped and not size.below_minimum
    assert math.isclose(size.raw, 100.0)
    assert size.wanted == 80.0  # the cap applies to the unrounded target first


def test_an_uncapped_size_wants_the_unrounded_target() -> None:
    # backwardation, c = 0: n = 0.5 x 2600 / 500 = 2.6 VX = 2.6 VX contracts
    size = size_hedge(
        vega_dollars=-2_600.0,
        theta_income_per_day=50_000.0,
        beta=0.5,
        iv_beta=1.0,
        h=0.5,
        vrp_scale=0.2,
        future=17.0,
        vix=18.0,
        contracts_per_vx=1.0,
        carry_per_contract=-62.5,
        max_carry_fraction=0.5,
    )
    assert size.wanted == pytest.approx(2.6) and (size.rounded, size.target) == (3, 3)

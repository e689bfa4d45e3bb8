"""Iron condor expiry metrics."""

from __future__ import annotations

import dataclasses

import pytest

from market.condor import CondorMetrics, condor_metrics


def test_condor_metrics_on_a_worked_example() -> None:
    # 5500/5550 put spread and 6000/6075 call spread for 6.20 points of credit:
    # breakevens 5550 - 6.20 and 6000 + 6.20; the wider (75-point) wing sets margin 7,500 $,
    # max loss 7,500 - 620 = 6,880 $ and max profit is the credit, 620 $.
    m = condor_metrics(5500, 5550, 6000, 6075, 6.20)
    assert m.breakeven_low == pytest.approx(5543.80)
    assert m.breakeven_high == pytest.approx(6006.20)
    assert m.max_profit == pytest.approx(620.0)
    assert m.max_loss == pytest.approx(6880.0)
    assert m.margin == pytest.approx(7500.0)


def test_condor_with_equal_short_strikes_is_an_iron_butterfly() -> None:
    m = condor_metrics(5900, 6000, 6000, 6100, 40.0)
    assert (m.breakeven_low, m.breakeven_high) == (5960.0, 6040.0)
    assert m.max_loss == pytest.approx(6000.0)


def test_condor_metrics_are_frozen() -> None:
    m = condor_metrics(5500, 5550, 6000, 6050, 5.0)
    assert isinstance(m, CondorMetrics)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.margin = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("legs", "named"),
    [
        ((5550, 5550, 6000, 6050, 5.0), "long_put"),
        ((5500, 5550, 5540, 6050, 5.0), "short_call"),
        ((5500, 5550, 6000, 6000, 5.0), "long_call"),
        ((5500, 5550, 6000, 6050, -0.5), "credit"),
        ((5500, 5550, 6000, 6050, 50.0), "credit"),
        ((5500, 5550, 6000, 6050, float("nan")), "credit"),
    ],
)
def test_condor_rejects_bad_strikes_or_credit_naming_the_problem(
    legs: tuple[float, ...], named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        condor_metrics(*legs)


def _pnl_at_expiry(legs: tuple[float, float, float, float], credit: float, spot: float) -> float:
    long_put, short_put, short_call, long_call = legs
    puts = max(short_put - spot, 0.0) - max(long_put - spot, 0.0)
    calls = max(spot - short_call, 0.0) - max(spot - long_call, 0.0)
    return credit - puts - calls


@pytest.mark.parametrize(
    ("legs", "credit", "low", "high"),
    [
        # 60-point put wing, 70-point call wing: 65 of credit covers the whole put wing.
        ((5500, 5560, 6130, 6200), 65.0, None, 6195.0),
        ((5500, 5560, 6130, 6200), 60.0, None, 6190.0),  # credit == put width: P&L floor is 0
        ((5500, 5560, 6130, 6200), 59.5, 5500.5, 6189.5),
        ((5480, 5560, 6130, 6200), 75.0, 5485.0, None),  # the call wing is the narrower one
    ],
)
def test_condor_breakeven_exists_only_when_credit_is_below_that_wing(
    legs: tuple[float, float, float, float],
    credit: float,
    low: float | None,
    high: float | None,
) -> None:
    m = condor_metrics(*legs, credit)
    assert (m.breakeven_low, m.breakeven_high) == (low, high)
    long_put, short_put, short_call, long_call = legs
    wing = max(short_put - long_put, long_call - short_call)
    assert m.max_profit == pytest.approx(credit * 100)
    assert m.max_loss == pytest.approx((wing - credit) * 100)
    assert m.margin == pytest.approx(wing * 100)
    # A reported breakeven is where the expiry P&L crosses zero; a missing one means the P&L
    # on that side never goes negative.
    if low is None:
        assert min(_pnl_at_expiry(legs, credit, s) for s in (long_put - 100, long_put)) >= 0.0
    else:
        assert _pnl_at_expiry(legs, credit, low) == pytest.approx(0.0, abs=1e-9)
        assert low > long_put
    if high is None:
        assert min(_pnl_at_expiry(legs, credit, s) for s in (long_call, long_call + 100)) >= 0.0
    else:
        assert _pnl_at_expiry(legs, credit, high) == pytest.approx(0.0, abs=1e-9)
        assert high < long_call


def test_condor_credit_at_the_wider_wing_is_rejected_as_riskless() -> None:
    with pytest.raises(ValueError, match=r"credit \(70\) must be below the wider wing width"):
        condor_metrics(5500, 5560, 6130, 6200, 70.0)

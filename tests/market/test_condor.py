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

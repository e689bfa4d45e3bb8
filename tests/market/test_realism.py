"""The realism check (``bench/realism.py``): its estimators on series with known answers, and the
tuned base model against 1990-2026 history (slow)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / ".." / "shared" / "data"


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_realism", ROOT / "bench" / "realism.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


realism = _load_bench()


def _ou(half_life: float, n: int, seed: int, level: float = 3.0, sd: float = 0.3) -> np.ndarray:
    """An Ornstein-Uhlenbeck path sampled at unit steps (an exact AR(1)) with stationary
    standard deviation ``sd``."""
    rng = np.random.default_rng(seed)
    phi = math.exp(-math.log(2.0) / half_life)
    shocks = rng.standard_normal(n) * sd * math.sqrt(1.0 - phi * phi)
    x = np.empty(n)
    x[0] = level
    for t in range(1, n):
        x[t] = level + phi * (x[t - 1] - level) + shocks[t]
    return x


# -- estimators on known answers ----------------------------------------------------------------


@pytest.mark.parametrize("half_life", [5.0, 20.0, 35.0])
def test_ar1_half_life_recovers_the_half_life_of_a_simulated_ou(half_life: float) -> None:
    estimate = realism.ar1_half_life(_ou(half_life, 200_000, seed=int(half_life)))
    # standard error of the estimate is about 1.5% (5 sessions) to 2.5% (35 sessions) here
    assert estimate == pytest.approx(half_life, rel=0.08)


def test_ar1_half_life_ignores_the_level_and_scale_of_the_series() -> None:
    x = _ou(10.0, 20_000, seed=3)
    assert realism.ar1_half_life(5.0 + 3.0 * x) == pytest.approx(realism.ar1_half_life(x))


def test_ar1_half_life_is_infinite_without_reversion_and_undefined_when_alternating() -> None:
    assert realism.ar1_half_life(np.arange(50.0)) == math.inf
    assert math.isnan(realism.ar1_half_life(np.array([1.0, -1.0] * 20)))


def test_correlation_of_constructed_series() -> None:
    rng = np.random.default_rng(11)
    a, b = rng.standard_normal((2, 100_000))
    rho = -0.7
    mixed = rho * a + math.sqrt(1.0 - rho * rho) * b
    assert realism.correlation(a, mixed) == pytest.approx(rho, abs=0.01)
    assert realism.correlation(a, 2.0 * a + 1.0) == pytest.approx(1.0)
    assert realism.correlation(a, -a) == pytest.approx(-1.0)


def test_share_above_counts_strictly_above() -> None:
    values = np.array([15.0, 16.0, 16.01, 25.0, 30.0])
    assert realism.share_above(values, 16.0) == pytest.approx(3 / 5)
    assert realism.share_above(values, 25.0) == pytest.approx(1 / 5)
    assert realism.share_above(values, 40.0) == 0.0


def test_vix_spx_facts_of_a_constructed_pair() -> None:
    log_vix = _ou(30.0, 100_000, seed=5, level=math.log(18.0), sd=0.3)
    rng = np.random.default_rng(6)
    dv = np.diff(log_vix)
    noise = rng.standard_normal(dv.size) * dv.std()
    rho = -0.75
    returns = 0.05 * (rho * dv + math.sqrt(1.0 - rho * rho) * noise)
    spx = 4000.0 * np.exp(np.concatenate([[0.0], np.cumsum(returns)]))
    vix = np.exp(log_vix)

    facts = realism.vix_spx_facts(vix, spx)

    assert facts["vix_mean"] == pytest.approx(vix.mean())
    assert facts["vix_median"] == pytest.approx(np.median(vix))
    assert facts["log_vix_half_life_sessions"] == pytest.approx(30.0, rel=0.1)
    # log-normal stationary law: P(VIX > k) = 1 - Phi(ln(k / 18) / 0.3)
    for level in (16, 25, 28):
        expected = 0.5 * math.erfc(math.log(level / 18.0) / 0.3 / math.sqrt(2.0))
        assert facts[f"share_vix_above_{level}"] == pytest.approx(expected, abs=0.03)
    assert facts["corr_spx_return_log_vix_change"] == pytest.approx(rho, abs=0.01)


def test_curve_facts_of_a_constructed_curve() -> None:
    vix = np.array([12.0, 20.0, 30.0, 35.0, 45.0, 31.0])
    vx1 = np.array([14.0, 21.0, 29.0, 36.0, 40.0, 30.0])
    vx2 = np.array([15.0, 20.0, 28.0, 37.0, 38.0, 33.0])
    facts = realism.curve_facts(vix, vx1, vx2)
    assert facts["share_vx2_above_vx1"] == pytest.approx(3 / 6)
    expected_median = np.median([15 / 14, 20 / 21, 28 / 29, 37 / 36, 38 / 40, 33 / 30]) - 1.0
    assert facts["median_vx2_over_vx1_minus_1"] == pytest.approx(expected_median)
    # VIX >= 30 on four days (30 counts); VX1 below the VIX on three of them
    assert facts["share_vx1_below_vix_when_vix_30"] == pytest.approx(3 / 4)


def test_curve_facts_without_a_stressed_day_leave_that_share_undefined() -> None:
    ones = np.ones(3)
    facts = realism.curve_facts(15.0 * ones, 16.0 * ones, 17.0 * ones)
    assert math.isnan(facts["share_vx1_below_vix_when_vix_30"])


def test_compare_uses_points_for_shares_and_relative_gaps_for_the_rest() -> None:
    history = {fact.key: 0.5 if fact.share else 20.0 for fact in realism.FACTS}
    history["corr_spx_return_log_vix_change"] = -0.7
    model = dict(history)
    model["share_vix_above_16"] = 0.519  # +1.9 pp: met
    model["share_vix_above_25"] = 0.479  # -2.1 pp: missed
    model["vix_mean"] = 22.9  # +14.5%: met
    model["vix_median"] = 16.9  # -15.5%: missed
    model["corr_spx_return_log_vix_change"] = -0.6  # 14.3% weaker: met
    rows = {row["fact"]: row for row in realism.compare(model, history)}
    assert rows["share_vix_above_16"]["ok"] and rows["share_vix_above_16"]["gap"] == pytest.approx(
        1.9
    )
    assert not rows["share_vix_above_25"]["ok"]
    assert rows["vix_mean"]["ok"] and rows["vix_mean"]["gap"] == pytest.approx(14.5)
    assert not rows["vix_median"]["ok"]
    assert rows["corr_spx_return_log_vix_change"]["ok"]
    assert rows["corr_spx_return_log_vix_change"]["gap"] == pytest.approx(100 / 7)
    assert len(rows) == len(realism.FACTS)
    table = realism.markdown_table(list(rows.values()))
    assert table.count("\n") == len(realism.FACTS) + 1 and "| no |" in table


def test_history_is_an_inner_join_on_date_that_skips_blank_and_missing_closes(
    tmp_path: Path,
) -> None:
    (tmp_path / "vix_daily.csv").write_text(
        "DATE,OPEN,HIGH,LOW,CLOSE\n"
        "2020-01-02,1,1,1,12.0\n2020-01-03,1,1,1,13.0\n2020-01-06,1,1,1,14.0\n"
        "2020-01-07,1,1,1,31.0\n"
    )
    (tmp_path / "spx_daily.csv").write_text(
        "date,open,high,low,close,volume,source\n"
        "2020-01-02,,,,3000.0,,x\n2020-01-03,,,,.,,x\n2020-01-06,,,,3030.0,,x\n"
        "2020-01-07,,,,3060.0,,x\n2020-01-08,,,,3090.0,,x\n"
    )
    (tmp_path / "vix_futures_term_structure.csv").write_text(
        "date,vx1,vx2\n2020-01-03,14.0,15.0\n2020-01-07,30.0,\n2020-01-08,20.0,19.0\n"
    )
    closes, spans = realism.history_closes(tmp_path)
    assert closes.vix.tolist() == [12.0, 14.0, 31.0]
    assert closes.spx.tolist() == [3000.0, 3030.0, 3060.0]
    assert (closes.curve_vix.tolist(), closes.vx1.tolist(), closes.vx2.tolist()) == (
        [13.0],
        [14.0],
        [15.0],
    )
    assert spans["vix_spx_first"] == "2020-01-02" and spans["vix_spx_days"] == 3
    assert spans["curve_days"] == 1


# -- the tuned base model against history -------------------------------------------------------


@pytest.fixture(scope="module")
def comparison() -> dict[str, dict[str, Any]]:
    if not (DATA / "vix_daily.csv").is_file():
        pytest.skip(f"real data absent: {DATA.resolve()} has no vix_daily.csv")
    closes, segments = realism.model_closes(realism.DEFAULT_YEARS, seed=0)
    assert len(closes.vix) >= 200 * 252 and segments >= 4
    history, _ = realism.history_closes(DATA)
    rows = realism.compare(realism.stylized_facts(closes), realism.stylized_facts(history))
    return {str(row["fact"]): row for row in rows}


@pytest.mark.slow
@pytest.mark.parametrize("fact", [f.key for f in realism.FACTS])
def test_tuned_base_model_meets_history_within_tolerance(
    comparison: dict[str, dict[str, Any]], fact: str
) -> None:
    row = comparison[fact]
    assert row["ok"], row

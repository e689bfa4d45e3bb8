"""The simulated market: calendar, determinism, settlement prints, scenarios (SPEC section 4)."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from market.calendar import NEW_YORK, trading_calendar
from market.scenarios import SCENARIOS, get_scenario, scenario_names
from market.simulator import Simulator, SimulatorConfig

HOURLY = SimulatorConfig(cadence_minutes=60)


def test_snapshots_fall_inside_sessions_only_across_good_friday() -> None:
    snaps = list(Simulator(HOURLY, seed=1, start=date(2025, 4, 16)).snapshots(3))
    sessions = sorted({s.session for s in snaps})
    assert sessions == [date(2025, 4, 16), date(2025, 4, 17), date(2025, 4, 21)]
    cal = trading_calendar()
    for s in snaps:
        assert s.ts.utcoffset() == timedelta(0)
        opens, closes = cal.session_hours(s.session)
        assert opens <= s.ts <= closes
        local = s.ts.astimezone(NEW_YORK)
        assert local.date() == s.session and local.weekday() < 5
        assert time(9, 30) <= local.time() <= time(16, 15)
    assert [s.seq for s in snaps] == list(range(len(snaps)))


def test_one_minute_cadence_runs_from_the_open_through_the_close() -> None:
    snaps = list(Simulator(SimulatorConfig(), seed=1, start=date(2025, 1, 2)).snapshots(1))
    assert len(snaps) == 406  # 09:30 .. 16:15 inclusive
    assert snaps[0].ts.astimezone(NEW_YORK).time() == time(9, 30)
    assert snaps[-1].ts.astimezone(NEW_YORK).time() == time(16, 15)
    assert all(b.ts - a.ts == timedelta(minutes=1) for a, b in zip(snaps, snaps[1:], strict=False))


def test_coarse_cadence_still_ends_on_the_close_including_early_closes() -> None:
    snaps = list(Simulator(HOURLY, seed=1, start=date(2024, 11, 29)).snapshots(1))  # early close
    times = [s.ts.astimezone(NEW_YORK).time() for s in snaps]
    assert times[0] == time(9, 30) and times[-1] == time(13, 15)
    assert times == sorted(set(times))


def test_start_on_a_weekend_begins_on_the_next_session() -> None:
    first = next(iter(Simulator(HOURLY, seed=1, start=date(2025, 1, 4)).snapshots(1)))
    assert first.session == date(2025, 1, 6)


def test_same_seed_gives_identical_snapshots_and_another_seed_differs() -> None:
    def run(seed: int, scenario: str | None = None) -> list[dict[str, object]]:
        sim = Simulator(HOURLY, seed=seed, start=date(2025, 1, 2), scenario=scenario)
        return [s.to_dict() for s in sim.snapshots(5)]

    assert run(42) == run(42)
    assert run(42) != run(43)
    assert run(42, "calm") == run(42, "calm")
    sim = Simulator(HOURLY, seed=42, start=date(2025, 1, 2))
    assert [s.to_dict() for s in sim.snapshots(5)] == [s.to_dict() for s in sim.snapshots(5)]


def test_a_shorter_run_is_a_prefix_of_a_longer_one() -> None:
    sim = Simulator(HOURLY, seed=5, start=date(2025, 1, 2))
    short = [s.to_dict() for s in sim.snapshots(2)]
    long = [s.to_dict() for s in sim.snapshots(4)]
    assert long[: len(short)] == short


def test_snapshot_contents_are_sane() -> None:
    for s in Simulator(
        HOURLY, seed=9, start=date(2025, 1, 2), scenario="spike-and-revert"
    ).snapshots(60):
        assert s.spx > 0 and math.isfinite(s.spx) and 5 <= s.vix <= 150
        assert len(s.spx_expiries) == 4 and all(e > s.session for e in s.spx_expiries)
        assert len(s.vx_curve) >= 4 and all(p.expiry > s.session for p in s.vx_curve)
        assert [p.expiry for p in s.vx_curve] == sorted(p.expiry for p in s.vx_curve)
        assert all(p.price > 0 for p in s.vx_curve)
        assert (s.rate, s.div_yield) == (0.04, 0.013)


def test_soq_prints_on_the_first_snapshot_of_an_spx_expiry_session_only() -> None:
    snaps = list(Simulator(HOURLY, seed=2, start=date(2025, 1, 15)).snapshots(6))
    with_soq = [s for s in snaps if s.soq is not None]
    assert len(with_soq) == 1
    first_of_expiry = next(s for s in snaps if s.session == date(2025, 1, 17))
    assert with_soq[0] is first_of_expiry
    assert first_of_expiry.soq == pytest.approx(first_of_expiry.spx, rel=0.01)
    assert date(2025, 1, 17) not in first_of_expiry.spx_expiries


def test_vro_prints_on_the_first_snapshot_of_a_vx_expiry_session_only() -> None:
    snaps = list(Simulator(HOURLY, seed=2, start=date(2025, 1, 20)).snapshots(4))
    with_vro = [s for s in snaps if s.vro is not None]
    assert len(with_vro) == 1
    assert with_vro[0] is next(s for s in snaps if s.session == date(2025, 1, 22))
    assert with_vro[0].vro == pytest.approx(with_vro[0].vix, rel=0.1)
    assert all(p.expiry != date(2025, 1, 22) for p in with_vro[0].vx_curve)


def test_vx_curve_is_in_contango_when_calm_and_backwardated_in_a_spike() -> None:
    snaps = list(
        Simulator(HOURLY, seed=4, start=date(2025, 1, 2), scenario="spike-and-revert").snapshots(30)
    )
    calm = snaps[0]
    spike = max(snaps, key=lambda s: s.vix)
    assert calm.vx_curve[1].price > calm.vx_curve[0].price > calm.vix
    assert spike.vx_curve[1].price < spike.vx_curve[0].price < spike.vix


def test_calm_scenario_never_reaches_16() -> None:
    for seed in (0, 1, 2):
        vix = [
            s.vix
            for s in Simulator(
                SimulatorConfig(cadence_minutes=30),
                seed=seed,
                start=date(2025, 1, 2),
                scenario="calm",
            ).snapshots(200)
        ]
        assert max(vix) < 16.0 and min(vix) > 10.0
    low, high = get_scenario("calm").level_bounds()
    assert high < 16.0


def test_spike_and_revert_exceeds_30_then_comes_back_under_17() -> None:
    for seed in (0, 1):
        snaps = list(
            Simulator(
                HOURLY, seed=seed, start=date(2025, 1, 2), scenario="spike-and-revert"
            ).snapshots(90)
        )
        vix = np.array([s.vix for s in snaps])
        peak = int(np.argmax(vix))
        assert vix[:peak].min() < 15.0 and vix[peak] > 30.0
        assert vix[peak:].min() < 17.0
        assert 18 <= peak // 8 <= 26  # hourly: 8 snapshots a session; the spike lands ~session 23
        spx = np.array([s.spx for s in snaps])
        assert spx[peak] < spx[0]  # the spike comes with a sell-off


def test_unknown_scenario_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown scenario 'x' \(known: calm, spike-and-revert\)"):
        Simulator(HOURLY, seed=1, start=date(2025, 1, 2), scenario="x")
    assert scenario_names() == list(SCENARIOS) == ["calm", "spike-and-revert"]


def test_config_is_frozen_and_strict() -> None:
    with pytest.raises(ValidationError):
        SimulatorConfig(cadence_minutes=0)
    with pytest.raises(ValidationError):
        SimulatorConfig(no_such_field=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        HOURLY.cadence_minutes = 5  # type: ignore[misc]


def test_spx_drifts_at_the_carry_on_average() -> None:
    """Across seeds the mean one-year growth of SPX is exp(r - q) within sampling error."""
    config = SimulatorConfig(cadence_minutes=405)
    growth = []
    for seed in range(40):
        snaps = list(Simulator(config, seed=seed, start=date(2025, 1, 2)).snapshots(252))
        growth.append(snaps[-1].spx / snaps[0].spx)
    g = np.array(growth)
    expected = math.exp((0.04 - 0.013) * (snaps[-1].ts - snaps[0].ts).days / 365)
    assert abs(g.mean() - expected) < 4 * g.std() / math.sqrt(len(g))


@pytest.mark.slow
def test_base_model_long_run_stylized_facts() -> None:
    config = SimulatorConfig(cadence_minutes=405)
    start = date(1990, 1, 2)
    sessions = len(trading_calendar().sessions_between(start, date(2040, 1, 31)))
    closes = [
        s
        for s in Simulator(config, seed=0, start=start).snapshots(sessions)
        if s.ts.astimezone(NEW_YORK).time() != time(9, 30)
    ]
    vix = np.array([s.vix for s in closes])
    lv = np.log(vix)
    ret = np.diff(np.log([s.spx for s in closes]))
    assert 17.5 < vix.mean() < 21.5
    assert 16.0 < np.median(vix) < 19.5
    assert 0.5 < (vix > 16).mean() < 0.72
    assert 0.10 < (vix > 25).mean() < 0.24
    assert np.corrcoef(ret, np.diff(lv))[0, 1] < -0.6
    half_life = -math.log(2) / math.log(np.polyfit(lv[:-1], lv[1:], 1)[0])
    assert 20 < half_life < 40
    slope = np.median([s.vx_curve[1].price / s.vx_curve[0].price - 1 for s in closes])
    assert 0.03 < slope < 0.09
    assert isinstance(closes[0].ts, datetime)

"""The simulated market: calendar, determinism, settlement prints, macro state (SPEC section 4).

The scenarios' promises are in ``test_scenarios.py``.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from market.calendar import NEW_YORK, trading_calendar
from market.macro import macro_events
from market.scenarios import SCENARIOS, scenario_names
from market.simulator import Simulator, SimulatorConfig
from market.snapshot import MarketSnapshot

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


def test_unknown_scenario_names_the_known_ones() -> None:
    known = "calm, spike-and-revert, volmageddon, grind-up, crash-2020"
    with pytest.raises(ValueError, match=rf"unknown scenario 'x' \(known: {known}\)"):
        Simulator(HOURLY, seed=1, start=date(2025, 1, 2), scenario="x")
    assert scenario_names() == list(SCENARIOS) == known.split(", ")


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


# -- macro state ------------------------------------------------------------------------------

# SPX and VIX of seeded runs as they were before the macro state (A/D line) was added: its noise has
# a generator of its own, so every existing seeded path must stay as it was.
PATHS_BEFORE_THE_AD_LINE = [
    # (cadence, seed, scenario, sessions, snapshot index, spx, vix)
    (60, 7, None, 30, 1, 5889.25855522004, 17.083276584034095),
    (60, 7, None, 30, 239, 5728.538877602118, 15.785977312430349),
    (60, 3, "spike-and-revert", 30, 239, 5150.505232347592, 30.638310351429478),
    (405, 7, None, 30, 59, 5555.2470400568955, 20.536578499001244),
    (405, 3, "spike-and-revert", 30, 59, 5500.625777430548, 28.113681040767847),
    (405, 11, "calm", 30, 30, 5840.083336569326, 12.052882389010291),
    (1, 7, None, 3, 609, 5917.981042038242, 14.58008474730836),
    (1, 11, "calm", 3, 1217, 5884.162183233778, 13.037570806808962),
]


@pytest.mark.parametrize(
    ("cadence", "seed", "scenario", "sessions", "index", "spx", "vix"), PATHS_BEFORE_THE_AD_LINE
)
def test_seeded_spx_and_vix_paths_are_unchanged_by_the_macro_state(
    cadence: int, seed: int, scenario: str | None, sessions: int, index: int, spx: float, vix: float
) -> None:
    config = SimulatorConfig(cadence_minutes=cadence)
    snaps = list(
        Simulator(config, seed=seed, start=date(2025, 1, 2), scenario=scenario).snapshots(sessions)
    )
    assert snaps[index].spx == pytest.approx(spx, rel=1e-12)
    assert snaps[index].vix == pytest.approx(vix, rel=1e-12)


def test_breadth_settings_leave_spx_and_vix_alone() -> None:
    def run(config: SimulatorConfig) -> list[tuple[float, float, float | None]]:
        sim = Simulator(config, seed=8, start=date(2025, 1, 2), scenario="spike-and-revert")
        return [(s.spx, s.vix, s.ad_line) for s in sim.snapshots(30)]

    base = run(HOURLY)
    other = run(SimulatorConfig(cadence_minutes=60, ad_spx_corr=0.2, ad_net_per_sd=500.0))
    assert [(spx, vix) for spx, vix, _ in base] == [(spx, vix) for spx, vix, _ in other]
    assert [ad for *_, ad in base] != [ad for *_, ad in other]


def _session_closes(snaps: list[MarketSnapshot]) -> list[MarketSnapshot]:
    return [a for a, b in zip(snaps, snaps[1:], strict=False) if a.session != b.session] + [
        snaps[-1]
    ]


def test_ad_line_starts_at_zero_and_tracks_spx_session_returns() -> None:
    config = SimulatorConfig(cadence_minutes=405)
    snaps = list(Simulator(config, seed=21, start=date(2025, 1, 2)).snapshots(500))
    assert snaps[0].ad_line == 0.0
    closes = _session_closes(snaps)
    assert len(closes) == 500
    ad = np.array([s.ad_line for s in closes], dtype=float)
    returns = np.diff(np.log([s.spx for s in closes]))
    changes = np.diff(ad)
    assert np.corrcoef(returns, changes)[0, 1] > 0.6
    # a session adds at most every issue, and a typical one some hundreds of net advancers
    assert np.abs(changes).max() <= config.ad_issues
    assert 400.0 < np.median(np.abs(changes)) < 1200.0


def test_ad_line_is_reproducible_and_collapses_on_a_volmageddon_day() -> None:
    def run() -> list[MarketSnapshot]:
        sim = Simulator(HOURLY, seed=13, start=date(2025, 1, 2), scenario="volmageddon")
        return list(sim.snapshots(40))

    snaps = run()
    assert [s.ad_line for s in snaps] == [s.ad_line for s in run()]
    assert all(s.ad_line is not None and math.isfinite(s.ad_line) for s in snaps)
    closes = [s.ad_line or 0.0 for s in _session_closes(snaps)]
    # on the doubling session (the 26th) breadth collapses: net decliners near every issue
    assert closes[25] - closes[24] < -0.7 * HOURLY.ad_issues


def test_macro_events_come_from_the_calendar_and_hold_all_session() -> None:
    snaps = list(Simulator(HOURLY, seed=1, start=date(2025, 1, 2)).snapshots(252))
    by_session: dict[date, set[tuple[str, ...]]] = {}
    for s in snaps:
        by_session.setdefault(s.session, set()).add(s.macro_events)
    assert all(len(values) == 1 for values in by_session.values())
    assert all(values == {macro_events(d)} for d, values in by_session.items())
    fomc = [d for d, values in by_session.items() if "fomc" in next(iter(values))]
    assert fomc[:2] == [date(2025, 1, 29), date(2025, 3, 19)]
    assert sum(1 for values in by_session.values() if values != {()}) >= 30

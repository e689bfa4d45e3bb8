"""The VX curve's moving anchor: a slow average of log-VIX weighted against a fixed level
(``SimulatorConfig.vx_anchor_*``), in the simulator and in history mode's model curve.

Every expected curve here is written out from the formula in the simulator's docstring, with the
anchor's average rebuilt step by step from the printed VIX: the reference never calls the code
under test's curve or anchor arithmetic.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from market.calendar import trading_calendar, vx_settlement_time
from market.history_feed import HistoryFeed, HistoryInputs, model_curve
from market.simulator import CurveAnchor, Simulator, SimulatorConfig
from market.snapshot import MarketSnapshot

YEAR_SECONDS = 365 * 86400


def _written_out(
    config: SimulatorConfig, vix: float, ts: datetime, expiry: date, s: float
) -> float:
    """One future: log-VIX relaxing to the anchor ``(1 - w) log(level) + w s`` until 09:30 on
    the expiry."""
    w = config.vx_anchor_weight
    anchor = (1 - w) * math.log(config.vx_curve_level) + w * s
    years = (vx_settlement_time(expiry).timestamp() - ts.timestamp()) / YEAR_SECONDS
    decay = 0.5 ** (years / config.vx_curve_half_life_years)
    return math.exp(anchor + (math.log(vix) - anchor) * decay)


def _pull(config: SimulatorConfig, sessions: float) -> float:
    """Share of the gap to the new log-VIX that the average closes in ``sessions``."""
    return 1.0 - math.pow(0.5, sessions / config.vx_anchor_half_life_days)


def _session_share(config: SimulatorConfig, before: MarketSnapshot, after: MarketSnapshot) -> float:
    """Model time between two consecutive simulator snapshots: the overnight share into an open,
    else the rest of the session pro rata to its minutes."""
    f = config.overnight_variance_fraction
    if after.session != before.session:
        return f
    open_utc, close_utc = trading_calendar().session_hours(after.session)
    return (1 - f) * (after.ts - before.ts) / (close_utc - open_utc)


def _check_simulated_curves(config: SimulatorConfig, snaps: list[MarketSnapshot]) -> None:
    s = math.log(snaps[0].vix)
    for i, snap in enumerate(snaps):
        if i:
            s += _pull(config, _session_share(config, snaps[i - 1], snap)) * (
                math.log(snap.vix) - s
            )
        expected = [_written_out(config, snap.vix, snap.ts, p.expiry, s) for p in snap.vx_curve]
        assert [p.price for p in snap.vx_curve] == pytest.approx(expected, rel=1e-12), i


# -- the rule ---------------------------------------------------------------------------------


def test_the_average_closes_half_its_gap_in_one_half_life_however_the_time_is_cut() -> None:
    config = SimulatorConfig(vx_anchor_half_life_days=10.0)
    whole = CurveAnchor(config, 15.0)
    whole.step(30.0, 10.0)
    assert whole.average == pytest.approx(math.log(15.0) + 0.5 * math.log(2.0), rel=1e-12)
    cut = CurveAnchor(config, 15.0)
    for sessions in (0.2, 0.8, 0.2, 0.8, 3.0, 5.0):
        cut.step(30.0, sessions)
    assert cut.average == pytest.approx(whole.average, rel=1e-12)


def test_the_anchor_is_a_weighted_geometric_mean_of_the_level_and_the_average() -> None:
    config = SimulatorConfig(vx_curve_level=100.0, vx_anchor_weight=0.9)
    anchor = CurveAnchor(config, 20.0)
    assert anchor.level == pytest.approx(100.0**0.1 * 20.0**0.9, rel=1e-12)
    assert anchor.log_level == pytest.approx(math.log(anchor.level), rel=1e-12)
    assert CurveAnchor(SimulatorConfig(vx_anchor_weight=0.0), 40.0).level == pytest.approx(100.0)
    assert CurveAnchor(SimulatorConfig(vx_anchor_weight=1.0), 40.0).level == pytest.approx(40.0)


def test_anchor_settings_are_validated() -> None:
    for bad_weight in (-0.1, 1.1):
        with pytest.raises(ValidationError):
            SimulatorConfig(vx_anchor_weight=bad_weight)
    for bad_life in (0.0, -5.0):
        with pytest.raises(ValidationError):
            SimulatorConfig(vx_anchor_half_life_days=bad_life)


# -- the simulator ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cadence", "scenario"), [(60, None), (405, None), (30, "crash-2020"), (405, "volmageddon")]
)
def test_simulated_curves_follow_the_anchor_rebuilt_from_the_printed_vix(
    cadence: int, scenario: str | None
) -> None:
    config = SimulatorConfig(cadence_minutes=cadence)
    sim = Simulator(config, seed=5, start=date(2025, 1, 2), scenario=scenario)
    _check_simulated_curves(config, list(sim.snapshots(12 if cadence < 405 else 80)))


def test_weight_zero_is_the_fixed_curve_towards_vx_curve_level() -> None:
    config = SimulatorConfig(cadence_minutes=60, vx_anchor_weight=0.0, vx_curve_level=25.0)
    for snap in Simulator(config, seed=9, start=date(2025, 3, 3)).snapshots(3):
        expected = [
            _written_out(config, snap.vix, snap.ts, p.expiry, math.log(25.0)) for p in snap.vx_curve
        ]
        assert [p.price for p in snap.vx_curve] == pytest.approx(expected, rel=1e-12)


def test_curve_settings_leave_spx_and_vix_alone() -> None:
    def run(config: SimulatorConfig) -> list[tuple[float, float]]:
        sim = Simulator(config, seed=8, start=date(2025, 1, 2), scenario="spike-and-revert")
        return [(s.spx, s.vix) for s in sim.snapshots(30)]

    base = SimulatorConfig(cadence_minutes=60)
    other = SimulatorConfig(
        cadence_minutes=60,
        vx_anchor_weight=0.0,
        vx_anchor_half_life_days=3.0,
        vx_curve_level=25.0,
        vx_curve_half_life_years=0.25,
    )
    assert run(base) == run(other)


def test_weeks_of_stress_lift_the_front_to_spot_where_a_fresh_spike_leaves_it_below() -> None:
    config = SimulatorConfig(cadence_minutes=405)
    snaps = list(
        Simulator(config, seed=1, start=date(2025, 1, 2), scenario="crash-2020").snapshots(90)
    )
    closes = [a for a, b in zip(snaps, snaps[1:], strict=False) if a.session != b.session]
    first_stressed = next(i for i, s in enumerate(closes) if s.vix >= 30)
    fresh = closes[first_stressed]
    assert fresh.vx_curve[0].price < fresh.vix  # the spike is not priced to last
    late = [s for s in closes[first_stressed + 25 :] if s.vix >= 30]
    assert len(late) >= 10
    # after five weeks and more above 30, the front future sits at or above spot on most days
    assert sum(s.vx_curve[0].price >= s.vix for s in late) >= 0.6 * len(late)


# -- history mode -----------------------------------------------------------------------------


def _history_files(tmp_path: Path, rows: list[tuple[str, float | None, float]]) -> HistoryInputs:
    vix = ["DATE,OPEN,HIGH,LOW,CLOSE"]
    spx = ["date,open,high,low,close"]
    for i, (day, vix_open, vix_close) in enumerate(rows):
        o = vix_close if vix_open is None else vix_open
        vix.append(f"{day},{o},{max(o, vix_close)},{min(o, vix_close)},{vix_close}")
        # an SPX open only when the VIX has one (a different price every day, so each is real)
        spx_open = "" if vix_open is None else str(2700 + 10 * i)
        spx.append(f"{day},{spx_open},2800,2600,{2705 + 10 * i}")
    (tmp_path / "vix.csv").write_text("\n".join(vix) + "\n", encoding="utf-8")
    (tmp_path / "spx.csv").write_text("\n".join(spx) + "\n", encoding="utf-8")
    return HistoryInputs(tmp_path / "vix.csv", tmp_path / "spx.csv")


def test_history_model_curve_follows_the_anchor_over_opens_closes_and_dropped_sessions(
    tmp_path: Path,
) -> None:
    config = SimulatorConfig()
    f = config.overnight_variance_fraction
    # 2018-02-07 has no SPX row (dropped by the join); 2018-02-09 has no real SPX open.
    inputs = _history_files(
        tmp_path,
        [
            ("2018-02-05", 18.0, 37.0),
            ("2018-02-06", 36.0, 30.0),
            ("2018-02-08", 27.5, 33.0),
            ("2018-02-09", None, 29.0),
            ("2018-02-12", 26.0, 25.5),
        ],
    )
    (tmp_path / "vix.csv").write_text(
        (tmp_path / "vix.csv").read_text() + "2018-02-07,27,31,22,28\n", encoding="utf-8"
    )
    snaps = list(HistoryFeed(inputs, config).snapshots())
    # (VIX, sessions since the previous snapshot) as the rule reads them
    steps = [
        (18.0, 0.0),
        (37.0, 1 - f),
        (36.0, f),
        (30.0, 1 - f),
        (27.5, 1 + f),  # 02-07 dropped: a whole session more into the 02-08 open
        (33.0, 1 - f),
        (29.0, 1.0),  # 02-09 closes without an open snapshot
        (26.0, f),  # the weekend is one overnight step, as in the simulator
        (25.5, 1 - f),
    ]
    assert [s.vix for s in snaps] == [v for v, _ in steps]
    s = math.log(18.0)
    for snap, (vix, sessions) in zip(snaps, steps, strict=True):
        s += _pull(config, sessions) * (math.log(vix) - s)
        expected = [_written_out(config, vix, snap.ts, p.expiry, s) for p in snap.vx_curve]
        assert [p.price for p in snap.vx_curve] == pytest.approx(expected, rel=1e-12)
        assert len(snap.vx_curve) == config.vx_curve_points


def test_model_curve_without_an_anchor_is_the_curve_of_an_average_standing_at_the_vix() -> None:
    config = SimulatorConfig()
    ts = datetime.fromisoformat("2018-02-06T16:15:00-05:00")
    expiries = (date(2018, 2, 14), date(2018, 3, 21), date(2018, 4, 18))
    settled = model_curve(config, 22.0, ts, expiries)
    assert [p.price for p in settled] == pytest.approx(
        [_written_out(config, 22.0, ts, e, math.log(22.0)) for e in expiries], rel=1e-12
    )
    lifted = model_curve(config, 22.0, ts, expiries, anchor=30.0)
    w = config.vx_anchor_weight
    s = (math.log(30.0) - (1 - w) * math.log(config.vx_curve_level)) / w
    assert [p.price for p in lifted] == pytest.approx(
        [_written_out(config, 22.0, ts, e, s) for e in expiries], rel=1e-12
    )

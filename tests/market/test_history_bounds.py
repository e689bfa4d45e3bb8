"""Plausibility of history mode's inputs (:mod:`market.history_checks`): values outside their
series' range are bad rows, counted by reason; a file given to the wrong flag (swapped, or one
that moves with the VIX as ``--spx``) is a data error naming it; the real data set passes."""

from __future__ import annotations

import csv
import math
from datetime import date
from pathlib import Path

import pytest

from market.calendar import trading_calendar
from market.history_checks import (
    MAX_CORRELATION,
    MIN_CORRELATION_CHANGES,
    correlation_problem,
    log_change_correlation,
)
from market.history_data import DailyBar, HistoryDataError, load_index, load_vx
from market.history_feed import HistoryFeed, HistoryInputs
from market.simulator import SimulatorConfig

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
MARKET = SimulatorConfig()


def _write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _closes(path: Path, header: str, closes: dict[date, float]) -> Path:
    return _write(path, header, [f"{day},{close:.6g}" for day, close in closes.items()])


def _sessions(n: int, start: date = date(2018, 1, 2)) -> list[date]:
    return trading_calendar().sessions_between(start, date(2019, 12, 31))[:n]


def _vix(n: int) -> dict[date, float]:
    """A VIX wandering between about 11 and 21."""
    return {day: 16.0 + 5.0 * math.sin(0.7 * i) for i, day in enumerate(_sessions(n))}


def _spx_against(vix: dict[date, float]) -> dict[date, float]:
    """An SPX that falls when this VIX rises."""
    return {day: 2700.0 * (16.0 / v) ** 0.15 for day, v in vix.items()}


# -- rows -----------------------------------------------------------------------------------------


def test_a_vix_row_outside_the_plausible_range_is_skipped_and_counted_with_its_reason(
    tmp_path: Path,
) -> None:
    path = _write(
        tmp_path / "vix.csv",
        "DATE,OPEN,HIGH,LOW,CLOSE",
        [
            "02/05/2018,18.0,38.0,16.0,37.0",
            "02/06/2018,36.0,250.0,22.0,30.0",  # a high above 200
            "02/07/2018,27.0,31.0,22.0,0.5",  # a close below 1 (a fraction, not points)
            "02/08/2018,27.5,36.0,26.0,33.0",
        ],
    )
    vix = load_index(path, "vix")
    assert dict(vix.skipped.counts) == {"out_of_range": 2}
    assert sorted(vix.bars) == [date(2018, 2, 5), date(2018, 2, 8)]
    assert [(p.input, p.line, p.reason) for p in vix.skipped.samples] == [
        ("vix", 3, "out_of_range"),
        ("vix", 4, "out_of_range"),
    ]


@pytest.mark.parametrize("field", ["open", "high", "close"])
def test_a_vix_of_1e300_is_a_bad_row_not_a_number_for_the_hedge_layer(
    tmp_path: Path, field: str
) -> None:
    values = {"open": "18", "high": "38", "low": "16", "close": "37"}
    values[field] = "1e300"
    path = _write(
        tmp_path / "vix.csv",
        "date,open,high,low,close",
        [
            "2018-02-05," + ",".join(values[k] for k in ("open", "high", "low", "close")),
            "2018-02-06,36,50,22,30",
            "2018-02-07,27,31,22,28",
        ],
    )
    vix = load_index(path, "vix")
    assert sorted(vix.bars) == [date(2018, 2, 6), date(2018, 2, 7)]
    assert dict(vix.skipped.counts) == {"out_of_range": 1}


def test_an_spx_of_1e300_is_out_of_range_and_an_spx_of_5000_is_not(tmp_path: Path) -> None:
    path = _write(tmp_path / "spx.csv", "DATE,SP500", ["2018-02-05,1e300", "2018-02-06,5000.5"])
    spx = load_index(path, "spx")
    assert spx.bars == {date(2018, 2, 6): DailyBar(5000.5, None)}
    assert dict(spx.skipped.counts) == {"out_of_range": 1}


def test_a_vx_future_outside_the_vix_range_is_dropped_and_the_rest_of_the_row_kept(
    tmp_path: Path,
) -> None:
    path = _write(
        tmp_path / "vx.csv",
        "date,vx1,vx2,vx1_expiry,vx2_expiry",
        [
            "2018-02-12,1e300,24.00,2018-02-14,2018-03-21",
            "2018-02-13,0.2,500,2018-02-14,2018-03-21",  # nothing usable is left
        ],
    )
    vx = load_vx(path)
    assert vx.curves == {date(2018, 2, 12): ((date(2018, 3, 21), 24.0),)}
    assert dict(vx.points_dropped) == {"out_of_range": 1}
    assert dict(vx.skipped.counts) == {"no_contracts": 1}


def test_a_close_beyond_a_lone_high_or_low_is_a_bad_row(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "vix.csv",
        "date,open,high,low,close",
        [
            "2018-02-05,18,20,,37",  # close above the high, no low
            "2018-02-06,36,,40,30",  # close below the low, no high
            "2018-02-07,27,31,,28",  # fine: used as a close with its open
        ],
    )
    vix = load_index(path, "vix")
    assert dict(vix.skipped.counts) == {"close_outside_range": 2}
    assert vix.bars == {date(2018, 2, 7): DailyBar(28.0, 27.0)}


# -- whole files ----------------------------------------------------------------------------------


def test_a_vix_file_as_spx_is_a_data_error_naming_the_file(tmp_path: Path) -> None:
    vix = _closes(tmp_path / "vix.csv", "date,close", _vix(10))
    with pytest.raises(HistoryDataError, match=r"--spx: .*vix\.csv: median close .* volatility"):
        load_index(vix, "spx")


def test_an_index_level_as_vix_is_a_data_error_naming_the_file(tmp_path: Path) -> None:
    spx = _closes(tmp_path / "spx.csv", "DATE,SP500", _spx_against(_vix(10)))
    with pytest.raises(HistoryDataError, match=r"--vix: .*spx\.csv: median close .* index level"):
        load_index(spx, "vix")


def test_the_level_check_looks_only_at_rows_the_calendar_can_run(tmp_path: Path) -> None:
    # Decades of SPX below 150 before 1990 do not make it a volatility index.
    old = {date(year, month, 1): 60.0 for year in range(1950, 1990) for month in range(1, 13)}
    recent = _spx_against(_vix(100))
    path = _closes(tmp_path / "spx.csv", "date,close", {**old, **recent})
    assert len(load_index(path, "spx").bars) == 480 + 100


def test_an_spx_that_moves_with_the_vix_is_a_data_error_naming_both_files(tmp_path: Path) -> None:
    vix = _vix(MIN_CORRELATION_CHANGES + 1)
    spx_like_vix = {day: 100.0 * v for day, v in vix.items()}  # an SPX-like level, a VIX's moves
    inputs = HistoryInputs(
        _closes(tmp_path / "vix.csv", "date,close", vix),
        _closes(tmp_path / "spx.csv", "date,close", spx_like_vix),
    )
    with pytest.raises(HistoryDataError) as caught:
        HistoryFeed(inputs, MARKET)
    message = str(caught.value)
    assert f"--vix {inputs.vix} and --spx {inputs.spx}" in message
    assert "move together (correlation +1.00 over 60 common dates)" in message


def test_too_few_common_dates_for_a_correlation_are_not_judged(tmp_path: Path) -> None:
    vix = _vix(MIN_CORRELATION_CHANGES)
    inputs = HistoryInputs(
        _closes(tmp_path / "vix.csv", "date,close", vix),
        _closes(tmp_path / "spx.csv", "date,close", {d: 100.0 * v for d, v in vix.items()}),
    )
    feed = HistoryFeed(inputs, MARKET)
    assert feed.data_summary()["spx_vix_correlation"] is None


def test_a_well_behaved_pair_reports_its_negative_correlation(tmp_path: Path) -> None:
    vix = _vix(200)
    inputs = HistoryInputs(
        _closes(tmp_path / "vix.csv", "date,close", vix),
        _closes(tmp_path / "spx.csv", "date,close", _spx_against(vix)),
    )
    correlation = HistoryFeed(inputs, MARKET).data_summary()["spx_vix_correlation"]
    assert correlation == pytest.approx(-1.0, abs=1e-3)


def test_a_constant_series_has_no_correlation_and_no_problem() -> None:
    days = _sessions(MIN_CORRELATION_CHANGES + 5)
    flat = {d: DailyBar(20.0, None) for d in days}
    moving = {d: DailyBar(2700.0 + i, None) for i, d in enumerate(days)}
    assert log_change_correlation(flat, moving) == (None, len(days) - 1)
    assert correlation_problem(None, len(days) - 1) is None
    assert correlation_problem(MAX_CORRELATION, 100) is None


# -- the real data --------------------------------------------------------------------------------

needs_real_data = pytest.mark.skipif(
    not (SHARED_DATA / "vix_daily.csv").exists() or not (SHARED_DATA / "spx_daily.csv").exists(),
    reason=f"the real data set (vix_daily.csv, spx_daily.csv) is not at {SHARED_DATA}",
)


def _excerpt(source: Path, target: Path, start: date, end: date) -> Path:
    """The header and the rows of ``source`` dated ``start .. end`` (ISO dates)."""
    with source.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    kept = [r for r in rows[1:] if start.isoformat() <= r[0][:10] <= end.isoformat()]
    _write(target, ",".join(rows[0]), [",".join(r) for r in kept])
    return target


WINDOWS = [
    (date(2017, 1, 1), date(2020, 12, 31)),
    (date(1990, 1, 1), date(2026, 12, 31)),
    (date(2017, 6, 1), date(2017, 6, 30)),  # a calm month: the VIX near its lows
    (date(2008, 10, 1), date(2008, 11, 30)),  # the VIX at its highs
    (date(1990, 1, 1), date(1990, 3, 29)),  # the 60 sessions least against each other
]


@needs_real_data
@pytest.mark.parametrize(("start", "end"), WINDOWS)
def test_the_real_files_and_excerpts_of_them_pass_every_check(
    tmp_path: Path, start: date, end: date
) -> None:
    vix, spx = SHARED_DATA / "vix_daily.csv", SHARED_DATA / "spx_daily.csv"
    whole = HistoryFeed(HistoryInputs(vix, spx, start=start, end=end), MARKET)
    assert whole.data_summary()["rows_skipped_by_reason"] == {"vix": {}, "spx": {}}
    assert whole.data_summary()["spx_vix_correlation"] == pytest.approx(-0.71, abs=0.01)
    excerpts = HistoryInputs(
        _excerpt(vix, tmp_path / "vix.csv", start, end),
        _excerpt(spx, tmp_path / "spx.csv", start, end),
    )
    feed = HistoryFeed(excerpts, MARKET)
    assert feed.data_summary()["rows_skipped_by_reason"] == {"vix": {}, "spx": {}}
    assert [s.day for s in feed.sessions] == [s.day for s in whole.sessions]


@needs_real_data
def test_no_real_stretch_of_enough_sessions_looks_like_a_swap() -> None:
    vix = load_index(SHARED_DATA / "vix_daily.csv", "vix").bars
    spx = load_index(SHARED_DATA / "spx_daily.csv", "spx").bars
    days = sorted(vix.keys() & spx.keys())
    worst = -1.0
    for i in range(0, len(days) - MIN_CORRELATION_CHANGES, 5):
        window = days[i : i + MIN_CORRELATION_CHANGES + 1]
        correlation, changes = log_change_correlation(
            {d: vix[d] for d in window}, {d: spx[d] for d in window}
        )
        assert correlation is not None and changes == MIN_CORRELATION_CHANGES
        worst = max(worst, correlation)
    assert worst < MAX_CORRELATION - 0.3  # a wide margin: about -0.12 at worst


@needs_real_data
@pytest.mark.parametrize(
    ("flag", "file", "message"),
    [
        ("spx", "vix_daily.csv", "looks like a volatility index"),
        ("vix", "spx_daily.csv", "looks like an index level"),
    ],
)
def test_the_real_files_swapped_are_refused(flag: str, file: str, message: str) -> None:
    with pytest.raises(HistoryDataError, match=f"--{flag}: .*{file}: .*{message}"):
        load_index(SHARED_DATA / file, flag)

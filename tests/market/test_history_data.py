"""History mode's inputs: each file format with its bad rows, the join, and the snapshots built
from the joined sessions (open-snapshot skipping, SOQ/VRO proxies, the VX curve, rates, macro).

The fixture files in ``history_data/`` hold synthetic numbers on real February 2018 sessions
(2018-02-14 is a VX settlement Wednesday, 2018-02-16 an SPX monthly expiry, 2018-02-19 a
holiday).
"""

from __future__ import annotations

import math
from datetime import date, datetime, time
from pathlib import Path

import pytest

from market.calendar import NEW_YORK, trading_calendar, vx_expiries_after, vx_settlement_time
from market.history_data import (
    DailyBar,
    HistoryDataError,
    load_index,
    load_macro,
    load_rates,
    load_vx,
    parse_date,
)
from market.history_feed import HistoryFeed, HistoryInputs, model_curve
from market.macro import macro_events
from market.simulator import CurveAnchor, Simulator, SimulatorConfig
from market.snapshot import MarketSnapshot

DATA = Path(__file__).parent / "history_data"
VIX = DATA / "vix_cboe.csv"
SPX = DATA / "spx_iso.csv"
MARKET = SimulatorConfig()


def _feed(**kwargs: object) -> HistoryFeed:
    args: dict[str, object] = {"vix": VIX, "spx": SPX, **kwargs}
    return HistoryFeed(HistoryInputs(**args), MARKET)  # type: ignore[arg-type]


def _et(day: date, hour: int, minute: int) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=NEW_YORK)


# -- formats ----------------------------------------------------------------------------------


def test_dates_parse_in_iso_and_us_forms_and_nothing_else() -> None:
    assert parse_date("2018-02-05") == date(2018, 2, 5)
    assert parse_date("2018-02-05 00:00:00") == date(2018, 2, 5)
    assert parse_date("02/05/2018") == date(2018, 2, 5)
    assert parse_date("2/5/2018") == date(2018, 2, 5)
    for bad in ("2018-02-31", "13/01/2018", "05.02.2018", "20180205", "", "2018-2-5x"):
        assert parse_date(bad) is None, bad


def test_cboe_vix_history_reads_us_dates_and_counts_each_bad_row_by_reason() -> None:
    vix = load_index(VIX, "vix")
    assert vix.format == "ohlc"
    assert dict(vix.skipped.counts) == {
        "unparseable_number": 1,  # 02/12 OPEN "abc"
        "duplicate_date": 1,  # 02/20 twice: the first is kept
        "high_below_low": 1,  # 02/21
        "non_finite": 1,  # 02/22 CLOSE inf
        "non_positive": 1,  # 02/23 CLOSE 0
        "close_outside_range": 1,  # 02/27 CLOSE above HIGH
        "unparseable_date": 1,  # 13/01/2018
        "short_row": 1,  # 02/28 with one value
    }
    assert len(vix.bars) == 12
    assert vix.bars[date(2018, 2, 5)] == DailyBar(37.0, 18.0)
    assert vix.bars[date(2018, 2, 26)] == DailyBar(15.8, 16.0)  # one-digit month and day
    lines = {p.reason: p.line for p in vix.skipped.samples}
    assert lines["unparseable_number"] == 7
    assert lines["short_row"] == 21


def test_iso_ohlc_ignores_extra_columns_and_keeps_close_only_rows() -> None:
    spx = load_index(SPX, "spx")
    assert spx.format == "ohlc"
    assert not spx.skipped.counts
    assert len(spx.bars) == 12
    assert spx.bars[date(2018, 2, 15)] == DailyBar(2730.0, None)  # close only
    assert spx.bars[date(2018, 2, 16)] == DailyBar(2735.0, 2725.0)


def test_an_open_is_real_unless_missing_flat_outside_the_range_or_the_previous_close() -> None:
    spx = load_index(SPX, "spx")
    vix = load_index(VIX, "vix")
    assert spx.bars[date(2018, 2, 14)].open is None  # 2660 = the 02-13 close
    assert spx.bars[date(2018, 2, 20)].open is None  # 2650 below the low 2705
    assert vix.bars[date(2018, 2, 9)].open is None  # open = high = low = close
    assert vix.bars[date(2018, 2, 13)].open == 26.0  # the previous *good* close was 29
    assert dict(spx.opens_missing) == {
        "repeats_previous_close": 1,
        "missing": 1,
        "outside_range": 1,
    }
    assert dict(vix.opens_missing) == {"flat": 1}


def test_yahoo_uses_close_not_adjusted_close_and_counts_null_and_negative_rows() -> None:
    spx = load_index(DATA / "spx_yahoo.csv", "spx")
    assert spx.format == "yahoo"
    assert spx.bars[date(2018, 2, 5)].close == 2650.0
    assert dict(spx.skipped.counts) == {"missing_value": 1, "non_positive": 1}
    assert sorted(spx.bars) == [date(2018, 2, 5), date(2018, 2, 7), date(2018, 2, 8)]


def test_fred_single_value_reads_closes_and_counts_dots_as_missing_values() -> None:
    spx = load_index(DATA / "spx_fred.csv", "spx")
    assert spx.format == "single_value"
    assert dict(spx.skipped.counts) == {"missing_value": 1, "unparseable_number": 1}
    assert len(spx.bars) == 12
    assert all(bar.open is None for bar in spx.bars.values())
    assert spx.bars[date(2018, 2, 22)].close == 2705.0


def test_headers_are_matched_case_insensitively_past_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "vix.csv"
    path.write_text("\ufeffdate,Open,HIGH,low,Close\n2018-02-05,18,38,16,37\n", encoding="utf-8")
    assert load_index(path, "vix").bars == {date(2018, 2, 5): DailyBar(37.0, 18.0)}
    path.write_text("observation_date,VIXCLS\n2018-02-05,37.32\n", encoding="utf-8")
    assert load_index(path, "vix").bars == {date(2018, 2, 5): DailyBar(37.32, None)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("when,open,high,low,close\n", "no date column"),
        ("date,a,b\n", "not recognized"),
        ("", "is empty"),
        ("date,vx1,vx1_expiry\n", "pass it as --vx"),
    ],
)
def test_an_unusable_header_is_a_clear_data_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "x.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(HistoryDataError, match=message):
        load_index(path, "vix")


def test_binary_junk_in_a_row_is_one_bad_row_not_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "vix.csv"
    path.write_bytes(b"DATE,CLOSE\n02/05/2018,3\x007.0\n02/06/2018,\xff\xfe\n02/07/2018,28.0\n")
    vix = load_index(path, "vix")
    assert vix.bars == {date(2018, 2, 7): DailyBar(28.0, None)}
    assert dict(vix.skipped.counts) == {"unparseable_number": 2}


def test_a_missing_file_or_a_directory_is_a_clear_data_error(tmp_path: Path) -> None:
    with pytest.raises(HistoryDataError, match="--spx: .* does not exist"):
        load_index(tmp_path / "absent.csv", "spx")
    with pytest.raises(HistoryDataError, match="is a directory"):
        load_index(tmp_path, "spx")
    with pytest.raises(HistoryDataError, match="not a VX term structure"):
        load_vx(SPX)


def test_vx_term_structure_keeps_listed_futures_and_drops_missing_expired_and_bad_ones() -> None:
    vx = load_vx(DATA / "vx_term.csv")
    assert dict(vx.skipped.counts) == {
        "no_contracts": 1,  # 2018-02-20 all blank
        "unparseable_date": 1,  # 2018-02-31
        "duplicate_date": 1,  # 2018-02-13 again
    }
    assert dict(vx.points_dropped) == {"missing": 1, "unparseable_number": 1, "expired": 1}
    assert vx.curves[date(2018, 2, 12)] == (
        (date(2018, 2, 14), 27.5),
        (date(2018, 3, 21), 24.0),
        (date(2018, 4, 18), 22.0),
    )
    assert vx.curves[date(2018, 2, 13)] == ((date(2018, 2, 14), 26.0), (date(2018, 3, 21), 23.5))
    assert vx.curves[date(2018, 2, 16)] == ((date(2018, 4, 18), 19.4), (date(2018, 5, 16), 19.3))


def test_rates_are_decimals_and_bad_rows_are_counted() -> None:
    rates = load_rates(DATA / "rates_fred.csv")
    assert rates.values == {date(2018, 2, 6): 0.015, date(2018, 2, 8): 0.0155}
    assert dict(rates.skipped.counts) == {
        "missing_value": 1,
        "unparseable_number": 1,
        "out_of_range": 1,
    }


def test_macro_file_collects_events_per_date_and_counts_unknown_ones() -> None:
    macro = load_macro(DATA / "macro.csv")
    assert macro.events == {
        date(2018, 2, 13): ("cpi",),
        date(2018, 2, 14): ("fomc", "ppi"),
        date(2018, 2, 17): ("fomc",),
    }
    assert dict(macro.skipped.counts) == {"unknown_event": 1, "unparseable_date": 1}


# -- the join and the snapshots ------------------------------------------------------------------


def test_join_keeps_common_sessions_and_counts_every_dropped_date_by_reason() -> None:
    feed = _feed()
    assert [s.day for s in feed.sessions] == [
        date(2018, 2, d) for d in (5, 6, 7, 8, 9, 13, 14, 15, 16, 20)
    ]
    assert dict(feed.dropped) == {
        "no_vix": 2,  # 02-12 (bad VIX row), 02-22 (bad VIX row)
        "no_spx": 1,  # 02-26
        "not_a_session": 1,  # 02-19, Presidents' Day: a VIX row on a holiday
    }
    data = feed.data_summary()
    assert data["sessions"] == 10
    assert data["dates_dropped_by_join"] == {"no_spx": 1, "no_vix": 2, "not_a_session": 1}
    assert data["rows_skipped_by_reason"]["vix"]["duplicate_date"] == 1
    assert data["rows_skipped_by_reason"]["spx"] == {}
    assert data["spx_vix_correlation"] is None  # 10 common dates: too few to judge


def test_start_and_end_bound_the_join_and_an_empty_window_is_a_data_error() -> None:
    feed = _feed(start=date(2018, 2, 7), end=date(2018, 2, 13))
    assert [s.day for s in feed.sessions] == [date(2018, 2, d) for d in (7, 8, 9, 13)]
    assert dict(feed.dropped) == {"no_vix": 1}
    with pytest.raises(HistoryDataError, match="share no exchange session"):
        _feed(start=date(2019, 1, 1))


def test_open_snapshots_only_when_both_indexes_have_a_real_open() -> None:
    feed = _feed()
    snaps = list(feed.snapshots())
    opens = [s.session for s in snaps if s.ts == _et(s.session, 9, 30)]
    # 02-09: VIX flat; 02-14: SPX open = previous close; 02-15: SPX close only;
    # 02-20: SPX open outside its range.
    assert opens == [date(2018, 2, d) for d in (5, 6, 7, 8, 13, 16)]
    assert len(snaps) == feed.snapshot_count == 16
    assert feed.data_summary()["opens_skipped_by_reason"] == {
        "no_real_spx_open": 3,
        "no_real_vix_open": 1,
    }
    assert [s.seq for s in snaps] == list(range(16))


def test_snapshots_are_stamped_at_the_calendar_open_and_close_with_open_and_close_values() -> None:
    snaps = [s for s in _feed().snapshots() if s.session == date(2018, 2, 5)]
    assert [s.ts for s in snaps] == [_et(date(2018, 2, 5), 9, 30), _et(date(2018, 2, 5), 16, 15)]
    assert [(s.spx, s.vix) for s in snaps] == [(2760.0, 18.0), (2650.0, 37.0)]
    assert snaps[1].surface == MARKET.surface(37.0)
    assert snaps[1].spreads == MARKET.spread_model()
    assert snaps[1].ad_line is None


def test_an_early_close_stamps_the_close_snapshot_a_quarter_hour_after_it(tmp_path: Path) -> None:
    # 2018-11-23, the day after Thanksgiving: equities close 13:00, options 13:15.
    (tmp_path / "vix.csv").write_text("date,close\n2018-11-23,18.00\n", encoding="utf-8")
    (tmp_path / "spx.csv").write_text("DATE,SP500\n2018-11-23,2630.00\n", encoding="utf-8")
    feed = HistoryFeed(HistoryInputs(tmp_path / "vix.csv", tmp_path / "spx.csv"), MARKET)
    assert [s.ts for s in feed.snapshots()] == [_et(date(2018, 11, 23), 13, 15)]


def test_soq_proxy_is_the_expiry_days_spx_open_on_its_first_snapshot() -> None:
    snaps = [s for s in _feed().snapshots() if s.session == date(2018, 2, 16)]
    assert [s.soq for s in snaps] == [2725.0, None]
    assert all(s.soq is None for s in _feed().snapshots() if s.session != date(2018, 2, 16))


def test_soq_proxy_falls_back_to_the_close_without_a_real_open() -> None:
    feed = _feed(spx=DATA / "spx_fred.csv")
    snaps = [s for s in feed.snapshots() if s.session == date(2018, 2, 16)]
    assert [(s.ts, s.soq) for s in snaps] == [(_et(date(2018, 2, 16), 16, 15), 2735.0)]
    assert feed.data_summary()["settlement_proxies"] == {
        "soq_from_close": 1,
        "vro_from_open": 1,
    }


def test_vro_proxy_is_the_vix_open_on_settlement_wednesday_even_without_an_open_snapshot() -> None:
    # 2018-02-14: the SPX open repeats the previous close, so the close snapshot comes first and
    # carries the VIX open as the VRO.
    snaps = [s for s in _feed().snapshots() if s.session == date(2018, 2, 14)]
    assert [(s.ts, s.vro) for s in snaps] == [(_et(date(2018, 2, 14), 16, 15), 25.5)]
    assert all(s.vro is None for s in _feed().snapshots() if s.session != date(2018, 2, 14))


def test_vro_proxy_falls_back_to_the_vix_close_when_its_open_is_not_real(tmp_path: Path) -> None:
    (tmp_path / "vix.csv").write_text(
        "DATE,OPEN,HIGH,LOW,CLOSE\n02/14/2018,19.5,19.5,19.5,19.5\n", encoding="utf-8"
    )
    feed = _feed(vix=tmp_path / "vix.csv")
    assert [s.vro for s in feed.snapshots()] == [19.5]


def test_model_curve_is_the_simulators_curve_at_the_same_vix_time_and_anchor() -> None:
    config = SimulatorConfig(cadence_minutes=60)
    sim = Simulator(config, seed=3, start=date(2018, 2, 5))
    f = config.overnight_variance_fraction
    anchor: CurveAnchor | None = None
    previous: MarketSnapshot | None = None
    for snap in sim.snapshots(3):
        # the anchor rebuilt from the printed VIX: each step's share of a session
        if anchor is None or previous is None:
            anchor = CurveAnchor(config, snap.vix)
        elif snap.session != previous.session:
            anchor.step(snap.vix, f)
        else:
            open_utc, close_utc = trading_calendar().session_hours(snap.session)
            anchor.step(snap.vix, (1 - f) * (snap.ts - previous.ts) / (close_utc - open_utc))
        previous = snap
        expiries = tuple(p.expiry for p in snap.vx_curve)
        ours = model_curve(config, snap.vix, snap.ts, expiries, anchor=anchor.level)
        assert [p.price for p in ours] == pytest.approx([p.price for p in snap.vx_curve], 1e-12)


def test_without_a_term_structure_the_curve_is_the_model_curve_for_the_listed_expiries() -> None:
    snap = next(s for s in _feed().snapshots() if s.session == date(2018, 2, 6))
    expiries = tuple(vx_expiries_after(date(2018, 2, 6), MARKET.vx_curve_points))
    # the anchor's average starts at the 02-05 open (18), then the close (37) and this open (36)
    anchor = CurveAnchor(MARKET, 18.0)
    anchor.step(37.0, 1 - MARKET.overnight_variance_fraction)
    anchor.step(36.0, MARKET.overnight_variance_fraction)
    expected = model_curve(MARKET, snap.vix, snap.ts, expiries, anchor=anchor.level)
    assert [p.expiry for p in snap.vx_curve] == list(expiries)
    assert [p.price for p in snap.vx_curve] == pytest.approx([p.price for p in expected], 1e-12)
    assert snap.vx_curve[0].expiry == date(2018, 2, 14)


def _model(vix: float, ts: datetime, expiry: date, average: float) -> float:
    """The model curve written out: log-VIX relaxing until the 09:30 VRO to the anchor, the
    log-VIX ``average`` weighted against log(level)."""
    # timestamps, not aware-datetime subtraction: both are New York wall times across a DST change
    years = (vx_settlement_time(expiry).timestamp() - ts.timestamp()) / (365 * 86400)
    kappa = math.log(2) / MARKET.vx_curve_half_life_years
    w = MARKET.vx_anchor_weight
    anchor = (1 - w) * math.log(MARKET.vx_curve_level) + w * average
    return math.exp(anchor + (math.log(vix) - anchor) * math.exp(-kappa * years))


def _ewma(average: float, vix: float, sessions: float) -> float:
    """The anchor's average after ``sessions`` sessions at ``vix``."""
    pull = 1 - 0.5 ** (sessions / MARKET.vx_anchor_half_life_days)
    return average + pull * (math.log(vix) - average)


def test_term_structure_gives_the_close_curve_and_moves_the_previous_one_to_the_open() -> None:
    feed = _feed(vx=DATA / "vx_term.csv")
    assert [s.day for s in feed.sessions] == [date(2018, 2, d) for d in (13, 14, 15, 16)]
    snaps = list(feed.snapshots())
    by_ts = {s.ts: s for s in snaps}
    # 02-13: the first session has no earlier settlements, so no open snapshot.
    assert _et(date(2018, 2, 13), 9, 30) not in by_ts
    close = by_ts[_et(date(2018, 2, 13), 16, 15)]
    assert [(p.expiry, p.price) for p in close.vx_curve] == [
        (date(2018, 2, 14), 26.0),
        (date(2018, 3, 21), 23.5),
    ]
    # 02-16 opens (VIX 19.1, SPX 2725) with 02-15's settlements moved by the model from the
    # 02-15 close (VIX 19.0) to the open. The anchor's average starts at the 02-13 close (25) and
    # takes the 02-14 and 02-15 closes (neither session has an open snapshot) a session each.
    opened = by_ts[_et(date(2018, 2, 16), 9, 30)]
    prev_ts = _et(date(2018, 2, 15), 16, 15)
    then = _ewma(_ewma(math.log(25.0), 19.5, 1.0), 19.0, 1.0)
    now = _ewma(then, 19.1, MARKET.overnight_variance_fraction)
    expected = [
        (e, price * _model(19.1, opened.ts, e, now) / _model(19.0, prev_ts, e, then))
        for e, price in ((date(2018, 3, 21), 20.0), (date(2018, 4, 18), 19.5))
    ]
    assert [p.expiry for p in opened.vx_curve] == [e for e, _ in expected]
    assert [p.price for p in opened.vx_curve] == pytest.approx([p for _, p in expected], 1e-12)
    assert feed.data_summary()["vx_curve"] == "file"
    assert feed.data_summary()["opens_skipped_by_reason"] == {
        "no_prior_vx_curve": 1,
        "no_real_spx_open": 2,
    }


def test_the_session_before_an_expiry_lists_it_and_the_expiry_day_does_not() -> None:
    feed = _feed(vx=DATA / "vx_term.csv")
    by_session = {s.session: s for s in feed.snapshots()}
    assert by_session[date(2018, 2, 13)].vx_curve[0].expiry == date(2018, 2, 14)
    assert by_session[date(2018, 2, 14)].vx_curve[0].expiry == date(2018, 3, 21)


def test_rates_file_sets_each_sessions_rate_from_the_last_value_on_or_before_it() -> None:
    feed = _feed(rates=DATA / "rates_fred.csv")
    rates = {s.session: s.rate for s in feed.snapshots()}
    assert rates[date(2018, 2, 5)] == MARKET.rate  # before the file's first value
    assert rates[date(2018, 2, 6)] == 0.015
    assert rates[date(2018, 2, 7)] == 0.015  # "." on 02-07: the last value stands
    assert rates[date(2018, 2, 20)] == 0.0155
    data = feed.data_summary()
    assert (data["rates"], data["sessions_at_config_rate"]) == ("file", 1)
    assert data["rows_skipped_by_reason"]["rates"]["out_of_range"] == 1


def test_macro_file_sets_events_and_a_weekend_release_moves_to_the_next_session() -> None:
    feed = _feed(macro=DATA / "macro.csv")
    events = {s.session: s.macro_events for s in feed.snapshots()}
    assert events[date(2018, 2, 13)] == ("cpi",)
    assert events[date(2018, 2, 14)] == ("fomc", "ppi")
    assert events[date(2018, 2, 20)] == ("fomc",)  # from Saturday 02-17
    assert events[date(2018, 2, 15)] == ()
    assert feed.data_summary()["macro"] == "file"


def test_without_a_macro_file_the_simulators_calendar_supplies_the_events() -> None:
    for snap in _feed().snapshots():
        assert snap.macro_events == macro_events(snap.session)


def test_dates_before_the_calendar_are_dropped_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "spx.csv").write_text(
        "DATE,SP500\n1989-12-29,353.40\n1990-01-02,359.69\n", encoding="utf-8"
    )
    (tmp_path / "vix.csv").write_text(
        "DATE,CLOSE\n1989-12-29,20.0\n1990-01-02,17.24\n", encoding="utf-8"
    )
    feed = HistoryFeed(HistoryInputs(tmp_path / "vix.csv", tmp_path / "spx.csv"), MARKET)
    assert [s.day for s in feed.sessions] == [date(1990, 1, 2)]
    assert dict(feed.dropped) == {"outside_calendar": 1}


def test_each_snapshot_round_trips_through_its_dict() -> None:
    for snap in _feed(vx=DATA / "vx_term.csv").snapshots():
        assert MarketSnapshot.from_dict(snap.to_dict()) == snap


@pytest.mark.parametrize(("loader", "header"), [("rates", "DATE,DGS3MO"), ("macro", "date,event")])
def test_a_rates_or_macro_file_without_usable_rows_is_a_data_error(
    tmp_path: Path, loader: str, header: str
) -> None:
    from market.history_data import HistoryDataError, load_macro, load_rates

    path = tmp_path / f"{loader}.csv"
    path.write_text(header + "\n2020-01-02,.\n" if loader == "rates" else header + "\n")
    load = load_rates if loader == "rates" else load_macro
    with pytest.raises(HistoryDataError, match="no usable rows"):
        load(path)

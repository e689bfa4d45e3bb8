"""History mode's advance-decline input (``--ad``): its two shapes with their bad rows, the line
stamped on each session's snapshots, and what the summary's ``data`` block says about it.

The fixtures in ``history_data/`` join on the February 2018 sessions 02-05 .. 02-20 (see
``test_history_data.py``). ``ad_counts.csv`` holds daily counts; its line, summed from 02-01, is
at the close of 02-02 -900, 02-05 -2900, 02-06 -1800, 02-07 -1300, 02-09 -1100, 02-13 -400,
02-15 600, 02-16 600; it has no good row on 02-08, 02-12, 02-14 and 02-20.
"""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import pytest

from market.calendar import NEW_YORK
from market.history_data import HistoryDataError, load_ad
from market.history_feed import HistoryFeed, HistoryInputs
from market.simulator import SimulatorConfig
from market.snapshot import MarketSnapshot

DATA = Path(__file__).parent / "history_data"
COUNTS = DATA / "ad_counts.csv"
LINE = DATA / "ad_line.csv"


def _feed(ad: Path | None = COUNTS) -> HistoryFeed:
    inputs = HistoryInputs(DATA / "vix_cboe.csv", DATA / "spx_iso.csv", ad=ad)
    return HistoryFeed(inputs, SimulatorConfig())


def _is_open(snap: MarketSnapshot) -> bool:
    return snap.ts == datetime.combine(snap.session, time(9, 30), tzinfo=NEW_YORK)


def test_daily_counts_are_summed_into_the_line_from_the_first_date() -> None:
    ad = load_ad(COUNTS)
    assert ad.format == "advances_declines"
    assert ad.values == {
        date(2018, 2, 1): 100.0,
        date(2018, 2, 2): -900.0,
        date(2018, 2, 5): -2900.0,  # a US date
        date(2018, 2, 6): -1800.0,
        date(2018, 2, 7): -1300.0,  # 1700.0 is a whole count
        date(2018, 2, 9): -1100.0,  # the first good row of the date; 02-08 adds nothing
        date(2018, 2, 13): -400.0,
        date(2018, 2, 15): 600.0,
        date(2018, 2, 16): 600.0,  # no unchanged column: not needed
        date(2018, 2, 21): 400.0,
    }


def test_bad_count_rows_are_skipped_and_counted_by_reason() -> None:
    ad = load_ad(COUNTS)
    assert dict(ad.skipped.counts) == {
        "unparseable_number": 1,  # 02-08 abc
        "negative": 1,  # 02-09 -5
        "non_integer": 1,  # 02-12 12.5
        "duplicate_date": 1,  # 02-13 again: the first is kept
        "missing_value": 1,  # 02-14 no advances
        "out_of_range": 1,  # 02-16 200,000 advances
        "short_row": 1,  # 02-20 without declines
        "unparseable_date": 1,  # 13/01/2018
    }
    lines = {p.reason: p.line for p in ad.skipped.samples}
    assert (lines["negative"], lines["short_row"]) == (8, 17)
    assert {p.input for p in ad.skipped.samples} == {"ad"}


def test_the_line_itself_is_read_as_given_and_must_be_finite_and_plausible() -> None:
    ad = load_ad(LINE)
    assert ad.format == "ad_line"
    assert ad.values == {
        date(2018, 2, 2): 52000.5,
        date(2018, 2, 5): 50100.0,
        date(2018, 2, 6): 51200.0,
        date(2018, 2, 7): 51700.0,
        date(2018, 2, 9): -51900.0,  # a line may be negative
    }
    assert dict(ad.skipped.counts) == {
        "non_finite": 1,  # inf
        "missing_value": 1,  # .
        "out_of_range": 1,  # 1e300
        "unparseable_number": 1,  # x
    }


def test_a_file_with_both_shapes_is_read_as_the_line(tmp_path: Path) -> None:
    path = tmp_path / "ad.csv"
    path.write_text(
        "\ufeffDATE,Advances,Declines,AD_Line\n2018-02-05,10,20,7.5\n", encoding="utf-8"
    )
    ad = load_ad(path)
    assert (ad.format, ad.values) == ("ad_line", {date(2018, 2, 5): 7.5})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("date,close\n2018-02-05,1\n", "not recognized: expected daily counts"),
        ("date,advances\n2018-02-05,1\n", "not recognized"),
        ("day,ad_line\n2018-02-05,1\n", "no date column"),
        ("date,advances,declines\n2018-02-05,-1,1\n", "no usable rows"),
        ("", "is empty"),
    ],
)
def test_an_unusable_ad_file_is_a_data_error_naming_the_flag(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "ad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(HistoryDataError, match=message) as info:
        load_ad(path)
    assert str(info.value).startswith("--ad: ")


def test_the_close_carries_the_sessions_line_and_the_open_the_previous_sessions() -> None:
    snaps = list(_feed().snapshots())
    closes = {s.session: s.ad_line for s in snaps if not _is_open(s)}
    opens = {s.session: s.ad_line for s in snaps if _is_open(s)}
    assert closes == {
        date(2018, 2, 5): -2900.0,
        date(2018, 2, 6): -1800.0,
        date(2018, 2, 7): -1300.0,
        date(2018, 2, 8): None,
        date(2018, 2, 9): -1100.0,
        date(2018, 2, 13): -400.0,
        date(2018, 2, 14): None,
        date(2018, 2, 15): 600.0,
        date(2018, 2, 16): 600.0,
        date(2018, 2, 20): None,
    }
    # 09:30 knows only the previous exchange session's close: 02-02 (not joined) for 02-05, and
    # nothing for 02-13 (02-12 has no good row); 02-20 follows the 02-19 holiday.
    assert opens == {
        date(2018, 2, 5): -900.0,
        date(2018, 2, 6): -2900.0,
        date(2018, 2, 7): -1800.0,
        date(2018, 2, 8): -1300.0,
        date(2018, 2, 13): None,
        date(2018, 2, 16): 600.0,
    }
    for snap in snaps:
        assert MarketSnapshot.from_dict(snap.to_dict()) == snap


def test_a_date_missing_from_the_ad_file_keeps_its_session_and_is_counted() -> None:
    with_ad, without = _feed(), _feed(None)
    assert [s.day for s in with_ad.sessions] == [s.day for s in without.sessions]
    data = with_ad.data_summary()
    assert data["ad_sessions_missing"] == 3  # 02-08, 02-14, 02-20
    assert data["ad_line"] == "file"
    assert data["formats"]["ad"] == "advances_declines"
    assert data["rows_skipped_by_reason"]["ad"] == dict(
        sorted(load_ad(COUNTS).skipped.counts.items())
    )
    assert data["dates_dropped_by_join"] == without.data_summary()["dates_dropped_by_join"]
    assert [p for p in with_ad.problems if p.input == "ad"] == load_ad(COUNTS).skipped.samples


def test_without_an_ad_file_the_line_is_unknown_and_the_summary_says_so() -> None:
    feed = _feed(None)
    assert all(snap.ad_line is None for snap in feed.snapshots())
    data = feed.data_summary()
    assert data["ad_line"] == "none"
    assert "ad" not in data["formats"] and "ad" not in data["rows_skipped_by_reason"]
    assert "ad_sessions_missing" not in data


def test_the_line_file_reports_its_format() -> None:
    data = _feed(LINE).data_summary()
    assert data["formats"] == {"vix": "ohlc", "spx": "ohlc", "ad": "ad_line"}
    # 02-05 .. 02-09 are in the file (02-08 is ".") ; 02-13 .. 02-20 are not
    assert data["ad_sessions_missing"] == 6

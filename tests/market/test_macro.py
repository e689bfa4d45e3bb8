"""The synthetic macro calendar: CPI, PPI and FOMC days (SPEC section 4)."""

from __future__ import annotations

from datetime import date

import pytest

from market.calendar import CalendarRangeError, trading_calendar
from market.history_series import MacroFile, Problems
from market.history_sessions import file_calendar
from market.macro import (
    FOMC_WEEKS,
    MACRO_EVENT_NAMES,
    ReleaseSchedule,
    cpi_day,
    fomc_day,
    macro_events,
    ppi_day,
)

YEARS = (2025, 2026)


def _sessions_of(year: int) -> list[date]:
    return trading_calendar().sessions_between(date(year, 1, 1), date(year, 12, 31))


def _days_with(name: str, year: int) -> list[date]:
    return [d for d in _sessions_of(year) if name in macro_events(d)]


@pytest.mark.parametrize("year", YEARS)
def test_fomc_decides_eight_times_a_year_on_wednesday_sessions(year: int) -> None:
    days = _days_with("fomc", year)
    assert len(days) == 8
    assert [d.month for d in days] == sorted(FOMC_WEEKS) == [1, 3, 5, 6, 7, 9, 10, 12]
    assert all(d.weekday() == 2 for d in days)  # no Wednesday holiday in these years


def test_fomc_days_of_2025_are_the_real_decision_days() -> None:
    assert _days_with("fomc", 2025) == [
        date(2025, 1, 29),
        date(2025, 3, 19),
        date(2025, 5, 7),
        date(2025, 6, 18),
        date(2025, 7, 30),
        date(2025, 9, 17),
        date(2025, 10, 29),
        date(2025, 12, 10),
    ]


def test_an_fomc_wednesday_holiday_moves_to_the_next_session() -> None:
    # the third Wednesday of June 2024 is Juneteenth
    assert not trading_calendar().is_session(date(2024, 6, 19))
    assert fomc_day(2024, 6) == date(2024, 6, 20)
    assert macro_events(date(2024, 6, 20)) == ("fomc",)
    assert fomc_day(2024, 2) is None


@pytest.mark.parametrize("year", YEARS)
def test_cpi_comes_monthly_mid_week_on_the_10th_to_16th(year: int) -> None:
    days = _days_with("cpi", year)
    assert [d.month for d in days] == list(range(1, 13))
    assert all(10 <= d.day <= 16 and d.weekday() == 2 for d in days)
    assert days == [cpi_day(year, m) for m in range(1, 13)]


@pytest.mark.parametrize("year", YEARS)
def test_ppi_comes_the_session_after_cpi(year: int) -> None:
    cal = trading_calendar()
    cpi, ppi = _days_with("cpi", year), _days_with("ppi", year)
    assert ppi == [cal.next_session(d) for d in cpi]
    assert ppi == [ppi_day(year, m) for m in range(1, 13)]


def test_every_release_falls_on_a_trading_session_from_1990_to_2040() -> None:
    cal = trading_calendar()
    for year in range(1990, 2041):
        for month in range(1, 13):
            days = [cpi_day(year, month), ppi_day(year, month), fomc_day(year, month)]
            for day in days:
                assert day is None or (
                    cal.is_session(day) and (day.year, day.month) == (year, month)
                )


def test_macro_events_are_sorted_known_names_and_empty_on_ordinary_days() -> None:
    assert macro_events(date(2025, 1, 2)) == ()
    assert macro_events(date(2025, 1, 15)) == ("cpi",)
    assert macro_events(date(2025, 1, 16)) == ("ppi",)
    assert macro_events(date(2025, 12, 10)) == ("cpi", "fomc")  # as scheduled in 2025
    assert macro_events(date(2025, 1, 4)) == ()  # a Saturday
    for year in YEARS:
        for day in _sessions_of(year):
            events = macro_events(day)
            assert list(events) == sorted(set(events)) and set(events) <= MACRO_EVENT_NAMES


def test_dates_outside_the_trading_calendar_raise() -> None:
    with pytest.raises(CalendarRangeError):
        macro_events(date(2041, 3, 12))


def test_a_release_schedule_is_a_calendar_of_the_days_it_lists() -> None:
    schedule = ReleaseSchedule({date(2025, 3, 12): ("cpi",)})
    assert schedule(date(2025, 3, 12)) == ("cpi",)
    assert schedule(date(2025, 3, 13)) == ()


def test_a_macro_files_calendar_moves_releases_off_non_sessions_and_merges_them() -> None:
    macro = MacroFile(
        {
            date(2018, 3, 10): ("ppi",),  # a Saturday: Monday the 12th
            date(2018, 3, 12): ("cpi",),
            date(2018, 7, 4): ("fomc",),  # Independence Day: the 5th
            date(1989, 12, 13): ("cpi",),  # before the trading calendar: left out
        },
        Problems("macro"),
    )
    calendar = file_calendar(macro)
    assert calendar(date(2018, 3, 12)) == ("cpi", "ppi")
    assert calendar(date(2018, 3, 10)) == ()
    assert calendar(date(2018, 7, 5)) == ("fomc",)
    assert calendar(date(1989, 12, 13)) == ()

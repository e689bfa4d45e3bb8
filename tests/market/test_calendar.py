"""Sessions and expiry calendars against known exchange dates and Cboe's VX history."""

from __future__ import annotations

import csv
from datetime import date, time
from pathlib import Path

import pytest

from market.calendar import (
    NEW_YORK,
    CalendarRangeError,
    spx_monthly_expiry,
    spx_settlement_time,
    trading_calendar,
    vx_expiry,
    vx_settlement_time,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
"""tests/market/test_calendar.py -> the repository root (/work/main)."""
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
"""The research data lives beside the repository: /work/shared/data."""
VX_TERM_STRUCTURE = SHARED_DATA / "vix_futures_term_structure.csv"


@pytest.mark.parametrize(
    ("year", "month", "expiry"),
    [
        (2024, 12, date(2024, 12, 20)),
        (2025, 1, date(2025, 1, 17)),
        (2025, 3, date(2025, 3, 21)),
        (2025, 4, date(2025, 4, 17)),  # Good Friday 2025-04-18: Thursday expiry
        (2026, 6, date(2026, 6, 18)),  # Juneteenth 2026-06-19: Thursday expiry
    ],
)
def test_spx_monthly_expiry_is_third_friday_or_thursday_before_holiday(
    year: int, month: int, expiry: date
) -> None:
    assert spx_monthly_expiry(year, month) == expiry


@pytest.mark.parametrize(
    ("year", "month", "expiry"),
    [
        (2026, 3, date(2026, 3, 18)),
        (2026, 4, date(2026, 4, 15)),
        (2024, 6, date(2024, 6, 18)),  # Wednesday 2024-06-19 is Juneteenth: Tuesday
        (2026, 5, date(2026, 5, 19)),  # June 2026's 3rd Friday (06-19) is a holiday
        (2025, 1, date(2025, 1, 22)),
        (2020, 3, date(2020, 3, 18)),
    ],
)
def test_vx_expiry_known_dates(year: int, month: int, expiry: date) -> None:
    assert vx_expiry(year, month) == expiry


def _observed_vx_expiries() -> list[date]:
    with VX_TERM_STRUCTURE.open(newline="") as f:
        return sorted(
            {date.fromisoformat(r["vx1_expiry"]) for r in csv.DictReader(f) if r["vx1_expiry"]}
        )


@pytest.mark.skipif(not VX_TERM_STRUCTURE.exists(), reason=f"{VX_TERM_STRUCTURE} not present")
def test_vx_expiry_matches_every_observed_last_trade_date_since_2007() -> None:
    # SOURCES.md section 3: expiries are the last trade dates Cboe published; the only known
    # departures from today's rule are Jul-2004 and Oct-2004, before the range checked here.
    observed = [d for d in _observed_vx_expiries() if d.year >= 2007]
    assert len(observed) > 200
    mismatches = [
        (d, vx_expiry(d.year, d.month)) for d in observed if vx_expiry(d.year, d.month) != d
    ]
    assert mismatches == []


def test_calendar_rejects_dates_outside_its_bounds() -> None:
    cal = trading_calendar()
    with pytest.raises(CalendarRangeError):
        cal.is_session(date(1989, 12, 29))
    with pytest.raises(CalendarRangeError):
        cal.is_session(date(2041, 1, 2))
    with pytest.raises(CalendarRangeError):
        spx_monthly_expiry(2041, 1)


def test_first_session_of_1990_is_in_the_calendar() -> None:
    assert trading_calendar().is_session(date(1990, 1, 2))


def test_day_after_thanksgiving_closes_early_at_1315_et() -> None:
    _, close = trading_calendar().session_hours(date(2025, 11, 28))
    assert close.astimezone(NEW_YORK).time() == time(13, 15)


def test_regular_session_options_close_at_1615_et() -> None:
    _, close = trading_calendar().session_hours(date(2025, 11, 26))
    assert close.astimezone(NEW_YORK).time() == time(16, 15)


def test_vx_settles_on_the_vro_at_0930_et_on_its_expiry_date() -> None:
    expiry = vx_expiry(2025, 6)
    settles = vx_settlement_time(expiry)
    assert settles.tzinfo is NEW_YORK
    assert (settles.date(), settles.time()) == (expiry, time(9, 30))
    assert settles == spx_settlement_time(expiry)  # both settle on an opening print

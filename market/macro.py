"""A synthetic calendar of scheduled macro releases: CPI, PPI and FOMC days (SPEC section 4).

The simulator needs release days that look like the real ones (so the macro overlay of SPEC
section 9 meets them about as often as it would) and are reproducible for any year the trading
calendar holds, without a data file. The rules, checked against the 2024-2026 schedules:

- **FOMC** meets eight times a year, in January, March, May, June, July, September, October and
  December; the decision day is the Wednesday of a fixed week of the month (:data:`FOMC_WEEKS`).
  This reproduces every 2025 decision day and seven of 2026's (April 29 there becomes May 6).
- **CPI** is released on the Wednesday falling on the 10th-16th of each month. The Bureau of Labor
  Statistics publishes mid-week around the 10th-15th; this hits about half the real days and misses
  most others by a day or two.
- **PPI** follows on the next session after CPI (its usual place; sometimes it comes first).

A release day that is not a trading session moves to the next session. Dates outside the trading
calendar raise :class:`~market.calendar.CalendarRangeError`.

A **macro calendar** (:data:`MacroCalendar`) is any pure function from a session date to its
releases: :func:`macro_events` is the simulator's, :class:`ReleaseSchedule` one built from a list of
release days (history mode's ``--macro`` file). Snapshots carry the releases of their own session;
the macro overlay reads the calendar for the sessions ahead, since release dates are public in
advance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import TypeAlias

from market.calendar import trading_calendar

CPI = "cpi"
PPI = "ppi"
FOMC = "fomc"
MACRO_EVENT_NAMES = frozenset({CPI, PPI, FOMC})
"""Every name a snapshot's ``macro_events`` may hold."""

MacroCalendar: TypeAlias = Callable[[date], tuple[str, ...]]
"""The scheduled releases of a session date, sorted (empty on ordinary days); pure, no I/O."""

FOMC_WEEKS: dict[int, int] = {1: -1, 3: 3, 5: 1, 6: 3, 7: -1, 9: 3, 10: -1, 12: 2}
"""FOMC month -> which Wednesday of it is the decision day (1 = first, -1 = last)."""

_WEDNESDAY = 2


def _wednesday(year: int, month: int, week: int) -> date:
    """The ``week``-th Wednesday of the month (1-based; -1 for the last)."""
    if week > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(_WEDNESDAY - first.weekday()) % 7 + 7 * (week - 1))
    next_month = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    last = next_month - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - _WEDNESDAY) % 7)


def fomc_day(year: int, month: int) -> date | None:
    """The FOMC decision session of ``year-month``, or None in a month without a meeting."""
    week = FOMC_WEEKS.get(month)
    if week is None:
        return None
    return trading_calendar().session_on_or_after(_wednesday(year, month, week))


def cpi_day(year: int, month: int) -> date:
    """The CPI release session of ``year-month``: the Wednesday on the 10th-16th (or the next
    session when that Wednesday is a holiday)."""
    tenth = date(year, month, 10)
    wednesday = tenth + timedelta(days=(_WEDNESDAY - tenth.weekday()) % 7)
    return trading_calendar().session_on_or_after(wednesday)


def ppi_day(year: int, month: int) -> date:
    """The PPI release session of ``year-month``: the session after the CPI release."""
    return trading_calendar().next_session(cpi_day(year, month))


@lru_cache(maxsize=64)
def _events_of_year(year: int) -> dict[date, tuple[str, ...]]:
    days: dict[date, set[str]] = {}
    for month in range(1, 13):
        days.setdefault(cpi_day(year, month), set()).add(CPI)
        days.setdefault(ppi_day(year, month), set()).add(PPI)
        fomc = fomc_day(year, month)
        if fomc is not None:
            days.setdefault(fomc, set()).add(FOMC)
    # CPI and PPI land on the 10th-20th and December's FOMC on the 8th-15th: nothing spills into
    # the next year, so a date's year finds all its releases.
    return {day: tuple(sorted(names)) for day, names in days.items()}


def macro_events(session: date) -> tuple[str, ...]:
    """The scheduled releases on ``session``, sorted (empty on ordinary days)."""
    return _events_of_year(session.year).get(session, ())


@dataclass(frozen=True, slots=True)
class ReleaseSchedule:
    """A macro calendar from known release days (history mode's ``--macro`` file)."""

    by_session: Mapping[date, tuple[str, ...]]
    """Each session's releases, sorted; a session not listed has none."""

    def __call__(self, session: date) -> tuple[str, ...]:
        return self.by_session.get(session, ())

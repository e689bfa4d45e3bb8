"""Exchange sessions and expiry calendars for SPX monthlies and VX futures (SPEC section 3).

Holidays come from ``exchange_calendars`` (XNYS; Cboe and CFE close on the same days) with
explicit bounds, so 1990 works and nothing drifts with the wall clock.
"""

from __future__ import annotations

import bisect
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import exchange_calendars as xcals

NEW_YORK = ZoneInfo("America/New_York")
CALENDAR_START = date(1990, 1, 2)
CALENDAR_END = date(2040, 12, 31)
SPX_AM_SETTLEMENT = time(9, 30)
"""AM-settled SPX monthlies settle on the special opening quotation, from 09:30 ET."""
VX_SETTLEMENT = time(9, 30)
"""VX futures and VIX options settle on the VRO, the VIX's opening print at 09:30 ET."""
SPX_OPTIONS_CLOSE_EXTRA = timedelta(minutes=15)
"""SPX and VIX options trade until 16:15 ET, a quarter hour past the equity close."""
DAYS_PER_YEAR = 365.0


class CalendarRangeError(ValueError):
    """A date outside the calendar's explicit bounds."""


class TradingCalendar:
    """Sessions of the US index-options market between explicit bounds."""

    def __init__(self, start: date = CALENDAR_START, end: date = CALENDAR_END) -> None:
        cal = xcals.get_calendar("XNYS", start=start.isoformat(), end=end.isoformat())
        self.start = start
        self.end = end
        self._sessions: list[date] = [ts.date() for ts in cal.sessions]
        self._session_set = frozenset(self._sessions)
        opens = cal.opens.tolist()
        closes = cal.closes.tolist()
        self._hours: dict[date, tuple[datetime, datetime]] = {
            s: (o.to_pydatetime(), c.to_pydatetime() + SPX_OPTIONS_CLOSE_EXTRA)
            for s, o, c in zip(self._sessions, opens, closes, strict=True)
        }

    def _check(self, d: date) -> None:
        if not self.start <= d <= self.end:
            raise CalendarRangeError(
                f"{d.isoformat()} is outside the calendar ({self.start.isoformat()}"
                f" .. {self.end.isoformat()})"
            )

    def is_session(self, d: date) -> bool:
        self._check(d)
        return d in self._session_set

    def next_session(self, d: date) -> date:
        """First session strictly after ``d``."""
        self._check(d)
        i = bisect.bisect_right(self._sessions, d)
        if i >= len(self._sessions):
            raise CalendarRangeError(f"no session after {d.isoformat()} within the calendar")
        return self._sessions[i]

    def previous_session(self, d: date) -> date:
        """Last session strictly before ``d``."""
        self._check(d)
        i = bisect.bisect_left(self._sessions, d)
        if i == 0:
            raise CalendarRangeError(f"no session before {d.isoformat()} within the calendar")
        return self._sessions[i - 1]

    def session_on_or_after(self, d: date) -> date:
        return d if self.is_session(d) else self.next_session(d)

    def sessions_between(self, start: date, end: date) -> list[date]:
        """Sessions with ``start <= s <= end``."""
        self._check(start)
        self._check(end)
        lo = bisect.bisect_left(self._sessions, start)
        hi = bisect.bisect_right(self._sessions, end)
        return self._sessions[lo:hi]

    def sessions_from(self, start: date, count: int) -> list[date]:
        """The first ``count`` sessions on or after ``start``."""
        self._check(start)
        lo = bisect.bisect_left(self._sessions, start)
        out = self._sessions[lo : lo + count]
        if len(out) < count:
            raise CalendarRangeError(f"fewer than {count} sessions from {start} in the calendar")
        return out

    def session_hours(self, d: date) -> tuple[datetime, datetime]:
        """Open and close (UTC-aware) of the options session on ``d`` (early closes included)."""
        self._check(d)
        try:
            return self._hours[d]
        except KeyError:
            raise ValueError(f"{d.isoformat()} is not a session") from None

    def business_day_on_or_before(self, d: date) -> date:
        return d if self.is_session(d) else self.previous_session(d)


@lru_cache(maxsize=1)
def trading_calendar() -> TradingCalendar:
    """The process-wide calendar (building it takes ~0.1 s)."""
    return TradingCalendar()


def third_friday(year: int, month: int) -> date:
    first = date(year, month, 1)
    offset = (4 - first.weekday()) % 7  # Friday is weekday 4
    return first + timedelta(days=offset + 14)


def spx_monthly_expiry(year: int, month: int, cal: TradingCalendar | None = None) -> date:
    """Standard SPX monthly expiry: the 3rd Friday, or the Thursday before when it is a holiday."""
    cal = cal or trading_calendar()
    return cal.business_day_on_or_before(third_friday(year, month))


def vx_expiry(year: int, month: int, cal: TradingCalendar | None = None) -> date:
    """Final settlement date of the VX (and VXM, VIX option) contract of ``year-month``.

    The Wednesday 30 days before the 3rd Friday of the following month. If that Friday is a
    holiday, 30 days before the business day preceding it; if the resulting day is a holiday,
    the business day before.
    """
    cal = cal or trading_calendar()
    ny, nm = (year + 1, 1) if month == 12 else (year, month + 1)
    friday = third_friday(ny, nm)
    anchor = friday if cal.is_session(friday) else cal.previous_session(friday)
    return cal.business_day_on_or_before(anchor - timedelta(days=30))


def _months_from(d: date) -> list[tuple[int, int]]:
    y, m = d.year, d.month
    out = []
    for _ in range(2):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def spx_expiries_after(d: date, count: int, cal: TradingCalendar | None = None) -> list[date]:
    """The next ``count`` SPX monthly expiries strictly after ``d``."""
    cal = cal or trading_calendar()
    out: list[date] = []
    y, m = d.year, d.month
    while len(out) < count:
        e = spx_monthly_expiry(y, m, cal)
        if e > d:
            out.append(e)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def vx_expiries_after(d: date, count: int, cal: TradingCalendar | None = None) -> list[date]:
    """The next ``count`` VX expiries strictly after ``d`` (the contract expiring on ``d`` stops
    trading that morning, as in Cboe's term-structure convention)."""
    cal = cal or trading_calendar()
    out: list[date] = []
    y, m = d.year, d.month
    while len(out) < count:
        e = vx_expiry(y, m, cal)
        if e > d:
            out.append(e)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def spx_settlement_time(expiry: date) -> datetime:
    """Settlement moment of an AM-settled SPX monthly (09:30 ET on the expiry date)."""
    return datetime.combine(expiry, SPX_AM_SETTLEMENT, tzinfo=NEW_YORK)


def vx_settlement_time(expiry: date) -> datetime:
    """Settlement moment of a VX / VXM future or VIX option: the VRO, 09:30 ET on the expiry date."""
    return datetime.combine(expiry, VX_SETTLEMENT, tzinfo=NEW_YORK)


def years_between(ts: datetime, settlement: datetime) -> float:
    """Calendar time from ``ts`` to ``settlement`` in years of 365 days (0 when past)."""
    seconds = (settlement - ts).total_seconds()
    return max(0.0, seconds / (DAYS_PER_YEAR * 86400.0))

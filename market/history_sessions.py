"""History mode's sessions and their snapshots (SPEC sections 4 and 11): what each session the
join kept holds (:func:`plan_sessions`), and the open and close snapshots built from it
(:func:`session_snapshots`). The inputs and the join are :mod:`market.history_feed`.

**Snapshots.** Each session has one at the open, stamped at the calendar's open (09:30 ET), when
both SPX and VIX have a real open (see :mod:`market.history_data`), and one at the close, stamped
at the options session's close (16:15 ET, or a quarter hour after an early close) with the SPX's
16:00 close and the VIX's close. ``seq`` counts snapshots from 0.

- **VX curve.** With a term structure: the session's listed futures at the close; at the open, the
  previous session's settlements each moved by the model's change from the previous close's VIX to
  the opening VIX (no settlement of the day is known at 09:30; the first session then has no open
  snapshot). Without one: the simulator's model curve at the snapshot's VIX, for
  ``vx_curve_points`` expiries, with the simulator's moving anchor (:class:`~market.simulator.
  CurveAnchor`): the slow average of log-VIX starts at the first snapshot's VIX and moves at each
  snapshot by the session time since the previous one: ``overnight_variance_fraction`` into an
  open, the rest of the session into a close after an open, a whole session into a close without
  one, plus a whole session for each exchange session the join dropped in between. The anchor is
  kept with a term structure too, for the model's move from a close to the next open.
- **SOQ proxy**: on an SPX monthly expiry, the session's first snapshot carries the SPX open (its
  close when the file has no real open). **VRO proxy**: on a VX settlement Wednesday (by the
  calendar's rule, or an expiry the term structure lists), the first snapshot carries the VIX
  open, else its close. Real settlement prints differ from both.
- Rates: the last rate file value on or before the session (decimal), else ``market.rate``.
  Dividend yield: ``market.div_yield``. Macro events: the file's (:func:`file_calendar`: a
  release on a non-session moves to the next session), else the simulator's calendar
  (:mod:`market.macro`); the same calendar tells the macro overlay the releases ahead.
- **Advance-decline line** (with a file; else unknown, None): the close snapshot carries the
  session's value. The open snapshot carries the previous exchange session's, the last value known
  at 09:30, as the simulator's open carries the previous close's line plus the opening's few net
  advancers. So at a close the macro overlay reads a 5-session change, as in the simulator, and
  never a value from later in the session. A date the file lacks leaves its close (and the next
  session's open) unknown.
- Surfaces and spreads are the simulator's: ``SimulatorConfig.surface(vix)``, its spread model, its
  VIX surface.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from market.calendar import CALENDAR_START, CalendarRangeError, trading_calendar
from market.history_curve import model_curve_at_seconds, moved_curve
from market.history_series import (
    AdLineFile,
    DailyBar,
    DatedValues,
    IndexSeries,
    MacroFile,
    VxCurveFile,
)
from market.macro import MacroCalendar, ReleaseSchedule
from market.sim_anchor import CurveAnchor
from market.sim_config import SimulatorConfig
from market.snapshot import SPX_EXPIRIES_LISTED, FuturePoint, MarketSnapshot
from market.surface import VixSpreadModel

CALENDAR_MARGIN = timedelta(days=300)
"""Room a session needs before the calendar's end: it lists expiries up to eight months ahead."""


@dataclass(frozen=True, slots=True)
class HistorySession:
    """What one joined session's snapshots hold."""

    day: date
    spx: DailyBar
    vix: DailyBar
    curve: tuple[tuple[date, float], ...] | None
    """The term structure's futures at the close (None: the model curve)."""
    open_curve: tuple[tuple[date, float], ...] | None
    """The previous session's settlements still listed at this open, to be moved there by the
    model (None: the model curve, or no open snapshot)."""
    previous_vix: float
    """The VIX at the previous session's close (this VIX's close on the first session)."""
    sessions_since: int
    """Exchange sessions from the previous joined session to this one (1 when none was dropped
    between them; 0 on the first)."""
    with_open: bool
    rate: float
    macro: tuple[str, ...]
    soq: float | None
    vro: float | None
    ad_open: float | None = None
    """The advance-decline line at the previous exchange session's close (None: unknown)."""
    ad_close: float | None = None
    """The advance-decline line at this session's close (None: unknown)."""


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """The planned sessions, and what planning them counted."""

    sessions: list[HistorySession]
    opens_skipped: Counter[str]
    """Sessions without an open snapshot, by reason: ``no_real_spx_open``, ``no_real_vix_open``,
    ``no_prior_vx_curve``."""
    at_config_rate: int
    """Sessions before the rate file's first value (or all, without one): at ``market.rate``."""
    proxies: Counter[str]
    """Settlement proxies set, by kind: ``soq_from_open``, ``soq_from_close``, ``vro_from_open``,
    ``vro_from_close``."""
    ad_missing: int = 0
    """Sessions whose date the advance-decline file lacks (0 without a file)."""


def file_calendar(macro: MacroFile) -> ReleaseSchedule:
    """The macro calendar of a ``--macro`` file: a release on a non-session moves to the next
    session; releases outside the calendar (less :data:`CALENDAR_MARGIN`) are left out."""
    cal = trading_calendar()
    by_session: dict[date, set[str]] = {}
    for day, names in macro.events.items():
        if CALENDAR_START <= day <= cal.end - CALENDAR_MARGIN:
            by_session.setdefault(cal.session_on_or_after(day), set()).update(names)
    return ReleaseSchedule({day: tuple(sorted(names)) for day, names in sorted(by_session.items())})


def plan_sessions(
    days: list[date],
    vix_series: IndexSeries,
    spx_series: IndexSeries,
    vx_file: VxCurveFile | None,
    rates: DatedValues | None,
    macro_calendar: MacroCalendar,
    market: SimulatorConfig,
    spx_expiries: list[date],
    vx_expiries: list[date],
    ad: AdLineFile | None = None,
) -> SessionPlan:
    """What each joined session's snapshots hold (counting skipped opens, proxies and sessions
    without an advance-decline value); ``macro_calendar`` stamps their releases."""
    opens_skipped: Counter[str] = Counter()
    at_config_rate = 0
    proxies: Counter[str] = Counter()
    ad_missing = 0
    cal = trading_calendar()
    rate_days = list(rates.values) if rates is not None else []
    rate_values = list(rates.values.values()) if rates is not None else []
    spx_expiry_days = set(spx_expiries)
    vx_expiry_days = set(vx_expiries)
    if vx_file is not None:
        vx_expiry_days.update(e for curve in vx_file.curves.values() for e, _ in curve)
    sessions: list[HistorySession] = []
    previous: HistorySession | None = None
    for day in days:
        spx, vix = spx_series.bars[day], vix_series.bars[day]
        curve = vx_file.curves[day] if vx_file is not None else None
        open_curve = None
        with_open = spx.open is not None and vix.open is not None
        if spx.open is None:
            opens_skipped["no_real_spx_open"] += 1
        elif vix.open is None:
            opens_skipped["no_real_vix_open"] += 1
        elif vx_file is not None:
            if previous is None or previous.curve is None:
                with_open = False
                opens_skipped["no_prior_vx_curve"] += 1
            else:
                open_curve = tuple(p for p in previous.curve if p[0] > day)
        i = bisect.bisect_right(rate_days, day)
        if i:
            rate = rate_values[i - 1]
        else:
            rate = market.rate
            at_config_rate += 1
        soq = vro = None
        if day in spx_expiry_days:
            soq = round(spx.open if spx.open is not None else spx.close, 2)
            proxies["soq_from_open" if spx.open is not None else "soq_from_close"] += 1
        if day in vx_expiry_days:
            vro = round(vix.open if vix.open is not None else vix.close, 2)
            proxies["vro_from_open" if vix.open is not None else "vro_from_close"] += 1
        ad_open = ad_close = None
        if ad is not None:
            ad_close = ad.values.get(day)
            if ad_close is None:
                ad_missing += 1
            try:
                ad_open = ad.values.get(cal.previous_session(day))
            except CalendarRangeError:  # the calendar's first session
                pass
        previous = HistorySession(
            day,
            spx,
            vix,
            curve,
            open_curve,
            previous.vix.close if previous is not None else vix.close,
            len(cal.sessions_between(previous.day, day)) - 1 if previous is not None else 0,
            with_open,
            rate,
            macro_calendar(day),
            soq,
            vro,
            ad_open,
            ad_close,
        )
        sessions.append(previous)
    return SessionPlan(sessions, opens_skipped, at_config_rate, proxies, ad_missing)


def session_snapshots(
    sessions: list[HistorySession],
    market: SimulatorConfig,
    all_spx: list[date],
    all_vx: list[date],
    settle_of: dict[date, float],
) -> Iterator[MarketSnapshot]:
    """Every session's snapshots in order (each call starts afresh): ``all_spx`` and ``all_vx``
    are the SPX and VX expiries in order, ``settle_of`` each VX expiry's settlement time in
    POSIX seconds."""
    cal = trading_calendar()
    spreads = market.spread_model()
    surface_for = market.surface
    vix_surface = market.vix_surface()
    vix_spreads = VixSpreadModel()
    div = market.div_yield
    points = market.vx_curve_points
    overnight = market.overnight_variance_fraction
    seq = 0
    previous_close_ts = 0.0
    anchor: CurveAnchor | None = None
    previous_anchor = 0.0  # the log-anchor at the previous session's close
    for s in sessions:
        day = s.day
        open_ts, close_ts = cal.session_hours(day)
        i = bisect.bisect_right(all_spx, day)
        spx_expiries = tuple(all_spx[i : i + SPX_EXPIRIES_LISTED])
        i = bisect.bisect_right(all_vx, day)
        model_expiries = tuple(all_vx[i : i + points]) if s.curve is None else ()
        model_settle = tuple(settle_of[e] for e in model_expiries)
        soq, vro = s.soq, s.vro

        def snapshot(
            seq: int,
            ts: datetime,
            spx: float,
            vix: float,
            curve: tuple[FuturePoint, ...],
            soq: float | None,
            vro: float | None,
            ad_line: float | None,
            s: HistorySession = s,
            spx_expiries: tuple[date, ...] = spx_expiries,
        ) -> MarketSnapshot:
            """The session's open or close snapshot: everything else is the session's."""
            return MarketSnapshot(
                seq, ts, s.day, spx, vix, s.rate, div, curve, surface_for(vix),
                spx_expiries, soq, vro, spreads, vix_surface, vix_spreads, s.macro, ad_line,
            )  # fmt: skip

        # Session time from the previous snapshot (a previous close) to this session's open.
        to_open = s.sessions_since - 1 + overnight
        if s.with_open:
            assert s.spx.open is not None and s.vix.open is not None
            vix = s.vix.open
            if anchor is None:
                anchor = CurveAnchor(market, vix)
            else:
                anchor.step(vix, to_open)
            log_anchor = anchor.log_level
            if s.open_curve is not None:
                curve = moved_curve(
                    market,
                    s.open_curve,
                    s.previous_vix,
                    previous_close_ts,
                    previous_anchor,
                    vix,
                    open_ts.timestamp(),
                    log_anchor,
                )
            else:
                curve = model_curve_at_seconds(
                    market, vix, open_ts.timestamp(), model_expiries, model_settle, log_anchor
                )
            yield snapshot(seq, open_ts, s.spx.open, vix, curve, soq, vro, s.ad_open)
            seq += 1
            soq = vro = None
        vix = s.vix.close
        if anchor is None:
            anchor = CurveAnchor(market, vix)
        else:
            anchor.step(vix, 1.0 - overnight if s.with_open else to_open + 1.0 - overnight)
        previous_anchor = anchor.log_level
        curve = (
            tuple(FuturePoint(e, price) for e, price in s.curve)
            if s.curve is not None
            else model_curve_at_seconds(
                market, vix, close_ts.timestamp(), model_expiries, model_settle, previous_anchor
            )
        )
        yield snapshot(seq, close_ts, s.spx.close, vix, curve, soq, vro, s.ad_close)
        seq += 1
        previous_close_ts = close_ts.timestamp()

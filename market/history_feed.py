"""History mode's feed: the sessions real daily inputs share, and the snapshots built from them
(SPEC sections 4 and 11).

**Join.** Dates within ``start .. end`` are kept when they are exchange sessions of
:func:`~market.calendar.trading_calendar` and every given input (VIX, SPX, and the VX term
structure when given) has a good row on them. Every other date one of them holds is dropped and
counted by reason: ``outside_calendar``, ``not_a_session`` (for example the VIX's rows on US
holidays since 2022), or ``no_<inputs>`` naming the inputs that lack it (``no_vix``, ``no_spx``,
``no_vx``, ``no_spx_vx``, ...).

**Plausibility.** Before the join, the VIX's and the SPX's daily log changes must not move
together (:mod:`market.history_checks`): the two files' correlation is kept for the summary.

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
  Dividend yield: ``market.div_yield``. Macro events: the file's (a release on a non-session
  moves to the next session), else the simulator's calendar (:mod:`market.macro`). The
  advance-decline line is unknown (None).
- Surfaces and spreads are the simulator's: ``SimulatorConfig.surface(vix)``, its spread model, its
  VIX surface.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from market.calendar import (
    CALENDAR_START,
    CalendarRangeError,
    spx_monthly_expiry,
    trading_calendar,
    vx_expiry,
    vx_settlement_time,
)
from market.history_checks import correlation_problem, log_change_correlation
from market.history_data import (
    DailyBar,
    DatedValues,
    HistoryDataError,
    IndexSeries,
    MacroFile,
    RowProblem,
    load_index,
    load_macro,
    load_rates,
    load_vx,
)
from market.macro import macro_events
from market.simulator import CurveAnchor, SimulatorConfig
from market.snapshot import SPX_EXPIRIES_LISTED, FuturePoint, MarketSnapshot
from market.surface import VixSpreadModel

SECONDS_PER_YEAR = 365.0 * 86400.0
"""The simulator's year for the VX curve's time to settlement."""
CALENDAR_MARGIN = timedelta(days=300)
"""Room a session needs before the calendar's end: it lists expiries up to eight months ahead."""
DROP_SAMPLES_PER_REASON = 5


@dataclass(frozen=True, slots=True)
class HistoryInputs:
    """The files and date window of a history run (``alvh history`` flags)."""

    vix: Path
    spx: Path
    vx: Path | None = None
    macro: Path | None = None
    rates: Path | None = None
    start: date | None = None
    end: date | None = None


@dataclass(frozen=True, slots=True)
class _Session:
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


def model_curve(
    market: SimulatorConfig,
    vix: float,
    ts: datetime,
    expiries: tuple[date, ...],
    anchor: float | None = None,
) -> tuple[FuturePoint, ...]:
    """The simulator's VX curve at ``vix`` and ``ts``: log-VIX relaxing with half-life
    ``vx_curve_half_life_years`` towards ``log(anchor)`` until each settlement. ``anchor`` (VIX
    points) is the curve's moving anchor (:attr:`CurveAnchor.level`); None: the anchor of a VIX
    whose slow average stands at ``vix``."""
    settle = tuple(vx_settlement_time(e).timestamp() for e in expiries)
    log_anchor = CurveAnchor(market, vix).log_level if anchor is None else math.log(anchor)
    return _model_curve(market, vix, ts.timestamp(), expiries, settle, log_anchor)


def _model_curve(
    market: SimulatorConfig,
    vix: float,
    now: float,
    expiries: tuple[date, ...],
    settle: tuple[float, ...],
    log_anchor: float,
) -> tuple[FuturePoint, ...]:
    kappa = math.log(2.0) / market.vx_curve_half_life_years
    x = math.log(vix)
    return tuple(
        FuturePoint(
            e,
            math.exp(
                log_anchor + (x - log_anchor) * math.exp(-kappa * (s - now) / SECONDS_PER_YEAR)
            ),
        )
        for e, s in zip(expiries, settle, strict=True)
    )


def _moved_curve(
    market: SimulatorConfig,
    settlements: tuple[tuple[date, float], ...],
    vix_then: float,
    then: float,
    anchor_then: float,
    vix_now: float,
    now: float,
    anchor_now: float,
) -> tuple[FuturePoint, ...]:
    """Each future's settlement at ``then`` (VIX ``vix_then``, log-anchor ``anchor_then``) times
    the model's change to ``now`` (VIX ``vix_now``, log-anchor ``anchor_now``)."""
    expiries = tuple(e for e, _ in settlements)
    settle = tuple(vx_settlement_time(e).timestamp() for e in expiries)
    before = _model_curve(market, vix_then, then, expiries, settle, anchor_then)
    after = _model_curve(market, vix_now, now, expiries, settle, anchor_now)
    return tuple(
        FuturePoint(e, price * a.price / b.price)
        for (e, price), b, a in zip(settlements, before, after, strict=True)
    )


def _expiries(first: date, last: date, rule: Callable[[int, int], date]) -> list[date]:
    """Every expiry ``rule(year, month)`` from ``first``'s year to a year after ``last``'s, as far
    as the calendar goes."""
    out: list[date] = []
    for y in range(first.year, last.year + 2):
        for m in range(1, 13):
            try:
                out.append(rule(y, m))
            except CalendarRangeError:
                return out
    return out


class HistoryFeed:
    """The joined sessions of a set of inputs and their snapshots; see the module docstring."""

    def __init__(self, inputs: HistoryInputs, market: SimulatorConfig) -> None:
        self.inputs = inputs
        self.market = market
        self.vix = load_index(inputs.vix, "vix")
        self.spx = load_index(inputs.spx, "spx")
        self.correlation, changes = log_change_correlation(self.vix.bars, self.spx.bars)
        if problem := correlation_problem(self.correlation, changes):
            raise HistoryDataError(f"--vix {inputs.vix} and --spx {inputs.spx}: {problem}")
        self.vx = load_vx(inputs.vx) if inputs.vx is not None else None
        rates = load_rates(inputs.rates) if inputs.rates is not None else None
        macro = load_macro(inputs.macro) if inputs.macro is not None else None
        self.problems: list[RowProblem] = [
            *self.vix.skipped.samples,
            *self.spx.skipped.samples,
            *(self.vx.skipped.samples if self.vx is not None else ()),
            *(rates.skipped.samples if rates is not None else ()),
            *(macro.skipped.samples if macro is not None else ()),
        ]
        self._skipped = {
            name: dict(sorted(load.skipped.counts.items()))
            for name, load in (
                ("vix", self.vix),
                ("spx", self.spx),
                ("vx", self.vx),
                ("rates", rates),
                ("macro", macro),
            )
            if load is not None
        }
        days, self.dropped, self.drop_samples = self._join()
        if not days:
            raise HistoryDataError(
                "the inputs share no exchange session"
                + (f" within {inputs.start} .. {inputs.end}" if inputs.start or inputs.end else "")
                + f" (dates dropped: {dict(sorted(self.dropped.items())) or 'none'})"
            )
        self._spx_expiries = _expiries(days[0], days[-1], spx_monthly_expiry)
        self._vx_expiries = _expiries(days[0], days[-1], vx_expiry)
        self._vx_settle = {e: vx_settlement_time(e).timestamp() for e in self._vx_expiries}
        self.opens_skipped: Counter[str] = Counter()
        self.at_config_rate = 0
        self.proxies: Counter[str] = Counter()
        self.sessions = self._plan(days, rates, macro)
        self.macro_source = "file" if macro is not None else "synthetic"
        self.rates_source = "file" if rates is not None else "config"
        self.snapshot_count = sum(1 + s.with_open for s in self.sessions)

    @property
    def first_session(self) -> date:
        return self.sessions[0].day

    @property
    def last_session(self) -> date:
        return self.sessions[-1].day

    def _plan(
        self, days: list[date], rates: DatedValues | None, macro: MacroFile | None
    ) -> list[_Session]:
        """What each joined session's snapshots hold (counting skipped opens and proxies)."""
        cal = trading_calendar()
        rate_days = list(rates.values) if rates is not None else []
        rate_values = list(rates.values.values()) if rates is not None else []
        macro_by_session: dict[date, set[str]] = {}
        if macro is not None:
            for day, names in macro.events.items():
                if CALENDAR_START <= day <= cal.end - CALENDAR_MARGIN:
                    macro_by_session.setdefault(cal.session_on_or_after(day), set()).update(names)
        spx_expiry_days = set(self._spx_expiries)
        vx_expiry_days = set(self._vx_expiries)
        if self.vx is not None:
            vx_expiry_days.update(e for curve in self.vx.curves.values() for e, _ in curve)
        sessions: list[_Session] = []
        previous: _Session | None = None
        for day in days:
            spx, vix = self.spx.bars[day], self.vix.bars[day]
            curve = self.vx.curves[day] if self.vx is not None else None
            open_curve = None
            with_open = spx.open is not None and vix.open is not None
            if spx.open is None:
                self.opens_skipped["no_real_spx_open"] += 1
            elif vix.open is None:
                self.opens_skipped["no_real_vix_open"] += 1
            elif self.vx is not None:
                if previous is None or previous.curve is None:
                    with_open = False
                    self.opens_skipped["no_prior_vx_curve"] += 1
                else:
                    open_curve = tuple(p for p in previous.curve if p[0] > day)
            i = bisect.bisect_right(rate_days, day)
            if i:
                rate = rate_values[i - 1]
            else:
                rate = self.market.rate
                self.at_config_rate += 1
            soq = vro = None
            if day in spx_expiry_days:
                soq = round(spx.open if spx.open is not None else spx.close, 2)
                self.proxies["soq_from_open" if spx.open is not None else "soq_from_close"] += 1
            if day in vx_expiry_days:
                vro = round(vix.open if vix.open is not None else vix.close, 2)
                self.proxies["vro_from_open" if vix.open is not None else "vro_from_close"] += 1
            previous = _Session(
                day,
                spx,
                vix,
                curve,
                open_curve,
                previous.vix.close if previous is not None else vix.close,
                len(cal.sessions_between(previous.day, day)) - 1 if previous is not None else 0,
                with_open,
                rate,
                tuple(sorted(macro_by_session.get(day, ())))
                if macro is not None
                else macro_events(day),
                soq,
                vro,
            )
            sessions.append(previous)
        return sessions

    def _join(self) -> tuple[list[date], Counter[str], list[tuple[str, date]]]:
        """The sessions every input holds, the other dates dropped by reason, and the first few
        dropped dates of each reason."""
        cal = trading_calendar()
        start, end = self.inputs.start, self.inputs.end
        keys: list[tuple[str, dict[date, Any]]] = [("vix", self.vix.bars), ("spx", self.spx.bars)]
        if self.vx is not None:
            keys.append(("vx", self.vx.curves))
        union = set().union(*(k for _, k in keys))
        last = cal.end - CALENDAR_MARGIN
        kept: list[date] = []
        dropped: Counter[str] = Counter()
        samples: list[tuple[str, date]] = []
        for day in sorted(union):
            if (start is not None and day < start) or (end is not None and day > end):
                continue
            if not CALENDAR_START <= day <= last:
                reason = "outside_calendar"
            elif not cal.is_session(day):
                reason = "not_a_session"
            else:
                missing = [name for name, held in keys if day not in held]
                if not missing:
                    kept.append(day)
                    continue
                reason = "no_" + "_".join(missing)
            dropped[reason] += 1
            if dropped[reason] <= DROP_SAMPLES_PER_REASON:
                samples.append((reason, day))
        return kept, dropped, samples

    def data_summary(self) -> dict[str, Any]:
        """The ``data`` block of the run summary."""

        def opens(series: IndexSeries) -> dict[str, int]:
            return dict(sorted(series.opens_missing.items()))

        out: dict[str, Any] = {
            "sessions": len(self.sessions),
            "first_session": self.first_session.isoformat(),
            "last_session": self.last_session.isoformat(),
            "snapshots": self.snapshot_count,
            "open_snapshots": self.snapshot_count - len(self.sessions),
            "opens_skipped_by_reason": dict(sorted(self.opens_skipped.items())),
            "formats": {"vix": self.vix.format, "spx": self.spx.format},
            "rows_skipped_by_reason": self._skipped,
            "opens_not_real_by_reason": {"vix": opens(self.vix), "spx": opens(self.spx)},
            "dates_dropped_by_join": dict(sorted(self.dropped.items())),
            "vx_curve": "file" if self.vx is not None else "model",
            "rates": self.rates_source,
            "sessions_at_config_rate": self.at_config_rate,
            "macro": self.macro_source,
            "settlement_proxies": dict(sorted(self.proxies.items())),
            "spx_vix_correlation": None if self.correlation is None else round(self.correlation, 3),
        }
        if self.vx is not None:
            out["formats"]["vx"] = "vx_term_structure"
            out["vx_points_dropped_by_reason"] = dict(sorted(self.vx.points_dropped.items()))
        return out

    def snapshots(self) -> Iterator[MarketSnapshot]:
        """Every session's snapshots in order (each call starts afresh)."""
        market = self.market
        cal = trading_calendar()
        spreads = market.spread_model()
        surface_for = market.surface
        vix_surface = market.vix_surface()
        vix_spreads = VixSpreadModel()
        div = market.div_yield
        points = market.vx_curve_points
        overnight = market.overnight_variance_fraction
        all_spx, all_vx, settle_of = self._spx_expiries, self._vx_expiries, self._vx_settle
        seq = 0
        previous_close_ts = 0.0
        anchor: CurveAnchor | None = None
        previous_anchor = 0.0  # the log-anchor at the previous session's close
        for s in self.sessions:
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
                s: _Session = s,
                spx_expiries: tuple[date, ...] = spx_expiries,
            ) -> MarketSnapshot:
                """The session's open or close snapshot: everything else is the session's."""
                return MarketSnapshot(
                    seq, ts, s.day, spx, vix, s.rate, div, curve, surface_for(vix),
                    spx_expiries, soq, vro, spreads, vix_surface, vix_spreads, s.macro, None,
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
                    curve = _moved_curve(
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
                    curve = _model_curve(
                        market, vix, open_ts.timestamp(), model_expiries, model_settle, log_anchor
                    )
                yield snapshot(seq, open_ts, s.spx.open, vix, curve, soq, vro)
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
                else _model_curve(
                    market, vix, close_ts.timestamp(), model_expiries, model_settle, previous_anchor
                )
            )
            yield snapshot(seq, close_ts, s.spx.close, vix, curve, soq, vro)
            seq += 1
            previous_close_ts = close_ts.timestamp()

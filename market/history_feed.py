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

**Sessions and snapshots** (each session's open and close snapshot, its VX curve, SOQ and VRO
proxies, rate and macro events) are :mod:`market.history_sessions`; the model's VX curve is
:mod:`market.history_curve`. The row formats are :mod:`market.history_data`.

**Advance-decline line.** Optional, like the macro file: a session the ``--ad`` file lacks is run
with the line unknown (None), not dropped by the join, and counted (``ad_sessions_missing``).

**Macro calendar.** :attr:`HistoryFeed.macro_calendar` (the ``--macro`` file's, else the
simulator's) stamps each snapshot's releases, and the engine hands it to the macro overlay, which
reads the sessions ahead from it (SPEC section 9).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
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
from market.history_curve import model_curve
from market.history_data import (
    HistoryDataError,
    IndexSeries,
    RowProblem,
    load_ad,
    load_index,
    load_macro,
    load_rates,
    load_vx,
)
from market.history_sessions import (
    CALENDAR_MARGIN,
    file_calendar,
    plan_sessions,
    session_snapshots,
)
from market.macro import MacroCalendar, macro_events
from market.sim_config import SimulatorConfig
from market.snapshot import MarketSnapshot

__all__ = ["DROP_SAMPLES_PER_REASON", "HistoryFeed", "HistoryInputs", "model_curve"]

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
    ad: Path | None = None
    """An advance-decline file (daily counts or the line); None: the line is unknown."""


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
        self.ad = load_ad(inputs.ad) if inputs.ad is not None else None
        self.problems: list[RowProblem] = [
            *self.vix.skipped.samples,
            *self.spx.skipped.samples,
            *(self.vx.skipped.samples if self.vx is not None else ()),
            *(rates.skipped.samples if rates is not None else ()),
            *(macro.skipped.samples if macro is not None else ()),
            *(self.ad.skipped.samples if self.ad is not None else ()),
        ]
        self._skipped = {
            name: dict(sorted(load.skipped.counts.items()))
            for name, load in (
                ("vix", self.vix),
                ("spx", self.spx),
                ("vx", self.vx),
                ("rates", rates),
                ("macro", macro),
                ("ad", self.ad),
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
        self.macro_calendar: MacroCalendar = (
            file_calendar(macro) if macro is not None else macro_events
        )
        """The releases of a session date: the snapshots carry their own session's, and the
        macro overlay reads the sessions ahead from here (the engine is handed it)."""
        plan = plan_sessions(
            days,
            self.vix,
            self.spx,
            self.vx,
            rates,
            self.macro_calendar,
            market,
            self._spx_expiries,
            self._vx_expiries,
            self.ad,
        )
        self.ad_missing = plan.ad_missing
        self.opens_skipped = plan.opens_skipped
        self.at_config_rate = plan.at_config_rate
        self.proxies = plan.proxies
        self.sessions = plan.sessions
        self.macro_source = "file" if macro is not None else "synthetic"
        self.rates_source = "file" if rates is not None else "config"
        self.snapshot_count = sum(1 + s.with_open for s in self.sessions)

    @property
    def first_session(self) -> date:
        return self.sessions[0].day

    @property
    def last_session(self) -> date:
        return self.sessions[-1].day

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
            "ad_line": "file" if self.ad is not None else "none",
            "settlement_proxies": dict(sorted(self.proxies.items())),
            "spx_vix_correlation": None if self.correlation is None else round(self.correlation, 3),
        }
        if self.vx is not None:
            out["formats"]["vx"] = "vx_term_structure"
            out["vx_points_dropped_by_reason"] = dict(sorted(self.vx.points_dropped.items()))
        if self.ad is not None:
            out["formats"]["ad"] = self.ad.format
            out["ad_sessions_missing"] = self.ad_missing
        return out

    def snapshots(self) -> Iterator[MarketSnapshot]:
        """Every session's snapshots in order (each call starts afresh)."""
        return session_snapshots(
            self.sessions, self.market, self._spx_expiries, self._vx_expiries, self._vx_settle
        )

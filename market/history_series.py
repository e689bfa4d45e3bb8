"""What loading a history-mode input yields (SPEC sections 4 and 11): the loaded series (an index's
daily bars, a VX term structure, a rate series, a macro calendar, an advance-decline line), the
bad rows counted while reading them, and the error for an input that cannot be used at all.

The loaders that fill these are in :mod:`market.history_data`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

SAMPLES_PER_REASON = 5
"""Problems kept per reason (with their line numbers) for the log."""


class HistoryDataError(Exception):
    """An input cannot be used at all: missing, unreadable, or a header of no known format
    (exit 65, EX_DATAERR)."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One skipped row (or dropped VX point): the input, its 1-based line, why, and the text."""

    input: str
    line: int
    reason: str
    detail: str


@dataclass(slots=True)
class Problems:
    """Counts by reason and the first few problems of each reason."""

    input: str
    counts: Counter[str] = field(default_factory=Counter)
    samples: list[RowProblem] = field(default_factory=list)

    def add(self, line: int, reason: str, detail: str) -> None:
        self.counts[reason] += 1
        if self.counts[reason] <= SAMPLES_PER_REASON:
            self.samples.append(RowProblem(self.input, line, reason, detail[:200]))


@dataclass(frozen=True, slots=True)
class DailyBar:
    """One session of an index: its close and, when the file has a real one, its open."""

    close: float
    open: float | None


@dataclass(slots=True)
class IndexSeries:
    """A loaded VIX or SPX file: the bars by date and what was skipped."""

    name: str
    format: str
    bars: dict[date, DailyBar]
    skipped: Problems
    opens_missing: Counter[str]
    """Bars without a real open, by reason: ``missing``, ``flat``, ``repeats_previous_close``,
    ``outside_range``."""


@dataclass(slots=True)
class VxCurveFile:
    """A loaded VX term structure: each date's listed futures (expiry, settlement), nearest
    first, expired and missing ones dropped."""

    curves: dict[date, tuple[tuple[date, float], ...]]
    skipped: Problems
    points_dropped: Counter[str]
    """Futures left out of otherwise good rows: ``missing``, ``expired``, ``unparseable_date``,
    ``unparseable_number``, ``non_finite``, ``non_positive``, ``out_of_range``."""


@dataclass(slots=True)
class DatedValues:
    """A single-value series (a rate in decimal) by date, and what was skipped."""

    values: dict[date, float]
    skipped: Problems


@dataclass(slots=True)
class MacroFile:
    """Scheduled releases by date from a ``date,event`` file."""

    events: dict[date, tuple[str, ...]]
    skipped: Problems


@dataclass(slots=True)
class AdLineFile:
    """A loaded advance-decline file: the line's value at each date's close, and what was
    skipped. ``format`` is ``advances_declines`` (daily counts, summed into the line) or
    ``ad_line`` (the line itself)."""

    format: str
    values: dict[date, float]
    skipped: Problems

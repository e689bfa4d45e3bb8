"""Reading real daily data for history mode (SPEC sections 4 and 11): index OHLC and close files in
the Cboe and common vendor formats, a VX term structure, a rate series and a macro calendar.

The format is detected from the header (case-insensitive, a byte-order mark ignored):

- **OHLC**: a date column (``date`` or ``observation_date``) and ``open, high, low, close``; other
  columns are ignored. Cboe's ``*_History.csv`` (``DATE,OPEN,HIGH,LOW,CLOSE``), ISO-dated files
  with extra columns (``date,open,high,low,close,volume,source``) and Yahoo's
  ``Date,Open,High,Low,Close,Adj Close,Volume`` (the ``Close`` is used; for an index it equals the
  adjusted close) are all this kind. A row with a close but no open, high or low is a close-only
  row (the tail of ``spx_daily.csv`` is).
- **Single value** (FRED-style): a date column and one value column, ``DATE,SP500``; ``.`` marks a
  missing value (FRED's holidays).
- **VX term structure**: ``date, vx1..vxN, vx1_expiry..vxN_expiry`` (``vxN_dte`` and other columns
  ignored).

Dates are ISO ``YYYY-MM-DD`` (a time after it is ignored) or ``MM/DD/YYYY``, row by row. A value
of ``""``, ``.``, ``null``, ``NA``, ``N/A`` or ``nan`` is missing.

A bad row is skipped and counted by reason, never fatal: ``short_row``, ``unparseable_date``,
``unparseable_number``, ``missing_value`` (no close), ``non_finite``, ``non_positive``,
``high_below_low``, ``close_outside_range``, ``duplicate_date`` (the first row of a date is kept),
``out_of_range`` (a value outside its series' plausible range, :mod:`market.history_checks`),
``unknown_event`` (macro), ``no_contracts`` (a VX row without one usable future). The first few
problems of each reason are kept, with their line numbers, for the log. An index file whose level
is not its flag's (a VIX file as ``--spx``) is a :class:`HistoryDataError`.

An **open is real** when it is present, within the row's high-low range, not equal to the previous
row's close (old Yahoo SPX rows repeat it) and the row is not flat (open = high = low = close: all
of the VIX's 1990-1991). Otherwise the bar has no open, and the reason is counted.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from market.history_checks import PLAUSIBLE_RANGE, VX_RANGE, level_problem, within
from market.macro import MACRO_EVENT_NAMES

DATE_COLUMNS = ("date", "observation_date")
"""Header names accepted for the date column."""
MISSING = frozenset({"", ".", "null", "na", "n/a", "nan"})
SAME_PRICE = 0.005
"""Two prices closer than this (half a cent) are equal: the files print two decimals or more."""
SAMPLES_PER_REASON = 5
"""Problems kept per reason (with their line numbers) for the log."""
RATE_RANGE_PERCENT = (-5.0, 50.0)
"""A rate outside this range (percent) is a bad row."""


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


# -- parsing helpers ------------------------------------------------------------------------------


def parse_date(text: str) -> date | None:
    """An ISO (``YYYY-MM-DD``, optionally followed by a time) or ``MM/DD/YYYY`` date; None if
    neither."""
    t = text.strip()
    try:
        if len(t) >= 10 and t[4] == "-" and t[7] == "-" and (len(t) == 10 or t[10] in " T"):
            return date(int(t[0:4]), int(t[5:7]), int(t[8:10]))
        parts = t.split("/")
        if len(parts) == 3 and len(parts[2]) == 4:
            return date(int(parts[2]), int(parts[0]), int(parts[1]))
    except ValueError:
        return None
    return None


class _BadValue(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _number(text: str) -> float | None:
    """The value of a field; None when missing; raises :class:`_BadValue` when unusable."""
    t = text.strip()
    if t.lower() in MISSING:
        return None
    try:
        value = float(t)
    except ValueError:
        raise _BadValue("unparseable_number") from None
    if not math.isfinite(value):
        raise _BadValue("non_finite")
    return value


def _positive(text: str) -> float | None:
    value = _number(text)
    if value is not None and value <= 0.0:
        raise _BadValue("non_positive")
    return value


def _rows(path: Path, name: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank row, the header first."""
    try:
        with path.open(newline="", encoding="utf-8-sig", errors="replace") as f:
            # a NUL byte would stop the csv module for the whole file: make it one bad row
            reader = csv.reader(line.replace("\0", "\ufffd") for line in f)
            for row in reader:
                if row and any(cell.strip() for cell in row):
                    yield reader.line_num, row
    except FileNotFoundError:
        raise HistoryDataError(f"--{name}: {path} does not exist") from None
    except IsADirectoryError:
        raise HistoryDataError(f"--{name}: {path} is a directory, not a CSV file") from None
    except OSError as exc:
        raise HistoryDataError(f"--{name}: cannot read {path}: {exc.strerror}") from None
    except csv.Error as exc:
        raise HistoryDataError(f"--{name}: {path} is not a readable CSV file: {exc}") from None


def _header(rows: Iterator[tuple[int, list[str]]], path: Path, name: str) -> dict[str, int]:
    """Lower-cased column name -> index; the first occurrence of a repeated name wins."""
    first = next(rows, None)
    if first is None:
        raise HistoryDataError(f"--{name}: {path} is empty")
    columns: dict[str, int] = {}
    for i, cell in enumerate(first[1]):
        columns.setdefault(cell.strip().lower(), i)
    return columns


def _date_column(columns: dict[str, int], path: Path, name: str) -> int:
    for candidate in DATE_COLUMNS:
        if candidate in columns:
            return columns[candidate]
    raise HistoryDataError(
        f"--{name}: {path}: no date column in the header {sorted(columns)}"
        f" (expected one of {', '.join(DATE_COLUMNS)})"
    )


def _is_vx_header(columns: dict[str, int]) -> bool:
    return "vx1" in columns and "vx1_expiry" in columns


# -- loaders --------------------------------------------------------------------------------------

_OHLC = ("open", "high", "low", "close")
_FORMATS = (
    "expected OHLC (date, open, high, low, close, ...), Yahoo (Date, Open, High, Low, Close,"
    " Adj Close, Volume) or a single value column (DATE, SP500)"
)


def load_index(path: Path, name: str) -> IndexSeries:
    """Load a VIX or SPX file (``name`` is the flag it came from: ``vix`` or ``spx``, which sets
    the plausible range of its values and level)."""
    rows = _rows(path, name)
    columns = _header(rows, path, name)
    if _is_vx_header(columns):
        raise HistoryDataError(f"--{name}: {path} is a VX term structure: pass it as --vx")
    d = _date_column(columns, path, name)
    if all(c in columns for c in _OHLC):
        fmt = "yahoo" if "adj close" in columns else "ohlc"
        o, h, lo, c = (columns[k] for k in _OHLC)
    elif "close" in columns:
        fmt, o, h, lo, c = "close_only", -1, -1, -1, columns["close"]
    elif len(columns) == 2:
        fmt, o, h, lo = "single_value", -1, -1, -1
        c = next(i for key, i in columns.items() if i != d)
    else:
        raise HistoryDataError(
            f"--{name}: {path}: header {sorted(columns)} not recognized: {_FORMATS}"
        )
    need = max(d, o, h, lo, c)
    bounds = PLAUSIBLE_RANGE.get(name)
    closes: list[tuple[date, float]] = []  # every row's close, in range or not: for the level
    problems = Problems(name)
    raw: list[tuple[date, float | None, float | None, float | None, float]] = []
    seen: set[date] = set()
    for line, row in rows:
        if len(row) <= need:
            problems.add(line, "short_row", ",".join(row))
            continue
        day = parse_date(row[d])
        if day is None:
            problems.add(line, "unparseable_date", row[d])
            continue
        try:
            close = _positive(row[c])
            opened = _positive(row[o]) if o >= 0 else None
            high = _positive(row[h]) if h >= 0 else None
            low = _positive(row[lo]) if lo >= 0 else None
        except _BadValue as exc:
            problems.add(line, exc.reason, ",".join(row))
            continue
        if close is None:
            problems.add(line, "missing_value", ",".join(row))
            continue
        closes.append((day, close))
        if bounds is not None and not within(bounds, close, opened, high, low):
            problems.add(line, "out_of_range", ",".join(row))
            continue
        if high is not None and low is not None and high < low:
            problems.add(line, "high_below_low", ",".join(row))
            continue
        if (high is not None and close > high + SAME_PRICE) or (
            low is not None and close < low - SAME_PRICE
        ):
            problems.add(line, "close_outside_range", ",".join(row))
            continue
        if high is None or low is None:
            high = low = None
        if day in seen:
            problems.add(line, "duplicate_date", ",".join(row))
            continue
        seen.add(day)
        raw.append((day, opened, high, low, close))
    if problem := level_problem(name, closes):
        raise HistoryDataError(f"--{name}: {path}: {problem}")
    raw.sort(key=lambda r: r[0])
    bars: dict[date, DailyBar] = {}
    opens_missing: Counter[str] = Counter()
    previous_close: float | None = None
    for day, opened, high, low, close in raw:
        why = _open_problem(opened, high, low, close, previous_close)
        if why is not None:
            opens_missing[why] += 1
        bars[day] = DailyBar(close, opened if why is None else None)
        previous_close = close
    return IndexSeries(name, fmt, bars, problems, opens_missing)


def _open_problem(
    opened: float | None,
    high: float | None,
    low: float | None,
    close: float,
    previous_close: float | None,
) -> str | None:
    """Why a bar's open is not a real opening print, or None when it is."""
    if opened is None:
        return "missing"
    if abs(opened - close) < SAME_PRICE and (
        high is None or low is None or (high - low) < SAME_PRICE
    ):
        return "flat"
    if high is not None and low is not None and not low - SAME_PRICE <= opened <= high + SAME_PRICE:
        return "outside_range"
    if previous_close is not None and abs(opened - previous_close) < SAME_PRICE:
        return "repeats_previous_close"
    return None


def load_vx(path: Path, name: str = "vx") -> VxCurveFile:
    """Load a VX term structure (``date, vx1..vxN, vx1_expiry..vxN_expiry``)."""
    rows = _rows(path, name)
    columns = _header(rows, path, name)
    if not _is_vx_header(columns):
        raise HistoryDataError(
            f"--{name}: {path}: header {sorted(columns)} is not a VX term structure"
            " (expected date, vx1..vxN, vx1_expiry..vxN_expiry)"
        )
    d = _date_column(columns, path, name)
    pairs: list[tuple[int, int]] = []
    n = 1
    while f"vx{n}" in columns and f"vx{n}_expiry" in columns:
        pairs.append((columns[f"vx{n}"], columns[f"vx{n}_expiry"]))
        n += 1
    problems = Problems(name)
    dropped: Counter[str] = Counter()
    curves: dict[date, tuple[tuple[date, float], ...]] = {}
    for line, row in rows:
        if len(row) <= d:
            problems.add(line, "short_row", ",".join(row))
            continue
        day = parse_date(row[d])
        if day is None:
            problems.add(line, "unparseable_date", row[d])
            continue
        if day in curves:
            problems.add(line, "duplicate_date", ",".join(row))
            continue
        points: dict[date, float] = {}
        row_dropped: list[str] = []
        for p, e in pairs:
            why, point = _vx_point(row, p, e, day)
            if why is not None:
                row_dropped.append(why)
            elif point is not None:
                points.setdefault(point[0], point[1])
        if not points:
            problems.add(line, "no_contracts", ",".join(row))
            continue
        dropped.update(row_dropped)
        curves[day] = tuple(sorted(points.items()))
    return VxCurveFile(dict(sorted(curves.items())), problems, dropped)


def _vx_point(
    row: list[str], p: int, e: int, day: date
) -> tuple[str | None, tuple[date, float] | None]:
    """(why it is dropped, None) or (None, (expiry, price)) for one future of a VX row."""
    price_text = row[p] if p < len(row) else ""
    expiry_text = row[e] if e < len(row) else ""
    try:
        price = _positive(price_text)
    except _BadValue as exc:
        return exc.reason, None
    if price is None or not expiry_text.strip():
        return "missing", None
    if not within(VX_RANGE, price):
        return "out_of_range", None
    expiry = parse_date(expiry_text)
    if expiry is None:
        return "unparseable_date", None
    if expiry <= day:
        return "expired", None
    return None, (expiry, price)


def load_rates(path: Path, name: str = "rates") -> DatedValues:
    """Load a FRED-style ``DATE,<SERIES>`` rate file in percent; values become decimals."""
    rows = _rows(path, name)
    columns = _header(rows, path, name)
    d = _date_column(columns, path, name)
    if len(columns) != 2:
        raise HistoryDataError(
            f"--{name}: {path}: header {sorted(columns)} not recognized: expected a date column"
            " and one rate column in percent (DATE,DGS3MO)"
        )
    v = next(i for i in columns.values() if i != d)
    lo, hi = RATE_RANGE_PERCENT
    problems = Problems(name)
    values: dict[date, float] = {}
    for line, row in rows:
        if len(row) <= max(d, v):
            problems.add(line, "short_row", ",".join(row))
            continue
        day = parse_date(row[d])
        if day is None:
            problems.add(line, "unparseable_date", row[d])
            continue
        try:
            percent = _number(row[v])
        except _BadValue as exc:
            problems.add(line, exc.reason, ",".join(row))
            continue
        if percent is None:
            problems.add(line, "missing_value", ",".join(row))
            continue
        if not lo <= percent <= hi:
            problems.add(line, "out_of_range", ",".join(row))
            continue
        if day in values:
            problems.add(line, "duplicate_date", ",".join(row))
            continue
        values[day] = percent / 100.0
    if not values:
        raise HistoryDataError(f"--{name}: {path} holds no usable rows")
    return DatedValues(dict(sorted(values.items())), problems)


def load_macro(path: Path, name: str = "macro") -> MacroFile:
    """Load a ``date,event`` file of scheduled releases (``cpi``, ``ppi``, ``fomc``; several rows
    per date allowed, repeats ignored)."""
    rows = _rows(path, name)
    columns = _header(rows, path, name)
    d = _date_column(columns, path, name)
    if "event" not in columns:
        raise HistoryDataError(
            f"--{name}: {path}: header {sorted(columns)} has no event column (expected date,event)"
        )
    ev = columns["event"]
    problems = Problems(name)
    events: dict[date, set[str]] = {}
    for line, row in rows:
        if len(row) <= max(d, ev):
            problems.add(line, "short_row", ",".join(row))
            continue
        day = parse_date(row[d])
        if day is None:
            problems.add(line, "unparseable_date", row[d])
            continue
        event = row[ev].strip().lower()
        if event not in MACRO_EVENT_NAMES:
            problems.add(line, "unknown_event", ",".join(row))
            continue
        events.setdefault(day, set()).add(event)
    if not events:
        raise HistoryDataError(f"--{name}: {path} holds no usable rows")
    return MacroFile({day: tuple(sorted(names)) for day, names in sorted(events.items())}, problems)

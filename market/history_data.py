"""Reading real daily data for history mode (SPEC sections 4 and 11): index OHLC and close files in
the Cboe and common vendor formats, a VX term structure, a rate series, a macro calendar and an
advance-decline line.

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
- **Advance-decline**: ``date,advances,declines`` (daily counts of NYSE issues; the line is the
  running sum of advances - declines from the first date) or ``date,ad_line`` (the line itself,
  used when a file has both).

Dates are ISO ``YYYY-MM-DD`` (a time after it is ignored) or ``MM/DD/YYYY``, row by row. A value
of ``""``, ``.``, ``null``, ``NA``, ``N/A`` or ``nan`` is missing.

A bad row is skipped and counted by reason, never fatal: ``short_row``, ``unparseable_date``,
``unparseable_number``, ``missing_value`` (no close), ``non_finite``, ``non_positive``,
``high_below_low``, ``close_outside_range``, ``duplicate_date`` (the first row of a date is kept),
``out_of_range`` (a value outside its series' plausible range, :mod:`market.history_checks`),
``unknown_event`` (macro), ``no_contracts`` (a VX row without one usable future), ``negative`` and
``non_integer`` (an advance-decline count). The first few
problems of each reason are kept, with their line numbers, for the log. An index file whose level
is not its flag's (a VIX file as ``--spx``) is a :class:`HistoryDataError`.

An **open is real** when it is present, within the row's high-low range, not equal to the previous
row's close (old Yahoo SPX rows repeat it) and the row is not flat (open = high = low = close: all
of the VIX's 1990-1991). Otherwise the bar has no open, and the reason is counted.

The loaded series and their bad-row counts are :mod:`market.history_series`; reading a CSV's rows,
header, dates and numbers is :mod:`market.history_csv`. Both modules' public names that callers
import from here are re-exported.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

from market.history_checks import (
    AD_COUNT_RANGE,
    AD_LINE_RANGE,
    PLAUSIBLE_RANGE,
    VX_RANGE,
    level_problem,
    within,
)
from market.history_csv import (
    BadValue,
    date_column,
    dated_rows,
    is_vx_header,
    parse_count,
    parse_date,
    parse_number,
    parse_positive,
    read_header,
    read_rows,
)
from market.history_series import (
    AdLineFile,
    DailyBar,
    DatedValues,
    HistoryDataError,
    IndexSeries,
    MacroFile,
    Problems,
    RowProblem,
    VxCurveFile,
)
from market.macro import MACRO_EVENT_NAMES

__all__ = [
    "RATE_RANGE_PERCENT",
    "SAME_PRICE",
    "AdLineFile",
    "DailyBar",
    "DatedValues",
    "HistoryDataError",
    "IndexSeries",
    "MacroFile",
    "Problems",
    "RowProblem",
    "VxCurveFile",
    "load_ad",
    "load_index",
    "load_macro",
    "load_rates",
    "load_vx",
    "parse_date",
]

SAME_PRICE = 0.005
"""Two prices closer than this (half a cent) are equal: the files print two decimals or more."""
RATE_RANGE_PERCENT = (-5.0, 50.0)
"""A rate outside this range (percent) is a bad row."""

_OHLC = ("open", "high", "low", "close")
_FORMATS = (
    "expected OHLC (date, open, high, low, close, ...), Yahoo (Date, Open, High, Low, Close,"
    " Adj Close, Volume) or a single value column (DATE, SP500)"
)


def load_index(path: Path, name: str) -> IndexSeries:
    """Load a VIX or SPX file (``name`` is the flag it came from: ``vix`` or ``spx``, which sets
    the plausible range of its values and level)."""
    rows = read_rows(path, name)
    columns = read_header(rows, path, name)
    if is_vx_header(columns):
        raise HistoryDataError(f"--{name}: {path} is a VX term structure: pass it as --vx")
    d = date_column(columns, path, name)
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
    for line, row, day in dated_rows(rows, d, need, problems):
        try:
            close = parse_positive(row[c])
            opened = parse_positive(row[o]) if o >= 0 else None
            high = parse_positive(row[h]) if h >= 0 else None
            low = parse_positive(row[lo]) if lo >= 0 else None
        except BadValue as exc:
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
    rows = read_rows(path, name)
    columns = read_header(rows, path, name)
    if not is_vx_header(columns):
        raise HistoryDataError(
            f"--{name}: {path}: header {sorted(columns)} is not a VX term structure"
            " (expected date, vx1..vxN, vx1_expiry..vxN_expiry)"
        )
    d = date_column(columns, path, name)
    pairs: list[tuple[int, int]] = []
    n = 1
    while f"vx{n}" in columns and f"vx{n}_expiry" in columns:
        pairs.append((columns[f"vx{n}"], columns[f"vx{n}_expiry"]))
        n += 1
    problems = Problems(name)
    dropped: Counter[str] = Counter()
    curves: dict[date, tuple[tuple[date, float], ...]] = {}
    for line, row, day in dated_rows(rows, d, d, problems):
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
        price = parse_positive(price_text)
    except BadValue as exc:
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
    rows = read_rows(path, name)
    columns = read_header(rows, path, name)
    d = date_column(columns, path, name)
    if len(columns) != 2:
        raise HistoryDataError(
            f"--{name}: {path}: header {sorted(columns)} not recognized: expected a date column"
            " and one rate column in percent (DATE,DGS3MO)"
        )
    v = next(i for i in columns.values() if i != d)
    lo, hi = RATE_RANGE_PERCENT
    problems = Problems(name)
    values: dict[date, float] = {}
    for line, row, day in dated_rows(rows, d, max(d, v), problems):
        try:
            percent = parse_number(row[v])
        except BadValue as exc:
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
    rows = read_rows(path, name)
    columns = read_header(rows, path, name)
    d = date_column(columns, path, name)
    if "event" not in columns:
        raise HistoryDataError(
            f"--{name}: {path}: header {sorted(columns)} has no event column (expected date,event)"
        )
    ev = columns["event"]
    problems = Problems(name)
    events: dict[date, set[str]] = {}
    for line, row, day in dated_rows(rows, d, max(d, ev), problems):
        event = row[ev].strip().lower()
        if event not in MACRO_EVENT_NAMES:
            problems.add(line, "unknown_event", ",".join(row))
            continue
        events.setdefault(day, set()).add(event)
    if not events:
        raise HistoryDataError(f"--{name}: {path} holds no usable rows")
    return MacroFile({day: tuple(sorted(names)) for day, names in sorted(events.items())}, problems)


def load_ad(path: Path, name: str = "ad") -> AdLineFile:
    """Load an advance-decline file: daily counts (``date,advances,declines``), summed into the
    line from the first date on, or the line itself (``date,ad_line``, preferred when a file has
    both). A date the counts lack adds nothing to the line."""
    rows = read_rows(path, name)
    columns = read_header(rows, path, name)
    d = date_column(columns, path, name)
    fields: tuple[int, ...]
    if "ad_line" in columns:
        fmt, fields, bounds = "ad_line", (columns["ad_line"],), AD_LINE_RANGE
    elif "advances" in columns and "declines" in columns:
        fmt, bounds = "advances_declines", AD_COUNT_RANGE
        fields = (columns["advances"], columns["declines"])
    else:
        raise HistoryDataError(
            f"--{name}: {path}: header {sorted(columns)} not recognized: expected daily counts"
            " (date,advances,declines) or the line itself (date,ad_line)"
        )
    parse = parse_number if fmt == "ad_line" else parse_count
    need = max(d, *fields)
    problems = Problems(name)
    rows_by_day: dict[date, list[float]] = {}
    for line, row, day in dated_rows(rows, d, need, problems):
        try:
            parsed = [parse(row[i]) for i in fields]
        except BadValue as exc:
            problems.add(line, exc.reason, ",".join(row))
            continue
        values = [v for v in parsed if v is not None]
        if len(values) < len(fields):
            problems.add(line, "missing_value", ",".join(row))
            continue
        if not within(bounds, *values):
            problems.add(line, "out_of_range", ",".join(row))
            continue
        if day in rows_by_day:
            problems.add(line, "duplicate_date", ",".join(row))
            continue
        rows_by_day[day] = values
    if not rows_by_day:
        raise HistoryDataError(f"--{name}: {path} holds no usable rows")
    line_at: dict[date, float] = {}
    net = 0  # the counts are whole numbers: the running sum is exact
    for day, values in sorted(rows_by_day.items()):
        if fmt == "ad_line":
            line_at[day] = values[0]
        else:
            net += int(values[0]) - int(values[1])
            line_at[day] = float(net)
    return AdLineFile(fmt, line_at, problems)

"""Reading a history-mode CSV file field by field: its non-blank rows, its header, its date column,
and the date, number or count in a field (the formats of :mod:`market.history_data`).

Dates are ISO ``YYYY-MM-DD`` (a time after it is ignored) or ``MM/DD/YYYY``, row by row. A value
of ``""``, ``.``, ``null``, ``NA``, ``N/A`` or ``nan`` is missing. A file that cannot be read at
all is a :class:`~market.history_series.HistoryDataError`.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from market.history_series import HistoryDataError, Problems

DATE_COLUMNS = ("date", "observation_date")
"""Header names accepted for the date column."""
MISSING = frozenset({"", ".", "null", "na", "n/a", "nan"})


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


class BadValue(Exception):
    """A field that holds a value, but not a usable one; ``reason`` is the bad row's reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def parse_number(text: str) -> float | None:
    """The value of a field; None when missing; raises :class:`BadValue` when unusable."""
    t = text.strip()
    if t.lower() in MISSING:
        return None
    try:
        value = float(t)
    except ValueError:
        raise BadValue("unparseable_number") from None
    if not math.isfinite(value):
        raise BadValue("non_finite")
    return value


def parse_positive(text: str) -> float | None:
    """:func:`parse_number`, and a value of zero or less raises :class:`BadValue`."""
    value = parse_number(text)
    if value is not None and value <= 0.0:
        raise BadValue("non_positive")
    return value


def parse_count(text: str) -> int | None:
    """A count of issues (an advance-decline file's ``advances`` or ``declines``): None when
    missing; raises :class:`BadValue` unless a whole number of zero or more (``1500.0`` is one)."""
    value = parse_number(text)
    if value is None:
        return None
    if value < 0.0:
        raise BadValue("negative")
    if not value.is_integer():
        raise BadValue("non_integer")
    return int(value)


def read_rows(path: Path, name: str) -> Iterator[tuple[int, list[str]]]:
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


def read_header(rows: Iterator[tuple[int, list[str]]], path: Path, name: str) -> dict[str, int]:
    """Lower-cased column name -> index; the first occurrence of a repeated name wins."""
    first = next(rows, None)
    if first is None:
        raise HistoryDataError(f"--{name}: {path} is empty")
    columns: dict[str, int] = {}
    for i, cell in enumerate(first[1]):
        columns.setdefault(cell.strip().lower(), i)
    return columns


def date_column(columns: dict[str, int], path: Path, name: str) -> int:
    """The index of the header's date column (one of :data:`DATE_COLUMNS`)."""
    for candidate in DATE_COLUMNS:
        if candidate in columns:
            return columns[candidate]
    raise HistoryDataError(
        f"--{name}: {path}: no date column in the header {sorted(columns)}"
        f" (expected one of {', '.join(DATE_COLUMNS)})"
    )


def is_vx_header(columns: dict[str, int]) -> bool:
    """Whether a header is a VX term structure's (``vx1`` and ``vx1_expiry``)."""
    return "vx1" in columns and "vx1_expiry" in columns


def dated_rows(
    rows: Iterator[tuple[int, list[str]]], date_col: int, last_col: int, problems: Problems
) -> Iterator[tuple[int, list[str], date]]:
    """``(line, row, date)`` of each row that reaches column ``last_col`` and whose ``date_col``
    parses; the others are counted in ``problems`` as ``short_row`` or ``unparseable_date``."""
    for line, row in rows:
        if len(row) <= last_col:
            problems.add(line, "short_row", ",".join(row))
            continue
        day = parse_date(row[date_col])
        if day is None:
            problems.add(line, "unparseable_date", row[date_col])
            continue
        yield line, row, day

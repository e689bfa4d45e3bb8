"""Plausibility of history mode's inputs: bounds on each row's values, and whole-file checks that
catch a file given to the wrong flag (a VIX file as ``--spx``, an index level as ``--vix``).

**Rows.** Every value of a row (open, high, low, close) must lie in its series' plausible range,
else the row is a bad row, ``out_of_range`` (a VX future is dropped with that reason). The
ranges comfortably contain all real history: the VIX's record close is 82.69 (2020-03-16) and its
intraday high 89.53 (2008-10-24), its low 8.56 (2017-11-24); the VX futures have settled within
9.5 .. 73 since 2004; the SPX has closed between 295 and 7,000 since 1990 (4.40 at its 1932 low).
A VIX of 1e300 is out of range here, not an overflow in the hedge layer later. An advance-decline
file's counts lie within :data:`AD_COUNT_RANGE` and its line within :data:`AD_LINE_RANGE`, so a
line summed from huge counts cannot overflow into the macro overlay.

**Files.** Two checks, each a data error (exit 65) naming the file and what looked wrong:

- *Level*: the median close of the rows dated from :data:`~market.calendar.CALENDAR_START` (the
  dates history can run) must lie on the right side of :data:`LEVEL_DIVIDE` (150 points): the VIX
  has never closed above 83, the SPX not below 295 since 1990. A median is robust to a few bad
  rows and needs no long file: one calm month is enough.
- *Co-movement*: the SPX and the VIX move against each other (the correlation of their daily log
  changes is about -0.7 over 1990-2026, and has not been above -0.11 over any 60 sessions). When
  the two files share at least :data:`MIN_CORRELATION_CHANGES` consecutive dates and their log
  changes correlate above :data:`MAX_CORRELATION`, one of them is not what its flag says. Over
  fewer dates the correlation is too noisy to judge (over 20 sessions of 1990 it reached +0.58).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING

from market.calendar import CALENDAR_START

if TYPE_CHECKING:
    from market.history_data import DailyBar

VIX_RANGE = (1.0, 200.0)
"""Plausible VIX values, in points (record close 82.69, intraday high 89.53)."""
VX_RANGE = VIX_RANGE
"""Plausible VX futures prices, in VIX points (settlements have stayed within 9.5 .. 73)."""
SPX_RANGE = (1.0, 1_000_000.0)
"""Plausible SPX values, in index points (4.40 at the 1932 low; under 7,000 in 2026)."""
AD_COUNT_RANGE = (0.0, 100_000.0)
"""Plausible advancing or declining issues in a session (the NYSE lists about 3,000 to 3,500)."""
AD_LINE_RANGE = (-1e9, 1e9)
"""Plausible advance-decline line values: net advancers are at most a few thousand a session, so
even a line summed since 1965 stays within about 1e8 of its start."""
PLAUSIBLE_RANGE: dict[str, tuple[float, float]] = {"vix": VIX_RANGE, "spx": SPX_RANGE}
"""Each index input's row bounds, by its flag."""
LEVEL_DIVIDE = 150.0
"""A VIX file's median close lies below this (points), an SPX file's above it."""
MIN_CORRELATION_CHANGES = 60
"""Fewer common log changes than this: no co-movement check."""
MAX_CORRELATION = 0.3
"""A correlation of the SPX's and the VIX's daily log changes above this is a data error."""
_SWAP_HINT = "are --vix and --spx swapped?"


def within(bounds: tuple[float, float], *values: float | None) -> bool:
    """Whether every given value lies in ``bounds`` (inclusive); None is not given."""
    low, high = bounds
    for v in values:  # a loop, not all(...): it runs on every row of every file
        if v is not None and not low <= v <= high:
            return False
    return True


def level_problem(name: str, closes: list[tuple[date, float]]) -> str | None:
    """What is wrong with the level of an index file (``name``: ``vix`` or ``spx``) whose rows
    hold ``closes`` (date, close), or None."""
    levels = [close for day, close in closes if day >= CALENDAR_START]
    if not levels:
        return None
    median = statistics.median(levels)
    since = f"median close {median:.6g} over {len(levels):,} rows from {CALENDAR_START}"
    if name == "vix" and median > LEVEL_DIVIDE:
        return (
            f"{since} looks like an index level, not the VIX (which has never closed above"
            f" 83): {_SWAP_HINT}"
        )
    if name == "spx" and median < LEVEL_DIVIDE:
        return (
            f"{since} looks like a volatility index, not the SPX (which has not closed below"
            f" 295 since 1990): {_SWAP_HINT}"
        )
    return None


def log_change_correlation(
    vix: Mapping[date, DailyBar], spx: Mapping[date, DailyBar]
) -> tuple[float | None, int]:
    """The correlation of the VIX's and the SPX's log changes between consecutive dates both
    series hold, and how many changes it is over; None when fewer than
    :data:`MIN_CORRELATION_CHANGES`, or when either series does not move."""
    common = sorted(vix.keys() & spx.keys())
    changes = len(common) - 1
    if changes < MIN_CORRELATION_CHANGES:
        return None, max(changes, 0)
    log_vix = [math.log(vix[d].close) for d in common]
    log_spx = [math.log(spx[d].close) for d in common]
    d_vix = [b - a for a, b in zip(log_vix, log_vix[1:], strict=False)]
    d_spx = [b - a for a, b in zip(log_spx, log_spx[1:], strict=False)]
    try:
        return statistics.correlation(d_vix, d_spx), changes
    except statistics.StatisticsError:  # a constant series
        return None, changes


def correlation_problem(correlation: float | None, changes: int) -> str | None:
    """What is wrong when the two series move together, or None."""
    if correlation is None or correlation <= MAX_CORRELATION:
        return None
    return (
        f"their daily log changes move together (correlation {correlation:+.2f} over"
        f" {changes:,} common dates), where the SPX and the VIX move against each other (about"
        " -0.7): one of them is not what its flag says"
    )

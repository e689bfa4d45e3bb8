"""Realism check: the base model's stylized facts beside history's, measured the same way.

    python bench/realism.py [--years 1000] [--seed 0] [--data DIR] [--json | --markdown] [--check]

The model side is one seeded path of daily closes of the base model (no scenario) at a cadence of
405 minutes, so each session gives two snapshots: its open and its close (early closes too). The
calendar only runs 1990-2040 (about 50 years), so the path is chained from segments: segment ``k``
replays the calendar from 1990-01-02 with seed ``seed + k``, starting at the VIX and SPX of the
previous segment's last close; the last segment is cut so the path holds ``years * 252`` sessions.
At a seam the first open equals the previous close (one overnight step of the model is skipped),
and the VX curve's anchor restarts from that VIX (its slow average forgets the previous segment).

The history side joins ``vix_daily.csv`` and ``spx_daily.csv`` on date (inner join: drops the VIX
rows on market holidays and the four SPX days without a VIX print) for the VIX and SPX facts, and
``vix_futures_term_structure.csv`` (``vx1``, ``vx2``: the first two listed monthly futures) with the
VIX close of the same date for the curve facts. Only closes are used.

Facts (identical estimators on both sides): VIX mean and median; the log-VIX half-life (sessions)
from an ordinary least-squares AR(1) fit of each daily log close on the one before, over the whole
sample; the share of days with the VIX above 16, 25 and 28; the correlation of daily SPX log returns
with daily log-VIX changes; the share of days with VX2 above VX1 and the median of VX2 / VX1 - 1; the
share of days with VX1 below the VIX among days with the VIX at or above 30.

Tolerances: shares within 2 percentage points of history, every other fact within 15% of it.
Prints JSON, then the same comparison as a markdown table.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypedDict

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from market.simulator import SESSIONS_PER_YEAR, Simulator, SimulatorConfig  # noqa: E402

DATA_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
CALENDAR_START = date(1990, 1, 2)
CADENCE_MINUTES = 405
"""A full session is 405 minutes (09:30-16:15 ET): snapshots at the open and the close only."""
SHARE_TOLERANCE = 0.02
"""Shares: absolute tolerance (2 percentage points)."""
RELATIVE_TOLERANCE = 0.15
"""Every other fact: tolerance relative to history's value (15%)."""
DEFAULT_YEARS = 1000.0
"""Length of the model's path: long enough that its shares sit within about 1 percentage point of
the model's own long-run values (over 250 years they wander by about 1.6)."""


@dataclass(frozen=True, slots=True)
class Fact:
    """One stylized fact: its JSON key, its label in the table, and how it is compared."""

    key: str
    label: str
    share: bool
    """True: compared in percentage points; False: relative to history."""


FACTS = (
    Fact("vix_mean", "VIX mean", False),
    Fact("vix_median", "VIX median", False),
    Fact("log_vix_half_life_sessions", "log-VIX half-life, AR(1) (sessions)", False),
    Fact("share_vix_above_16", "share of days VIX > 16", True),
    Fact("share_vix_above_25", "share of days VIX > 25", True),
    Fact("share_vix_above_28", "share of days VIX > 28", True),
    Fact("corr_spx_return_log_vix_change", "corr(SPX log return, log-VIX change)", False),
    Fact("share_vx2_above_vx1", "share of days VX2 > VX1", True),
    Fact("median_vx2_over_vx1_minus_1", "median VX2/VX1 - 1", False),
    Fact("share_vx1_below_vix_when_vix_30", "share of VIX >= 30 days with VX1 < VIX", True),
)


@dataclass(frozen=True, slots=True)
class DailyCloses:
    """Aligned daily closes: VIX and SPX on one set of days, and the curve on another."""

    vix: np.ndarray
    spx: np.ndarray
    curve_vix: np.ndarray
    """VIX on the curve's days."""
    vx1: np.ndarray
    vx2: np.ndarray


# -- estimators (the same for the model and for history) ----------------------------------------


def ar1_half_life(series: np.ndarray) -> float:
    """Half-life (in steps) of an AR(1) fitted by least squares, with intercept, to ``series``:
    ``-ln 2 / ln(phi)`` for the slope ``phi`` of ``x[t+1]`` on ``x[t]`` (inf if ``phi >= 1``,
    nan if ``phi <= 0``)."""
    x0, x1 = series[:-1], series[1:]
    d0 = x0 - x0.mean()
    phi = float(np.dot(d0, x1 - x1.mean()) / np.dot(d0, d0))
    if phi >= 1.0:
        return math.inf
    if phi <= 0.0:
        return math.nan
    return -math.log(2.0) / math.log(phi)


def share_above(values: np.ndarray, level: float) -> float:
    """Share of ``values`` strictly above ``level``."""
    return float(np.mean(values > level))


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation."""
    return float(np.corrcoef(a, b)[0, 1])


def vix_spx_facts(vix: np.ndarray, spx: np.ndarray) -> dict[str, float]:
    """Facts of aligned daily VIX and SPX closes."""
    log_vix = np.log(vix)
    return {
        "vix_mean": float(np.mean(vix)),
        "vix_median": float(np.median(vix)),
        "log_vix_half_life_sessions": ar1_half_life(log_vix),
        "share_vix_above_16": share_above(vix, 16.0),
        "share_vix_above_25": share_above(vix, 25.0),
        "share_vix_above_28": share_above(vix, 28.0),
        "corr_spx_return_log_vix_change": correlation(np.diff(np.log(spx)), np.diff(log_vix)),
    }


def curve_facts(vix: np.ndarray, vx1: np.ndarray, vx2: np.ndarray) -> dict[str, float]:
    """Facts of the first two listed VX futures and the VIX on the same days."""
    stressed = vix >= 30.0
    return {
        "share_vx2_above_vx1": float(np.mean(vx2 > vx1)),
        "median_vx2_over_vx1_minus_1": float(np.median(vx2 / vx1 - 1.0)),
        "share_vx1_below_vix_when_vix_30": float(np.mean(vx1[stressed] < vix[stressed]))
        if stressed.any()
        else math.nan,
    }


def stylized_facts(closes: DailyCloses) -> dict[str, float]:
    """Every fact of :data:`FACTS` from ``closes``."""
    facts = vix_spx_facts(closes.vix, closes.spx)
    facts.update(curve_facts(closes.curve_vix, closes.vx1, closes.vx2))
    return facts


# -- the model's path ---------------------------------------------------------------------------


def _segment_closes(
    config: SimulatorConfig, seed: int, sessions: int | None
) -> Iterator[tuple[float, float, float, float]]:
    """(VIX, SPX, VX1, VX2) at each session's close of one run from 1990-01-02."""
    last = None
    for snap in Simulator(config, seed=seed, start=CALENDAR_START).snapshots(sessions):
        if last is not None and snap.session != last.session:
            yield last.vix, last.spx, last.vx_curve[0].price, last.vx_curve[1].price
        last = snap
    if last is not None:
        yield last.vix, last.spx, last.vx_curve[0].price, last.vx_curve[1].price


def model_closes(
    years: float, seed: int, config: SimulatorConfig | None = None
) -> tuple[DailyCloses, int]:
    """One chained path of ``round(years * 252)`` daily closes of the base model (see the module
    docstring) and the number of segments it took."""
    base = config or SimulatorConfig()
    base = SimulatorConfig.model_validate({**base.model_dump(), "cadence_minutes": CADENCE_MINUTES})
    wanted = round(years * SESSIONS_PER_YEAR)
    rows: list[tuple[float, float, float, float]] = []
    segment_config = base
    segments = 0
    while len(rows) < wanted:
        remaining = wanted - len(rows)
        segment = list(_segment_closes(segment_config, seed + segments, None))
        segments += 1
        rows.extend(segment[:remaining])
        vix, spx = rows[-1][0], rows[-1][1]
        segment_config = SimulatorConfig.model_validate(
            {**base.model_dump(), "vix_start": vix, "spx_start": spx}
        )
    table = np.array(rows)
    closes = DailyCloses(table[:, 0], table[:, 1], table[:, 0], table[:, 2], table[:, 3])
    return closes, segments


# -- history ------------------------------------------------------------------------------------


def _closes_by_date(path: Path, date_column: str, close_column: str) -> dict[str, float]:
    """Finite closes by ISO date; blank and ``.`` cells are skipped."""
    out: dict[str, float] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            cell = (row.get(close_column) or "").strip()
            if cell in ("", "."):
                continue
            value = float(cell)
            if math.isfinite(value):
                out[row[date_column]] = value
    return out


def _aligned(columns: Iterable[dict[str, float]]) -> tuple[list[str], list[np.ndarray]]:
    """Inner join of date-keyed columns, in date order."""
    cols = list(columns)
    days = sorted(set.intersection(*(set(c) for c in cols)))
    return days, [np.array([c[d] for d in days]) for c in cols]


def history_closes(data_dir: Path) -> tuple[DailyCloses, dict[str, str | int]]:
    """History's daily closes from ``data_dir`` and the spans they cover."""
    vix = _closes_by_date(data_dir / "vix_daily.csv", "DATE", "CLOSE")
    spx = _closes_by_date(data_dir / "spx_daily.csv", "date", "close")
    term = data_dir / "vix_futures_term_structure.csv"
    vx1 = _closes_by_date(term, "date", "vx1")
    vx2 = _closes_by_date(term, "date", "vx2")
    days, (vix_a, spx_a) = _aligned((vix, spx))
    curve_days, (curve_vix, vx1_a, vx2_a) = _aligned((vix, vx1, vx2))
    spans: dict[str, str | int] = {
        "vix_spx_first": days[0],
        "vix_spx_last": days[-1],
        "vix_spx_days": len(days),
        "curve_first": curve_days[0],
        "curve_last": curve_days[-1],
        "curve_days": len(curve_days),
    }
    return DailyCloses(vix_a, spx_a, curve_vix, vx1_a, vx2_a), spans


# -- comparison ---------------------------------------------------------------------------------


class Row(TypedDict):
    """One fact compared (a JSON object of the ``comparison`` list)."""

    fact: str
    model: float
    history: float
    gap: float
    """Model minus history: percentage points for shares, else percent of history."""
    gap_unit: str
    tolerance: str
    ok: bool


def compare(model: dict[str, float], history: dict[str, float]) -> list[Row]:
    """One row per fact: both values, the gap (percentage points for shares, else relative to
    history) and whether it is within tolerance."""
    rows: list[Row] = []
    for fact in FACTS:
        m, h = model[fact.key], history[fact.key]
        if fact.share:
            gap = (m - h) * 100.0
            ok = abs(m - h) <= SHARE_TOLERANCE + 1e-12
            tolerance = f"+-{SHARE_TOLERANCE * 100:g} pp"
        else:
            gap = (m - h) / abs(h) * 100.0
            ok = abs(m - h) <= RELATIVE_TOLERANCE * abs(h) + 1e-12
            tolerance = f"+-{RELATIVE_TOLERANCE * 100:g}%"
        rows.append(
            {
                "fact": fact.key,
                "model": m,
                "history": h,
                "gap": gap,
                "gap_unit": "pp" if fact.share else "%",
                "tolerance": tolerance,
                "ok": bool(ok and math.isfinite(m)),
            }
        )
    return rows


def _fmt(fact: Fact, v: float) -> str:
    if fact.share:
        return f"{v * 100:.1f}%"
    if fact.key == "median_vx2_over_vx1_minus_1":
        return f"{v * 100:.2f}%"
    return f"{v:.3f}" if abs(v) < 1 else f"{v:.2f}"


def markdown_table(rows: list[Row]) -> str:
    """The comparison as a markdown table."""
    lines = [
        "| fact | model | history | gap | tolerance | met |",
        "|---|---:|---:|---:|---|:---:|",
    ]
    for fact, row in zip(FACTS, rows, strict=True):
        gap = row["gap"]
        lines.append(
            f"| {fact.label} | {_fmt(fact, row['model'])} | {_fmt(fact, row['history'])} "
            f"| {gap:+.1f} {row['gap_unit']} | {row['tolerance']} "
            f"| {'yes' if row['ok'] else 'no'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--years", type=float, default=DEFAULT_YEARS, help="length of the model path (>= 200)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the first segment")
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="the real-data folder")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print only the JSON")
    output.add_argument("--markdown", action="store_true", help="print only the table")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a fact misses its tolerance"
    )
    args = parser.parse_args(argv)
    if args.years < 200:
        parser.error("--years must be at least 200")
    if not (args.data / "vix_daily.csv").is_file():
        parser.error(f"no vix_daily.csv in {args.data}")

    t0 = time.perf_counter()
    closes, segments = model_closes(args.years, args.seed)
    model_seconds = time.perf_counter() - t0
    history, spans = history_closes(args.data)
    model_facts = stylized_facts(closes)
    history_facts = stylized_facts(history)
    rows = compare(model_facts, history_facts)
    out = {
        "model": {
            "seed": args.seed,
            "segments": segments,
            "sessions": len(closes.vix),
            "years": round(len(closes.vix) / SESSIONS_PER_YEAR, 1),
            "facts": model_facts,
        },
        "history": {**spans, "facts": history_facts},
        "comparison": rows,
        "all_met": all(r["ok"] for r in rows),
        "model_seconds": round(model_seconds, 1),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if not args.markdown:
        print(json.dumps(out, indent=2))
    if not args.json:
        if not args.markdown:
            print()
        print(markdown_table(rows))
    return 1 if args.check and not out["all_met"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""Why the RSI exit defaults to Cutler's RSI: count how often each method falls below the exit
level on real 30-day constant-maturity VX closes (SPEC section 9), as JSON.

    python bench/rsi_methods.py [--data ../shared/data] [--periods 21] [--below 30]

The constant-maturity price interpolates, in calendar days, between the two listed futures that
straddle 30 days (``vix_futures_term_structure.csv``: ``vxN`` prices and ``vxN_dte``), the same
interpolation the live layer uses (:func:`strategies.indicators.constant_maturity` works on
settlement times; here the file's day counts stand in). Days are also counted with VIX >= 16,
when hedges and press spreads are on (``vix_daily.csv``, joined on the date).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from strategies.indicators import rsi_series  # noqa: E402


def constant_maturity_closes(path: Path, days: float) -> dict[str, float]:
    out: dict[str, float] = {}
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            points = []
            for n in range(1, 9):
                price, dte = row.get(f"vx{n}", ""), row.get(f"vx{n}_dte", "")
                if price and dte and float(dte) > 0:
                    points.append((float(dte), float(price)))
            if not points:
                continue
            points.sort()
            if days <= points[0][0]:
                out[row["date"]] = points[0][1]
                continue
            value = points[-1][1]
            for (t0, p0), (t1, p1) in zip(points, points[1:], strict=False):
                if t0 <= days <= t1:
                    value = p0 + (days - t0) / (t1 - t0) * (p1 - p0)
                    break
            out[row["date"]] = value
    return out


def vix_closes(path: Path) -> dict[str, float]:
    with path.open(newline="") as fh:
        return {row["DATE"]: float(row["CLOSE"]) for row in csv.DictReader(fh)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data"))
    parser.add_argument("--periods", type=int, default=21)
    parser.add_argument("--below", type=float, default=30.0)
    parser.add_argument("--maturity-days", type=float, default=30.0)
    args = parser.parse_args()
    data = Path(args.data)
    term, spot = data / "vix_futures_term_structure.csv", data / "vix_daily.csv"
    if not term.exists() or not spot.exists():
        print(f"rsi_methods: needs {term} and {spot}", file=sys.stderr)
        return 2
    cm = constant_maturity_closes(term, args.maturity_days)
    vix = vix_closes(spot)
    dates = sorted(cm)
    closes = [cm[d] for d in dates]
    result: dict[str, object] = {
        "sessions": len(dates),
        "first": dates[0],
        "last": dates[-1],
        "periods": args.periods,
        "below": args.below,
    }
    for method in ("cutler", "wilder"):
        series = rsi_series(closes, args.periods, method)  # type: ignore[arg-type]
        low = [d for d, v in zip(dates, series, strict=True) if v is not None and v < args.below]
        result[method] = {
            "days_below": len(low),
            "days_below_with_vix_16_or_more": sum(1 for d in low if vix.get(d, 0.0) >= 16.0),
            "min": round(min(v for v in series if v is not None), 2),
        }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

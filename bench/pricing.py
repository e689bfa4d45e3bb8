"""Throughput of the pricing kernels and implied vol on 1,000,000 random options.

Run: ``python bench/pricing.py``. Prints one JSON object: greeks per second for each model (best
of a few runs), implied vols per second, and the worst relative price error of the round trip
price -> implied vol -> price (over max(1, price), the acceptance criterion of the tests).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without install

from market.implied_vol import implied_vol  # noqa: E402
from market.pricing import black76_greeks, bs_greeks  # noqa: E402

N = 1_000_000
RUNS = 5


def best_seconds(fn: Callable[[], object], runs: int = RUNS) -> float:
    """Best wall time of ``runs`` calls (the first also warms caches and page tables)."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    rng = np.random.default_rng(20250117)
    is_call = rng.random(N) < 0.5
    years = np.exp(rng.uniform(np.log(1 / 365), np.log(2.0), N))
    rate = rng.uniform(0.0, 0.06, N)
    div = rng.uniform(0.0, 0.03, N)
    # SPX: 5000 spot, vols 8%-80%, strikes within +-4 sd of the forward.
    spx_vol = rng.uniform(0.08, 0.8, N)
    spot = np.full(N, 5000.0)
    spx_fwd = spot * np.exp((rate - div) * years)
    spx_strike = spx_fwd * np.exp(rng.uniform(-4, 4, N) * spx_vol * np.sqrt(years))
    # VX: futures 12-40, vols 40%-200%.
    vx_vol = rng.uniform(0.4, 2.0, N)
    fut = rng.uniform(12.0, 40.0, N)
    vx_strike = fut * np.exp(rng.uniform(-4, 4, N) * vx_vol * np.sqrt(years))

    bs_s = best_seconds(lambda: bs_greeks(is_call, spot, spx_strike, years, rate, div, spx_vol))
    b76_s = best_seconds(lambda: black76_greeks(is_call, fut, vx_strike, years, rate, vx_vol))

    price = bs_greeks(is_call, spot, spx_strike, years, rate, div, spx_vol).price
    result = implied_vol(price, is_call, spot, spx_strike, years, rate, div)
    iv_s = best_seconds(lambda: implied_vol(price, is_call, spot, spx_strike, years, rate, div), 3)
    solved = result.reason == ""
    repriced = bs_greeks(is_call, spot, spx_strike, years, rate, div, result.iv).price
    err = np.abs(repriced - price)[solved] / np.maximum(1.0, price[solved])

    print(
        json.dumps(
            {
                "options": N,
                "greeks_per_s": {"bs": round(N / bs_s), "black76": round(N / b76_s)},
                "implied_vols_per_s": round(N / iv_s),
                "iv_solved": int(solved.sum()),
                "iv_max_rel_price_error": float(err.max()),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

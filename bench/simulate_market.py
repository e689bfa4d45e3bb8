"""Benchmark the bare market simulator and print the base model's stylized facts, as JSON.

    python bench/simulate_market.py [--sessions 60] [--seeds 4]

- throughput at one-minute cadence: generation only, and generation plus quoting the four legs of
  an iron condor on every snapshot (what the exit rules do); the same plus a hedge's VX and VXM
  futures and two VIX calls; the cost of materializing one VIX option chain;
- stylized facts of the base model from daily closes (open and close snapshots per session, every
  session the calendar holds from 1990, one run per seed) against the 1990-2026 targets.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from market.calendar import trading_calendar  # noqa: E402
from market.instruments import (  # noqa: E402
    FutureContract,
    FutureRoot,
    OptionContract,
    Right,
    Root,
)
from market.simulator import Simulator, SimulatorConfig  # noqa: E402

TARGETS = {
    "vix_mean": 19.4,
    "vix_median": 17.6,
    "vix_half_life_days": 30.0,
    "share_above_16": 0.61,
    "share_above_25": 0.17,
    "share_above_28": 0.11,
    "corr_spx_logvix": -0.7,
    "median_vx2_vx1_minus_1": 0.06,
}


def throughput(sessions: int, seed: int) -> dict[str, float]:
    config = SimulatorConfig(cadence_minutes=1)
    start = date(2025, 1, 2)
    t0 = time.perf_counter()
    count = sum(1 for _ in Simulator(config, seed=seed, start=start).snapshots(sessions))
    gen = count / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    quoted = 0
    legs: list[OptionContract] = []
    for snap in Simulator(config, seed=seed, start=start).snapshots(sessions):
        if not legs or snap.quote(legs[0]) is None:  # a new condor when the old one expires
            expiry = snap.spx_expiries[1]
            atm = round(snap.spx / 5.0) * 5.0
            legs = [
                OptionContract(Root.SPX, expiry, atm - 300.0, Right.PUT),
                OptionContract(Root.SPX, expiry, atm - 350.0, Right.PUT),
                OptionContract(Root.SPX, expiry, atm + 200.0, Right.CALL),
                OptionContract(Root.SPX, expiry, atm + 250.0, Right.CALL),
            ]
        for leg in legs:
            quoted += snap.quote(leg) is not None
    both = count / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    hedged = 0
    for snap in Simulator(config, seed=seed, start=start).snapshots(sessions):
        expiry = snap.spx_expiries[1]
        atm = round(snap.spx / 5.0) * 5.0
        front, second = snap.vix_expiries[0], snap.vix_expiries[1]
        strike = float(round(snap.vx_curve[1].price) + 5)
        contracts: list[OptionContract | FutureContract] = [
            OptionContract(Root.SPX, expiry, atm - 300.0, Right.PUT),
            OptionContract(Root.SPX, expiry, atm - 350.0, Right.PUT),
            OptionContract(Root.SPX, expiry, atm + 200.0, Right.CALL),
            OptionContract(Root.SPX, expiry, atm + 250.0, Right.CALL),
            FutureContract(FutureRoot.VX, front),
            FutureContract(FutureRoot.VXM, second),
            OptionContract(Root.VIX, second, strike, Right.CALL),
            OptionContract(Root.VIX, second, strike + 10.0, Right.CALL),
        ]
        for contract in contracts:
            hedged += snap.quote(contract) is not None
    with_hedge = count / (time.perf_counter() - t0)

    snaps = list(Simulator(config, seed=seed, start=start).snapshots(2))
    t0 = time.perf_counter()
    for snap in snaps:
        for expiry in snap.vix_expiries[:2]:
            snap.vix_chain(expiry)
    chain_us = (time.perf_counter() - t0) / (2 * len(snaps)) * 1e6
    return {
        "snapshots": count,
        "generate_per_s": round(gen),
        "generate_and_quote_4_legs_per_s": round(both),
        "legs_quoted": quoted,
        "generate_and_quote_4_legs_vx_vxm_2_vix_calls_per_s": round(with_hedge),
        "contracts_quoted_with_hedge": hedged,
        "vix_chain_materialize_us": round(chain_us, 1),
    }


def daily_closes(seed: int) -> dict[str, np.ndarray]:
    """Close of every session from 1990 to the calendar's end under the base model."""
    cal = trading_calendar()
    start = date(1990, 1, 2)
    sessions = len(cal.sessions_between(start, date(2040, 1, 31)))
    config = SimulatorConfig(cadence_minutes=405)  # the open and the close of each session
    vix, spx, vx1, vx2 = [], [], [], []
    last = None
    for snap in Simulator(config, seed=seed, start=start).snapshots(sessions):
        if last is not None and snap.session != last.session:
            vix.append(last.vix)
            spx.append(last.spx)
            vx1.append(last.vx_curve[0].price)
            vx2.append(last.vx_curve[1].price)
        last = snap
    return {k: np.array(v) for k, v in (("vix", vix), ("spx", spx), ("vx1", vx1), ("vx2", vx2))}


def stylized_facts(seeds: int) -> dict[str, float]:
    runs = [daily_closes(seed) for seed in range(seeds)]
    vix = np.concatenate([r["vix"] for r in runs])
    lv = [np.log(r["vix"]) for r in runs]
    x0 = np.concatenate([v[:-1] for v in lv])
    x1 = np.concatenate([v[1:] for v in lv])
    phi = float(np.polyfit(x0, x1, 1)[0])
    dlv = np.concatenate([np.diff(v) for v in lv])
    ret = np.concatenate([np.diff(np.log(r["spx"])) for r in runs])
    slope = np.concatenate([r["vx2"] / r["vx1"] - 1.0 for r in runs])
    realized = float(np.std(ret) * math.sqrt(252.0) * 100.0)
    return {
        "years": round(len(vix) / 252.0, 1),
        "vix_mean": round(float(vix.mean()), 2),
        "vix_median": round(float(np.median(vix)), 2),
        "vix_half_life_days": round(-math.log(2.0) / math.log(phi), 1),
        "share_above_16": round(float((vix > 16).mean()), 3),
        "share_above_25": round(float((vix > 25).mean()), 3),
        "share_above_28": round(float((vix > 28).mean()), 3),
        "corr_spx_logvix": round(float(np.corrcoef(ret, dlv)[0, 1]), 3),
        "median_vx2_vx1_minus_1": round(float(np.median(slope)), 4),
        "spx_realized_vol_pct": round(realized, 2),
        "vix_max": round(float(vix.max()), 1),
        "vix_min": round(float(vix.min()), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=60, help="sessions for the throughput runs")
    parser.add_argument("--seeds", type=int, default=4, help="independent ~50-year daily runs")
    args = parser.parse_args()
    t0 = time.perf_counter()
    facts = stylized_facts(args.seeds)
    out = {
        "throughput_1min": throughput(args.sessions, seed=7),
        "stylized_facts": facts,
        "targets": TARGETS,
        "seconds": None,
    }
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

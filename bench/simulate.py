"""Full-stack `simulate` throughput: snapshots/s through simulator, bus, broker, ledger and the
condor layer at the default one-minute cadence.

    python bench/simulate.py [--days 60] [--scenario calm] [--seed 1]

Prints one JSON object. The SPEC target is >= 5,000 snapshots/s at one-minute cadence.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import tracemalloc
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daemon.config import load_config  # noqa: E402
from daemon.logging import configure_logging  # noqa: E402
from daemon.runner import RunSpec, simulate  # noqa: E402
from daemon.statedir import StateDir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--scenario", default="calm")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--memory", action="store_true", help="also trace peak Python memory")
    args = parser.parse_args()
    configure_logging("warning", "json", stream=sys.stderr)
    config = load_config(None)
    spec = RunSpec(args.scenario, args.seed, date(2025, 1, 2))
    if args.memory:
        tracemalloc.start()
    with tempfile.TemporaryDirectory() as tmp, StateDir(Path(tmp)) as state:
        t0 = time.perf_counter()
        summary = simulate(config, spec, args.days, state)
        elapsed = time.perf_counter() - t0
    result = {
        "benchmark": "simulate_full_stack",
        "scenario": args.scenario,
        "sessions": args.days,
        "cadence_minutes": config.market.cadence_minutes,
        "snapshots": summary["ticks"],
        "fills": summary["fills"],
        "seconds": round(elapsed, 3),
        "snapshots_per_s": round(summary["ticks"] / elapsed, 1),
    }
    if args.memory:
        result["peak_traced_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

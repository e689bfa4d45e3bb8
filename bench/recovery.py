"""Recovery cost: wall time per 1,000 snapshots of fast-forward when resuming a run.

    python bench/recovery.py [--days 120] [--scenario spike-and-revert]

Runs a fresh `simulate` of D sessions at the default one-minute cadence, then resumes the same
state dir with the same D: the resume re-derives every snapshot, verifies every fill against the
ledger and writes nothing. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daemon.config import load_config  # noqa: E402
from daemon.logging import configure_logging  # noqa: E402
from daemon.runner import RunSpec, simulate  # noqa: E402
from daemon.statedir import StateDir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--scenario", default="spike-and-revert")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    configure_logging("warning", "json", stream=sys.stderr)
    config = load_config(None)
    spec = RunSpec(args.scenario, args.seed, date(2025, 1, 2))
    with tempfile.TemporaryDirectory() as tmp:
        with StateDir(Path(tmp)) as state:
            t0 = time.perf_counter()
            fresh = simulate(config, spec, args.days, state)
            fresh_s = time.perf_counter() - t0
        with StateDir(Path(tmp)) as state:
            t0 = time.perf_counter()
            resumed = simulate(config, spec, args.days, state, resume=True)
            resume_s = time.perf_counter() - t0
    assert resumed == fresh, "the resumed run differs from the fresh one"
    ticks = fresh["ticks"]
    print(
        json.dumps(
            {
                "benchmark": "recovery_fast_forward",
                "scenario": args.scenario,
                "sessions": args.days,
                "snapshots": ticks,
                "fills_verified": fresh["fills"],
                "fresh_run_s": round(fresh_s, 3),
                "resume_s": round(resume_s, 3),
                "resume_ms_per_1000_snapshots": round(resume_s / ticks * 1e6, 2),
            }
        )
    )


if __name__ == "__main__":
    main()

"""Replay throughput: snapshots/s through the session reader and the full pipeline.

    python bench/replay.py [--days 60] [--scenario calm] [--seed 1] [--gzip]

Records a `simulate` session to a temporary file (timing `simulate` with and without the
recorder on the way), then times `alvh replay --speed max` of it. Prints one JSON object;
``history_days_per_s`` is left for the history benchmark to fill (null here).
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
from daemon.replay import (
    SessionReader,  # noqa: E402
    replay,  # noqa: E402
)
from daemon.runner import RunSpec, simulate  # noqa: E402
from daemon.statedir import StateDir  # noqa: E402
from market.calendar import trading_calendar  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--scenario", default="calm")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gzip", action="store_true", help="record to a .jsonl.gz file")
    args = parser.parse_args()
    configure_logging("warning", "json", stream=sys.stderr)
    config = load_config(None)
    spec = RunSpec(args.scenario, args.seed, date(2025, 1, 2))
    trading_calendar()  # built once per process: keep it out of the timings
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        record = root / ("session.jsonl.gz" if args.gzip else "session.jsonl")
        with StateDir(root / "plain") as state:
            t0 = time.perf_counter()
            plain = simulate(config, spec, args.days, state)
            plain_s = time.perf_counter() - t0
        with StateDir(root / "recorded") as state:
            t0 = time.perf_counter()
            recorded = simulate(config, spec, args.days, state, record=record)
            recorded_s = time.perf_counter() - t0
        size = record.stat().st_size
        with SessionReader(record) as reader, StateDir(root / "replayed") as state:
            t0 = time.perf_counter()
            replayed = replay(reader, state)
            replay_s = time.perf_counter() - t0
        with SessionReader(record) as reader:
            t0 = time.perf_counter()
            lines = sum(1 for _ in reader)
            read_s = time.perf_counter() - t0
    same = {k: v for k, v in replayed.items() if not k.startswith("rejected_ticks")} == recorded
    ticks = plain["ticks"]
    print(
        json.dumps(
            {
                "benchmark": "replay",
                "scenario": args.scenario,
                "sessions": args.days,
                "cadence_minutes": config.market.cadence_minutes,
                "snapshots": ticks,
                "fills": replayed["fills"],
                "replay_reproduces_the_run": same and recorded == plain,
                "session_file_bytes": size,
                "bytes_per_snapshot": round(size / ticks, 1),
                "simulate_snapshots_per_s": round(ticks / plain_s, 1),
                "simulate_recording_snapshots_per_s": round(ticks / recorded_s, 1),
                "recording_overhead_pct": round(100.0 * (recorded_s / plain_s - 1.0), 1),
                "read_lines_per_s": round(lines / read_s, 1),
                "replay_snapshots_per_s": round(replayed["ticks"] / replay_s, 1),
                "history_days_per_s": None,
            }
        )
    )


if __name__ == "__main__":
    main()

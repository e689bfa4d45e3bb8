"""History-mode throughput: sessions (days) per second of `alvh history` on ../shared/data, as JSON.

    python bench/history.py [--data ../shared/data]

Two runs through the whole stack (loading and joining the CSVs, building snapshots, the three
layers, the broker and a ledger on disk): 2017-2020 with the real VX term structure, and
1990-2026 end to end with the model's VX curve (the term structure starts in 2004).
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
from daemon.history import load_feed, run_history  # noqa: E402
from daemon.logging import configure_logging  # noqa: E402
from daemon.statedir import StateDir  # noqa: E402
from market.history_feed import HistoryInputs  # noqa: E402


def _run(label: str, inputs: HistoryInputs) -> dict[str, object]:
    config = load_config(None, env={})
    started = time.perf_counter()
    feed = load_feed(config, inputs)
    loaded = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp, StateDir(Path(tmp) / "state") as state:
        summary = run_history(config, feed, state)
    seconds = time.perf_counter() - started
    sessions = summary["data"]["sessions"]
    return {
        "run": label,
        "sessions": sessions,
        "snapshots": summary["ticks"],
        "fills": summary["fills"],
        "handler_errors": summary["handler_errors"],
        "load_seconds": round(loaded, 3),
        "seconds": round(seconds, 3),
        "days_per_s": round(sessions / seconds, 1),
        "snapshots_per_s": round(summary["ticks"] / seconds, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data"))
    args = parser.parse_args()
    data = Path(args.data)
    vix, spx, vx = (
        data / "vix_daily.csv",
        data / "spx_daily.csv",
        data / "vix_futures_term_structure.csv",
    )
    if not all(p.exists() for p in (vix, spx, vx)):
        print(f"history bench: needs {vix}, {spx} and {vx}", file=sys.stderr)
        return 2
    configure_logging("error", "json", stream=sys.stderr)
    runs = [
        _run(
            "2017-2020 with --vx",
            HistoryInputs(vix, spx, vx, start=date(2017, 1, 1), end=date(2020, 12, 31)),
        ),
        _run("1990-2026, model curve", HistoryInputs(vix, spx)),
    ]
    print(json.dumps({"benchmark": "history", "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

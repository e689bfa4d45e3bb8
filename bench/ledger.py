"""Ledger commit latency and fills/s: each fill (with its legs, order status and cash movement)
is one transaction committed with ``synchronous=FULL`` in WAL mode, as the broker does it.

    python bench/ledger.py [--fills 2000] [--dir DIR]

``--dir`` picks the filesystem to measure (fsync cost is the disk's); the default is a temporary
directory. Prints one JSON object: p50/p99/max commit latency in milliseconds and fills/s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from brokers.events import LegFill, OrderFilled  # noqa: E402
from brokers.ledger import Ledger  # noqa: E402
from brokers.orders import OrderIntent, OrderLeg, SubmitOrder  # noqa: E402
from market.instruments import OptionContract, Right, Root  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fills", type=int, default=2000)
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args()
    expiry = date(2025, 3, 21)
    legs = (
        OrderLeg(OptionContract(Root.SPX, expiry, 5600.0, Right.PUT), 1),
        OrderLeg(OptionContract(Root.SPX, expiry, 5650.0, Right.PUT), -1),
        OrderLeg(OptionContract(Root.SPX, expiry, 6150.0, Right.CALL), -1),
        OrderLeg(OptionContract(Root.SPX, expiry, 6200.0, Right.CALL), 1),
    )
    t0 = datetime(2025, 2, 3, 15, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        ledger = Ledger.open(Path(tmp) / "ledger.sqlite")
        latencies = []
        cash = 1_000_000.0
        start = time.perf_counter()
        for n in range(1, args.fills + 1):
            ts = t0 + timedelta(minutes=n)
            cmd = SubmitOrder(f"bench-{n}", "condor", legs, 10)
            fill = OrderFilled(
                ts,
                f"F{n:08d}",
                f"O{n:08d}",
                cmd.client_order_id,
                "condor",
                OrderIntent.OPEN,
                "entry",
                10,
                -3.5,
                tuple(
                    LegFill(leg.contract, 10 * leg.ratio, 2.0 + 0.5 * i)
                    for i, leg in enumerate(legs)
                ),
                50.0,
            )
            ledger.position = n
            ledger.record_order(cmd, ts)
            cash += fill.cash_change
            t = time.perf_counter()
            ledger.record_fill(fill, cash)
            latencies.append((time.perf_counter() - t) * 1000)
        elapsed = time.perf_counter() - start
        ledger.close()
    latencies.sort()
    print(
        json.dumps(
            {
                "benchmark": "ledger_commit",
                "fills": args.fills,
                "commit_ms_p50": round(statistics.median(latencies), 3),
                "commit_ms_p99": round(latencies[int(0.99 * (len(latencies) - 1))], 3),
                "commit_ms_max": round(latencies[-1], 3),
                "fills_per_s": round(args.fills / elapsed, 1),
            }
        )
    )


if __name__ == "__main__":
    main()

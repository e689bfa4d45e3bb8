"""Ledger commit latency and fills/s: each fill (with its legs, order status and cash movement)
is one transaction committed with ``synchronous=FULL`` in WAL mode, as the broker does it; then
fills/s through the whole broker (validation, fill model, margin, ledger commit, books) on
real simulator quotes, opening and closing an iron condor in turn.

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
from daemon.logging import configure_logging  # noqa: E402
from market.instruments import OptionContract, Right, Root  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fills", type=int, default=2000)
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args()
    configure_logging("warning", "json", stream=sys.stderr)
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
    broker_fills_per_s = _broker_fills_per_s(args.fills, args.dir)
    print(
        json.dumps(
            {
                "benchmark": "ledger_commit",
                "fills": args.fills,
                "commit_ms_p50": round(statistics.median(latencies), 3),
                "commit_ms_p99": round(latencies[int(0.99 * (len(latencies) - 1))], 3),
                "commit_ms_max": round(latencies[-1], 3),
                "ledger_fills_per_s": round(args.fills / elapsed, 1),
                "broker_fills_per_s": round(broker_fills_per_s, 1),
            }
        )
    )


def _broker_fills_per_s(count: int, where: Path | None) -> float:
    from brokers.broker import PaperBroker
    from brokers.config import BrokerConfig
    from brokers.events import OrderFilled
    from market.clock import SimulatedClock
    from market.simulator import Simulator, SimulatorConfig

    snap = next(iter(Simulator(SimulatorConfig(), seed=1, start=date(2025, 1, 2)).snapshots(1)))
    expiry = snap.spx_expiries[1]
    chain = snap.chain(expiry)
    short_put = chain.strike_nearest_delta(Right.PUT, 0.16)
    short_call = chain.strike_nearest_delta(Right.CALL, 0.16)
    legs = (
        OrderLeg(OptionContract(Root.SPX, expiry, short_put - 60, Right.PUT), 1),
        OrderLeg(OptionContract(Root.SPX, expiry, short_put, Right.PUT), -1),
        OrderLeg(OptionContract(Root.SPX, expiry, short_call, Right.CALL), -1),
        OrderLeg(OptionContract(Root.SPX, expiry, short_call + 60, Right.CALL), 1),
    )
    closing = tuple(OrderLeg(leg.contract, -leg.ratio) for leg in legs)
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        ledger = Ledger.open(Path(tmp) / "ledger.sqlite")
        fills: list[object] = []
        broker = PaperBroker(
            BrokerConfig(),
            ledger,
            lambda e: fills.append(e) if isinstance(e, OrderFilled) else None,
            SimulatedClock(snap.ts),
        )
        broker.on_market_snapshot(snap)
        start = time.perf_counter()
        for n in range(count):
            opening = n % 2 == 0
            broker.on_submit_order(
                SubmitOrder(
                    f"b-{n}",
                    "condor",
                    legs if opening else closing,
                    5,
                    intent=OrderIntent.OPEN if opening else OrderIntent.CLOSE,
                )
            )
        elapsed = time.perf_counter() - start
        ledger.close()
    assert len(fills) == count, f"only {len(fills)} of {count} orders filled"
    return count / elapsed


if __name__ == "__main__":
    main()

"""`alvh ledger verify`: does the ledger add up?

- cash: every cash movement's ``cash_after`` is the running sum of the movements so far, and
  every fill and settlement has exactly its movement (same amount and ``cash_after``);
- positions: quantities per (layer, contract) are the sum of fills, and each settlement closes
  exactly the position held at that moment;
- orders: every fill's order exists and carries that fill's order id.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from .ledger import Ledger

CASH_TOLERANCE = 0.005
"""Half a cent: cash movements are exact to the cent, sums of floats are not to the bit."""


@dataclass
class VerifyReport:
    problems: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    cash: float = 0.0
    open_positions: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": self.problems,
            "counts": self.counts,
            "cash": round(self.cash, 2),
            "open_positions": self.open_positions,
        }

    def lines(self) -> list[str]:
        head = "ledger OK" if self.ok else f"ledger has {len(self.problems)} problem(s)"
        counts = ", ".join(f"{v} {k}" for k, v in self.counts.items())
        return [f"{head}: {counts}; cash {self.cash:,.2f}", *(f"  - {p}" for p in self.problems)]


def verify_ledger(ledger: Ledger, max_problems: int = 50) -> VerifyReport:
    report = VerifyReport()
    fills = ledger.fills()
    settlements = ledger.settlements()
    movements = ledger.cash_movements()
    orders = {o["client_order_id"]: o for o in ledger.orders()}
    report.counts = {
        "orders": len(orders),
        "fills": len(fills),
        "settlements": len(settlements),
        "cash_movements": len(movements),
    }

    def problem(text: str) -> None:
        if len(report.problems) < max_problems:
            report.problems.append(text)

    # cash = sum of cash movements, row by row
    running = 0.0
    for m in movements:
        running += m["amount"]
        if abs(running - m["cash_after"]) > CASH_TOLERANCE:
            problem(
                f"cash movement {m['movement_id']} ({m['kind']} at {m['ts']}): cash_after "
                f"{m['cash_after']:.2f} but the movements sum to {running:.2f}"
            )
            running = m["cash_after"]
    report.cash = running
    if movements and movements[0]["kind"] != "deposit":
        problem("the first cash movement is not the starting deposit")
    fill_moves = {m["ref"]: m for m in movements if m["kind"] == "fill"}
    for f in fills:
        if f["fill_id"] not in fill_moves:
            problem(f"fill {f['fill_id']} has no cash movement")
            continue
        m = fill_moves.pop(f["fill_id"])
        if abs(m["cash_after"] - f["cash_after"]) > CASH_TOLERANCE:
            problem(
                f"fill {f['fill_id']}: cash_after {f['cash_after']:.2f}, its movement says"
                f" {m['cash_after']:.2f}"
            )
    for ref in fill_moves:
        problem(f"cash movement for fill {ref}, which the ledger does not hold")
    settle_moves = [m for m in movements if m["kind"] == "settlement"]
    if len(settle_moves) != len(settlements):
        problem(f"{len(settlements)} settlements but {len(settle_moves)} settlement cash movements")

    # positions = sum of fills and settlements, in time order
    events: list[tuple[str, int, str, Any]] = [(f["ts"], 0, f["fill_id"], f) for f in fills]
    events += [(s["ts"], 1, str(s["settlement_id"]), s) for s in settlements]
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    held: dict[tuple[str, str], int] = defaultdict(int)
    for _, kind, _, row in events:
        if kind == 0:
            for leg in row["legs"]:
                held[(row["layer"], leg["symbol"])] += leg["quantity"]
        else:
            key = (row["layer"], row["symbol"])
            if held[key] != row["quantity"]:
                problem(
                    f"settlement {row['settlement_id']} of {row['quantity']} {row['symbol']}"
                    f" ({row['layer']}) but the fills held {held[key]}"
                )
            held[key] = 0
    report.open_positions = {
        f"{layer} {symbol}": qty for (layer, symbol), qty in sorted(held.items()) if qty
    }

    # every fill's order exists
    for f in fills:
        order = orders.get(f["client_order_id"])
        if order is None:
            problem(f"fill {f['fill_id']}: its order {f['client_order_id']} is not in the ledger")
        elif order["order_id"] != f["order_id"]:
            problem(
                f"fill {f['fill_id']}: order {f['client_order_id']} has id {order['order_id']},"
                f" the fill says {f['order_id']}"
            )
    return report

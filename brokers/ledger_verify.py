"""`alvh ledger verify`: does the ledger add up?

Every problem found is one line naming the row (fill id, settlement id or movement id).

- cash: every cash movement's ``cash_after`` is the running sum of the movements so far, and the
  first movement is the starting deposit;
- fills: every fill has legs and a quantity, and exactly one ``fill`` movement (ref = fill id;
  no movement names a fill the ledger lacks) with the fill's
  ``cash_after``, whose amount is the fill's option premium less its fees,
  -sum(leg quantity x price x multiplier) over option legs - fees, to half a cent (futures legs
  move no premium: their P&L is separate ``variation`` movements); and its ``net_price`` is
  sum(leg quantity x leg price) / fill quantity, to 1e-6;
- orders: every fill's order exists and carries that fill's order id, and the fill's legs are
  the order's legs, in order: same symbols, leg quantity = order ratio x fill quantity;
- settlements: the ``settlement`` movements pair one to one, in order, with the settlements,
  each with the same symbol, layer, amount (= the settlement's cash) and ``cash_after``; an
  option settlement's cash is intrinsic(settlement price) x multiplier x quantity, to half a cent
  (a futures settlement's cash is its last variation, which the ledger cannot re-derive);
- positions: quantities per (layer, contract) are the sum of fills, and each settlement closes
  exactly the position held at that moment.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from market.instruments import OptionContract, parse_contract

from .ledger import Ledger

CASH_TOLERANCE = 0.005
"""Half a cent: cash movements are exact to the cent, sums of floats are not to the bit."""
PRICE_TOLERANCE = 1e-6
"""Net prices are sums of 4-decimal leg prices: exact far below this."""


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


def _order_legs(text: str) -> list[tuple[str, int]]:
    """An order row's legs, ``"+1 SYMBOL;-1 SYMBOL"``, as (symbol, ratio) pairs."""
    out = []
    for part in text.split(";"):
        ratio, _, symbol = part.strip().partition(" ")
        out.append((symbol, int(ratio)))
    return out


def _premium(legs: list[dict[str, Any]]) -> float:
    """Dollars a fill's legs move into cash: -sum(qty x price x multiplier) of option legs."""
    total = 0.0
    for leg in legs:
        contract = parse_contract(leg["symbol"])
        if isinstance(contract, OptionContract):
            total -= leg["quantity"] * leg["price"] * contract.multiplier
    return total


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

    # each fill: its movement (cash_after and amount), its net price, its order's legs
    fill_moves = {m["ref"]: m for m in movements if m["kind"] == "fill"}
    for f in fills:
        fid = f["fill_id"]
        legs = f["legs"]
        if f["quantity"] and legs:
            net = sum(leg["quantity"] * leg["price"] for leg in legs) / f["quantity"]
            if abs(net - f["net_price"]) > PRICE_TOLERANCE:
                problem(f"fill {fid}: net_price {f['net_price']:.4f} but its legs net {net:.4f}")
        else:
            problem(f"fill {fid}: quantity {f['quantity']} with {len(legs)} legs")
        move = fill_moves.pop(fid, None)
        if move is None:
            problem(f"fill {fid} has no cash movement")
        else:
            if abs(move["cash_after"] - f["cash_after"]) > CASH_TOLERANCE:
                problem(
                    f"fill {fid}: cash_after {f['cash_after']:.2f}, its movement says"
                    f" {move['cash_after']:.2f}"
                )
            try:
                expected = _premium(legs) - f["fees"]
            except ValueError as exc:
                problem(f"fill {fid}: {exc}")
            else:
                if abs(move["amount"] - expected) > CASH_TOLERANCE:
                    problem(
                        f"fill {fid}: cash movement {move['movement_id']} moves"
                        f" {move['amount']:.2f}, its legs' premium less {f['fees']:.2f} fees is {expected:.2f}"
                    )
        order = orders.get(f["client_order_id"])
        if order is None:
            problem(f"fill {fid}: its order {f['client_order_id']} is not in the ledger")
            continue
        if order["order_id"] != f["order_id"]:
            problem(
                f"fill {fid}: order {f['client_order_id']} has id {order['order_id']},"
                f" the fill says {f['order_id']}"
            )
        try:
            want = [(s, r * f["quantity"]) for s, r in _order_legs(order["legs"])]
        except ValueError:
            problem(
                f"fill {fid}: order {f['client_order_id']} has malformed legs {order['legs']!r}"
            )
            continue
        got = [(leg["symbol"], leg["quantity"]) for leg in legs]
        if got != want:
            problem(
                f"fill {fid}: legs {'; '.join(f'{q:+d} {s}' for s, q in got)} but order"
                f" {f['client_order_id']} x {f['quantity']} is"
                f" {'; '.join(f'{q:+d} {s}' for s, q in want)}"
            )
    for ref in fill_moves:
        problem(f"cash movement for fill {ref}, which the ledger does not hold")

    # each settlement: its movement, one to one in order, and an option's intrinsic value
    settle_moves = [m for m in movements if m["kind"] == "settlement"]
    if len(settle_moves) != len(settlements):
        problem(f"{len(settlements)} settlements but {len(settle_moves)} settlement cash movements")
    for s, m in zip(settlements, settle_moves, strict=False):
        if (
            m["symbol"] != s["symbol"]
            or m["layer"] != s["layer"]
            or abs(m["amount"] - s["cash"]) > CASH_TOLERANCE
            or abs(m["cash_after"] - s["cash_after"]) > CASH_TOLERANCE
        ):
            problem(
                f"settlement {s['settlement_id']} ({s['layer']} {s['symbol']}): cash"
                f" {s['cash']:.2f}, cash_after {s['cash_after']:.2f}, but its cash movement"
                f" {m['movement_id']} ({m['layer']} {m['symbol']}) moves {m['amount']:.2f},"
                f" cash_after {m['cash_after']:.2f}"
            )
    for s in settlements:
        try:
            contract = parse_contract(s["symbol"])
        except ValueError as exc:
            problem(f"settlement {s['settlement_id']}: {exc}")
            continue
        if isinstance(contract, OptionContract):
            value = contract.intrinsic(s["settlement_price"])
            expected = value * contract.multiplier * s["quantity"]
            if abs(s["cash"] - expected) > CASH_TOLERANCE:
                problem(
                    f"settlement {s['settlement_id']} of {s['quantity']} {s['symbol']}: cash"
                    f" {s['cash']:.2f} but intrinsic at {s['settlement_price']} is {value:.4f}"
                    f" x {contract.multiplier} x {s['quantity']} = {expected:.2f}"
                )

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
    return report

"""`--adopt`: take the ledger's positions and cash as the truth, without re-deriving history.

When a recovery diverges (SPEC section 11), the operator may adopt the ledger instead. The broker's
books are rebuilt from the ledger's own cash journal, movement by movement, up to a feed
position: fills and settlements are booked again, interest is credited again, daily futures
variation is settled again at its recorded price. The rebuilt cash must equal the journal's to the
cent, or the ledger itself is inconsistent and adopting it is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from market.instruments import FutureContract, parse_contract

from .events import ContractSettled, LegFill, OrderFilled
from .ledger import Ledger
from .ledger_verify import CASH_TOLERANCE
from .orders import OrderIntent, OrderLeg, OrderType, SubmitOrder, TimeInForce
from .portfolio import Portfolio


class AdoptError(Exception):
    """The ledger cannot be adopted (its own journal does not add up)."""


@dataclass
class AdoptedBooks:
    """What the broker takes over: its books, its id counters and the orders it has seen."""

    portfolio: Portfolio
    next_order: int
    next_fill: int
    orders: dict[str, SubmitOrder] = field(default_factory=dict)
    open_orders: list[str] = field(default_factory=list)
    """Client ids of orders the ledger leaves working (accepted, never filled or cancelled)."""
    settlements: int = 0
    rejected: int = 0


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _fill(row: dict[str, Any]) -> OrderFilled:
    return OrderFilled(
        _ts(row["ts"]),
        row["fill_id"],
        row["order_id"],
        row["client_order_id"],
        row["layer"],
        OrderIntent(row["intent"]),
        row["reason"],
        row["quantity"],
        row["net_price"],
        tuple(
            LegFill(parse_contract(leg["symbol"]), leg["quantity"], leg["price"])
            for leg in row["legs"]
        ),
        row["fees"],
    )


def _order(row: dict[str, Any]) -> SubmitOrder:
    legs = []
    for part in row["legs"].split(";"):
        ratio, symbol = part.split(" ", 1)
        legs.append(OrderLeg(parse_contract(symbol), int(ratio)))
    return SubmitOrder(
        row["client_order_id"],
        row["layer"],
        tuple(legs),
        row["quantity"],
        OrderType(row["order_type"]),
        row["limit_price"],
        OrderIntent(row["intent"]),
        row["reason"],
        TimeInForce(row["time_in_force"]),
    )


def _is_closing_variation(move: dict[str, Any]) -> bool:
    return bool(move["kind"] == "variation" and move["note"].startswith("closed at "))


def rebuild_books(ledger: Ledger, portfolio: Portfolio, upto: int | None = None) -> AdoptedBooks:
    """Book the ledger's cash journal (up to feed position ``upto``) into ``portfolio``."""

    def within(row: dict[str, Any]) -> bool:
        return upto is None or row["position"] <= upto

    fills = {f["fill_id"]: f for f in ledger.fills() if within(f)}
    settlements = iter([s for s in ledger.settlements() if within(s)])
    moves = [m for m in ledger.cash_movements() if within(m)]
    for i, move in enumerate(moves):
        kind = move["kind"]
        if kind == "fill":
            portfolio.apply_fill(_fill(fills[move["ref"]]))
        elif kind == "settlement":
            row = next(settlements)
            portfolio.apply_settlement(
                ContractSettled(
                    _ts(row["ts"]),
                    row["layer"],
                    parse_contract(row["symbol"]),
                    row["quantity"],
                    row["settlement_price"],
                    row["cash"],
                    bool(row["proxy"]),
                )
            )
        elif kind == "interest":
            portfolio.apply_interest(move["amount"])
        elif kind == "variation" and move["note"].startswith("daily settlement at "):
            contract = parse_contract(move["symbol"])
            assert isinstance(contract, FutureContract)
            price = float(move["note"].rsplit(" ", 1)[1])
            portfolio.apply_variation(move["layer"], contract, price)
        # A closing fill books its futures' variation at once; the journal writes it as the
        # movements right after the fill: compare cash once that group is complete. The
        # deposit is the starting cash.
        following = moves[i + 1] if i + 1 < len(moves) else None
        if following is not None and _is_closing_variation(following):
            continue
        if abs(portfolio.cash - move["cash_after"]) > CASH_TOLERANCE:
            raise AdoptError(
                f"cash movement {move['movement_id']} ({kind} at {move['ts']}): the journal says"
                f" {move['cash_after']:.2f}, booking it gives {portfolio.cash:.2f}"
            )
    orders = {o["client_order_id"]: o for o in ledger.orders() if within(o)}
    used = [int(o["order_id"][1:]) for o in orders.values() if o["order_id"]]
    return AdoptedBooks(
        portfolio=portfolio,
        next_order=max(used, default=0) + 1,
        next_fill=max((int(f[1:]) for f in fills), default=0) + 1,
        orders={cid: _order(o) for cid, o in orders.items()},
        open_orders=[cid for cid, o in orders.items() if o["status"] in ("submitted", "accepted")],
        settlements=sum(1 for s in ledger.settlements() if within(s)),
        rejected=sum(1 for o in orders.values() if o["status"] == "rejected"),
    )

"""Recovery by deterministic fast-forward (SPEC section 11), the broker's side of it.

On resume the daemon re-runs the same feed from the start. The broker writes through a
:class:`LedgerReplay` instead of the ledger: every fill, settlement and cash movement it
re-derives is compared with the next one the ledger holds, and nothing is written twice. When
the recorded history is used up, writes pass through to the ledger again and the run goes on.
The first difference is a :class:`Divergence`, naming it; the daemon refuses to start (exit 76).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .events import ContractSettled, OrderFilled
from .ledger import EXPLICIT_CASH_KINDS, ClosingVariation, Ledger
from .orders import SubmitOrder


class Divergence(Exception):
    """The re-derived run differs from the ledger's history; ``str()`` names the first mismatch."""


def _compare(what: str, recorded: dict[str, Any], derived: dict[str, Any]) -> None:
    for key, value in derived.items():
        if recorded[key] != value:  # exact: the same feed must give the same numbers
            raise Divergence(
                f"{what}: ledger has {key}={recorded[key]!r}, the re-derived run has {value!r}"
            )


class LedgerReplay:
    """Stands in for the :class:`Ledger` while the feed fast-forwards over recorded history."""

    def __init__(self, ledger: Ledger, after: int | None = None) -> None:
        """Verify against the ledger's rows; with ``after`` (an adopt position) only against
        those written after that feed position: the books up to it were adopted, not derived."""
        self.ledger = ledger
        """The real ledger underneath (control events and config versions go straight to it)."""
        self._ledger = ledger

        def later(row: dict[str, Any]) -> bool:
            return after is None or row["position"] > after

        self._fills = deque(f for f in ledger.fills() if later(f))
        self._settlements = deque(s for s in ledger.settlements() if later(s))
        self._movements = deque(
            m for m in ledger.cash_movements() if m["kind"] in EXPLICIT_CASH_KINDS and later(m)
        )
        self._orders = {o["client_order_id"]: o for o in ledger.orders() if later(o)}
        self._order_events = {
            (cid, e["status"]) for cid in self._orders for e in ledger.order_history(cid)
        }
        self._marks = {m["session"]: m["position"] for m in ledger.daily_marks()}
        """The feed position of each session's recorded mark."""
        self.last_position = ledger.last_position()
        self.verified = {"fills": 0, "settlements": 0, "cash_movements": 0, "orders": 0}

    @property
    def position(self) -> int:
        return self._ledger.position

    @position.setter
    def position(self, value: int) -> None:
        self._ledger.position = value

    @property
    def history_left(self) -> int:
        """Recorded fills, settlements and cash movements not yet re-derived."""
        return len(self._fills) + len(self._settlements) + len(self._movements)

    def caught_up(self, position: int | None = None) -> bool:
        """All recorded history re-derived and the feed at or past the last recorded position."""
        at = self.position if position is None else position
        return self.history_left == 0 and at >= self.last_position

    def _unrecorded(self, what: str) -> None:
        """A re-derived write the ledger has no match for. Before the ledger's last recorded
        position that is a divergence: every later commit would have committed it too. At or
        after it, it is what a crash cut off, and it is written now."""
        if self.position < self.last_position:
            raise Divergence(
                f"the re-derived run makes {what} at feed position {self.position}, which the"
                f" ledger does not hold (it goes on to position {self.last_position})"
            )

    def unmatched(self) -> str:
        """Describe what the ledger holds that the re-derived run never produced."""
        parts = []
        if self._fills:
            parts.append(f"{len(self._fills)} fills from {self._fills[0]['fill_id']}")
        if self._settlements:
            s = self._settlements[0]
            parts.append(f"{len(self._settlements)} settlements from {s['symbol']} at {s['ts']}")
        if self._movements:
            m = self._movements[0]
            parts.append(f"{len(self._movements)} cash movements from {m['kind']} at {m['ts']}")
        return "; ".join(parts) or "nothing"

    # -- the Ledger's write interface ------------------------------------------------------------

    def record_order(self, cmd: SubmitOrder, ts: datetime) -> None:
        recorded = self._orders.get(cmd.client_order_id)
        if recorded is None:
            self._unrecorded(f"order {cmd.client_order_id}")
            self._ledger.record_order(cmd, ts)
            return
        legs = ";".join(f"{leg.ratio:+d} {leg.contract.symbol}" for leg in cmd.legs)
        _compare(
            f"order {cmd.client_order_id}",
            recorded,
            {
                "ts": ts.isoformat(),
                "layer": cmd.layer,
                "legs": legs,
                "quantity": cmd.quantity,
                "limit_price": cmd.limit_price,
                "order_type": cmd.order_type.value,
                "time_in_force": cmd.time_in_force.value,
            },
        )
        self.verified["orders"] += 1

    def record_order_status(
        self,
        client_order_id: str,
        status: str,
        ts: datetime,
        reason: str = "",
        order_id: str | None = None,
    ) -> None:
        if (client_order_id, status) not in self._order_events:
            self._unrecorded(f"order {client_order_id} {status}")
            self._ledger.record_order_status(client_order_id, status, ts, reason, order_id)

    def record_fill(
        self,
        fill: OrderFilled,
        cash_after: float,
        closing_variation: Sequence[ClosingVariation] = (),
    ) -> None:
        if not self._fills:
            self._unrecorded(f"fill {fill.fill_id} ({fill.client_order_id})")
            self._ledger.record_fill(fill, cash_after, closing_variation)
            return
        for v in closing_variation:
            self.record_cash_movement(
                fill.ts, "variation", v.amount, v.cash_after, v.layer, v.symbol, v.note
            )
        recorded = self._fills.popleft()
        derived = {
            "fill_id": fill.fill_id,
            "order_id": fill.order_id,
            "client_order_id": fill.client_order_id,
            "ts": fill.ts.isoformat(),
            "layer": fill.layer,
            "quantity": fill.quantity,
            "net_price": fill.net_price,
            "fees": fill.fees,
            "cash_after": cash_after,
            "position": self.position,
        }
        _compare(f"fill {recorded['fill_id']}", recorded, derived)
        legs = [
            {"symbol": leg.contract.symbol, "quantity": leg.quantity, "price": leg.price}
            for leg in fill.legs
        ]
        if recorded["legs"] != legs:
            raise Divergence(
                f"fill {recorded['fill_id']}: ledger legs {recorded['legs']}, re-derived {legs}"
            )
        self.verified["fills"] += 1

    def record_settlement(self, settled: ContractSettled, cash_after: float) -> None:
        if not self._settlements:
            self._unrecorded(f"a settlement of {settled.contract.symbol}")
            self._ledger.record_settlement(settled, cash_after)
            return
        recorded = self._settlements.popleft()
        _compare(
            f"settlement {recorded['settlement_id']}",
            recorded,
            {
                "ts": settled.ts.isoformat(),
                "layer": settled.layer,
                "symbol": settled.contract.symbol,
                "quantity": settled.quantity,
                "settlement_price": settled.settlement_price,
                "cash": settled.cash,
                "cash_after": cash_after,
                "position": self.position,
            },
        )
        self.verified["settlements"] += 1

    def record_cash_movement(
        self,
        ts: datetime,
        kind: str,
        amount: float,
        cash_after: float,
        layer: str | None = None,
        symbol: str | None = None,
        note: str = "",
    ) -> None:
        if not self._movements:
            self._unrecorded(f"a {kind} cash movement of {amount:.2f}")
            self._ledger.record_cash_movement(ts, kind, amount, cash_after, layer, symbol, note)
            return
        recorded = self._movements.popleft()
        _compare(
            f"cash movement {recorded['movement_id']}",
            recorded,
            {
                "ts": ts.isoformat(),
                "kind": kind,
                "amount": amount,
                "cash_after": cash_after,
                "layer": layer,
                "symbol": symbol,
                "position": self.position,
            },
        )
        self.verified["cash_movements"] += 1

    def record_daily_mark(self, mark: dict[str, Any]) -> None:
        """Write a mark the ledger lacks, or one taken further along the feed than the ledger's
        (which was taken where a shorter feed ended: a replay of a file that has grown since)."""
        recorded = self._marks.get(mark["session"])
        if recorded is None or self.position > recorded:
            self._ledger.record_daily_mark(mark)

    def commit(self) -> None:
        self._ledger.commit()

"""The SQLite ledger: the durable truth of runs, orders, fills and settlements (SPEC 10 and 11).

WAL journal with ``synchronous=FULL``: a committed fill survives a crash or power loss. A fill, its
legs and its order's status are one transaction, committed before the broker publishes the fill.
Order rows and status changes ride in the open transaction and are committed with the next fill or
settlement, or by :meth:`Ledger.commit`: they are re-derived on recovery, so they need no fsync of
their own on the path from snapshot to order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from .events import ContractSettled, OrderFilled, premium_cash
from .ledger_schema import SCHEMA_VERSION, SchemaError, migrate
from .orders import SubmitOrder

__all__ = ["SCHEMA_VERSION", "ClosingVariation", "Ledger", "LedgerError", "OrderStatus"]

EXPLICIT_CASH_KINDS = ("deposit", "interest", "variation")
"""Cash movements written by :meth:`Ledger.record_cash_movement`; fills and settlements write
their own (kinds ``fill`` and ``settlement``) in the same transaction as the row itself."""


@dataclass(frozen=True, slots=True)
class ClosingVariation:
    """The variation a fill realizes by closing futures: written with the fill, in its
    transaction, so a crash cannot keep one without the other."""

    layer: str
    symbol: str
    amount: float
    cash_after: float
    note: str


class LedgerError(Exception):
    """The ledger file cannot be used (for example a schema this version does not know)."""


class OrderStatus:
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    FILLED = "filled"
    CANCELLED = "cancelled"


def _ts(ts: datetime) -> str:
    return ts.isoformat()


class Ledger:
    """One SQLite file; use :meth:`open`. Not thread-safe: owned by the broker's task."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self.position = -1
        """Feed position (snapshot ``seq``) being handled; stamped on every durable row.
        The daemon sets it per snapshot; it is committed with fills and control events,
        never on its own."""

    @classmethod
    def open(cls, path: Path) -> Ledger:
        """Open or create the ledger at ``path`` with the schema, WAL and ``synchronous=FULL``."""
        conn = sqlite3.connect(path)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        try:
            migrate(conn)
        except SchemaError as exc:
            conn.close()
            raise LedgerError(f"{path}: {exc}") from None
        return cls(conn, path)

    def close(self) -> None:
        """Commit anything pending and close the file."""
        self._conn.commit()
        self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def commit(self) -> None:
        """Make pending order rows durable."""
        self._conn.commit()

    def pragma(self, name: str) -> Any:
        """Read a pragma (``journal_mode``, ``synchronous``...) of this connection."""
        if not name.isidentifier():
            raise ValueError(f"not a pragma name: {name!r}")
        return self._conn.execute(f"PRAGMA {name}").fetchone()[0]

    # --- writes ----------------------------------------------------------------------------
    def record_run(
        self,
        seed: int,
        scenario: str | None,
        start: str,
        cadence_minutes: int,
        alvh_version: str,
        config_text: str,
        config_hash: str = "",
        wall_ts: datetime | None = None,
    ) -> int:
        """Pin what a run was started with, and its config as the first config version (feed
        position -1), in one transaction; returns the run id."""
        try:
            cur = self._conn.execute(
                "INSERT INTO runs (seed, scenario, start, cadence_minutes, alvh_version,"
                " config_text) VALUES (?, ?, ?, ?, ?, ?)",
                (seed, scenario, start, cadence_minutes, alvh_version, config_text),
            )
            self._conn.execute(
                "INSERT INTO config_versions (position, ts, config_hash, config_text)"
                " VALUES (-1, ?, ?, ?)",
                (_ts(wall_ts) if wall_ts else start, config_hash, config_text),
            )
            self._conn.commit()
        except BaseException:
            self._conn.rollback()
            raise
        assert cur.lastrowid is not None
        return cur.lastrowid

    def record_order(self, cmd: SubmitOrder, ts: datetime) -> None:
        """Record an order as submitted (its id is unique; a reused id is not recorded twice)."""
        legs = ";".join(f"{leg.ratio:+d} {leg.contract.symbol}" for leg in cmd.legs)
        self._conn.execute(
            "INSERT OR IGNORE INTO orders (client_order_id, ts, layer, intent, order_type,"
            " quantity, limit_price, reason, legs, status, updated_ts, position, time_in_force)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                cmd.client_order_id,
                _ts(ts),
                cmd.layer,
                cmd.intent.value,
                cmd.order_type.value,
                cmd.quantity,
                cmd.limit_price,
                cmd.reason,
                legs,
                OrderStatus.SUBMITTED,
                _ts(ts),
                self.position,
                cmd.time_in_force.value,
            ),
        )
        self._append_order_event(cmd.client_order_id, ts, OrderStatus.SUBMITTED, "")

    def record_order_status(
        self,
        client_order_id: str,
        status: str,
        ts: datetime,
        reason: str = "",
        order_id: str | None = None,
    ) -> None:
        """Move an order to ``status`` (see :class:`OrderStatus`) and append it to its history."""
        self._conn.execute(
            "UPDATE orders SET status = ?, status_reason = ?, updated_ts = ?,"
            " order_id = COALESCE(?, order_id) WHERE client_order_id = ?",
            (status, reason, _ts(ts), order_id, client_order_id),
        )
        self._append_order_event(client_order_id, ts, status, reason)

    def _append_order_event(
        self, client_order_id: str, ts: datetime, status: str, reason: str
    ) -> None:
        self._conn.execute(
            "INSERT INTO order_events (client_order_id, ts, status, reason) VALUES (?, ?, ?, ?)",
            (client_order_id, _ts(ts), status, reason),
        )

    def record_fill(
        self,
        fill: OrderFilled,
        cash_after: float,
        closing_variation: Sequence[ClosingVariation] = (),
    ) -> None:
        """Insert a fill, its legs, its order's new status, its cash movement and the variation
        of any futures it closes, and commit them together before returning."""
        try:
            self._conn.execute(
                "INSERT INTO fills (fill_id, order_id, client_order_id, ts, layer, intent, reason,"
                " quantity, net_price, fees, cash_after, position)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    fill.fill_id,
                    fill.order_id,
                    fill.client_order_id,
                    _ts(fill.ts),
                    fill.layer,
                    fill.intent.value,
                    fill.reason,
                    fill.quantity,
                    fill.net_price,
                    fill.fees,
                    cash_after,
                    self.position,
                ),
            )
            self._insert_cash_movement(
                fill.ts,
                "fill",
                premium_cash(fill.legs) - fill.fees,
                cash_after,
                fill.layer,
                None,
                fill.fill_id,
            )
            self._conn.executemany(
                "INSERT INTO fill_legs (fill_id, leg_index, symbol, quantity, price)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (fill.fill_id, i, leg.contract.symbol, leg.quantity, leg.price)
                    for i, leg in enumerate(fill.legs)
                ],
            )
            for v in closing_variation:
                self._insert_cash_movement(
                    fill.ts, "variation", v.amount, v.cash_after, v.layer, v.symbol, "", v.note
                )
            self.record_order_status(
                fill.client_order_id, OrderStatus.FILLED, fill.ts, fill.fill_id, fill.order_id
            )
            self._conn.commit()
        except BaseException:
            self._conn.rollback()
            raise

    def record_settlement(self, settled: ContractSettled, cash_after: float) -> None:
        """Insert a cash settlement and commit before returning."""
        try:
            self._conn.execute(
                "INSERT INTO settlements (ts, layer, symbol, quantity, settlement_price, cash,"
                " proxy, cash_after, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _ts(settled.ts),
                    settled.layer,
                    settled.contract.symbol,
                    settled.quantity,
                    settled.settlement_price,
                    settled.cash,
                    int(settled.proxy),
                    cash_after,
                    self.position,
                ),
            )
            self._insert_cash_movement(
                settled.ts,
                "settlement",
                settled.cash,
                cash_after,
                settled.layer,
                settled.contract.symbol,
                "",
            )
            self._conn.commit()
        except BaseException:
            self._conn.rollback()
            raise

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
        """Record a cash movement that is not a fill or settlement (``deposit``, ``interest``,
        ``variation``) and commit before returning."""
        if kind not in EXPLICIT_CASH_KINDS:
            raise ValueError(f"unknown cash movement kind {kind!r} (known: {EXPLICIT_CASH_KINDS})")
        try:
            self._insert_cash_movement(ts, kind, amount, cash_after, layer, symbol, "", note)
            self._conn.commit()
        except BaseException:
            self._conn.rollback()
            raise

    def _insert_cash_movement(
        self,
        ts: datetime,
        kind: str,
        amount: float,
        cash_after: float,
        layer: str | None,
        symbol: str | None,
        ref: str,
        note: str = "",
    ) -> None:
        self._conn.execute(
            "INSERT INTO cash_movements (position, ts, kind, amount, cash_after, layer, symbol,"
            " ref, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self.position, _ts(ts), kind, amount, cash_after, layer, symbol, ref, note),
        )

    def record_control_event(self, ts: datetime, kind: str, payload: str = "") -> None:
        """A control event (pause, resume, flatten, reload ...) at the current feed position;
        committed at once (with the feed position) so recovery re-applies it in place."""
        self._conn.execute(
            "INSERT INTO control_events (position, ts, kind, payload) VALUES (?, ?, ?, ?)",
            (self.position, _ts(ts), kind, payload),
        )
        self._conn.commit()

    def record_config_version(self, ts: datetime, config_hash: str, config_text: str) -> None:
        """A config that takes effect after the current feed position (-1: from the start)."""
        self._conn.execute(
            "INSERT INTO config_versions (position, ts, config_hash, config_text)"
            " VALUES (?, ?, ?, ?)",
            (self.position, _ts(ts), config_hash, config_text),
        )
        self._conn.commit()

    def record_daily_mark(self, mark: dict[str, Any]) -> None:
        """The end-of-session mark (equity, cash, SPX, VIX, regime, per-layer realized P&L and
        total P&L at mid, hedge size). A session marked again further along the feed takes the
        later mark: a replay marks its last session where its file ends, and resumed on the
        longer file marks it again at its close. Marked again at the same feed position (an
        adopt at a session's close), the first mark stands."""
        self._conn.execute(
            "INSERT INTO daily_marks (session, position, ts, equity, cash, spx, vix, regime,"
            " layer_pnl, hedge_size, layer_equity) VALUES (:session, :position, :ts, :equity,"
            " :cash, :spx, :vix, :regime, :layer_pnl, :hedge_size, :layer_equity)"
            " ON CONFLICT (session) DO UPDATE SET position = excluded.position,"
            " ts = excluded.ts, equity = excluded.equity, cash = excluded.cash,"
            " spx = excluded.spx, vix = excluded.vix, regime = excluded.regime,"
            " layer_pnl = excluded.layer_pnl, hedge_size = excluded.hedge_size,"
            " layer_equity = excluded.layer_equity"
            " WHERE excluded.position > daily_marks.position",
            {"layer_equity": "{}", **mark, "position": self.position},
        )
        self._conn.commit()

    def record_recovery(
        self, wall_ts: datetime, mode: str, snapshots: int, fills_verified: int, note: str = ""
    ) -> None:
        self._conn.execute(
            "INSERT INTO recoveries (wall_ts, position, mode, snapshots, fills_verified, note)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (_ts(wall_ts), self.position, mode, snapshots, fills_verified, note),
        )
        self._conn.commit()

    # --- reads -----------------------------------------------------------------------------
    def has_data(self) -> bool:
        """True once any run has been recorded."""
        return self._conn.execute("SELECT 1 FROM runs LIMIT 1").fetchone() is not None

    def runs(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._conn.execute("SELECT * FROM runs ORDER BY run_id")]

    def fill_count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM fills").fetchone()[0])

    def fills(self) -> list[dict[str, Any]]:
        """Every fill in order, each with its ``legs`` (symbol, quantity, price)."""
        legs: dict[str, list[dict[str, Any]]] = {}
        for row in self._conn.execute(
            "SELECT fill_id, symbol, quantity, price FROM fill_legs ORDER BY fill_id, leg_index"
        ):
            legs.setdefault(row["fill_id"], []).append(
                {"symbol": row["symbol"], "quantity": row["quantity"], "price": row["price"]}
            )
        out = []
        for row in self._conn.execute("SELECT * FROM fills ORDER BY fill_id"):
            fill = dict(row)
            fill["legs"] = legs.get(row["fill_id"], [])
            out.append(fill)
        return out

    def orders(self) -> list[dict[str, Any]]:
        """Every order with its latest status, in submission order."""
        return [dict(r) for r in self._conn.execute("SELECT * FROM orders ORDER BY rowid")]

    def order_history(self, client_order_id: str) -> list[dict[str, Any]]:
        """An order's status changes, oldest first."""
        return [
            dict(r)
            for r in self._conn.execute(
                "SELECT ts, status, reason FROM order_events"
                " WHERE client_order_id = ? ORDER BY seq",
                (client_order_id,),
            )
        ]

    def settlements(self) -> list[dict[str, Any]]:
        return [
            dict(r) for r in self._conn.execute("SELECT * FROM settlements ORDER BY settlement_id")
        ]

    def cash_movements(self) -> list[dict[str, Any]]:
        return [
            dict(r) for r in self._conn.execute("SELECT * FROM cash_movements ORDER BY movement_id")
        ]

    def control_events(self) -> list[dict[str, Any]]:
        return [
            dict(r) for r in self._conn.execute("SELECT * FROM control_events ORDER BY event_id")
        ]

    def config_versions(self) -> list[dict[str, Any]]:
        return [
            dict(r) for r in self._conn.execute("SELECT * FROM config_versions ORDER BY version_id")
        ]

    def daily_marks(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._conn.execute("SELECT * FROM daily_marks ORDER BY session")]

    def recoveries(self) -> list[dict[str, Any]]:
        return [
            dict(r) for r in self._conn.execute("SELECT * FROM recoveries ORDER BY recovery_id")
        ]

    def last_position(self) -> int:
        """The furthest feed position any durable row was written at (-1: none)."""
        (pos,) = self._conn.execute(
            "SELECT MAX(p) FROM (SELECT MAX(position) AS p FROM fills"
            " UNION ALL SELECT MAX(position) FROM settlements"
            " UNION ALL SELECT MAX(position) FROM cash_movements"
            " UNION ALL SELECT MAX(position) FROM control_events"
            " UNION ALL SELECT MAX(position) FROM daily_marks)"
        ).fetchone()
        return -1 if pos is None else int(pos)

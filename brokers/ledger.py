"""The SQLite ledger: the durable truth of runs, orders, fills and settlements (SPEC 10 and 11).

WAL journal with ``synchronous=FULL``: a committed fill survives a crash or power loss. A fill, its
legs and its order's status are one transaction, committed before the broker publishes the fill.
Order rows and status changes ride in the open transaction and are committed with the next fill or
settlement, or by :meth:`Ledger.commit`: they are re-derived on recovery, so they need no fsync of
their own on the path from snapshot to order.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from .events import ContractSettled, OrderFilled
from .orders import SubmitOrder

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    seed INTEGER NOT NULL,
    scenario TEXT,
    start TEXT NOT NULL,
    cadence_minutes INTEGER NOT NULL,
    alvh_version TEXT NOT NULL,
    config_text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY,
    order_id TEXT UNIQUE,
    ts TEXT NOT NULL,
    layer TEXT NOT NULL,
    intent TEXT NOT NULL,
    order_type TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    limit_price REAL,
    reason TEXT NOT NULL,
    legs TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT NOT NULL DEFAULT '',
    updated_ts TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS order_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    client_order_id TEXT NOT NULL,
    ts TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS fills (
    fill_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    ts TEXT NOT NULL,
    layer TEXT NOT NULL,
    intent TEXT NOT NULL,
    reason TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    net_price REAL NOT NULL,
    fees REAL NOT NULL,
    cash_after REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS fill_legs (
    fill_id TEXT NOT NULL REFERENCES fills(fill_id),
    leg_index INTEGER NOT NULL,
    symbol TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    price REAL NOT NULL,
    PRIMARY KEY (fill_id, leg_index)
);
CREATE TABLE IF NOT EXISTS settlements (
    settlement_id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    layer TEXT NOT NULL,
    symbol TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    settlement_price REAL NOT NULL,
    cash REAL NOT NULL,
    proxy INTEGER NOT NULL,
    cash_after REAL NOT NULL
);
"""


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

    @classmethod
    def open(cls, path: Path) -> Ledger:
        """Open or create the ledger at ``path`` with the schema, WAL and ``synchronous=FULL``."""
        conn = sqlite3.connect(path)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.executescript(_SCHEMA)
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            conn.commit()
        elif int(row["value"]) != SCHEMA_VERSION:
            conn.close()
            raise LedgerError(
                f"{path}: ledger schema version {row['value']}, this alvh reads {SCHEMA_VERSION}"
            )
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
    ) -> int:
        """Pin what a run was started with; returns its run id."""
        cur = self._conn.execute(
            "INSERT INTO runs (seed, scenario, start, cadence_minutes, alvh_version, config_text)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (seed, scenario, start, cadence_minutes, alvh_version, config_text),
        )
        self._conn.commit()
        assert cur.lastrowid is not None
        return cur.lastrowid

    def record_order(self, cmd: SubmitOrder, ts: datetime) -> None:
        """Record an order as submitted (its id is unique; a reused id is not recorded twice)."""
        legs = ";".join(f"{leg.ratio:+d} {leg.contract.symbol}" for leg in cmd.legs)
        self._conn.execute(
            "INSERT OR IGNORE INTO orders (client_order_id, ts, layer, intent, order_type,"
            " quantity, limit_price, reason, legs, status, updated_ts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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

    def record_fill(self, fill: OrderFilled, cash_after: float) -> None:
        """Insert a fill, its legs and its order's new status, and commit before returning."""
        try:
            self._conn.execute(
                "INSERT INTO fills (fill_id, order_id, client_order_id, ts, layer, intent, reason,"
                " quantity, net_price, fees, cash_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                ),
            )
            self._conn.executemany(
                "INSERT INTO fill_legs (fill_id, leg_index, symbol, quantity, price)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (fill.fill_id, i, leg.contract.symbol, leg.quantity, leg.price)
                    for i, leg in enumerate(fill.legs)
                ],
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
                " proxy, cash_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _ts(settled.ts),
                    settled.layer,
                    settled.contract.symbol,
                    settled.quantity,
                    settled.settlement_price,
                    settled.cash,
                    int(settled.proxy),
                    cash_after,
                ),
            )
            self._conn.commit()
        except BaseException:
            self._conn.rollback()
            raise

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

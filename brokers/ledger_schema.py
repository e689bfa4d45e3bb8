"""The ledger's SQLite schema, its version and the migrations between versions.

A migration takes a ledger from version N to N + 1 inside one transaction; opening an older
ledger runs every migration it needs, a newer one is refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

SCHEMA_VERSION = 3

# Version 1: runs, orders (with their state history), fills with legs, settlements.
_V1 = """
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

# Version 2: the feed position on every durable row; cash movements (cash = their sum);
# control events and config versions at their feed position; daily marks; recoveries.
_V1_TO_V2 = """
ALTER TABLE orders ADD COLUMN position INTEGER NOT NULL DEFAULT -1;
ALTER TABLE orders ADD COLUMN time_in_force TEXT NOT NULL DEFAULT 'day';
ALTER TABLE fills ADD COLUMN position INTEGER NOT NULL DEFAULT -1;
ALTER TABLE settlements ADD COLUMN position INTEGER NOT NULL DEFAULT -1;
CREATE TABLE cash_movements (
    movement_id INTEGER PRIMARY KEY AUTOINCREMENT,
    position INTEGER NOT NULL,
    ts TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount REAL NOT NULL,
    cash_after REAL NOT NULL,
    layer TEXT,
    symbol TEXT,
    ref TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT ''
);
CREATE TABLE control_events (
    event_id INTEGER PRIMARY KEY AUTOINCREMENT,
    position INTEGER NOT NULL,
    ts TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT ''
);
CREATE TABLE config_versions (
    version_id INTEGER PRIMARY KEY AUTOINCREMENT,
    position INTEGER NOT NULL,
    ts TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    config_text TEXT NOT NULL
);
CREATE TABLE daily_marks (
    session TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    ts TEXT NOT NULL,
    equity REAL NOT NULL,
    cash REAL NOT NULL,
    spx REAL NOT NULL,
    vix REAL NOT NULL,
    regime TEXT NOT NULL,
    layer_pnl TEXT NOT NULL,
    hedge_size REAL NOT NULL DEFAULT 0
);
CREATE TABLE recoveries (
    recovery_id INTEGER PRIMARY KEY AUTOINCREMENT,
    wall_ts TEXT NOT NULL,
    position INTEGER NOT NULL,
    mode TEXT NOT NULL,
    snapshots INTEGER NOT NULL,
    fills_verified INTEGER NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
"""


def _backfill_v1_cash(conn: sqlite3.Connection) -> None:
    """Give a version-1 ledger its cash history: the deposit implied by its first fill, then
    one movement per fill and settlement (version 1 only held SPX options, multiplier 100)."""
    events = []
    for fill_id, ts, layer, fees, cash_after in conn.execute(
        "SELECT fill_id, ts, layer, fees, cash_after FROM fills ORDER BY fill_id"
    ).fetchall():
        (premium,) = conn.execute(
            "SELECT -COALESCE(SUM(quantity * price), 0) * 100 FROM fill_legs WHERE fill_id = ?",
            (fill_id,),
        ).fetchone()
        events.append((ts, "fill", premium - fees, cash_after, layer, None, fill_id))
    for sid, ts, layer, symbol, cash, cash_after in conn.execute(
        "SELECT settlement_id, ts, layer, symbol, cash, cash_after FROM settlements"
    ).fetchall():
        events.append((ts, "settlement", cash, cash_after, layer, symbol, f"S{sid}"))
    events.sort(key=lambda e: (e[0], e[6]))
    if not events:
        return
    first = events[0]
    deposit = first[3] - first[2]
    rows = [(first[0], "deposit", deposit, deposit, None, None, "")] + events
    conn.executemany(
        "INSERT INTO cash_movements (position, ts, kind, amount, cash_after, layer, symbol, ref)"
        " VALUES (-1, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    for statement in _V1_TO_V2.split(";"):
        if statement.strip():
            conn.execute(statement)
    _backfill_v1_cash(conn)


def _v2_to_v3(conn: sqlite3.Connection) -> None:
    # Each layer's P&L at the session close, realized plus unrealized at mid (JSON): what a
    # report draws "the condor layer alone" from. Marks written before v3 read as "{}".
    conn.execute("ALTER TABLE daily_marks ADD COLUMN layer_equity TEXT NOT NULL DEFAULT '{}'")


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _v1_to_v2, 2: _v2_to_v3}
"""``MIGRATIONS[n]`` takes a ledger from version n to n + 1 (inside one transaction)."""


class SchemaError(Exception):
    """A ledger this alvh cannot read."""


def migrate(conn: sqlite3.Connection) -> int:
    """Create or upgrade the schema in place; return the version found before (0 = new)."""
    conn.executescript(_V1)
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        found = 0
        version = 1
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
        conn.commit()
    else:
        found = version = int(row[0])
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"ledger schema version {version}, this alvh reads up to {SCHEMA_VERSION}"
        )
    while version < SCHEMA_VERSION:
        try:
            conn.execute("BEGIN")
            MIGRATIONS[version](conn)
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version + 1),)
            )
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        version += 1
    return found

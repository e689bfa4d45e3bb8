"""The report's way into a ledger: read-only, as the ledger is, never migrated.

:meth:`brokers.ledger.Ledger.open` creates or migrates the schema; a report must change
nothing, so it opens the file with SQLite's ``mode=ro`` and uses only the ledger's reads.
A WAL reader never blocks the daemon writing the same file. SQLite may create the empty
``-wal`` and ``-shm`` files a WAL reader needs beside a ledger no one has open; they hold
no data and the next writer's clean close removes them. The ledger file itself keeps its
bytes and its modification time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from brokers.ledger import SCHEMA_VERSION, Ledger, LedgerError

OLDEST_READABLE = 2
"""The oldest schema the report reads: v2 brought the daily marks and cash movements. Marks
of v2 lack ``layer_equity`` and fall back to the layers' realized P&L (see ``parse_mark``)."""


def schema_version(conn: sqlite3.Connection, path: Path) -> int:
    """The schema version recorded in the ledger at ``path``; LedgerError when it is not a
    ledger or one the report cannot read (too old: the error names the command that migrates
    it; too new: this alvh does not know it)."""
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise LedgerError(f"{path}: not an alvh ledger ({exc})") from None
    try:
        version = int(row[0]) if row is not None else None
    except ValueError:
        version = None
    if version is None:
        raise LedgerError(f"{path}: not an alvh ledger (no schema version)")
    if version > SCHEMA_VERSION:
        raise LedgerError(
            f"{path}: ledger schema version {version}, this alvh reads up to {SCHEMA_VERSION}"
        )
    if version < OLDEST_READABLE:
        raise LedgerError(
            f"{path}: ledger schema version {version} is older than the report reads"
            f" (v{OLDEST_READABLE} and later) and the report never migrates a ledger;"
            f" `alvh ledger verify --state-dir {path.parent}` migrates it in place"
            " (while no daemon runs on it), then run the report again"
        )
    return version


@contextmanager
def open_read_only(path: Path) -> Iterator[Ledger]:
    """The ledger at ``path`` opened read-only (any write raises ``sqlite3.OperationalError``),
    after checking its schema version (:func:`schema_version`); closed on exit."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA query_only=ON")
        schema_version(conn, path)
        # Only the ledger's read methods are used: its writes would fail on this connection.
        yield Ledger(conn, path)
    finally:
        conn.close()

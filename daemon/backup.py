"""Ledger backups: a consistent copy of the live SQLite ledger, checked, then pruned (SPEC 12).

The copy uses SQLite's online backup API from a connection of its own: it reads one consistent
snapshot (the committed rows, those still in the WAL included) while the daemon's connection keeps
writing, and never blocks it for long (WAL readers do not block the writer). The copy is written
under a temporary name, converted to a single self-contained file (``journal_mode=DELETE``),
checked with ``PRAGMA integrity_check``, fsynced and only then renamed to
``ledger-YYYYmmddTHHMMSSZ.sqlite``: a file with that name is always a complete, checked backup.

Blocking (disk I/O): call it from a worker thread (``asyncio.to_thread``), never on the loop.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import structlog

__all__ = ["BACKUP_PATTERN", "BackupError", "backup_ledger", "backup_name", "list_backups"]

log = structlog.get_logger("alvh.backup")

BACKUP_PATTERN = re.compile(r"^ledger-(\d{8}T\d{6}Z)\.sqlite$")
"""Names of the backups written here; pruning touches nothing else in the directory."""


class BackupError(Exception):
    """The ledger could not be backed up (missing source, or the copy failed its check)."""


def backup_name(now: datetime) -> str:
    """``ledger-YYYYmmddTHHMMSSZ.sqlite`` for the UTC instant ``now`` (must be tz-aware)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"backup time must be timezone-aware: {now!r}")
    return f"ledger-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}.sqlite"


def list_backups(backup_dir: Path) -> list[Path]:
    """The backups in ``backup_dir``, oldest first (the UTC stamp sorts chronologically)."""
    if not backup_dir.is_dir():
        return []
    return sorted(
        (p for p in backup_dir.iterdir() if p.is_file() and BACKUP_PATTERN.match(p.name)),
        key=lambda p: p.name,
    )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup_ledger(ledger_path: Path, backup_dir: Path, keep: int, now: datetime) -> Path:
    """Copy the ledger to ``backup_dir/ledger-<UTC stamp of now>.sqlite``, check it, prune.

    Keeps the newest ``keep`` backups (by their stamp) and deletes older ones (never the one
    just written); a backup with the same stamp is replaced. Files not named
    like a backup are left alone. Returns the path of the new backup. Raises
    :class:`BackupError` if the ledger does not exist or the copy fails ``integrity_check``
    (the bad copy is deleted and nothing is pruned).
    """
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep}")
    name = backup_name(now)
    if not ledger_path.is_file():
        # sqlite3.connect would silently create an empty database here.
        raise BackupError(f"no ledger to back up at {ledger_path}")
    backup_dir.mkdir(parents=True, exist_ok=True)
    target = backup_dir / name
    tmp = backup_dir / f".{name}.tmp"
    tmp.unlink(missing_ok=True)

    try:
        src = sqlite3.connect(ledger_path)
        try:
            dst = sqlite3.connect(tmp)
            try:
                # pages=-1: the whole database in one step, from one read transaction.
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=DELETE")
                result = [row[0] for row in dst.execute("PRAGMA integrity_check").fetchall()]
            finally:
                dst.close()
        finally:
            src.close()
        if result != ["ok"]:
            raise BackupError(
                f"backup of {ledger_path} failed integrity_check: {'; '.join(result[:5])}"
            )
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
        _fsync_dir(backup_dir)
    except sqlite3.Error as exc:
        raise BackupError(f"backup of {ledger_path} to {target} failed: {exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
            Path(f"{tmp}-journal").unlink(missing_ok=True)

    existing = list_backups(backup_dir)
    # The new backup is never pruned, even if the clock went back and it is not the newest.
    pruned = [p for p in existing[:-keep] if p != target]
    for old in pruned:
        old.unlink(missing_ok=True)
    log.info(
        "ledger_backed_up",
        path=str(target),
        bytes=target.stat().st_size,
        kept=len(existing) - len(pruned),
        pruned=[p.name for p in pruned],
    )
    return target

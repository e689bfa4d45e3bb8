"""The state directory: who owns it (an exclusive lock) and what it holds (the ledger).

Only one process may own a state directory (SPEC section 10). The lock is an ``flock`` on
``.lock`` inside it, held for the life of the process and released by the kernel on any exit,
``kill -9`` included, so a crashed daemon never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

LEDGER_NAME = "ledger.sqlite"
LOCK_NAME = ".lock"


class StateDirError(Exception):
    """The state directory cannot be used as asked (exit 73, EX_CANTCREAT)."""


class StateDir:
    """A locked state directory; use as a context manager or call :meth:`close`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.used_before = (path / LOCK_NAME).exists()
        """An alvh process has owned this directory before (it may have died before writing)."""
        try:
            path.mkdir(parents=True, exist_ok=True)
            fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o640)
        except OSError as exc:
            raise StateDirError(f"cannot use state directory {path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StateDirError(
                f"state directory {path} is in use by another alvh process (pid {owner})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd: int | None = fd

    @property
    def ledger_path(self) -> Path:
        return self.path / LEDGER_NAME

    def has_ledger(self) -> bool:
        return self.ledger_path.exists()

    def archive_ledger(self) -> Path | None:
        """Move the ledger (and its WAL files) to ``archive/<local stamp>/``; return where."""
        if not self.has_ledger():
            return None
        stamp = datetime.now().astimezone().strftime("%Y%m%dT%H%M%S%z")
        target = self.path / "archive" / stamp
        n = 1
        while target.exists():
            n += 1
            target = self.path / "archive" / f"{stamp}-{n}"
        target.mkdir(parents=True)
        for suffix in ("", "-wal", "-shm"):
            p = Path(f"{self.ledger_path}{suffix}")
            if p.exists():
                shutil.move(p, target / p.name)
        return target

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> StateDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_batch_state_dir(path: Path | None, mode: str = "fresh") -> tuple[StateDir, bool]:
    """Lock the state dir of a batch run; return it and whether it is a new temporary one.

    ``mode``: ``fresh`` refuses a dir that holds a ledger; ``resume`` needs one, or a dir an
    alvh process owned and died in before writing it (then the run starts afresh); ``new``
    archives it and starts fresh.
    """
    if path is None:
        if mode == "resume":
            raise StateDirError("--resume needs the --state-dir of the run to resume")
        return StateDir(Path(tempfile.mkdtemp(prefix="alvh-simulate-"))), True
    state = StateDir(path)
    try:
        if mode == "resume" and not state.has_ledger() and not state.used_before:
            raise StateDirError(f"--resume: {path} holds no ledger to resume")
        if mode == "fresh" and state.has_ledger():
            raise StateDirError(
                f"--state-dir {path} already holds a ledger ({LEDGER_NAME}): pass --resume to"
                " go on with that run or --new to archive it and start fresh"
            )
        if mode == "new":
            state.archive_ledger()
    except BaseException:
        state.close()
        raise
    return state, False

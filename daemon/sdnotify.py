"""A small, dependency-free ``sd_notify``: tell systemd about the daemon's state.

The protocol is one datagram of newline-separated ``KEY=value`` lines sent to the ``AF_UNIX``
``SOCK_DGRAM`` socket named by ``$NOTIFY_SOCKET``: a filesystem path, or ``@name`` for an abstract
socket (the ``@`` stands for a leading NUL byte). Without ``$NOTIFY_SOCKET`` (not under systemd, or
not ``Type=notify``) the notifier is a no-op. Sending never raises: a daemon must not die because
systemd went away; the first failure is logged as ``sd_notify_failed``.

The watchdog (``WatchdogSec=``) is pinged from a task on the event loop (:func:`watchdog_task`), so a
blocked loop misses its pings and systemd aborts the process (SIGABRT; with ``PYTHONFAULTHANDLER=1``
the stacks land in the journal).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Mapping

import structlog

log = structlog.get_logger("alvh.daemon.sdnotify")

__all__ = ["Notifier", "watchdog_interval", "watchdog_task"]


def _socket_address(value: str) -> str:
    """``$NOTIFY_SOCKET`` as an ``AF_UNIX`` address: ``@name`` is the abstract socket ``\\0name``."""
    return "\0" + value[1:] if value.startswith("@") else value


def _watchdog_usec(env: Mapping[str, str]) -> int | None:
    """``WATCHDOG_USEC`` if it is meant for this process (``WATCHDOG_PID`` unset or our pid)."""
    raw_pid = env.get("WATCHDOG_PID", "").strip()
    if raw_pid:
        try:
            if int(raw_pid) != os.getpid():
                return None
        except ValueError:
            return None
    try:
        usec = int(env.get("WATCHDOG_USEC", "").strip())
    except ValueError:
        return None
    return usec if usec > 0 else None


class Notifier:
    """Sends sd_notify datagrams to one socket; a notifier without a socket does nothing."""

    def __init__(self, address: str | None = None, watchdog_usec: int | None = None) -> None:
        # ``address`` is the raw $NOTIFY_SOCKET value (a path or ``@abstract``).
        self.address = address or None
        self.watchdog_usec = watchdog_usec
        self._failed_logged = False

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Notifier:
        """Read ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID`` (default ``os.environ``)."""
        env = os.environ if env is None else env
        return cls(env.get("NOTIFY_SOCKET") or None, _watchdog_usec(env))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings (half of ``WATCHDOG_USEC``), or None without a watchdog."""
        if self.watchdog_usec is None:
            return None
        return self.watchdog_usec / 2 / 1_000_000

    def notify(self, **fields: str) -> bool:
        """Send ``fields`` (in order) as one datagram. True if sent; False if disabled or failed."""
        if self.address is None or not fields:
            return False
        payload = "\n".join(f"{key}={value}" for key, value in fields.items()).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(_socket_address(self.address))
                sock.sendall(payload)
        except OSError as exc:
            if not self._failed_logged:
                self._failed_logged = True
                log.warning(
                    "sd_notify_failed",
                    socket=self.address,
                    fields=list(fields),
                    error=f"{type(exc).__name__}: {exc}",
                )
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """``READY=1``: startup is complete (the API listens and the run goes on)."""
        if status is None:
            return self.notify(READY="1")
        return self.notify(READY="1", STATUS=status)

    def status(self, text: str) -> bool:
        """``STATUS=``: one free-form line shown by ``systemctl status``."""
        return self.notify(STATUS=text)

    def stopping(self) -> bool:
        """``STOPPING=1``: shutdown has begun."""
        return self.notify(STOPPING="1")

    def reloading(self) -> bool:
        """``RELOADING=1`` with ``MONOTONIC_USEC`` (CLOCK_MONOTONIC); send ``READY=1`` when done."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify(RELOADING="1", MONOTONIC_USEC=str(usec))

    def watchdog(self) -> bool:
        """``WATCHDOG=1``: the keep-alive ping."""
        return self.notify(WATCHDOG="1")

    def extend_timeout(self, usec: int) -> bool:
        """``EXTEND_TIMEOUT_USEC=``: ask for ``usec`` more microseconds (start, stop or reload)."""
        return self.notify(EXTEND_TIMEOUT_USEC=str(int(usec)))


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Half of ``WATCHDOG_USEC`` in seconds, if set and meant for this process; else None."""
    usec = _watchdog_usec(os.environ if env is None else env)
    return None if usec is None else usec / 2 / 1_000_000


async def watchdog_task(notifier: Notifier, interval: float) -> None:
    """Send ``WATCHDOG=1`` every ``interval`` seconds from the event loop, until cancelled.

    It runs on the loop on purpose: if the loop is blocked, the pings stop and systemd notices.
    """
    if interval <= 0:
        raise ValueError(f"watchdog interval must be positive, got {interval}")
    while True:
        notifier.watchdog()
        await asyncio.sleep(interval)

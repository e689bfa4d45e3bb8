"""daemon.sdnotify: the exact datagrams systemd would receive, and the no-op and failure paths."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from daemon.sdnotify import Notifier, watchdog_interval, watchdog_task

# sun_path holds 108 bytes including the NUL; pytest's tmp_path is usually well inside that.
_SUN_PATH_MAX = 107


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound AF_UNIX datagram socket standing in for systemd's notify socket."""
    short_dir: str | None = None
    path = tmp_path / "notify.sock"
    if len(os.fsencode(path)) > _SUN_PATH_MAX:  # very long tmp_path: fall back to a short dir
        short_dir = tempfile.mkdtemp(prefix="alvh-")
        path = Path(short_dir) / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2.0)
    try:
        yield sock, str(path)
    finally:
        sock.close()
        if short_dir is not None:
            path.unlink(missing_ok=True)
            os.rmdir(short_dir)


def _recv(sock: socket.socket) -> bytes:
    return sock.recv(65536)


def _nothing_pending(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        sock.recv(65536)
    except BlockingIOError:
        return True
    finally:
        sock.settimeout(2.0)
    return False


def test_notify_sends_fields_in_order_as_one_datagram(
    listener: tuple[socket.socket, str],
) -> None:
    sock, path = listener
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.notify(READY="1", STATUS="trading 2025-01-02") is True
    assert _recv(sock) == b"READY=1\nSTATUS=trading 2025-01-02"
    assert _nothing_pending(sock)


def test_convenience_messages(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    n = Notifier.from_environment({"NOTIFY_SOCKET": path})
    assert n.ready("listening on 127.0.0.1:8765")
    assert _recv(sock) == b"READY=1\nSTATUS=listening on 127.0.0.1:8765"
    assert n.ready()
    assert _recv(sock) == b"READY=1"
    assert n.status("recovering: 500/12000 snapshots")
    assert _recv(sock) == b"STATUS=recovering: 500/12000 snapshots"
    assert n.stopping()
    assert _recv(sock) == b"STOPPING=1"
    assert n.watchdog()
    assert _recv(sock) == b"WATCHDOG=1"
    assert n.extend_timeout(90_000_000)
    assert _recv(sock) == b"EXTEND_TIMEOUT_USEC=90000000"


def test_reloading_carries_the_monotonic_clock_in_microseconds(
    listener: tuple[socket.socket, str],
) -> None:
    sock, path = listener
    n = Notifier.from_environment({"NOTIFY_SOCKET": path})
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert n.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    lines = _recv(sock).decode().split("\n")
    assert lines[0] == "RELOADING=1"
    key, _, value = lines[1].partition("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(value) <= after
    assert len(lines) == 2


def test_abstract_socket() -> None:
    name = f"alvh-test-{secrets.token_hex(8)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2.0)
        n = Notifier.from_environment({"NOTIFY_SOCKET": "@" + name})
        assert n.notify(READY="1", STATUS="ok")
        assert sock.recv(65536) == b"READY=1\nSTATUS=ok"


def test_without_notify_socket_it_is_a_noop() -> None:
    n = Notifier.from_environment({})
    assert not n.enabled
    assert n.notify(READY="1") is False
    assert n.ready("x") is False
    assert n.watchdog() is False
    assert Notifier.from_environment({"NOTIFY_SOCKET": ""}).enabled is False


def test_from_environment_defaults_to_os_environ(
    monkeypatch: pytest.MonkeyPatch, listener: tuple[socket.socket, str]
) -> None:
    sock, path = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    assert Notifier.from_environment().status("hello")
    assert _recv(sock) == b"STATUS=hello"


def test_missing_socket_returns_false_and_logs_once(tmp_path: Path) -> None:
    n = Notifier.from_environment({"NOTIFY_SOCKET": str(tmp_path / "nope.sock")})
    assert n.enabled
    with capture_logs() as logs:
        assert n.ready("x") is False
        assert n.watchdog() is False
    failures = [e for e in logs if e["event"] == "sd_notify_failed"]
    assert len(failures) == 1
    assert failures[0]["log_level"] == "warning"


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    env = {"WATCHDOG_USEC": "30000000"}
    assert watchdog_interval(env) == 15.0
    assert watchdog_interval({**env, "WATCHDOG_PID": str(os.getpid())}) == 15.0
    assert Notifier.from_environment(env).watchdog_interval() == 15.0


def test_watchdog_for_another_pid_is_ignored() -> None:
    env = {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert watchdog_interval(env) is None
    assert Notifier.from_environment(env).watchdog_interval() is None


@pytest.mark.parametrize(
    "env",
    [{}, {"WATCHDOG_USEC": "0"}, {"WATCHDOG_USEC": "soon"}, {"WATCHDOG_PID": "1"}],
)
def test_no_watchdog(env: dict[str, str]) -> None:
    assert watchdog_interval(env) is None


def test_watchdog_interval_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval() == 1.0


async def test_watchdog_task_pings_from_the_loop(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    n = Notifier.from_environment({"NOTIFY_SOCKET": path})
    task = asyncio.create_task(watchdog_task(n, 0.01))
    await asyncio.sleep(0.1)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    pings = 0
    sock.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        while True:
            assert sock.recv(65536) == b"WATCHDOG=1"
            pings += 1
    assert pings >= 3


async def test_watchdog_task_rejects_a_nonpositive_interval() -> None:
    with pytest.raises(ValueError):
        await watchdog_task(Notifier(), 0)

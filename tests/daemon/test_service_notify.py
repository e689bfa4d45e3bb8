"""`alvh run` under systemd's notify protocol: the real daemon, a socket the test owns."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

from daemon_process import RunningDaemon


def _messages(sock: socket.socket, until: float) -> list[str]:
    out = []
    sock.settimeout(0.1)
    while time.monotonic() < until:
        try:
            out.append(sock.recv(4096).decode())
        except TimeoutError:
            break
    return out


def _wait_for(sock: socket.socket, needle: str, seen: list[str], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.extend(_messages(sock, min(deadline, time.monotonic() + 0.5)))
        if any(needle in m for m in seen):
            return
    raise AssertionError(f"no {needle!r} in {seen}")


def _post(port: int, route: str, token: str | None) -> int:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(f"http://127.0.0.1:{port}{route}", data=b"{}", method="POST")
    req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_ready_watchdog_reload_and_stopping_reach_systemd(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    cfg = tmp_path / "run.toml"
    cfg.write_text("[market]\ncadence_minutes = 30\n[runtime]\ntime_scale = 600\n")
    seen: list[str] = []
    try:
        with RunningDaemon(
            tmp_path / "state",
            cfg,
            env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000", "ALVH_API_TOKEN": "t0ken"},
            unset=("WATCHDOG_PID",),
        ) as daemon:
            _wait_for(sock, "READY=1", seen)
            _wait_for(sock, "WATCHDOG=1", seen)
            assert _post(daemon.port, "/pause", None) == 401
            assert _post(daemon.port, "/pause", "t0ken") == 200
            before = len(seen)
            daemon.proc.send_signal(signal.SIGHUP)
            _wait_for(sock, "RELOADING=1", seen)
            reload_msgs = seen[before:]
            _wait_for(sock, "READY=1", reload_msgs)
            reloading = next(m for m in reload_msgs if "RELOADING=1" in m)
            assert "MONOTONIC_USEC=" in reloading
            assert reload_msgs.index(reloading) < max(
                i for i, m in enumerate(reload_msgs) if "READY=1" in m
            )
            daemon.proc.send_signal(signal.SIGTERM)
            _wait_for(sock, "STOPPING=1", seen)
            done = daemon.stop(send=False)
    finally:
        sock.close()
    assert done.returncode == 0, done.stderr[-2000:]
    events = [line["event"] for line in done.lines]
    assert "config_reloaded" in events and "trading_paused" in events


def test_the_api_token_comes_from_the_environment_or_a_systemd_credential(tmp_path: Path) -> None:
    from daemon.service import api_token

    assert api_token({"ALVH_API_TOKEN": " s3cret \n"}) == "s3cret"
    (tmp_path / "alvh-api-token").write_text("from-credential\n")
    assert api_token({"CREDENTIALS_DIRECTORY": str(tmp_path)}) == "from-credential"
    assert api_token({"ALVH_API_TOKEN": "env-wins", "CREDENTIALS_DIRECTORY": str(tmp_path)}) == (
        "env-wins"
    )
    assert api_token({}) is None
    assert api_token({"ALVH_API_TOKEN": "  "}) is None

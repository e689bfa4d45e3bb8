"""`alvh run` resumes its state dir by default, from where market time stopped."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def _run_until(
    state: Path, cfg: Path, min_snapshots: int, *extra: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daemon.cli",
            "run",
            "--state-dir",
            str(state),
            "--port",
            str(port),
            "--config",
            str(cfg),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    status: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                status = _status(port)
                if status["snapshots"] >= min_snapshots:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    return [json.loads(line) for line in out.splitlines() if line.strip()], status


def test_run_resumes_by_default_from_where_it_stopped_and_new_starts_over(tmp_path: Path) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text("[market]\ncadence_minutes = 30\n[runtime]\ntime_scale = 90000\n")
    state = tmp_path / "state"
    first, status1 = _run_until(state, cfg, 40)
    assert status1["snapshots"] >= 40
    assert next(e for e in first if e["event"] == "daemon_started")["mode"] == "new"

    second, status2 = _run_until(state, cfg, status1["snapshots"] + 5)
    events = [e["event"] for e in second]
    assert next(e for e in second if e["event"] == "daemon_started")["mode"] == "resume"
    recovered = next(e for e in second if e["event"] == "recovery_completed")
    # fast-forward to the snapshot the first daemon stopped at, no further
    assert recovered["snapshots"] >= status1["snapshots"]
    assert status2["snapshots"] > recovered["snapshots"]
    # old events are not logged again: nothing but the recovery line before new market time
    before = events[: events.index("recovery_completed")]
    assert set(before) <= {"daemon_started", "scheduler_started"}

    third, _ = _run_until(state, cfg, 1, "--new")
    assert next(e for e in third if e["event"] == "daemon_started")["mode"] == "new"
    assert any(e["event"] == "ledger_archived" for e in third)
    assert len(list((state / "archive").iterdir())) == 1

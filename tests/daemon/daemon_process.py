"""A real `alvh run` in a subprocess, for the tests that need the whole daemon."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str
    lines: list[dict[str, Any]] = field(default_factory=list)
    """Every non-empty stdout line parsed as JSON (a line that is not JSON fails the test)."""


class RunningDaemon:
    """``alvh run --state-dir STATE --port P --config CONFIG *extra``; a context manager that
    kills the process if a test leaves it running."""

    def __init__(
        self,
        state: Path,
        config: Path,
        *extra: str,
        env: dict[str, str] | None = None,
        unset: tuple[str, ...] = (),
    ) -> None:
        self.port = free_port()
        environ = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        for name in unset:
            environ.pop(name, None)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daemon.cli",
                "run",
                "--state-dir",
                str(state),
                "--port",
                str(self.port),
                "--config",
                str(config),
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environ,
        )

    def get(self, route: str) -> dict[str, Any]:
        """GET a route of the API (raises OSError while it is not up)."""
        url = f"http://127.0.0.1:{self.port}{route}"
        with urllib.request.urlopen(url, timeout=2) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]

    def wait_for_snapshots(self, count: int, timeout: float = 30.0) -> dict[str, Any]:
        """Poll /status until it has handled ``count`` snapshots; return the last status."""
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                status = self.get("/status")
                if status["snapshots"] >= count:
                    return status
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"fewer than {count} snapshots in {timeout} s: {status}")

    def stop(self, timeout: float = 30.0, send: bool = True) -> Finished:
        """SIGTERM (unless already sent), wait, and parse what it printed."""
        if send:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=timeout)
        lines = [json.loads(line) for line in out.splitlines() if line.strip()]
        return Finished(self.proc.returncode, out, err, lines)

    def __enter__(self) -> RunningDaemon:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()

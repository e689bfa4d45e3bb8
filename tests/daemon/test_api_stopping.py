"""Once the daemon is stopping, the API refuses every control (503) and says it is not ready,
while the reads go on answering: no control is recorded after the daemon's stop marker."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from daemon_process import free_port
from structlog.testing import capture_logs
from test_shutdown_order import _control_events, eventually

import daemon.api
from daemon.api import build_app
from daemon.config import load_config
from daemon.pipeline import Pipeline
from daemon.runner import Prepared, RunSpec, prepare
from daemon.scheduler import OpsScheduler
from daemon.service import run_daemon
from daemon.statedir import StateDir
from market.simulator import Simulator
from market.snapshot import MarketSnapshot

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STOPPING = {"error": "the daemon is stopping"}
CONTROLS = ("/pause", "/resume", "/flatten", "/reload")
READS = ("/health", "/status", "/positions", "/orders", "/fills", "/pnl", "/metrics")


@pytest.fixture
def prepared(tmp_path: Path) -> Iterator[Prepared]:
    """An engine that has traded 20 calm sessions and holds condors."""
    config = load_config(None, {"market": {"cadence_minutes": 30}})
    spec = RunSpec("calm", 1, date(2025, 1, 2))
    with StateDir(tmp_path / "s") as state:
        p = prepare(config, spec, state, resume=False)
        sim = Simulator(config.market, seed=1, start=spec.start, scenario="calm")
        for snap in sim.snapshots(20):
            p.pipeline.process(snap)
        yield p
        p.ledger.close()


class Flag:
    """A stopping predicate the test flips."""

    def __init__(self) -> None:
        self.value = False

    def __call__(self) -> bool:
        return self.value


def _client(p: Prepared, stopping: Flag, reloads: list[int]) -> TestClient[Any, Any]:
    def reload() -> dict[str, Any]:
        reloads.append(1)
        return {}

    return TestClient(
        TestServer(build_app(p.engine, token=TOKEN, reload=reload, stopping=stopping))
    )


async def test_once_stopping_every_control_is_503_and_changes_nothing(prepared: Prepared) -> None:
    stopping, reloads = Flag(), list[int]()
    async with _client(prepared, stopping, reloads) as client:
        assert (await client.get("/ready")).status == 200
        stopping.value = True
        controls_before = prepared.ledger.control_events()
        with capture_logs() as logs:
            for path in CONTROLS:
                resp = await client.post(path, json={"reason": "late"}, headers=AUTH)
                assert resp.status == 503, path
                assert await resp.json() == STOPPING, path
    assert prepared.ledger.control_events() == controls_before
    assert prepared.engine.broker.trading_paused is False
    assert reloads == []
    refused = [e for e in logs if e["event"] == "api_control_refused"]
    assert [(e["path"], e["reason"], e["log_level"]) for e in refused] == [
        (path, STOPPING["error"], "warning") for path in CONTROLS
    ]


async def test_once_stopping_the_reads_answer_and_ready_says_why_not(prepared: Prepared) -> None:
    stopping, reloads = Flag(), list[int]()
    stopping.value = True
    async with _client(prepared, stopping, reloads) as client:
        for path in READS:
            assert (await client.get(path)).status == 200, path
        status = await (await client.get("/status")).json()
        assert status["snapshots"] == prepared.engine.ticks > 0
        resp = await client.get("/ready")
        assert resp.status == 503
        assert await resp.json() == {"ready": False, "reason": "the daemon is stopping"}


async def test_a_control_whose_body_was_still_arriving_when_stopping_began_is_refused(
    prepared: Prepared, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handler had started (past the auth check) before the stop signal: it must not record
    its control once its body has arrived, or it would land after the stop marker."""
    stopping, reloads = Flag(), list[int]()
    entered, release = asyncio.Event(), asyncio.Event()
    read_body = daemon.api._control_body

    async def noting_read(request: web.Request) -> Any:
        entered.set()
        return await read_body(request)

    monkeypatch.setattr(daemon.api, "_control_body", noting_read)

    async def slow_body() -> AsyncIterator[bytes]:
        yield b'{"reason":'
        await release.wait()
        yield b' "late"}'

    controls_before = prepared.ledger.control_events()
    async with _client(prepared, stopping, reloads) as client:
        post = asyncio.create_task(client.post("/pause", data=slow_body(), headers=AUTH))
        await asyncio.wait_for(entered.wait(), 10)
        stopping.value = True
        release.set()
        resp = await asyncio.wait_for(post, 10)
        assert resp.status == 503
        assert await resp.json() == STOPPING
    assert prepared.ledger.control_events() == controls_before
    assert prepared.engine.broker.trading_paused is False


# -- the daemon -------------------------------------------------------------------------------


async def test_a_pause_sent_while_the_daemon_stops_is_refused_and_not_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    config = load_config(
        None,
        {"market": {"cadence_minutes": 1}, "runtime": {"time_scale": 1e9}, "api": {"port": port}},
    )
    spec = RunSpec("calm", 1, date(2025, 1, 2))
    monkeypatch.setenv("ALVH_API_TOKEN", TOKEN)
    base = f"http://127.0.0.1:{port}"
    processed: list[int] = []
    during_stop: dict[str, Any] = {}

    process = Pipeline.process

    def counting_process(self: Pipeline, snap: MarketSnapshot) -> None:
        processed.append(snap.seq)
        process(self, snap)

    monkeypatch.setattr(Pipeline, "process", counting_process)

    async with aiohttp.ClientSession() as http:
        scheduler_shutdown = OpsScheduler.shutdown

        async def slow_shutdown(self: OpsScheduler) -> None:
            # the stop marker is committed; the API still listens while the scheduler stops
            async with http.post(f"{base}/pause", json={"reason": "late"}, headers=AUTH) as r:
                during_stop["pause"] = (r.status, await r.json())
            async with http.get(f"{base}/status") as r:
                during_stop["status"] = r.status
            async with http.get(f"{base}/ready") as r:
                during_stop["ready"] = (r.status, await r.json())
            await scheduler_shutdown(self)

        monkeypatch.setattr(OpsScheduler, "shutdown", slow_shutdown)

        with StateDir(tmp_path / "state") as state:
            ledger_path = state.ledger_path
            daemon = asyncio.create_task(run_daemon(config, spec, state, new=False))
            await eventually(lambda: len(processed) >= 50 or daemon.done())
            async with http.post(f"{base}/pause", json={"reason": "ops"}, headers=AUTH) as r:
                assert r.status == 200  # accepted while running
            os.kill(os.getpid(), signal.SIGTERM)
            assert await asyncio.wait_for(daemon, 20) == 0

    assert during_stop["pause"] == (503, STOPPING)
    assert during_stop["status"] == 200
    assert during_stop["ready"] == (503, {"ready": False, "reason": "the daemon is stopping"})
    controls = _control_events(ledger_path)
    assert [kind for kind, _ in controls] == ["pause", "stop"]
    assert controls[-1] == ("stop", processed[-1])

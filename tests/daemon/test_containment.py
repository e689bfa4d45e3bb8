"""A failing strategy actor halts its own layer only; the daemon goes on and says so."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs

from daemon.api import build_app
from daemon.config import load_config
from daemon.runner import RunSpec, prepare
from daemon.statedir import StateDir
from market.simulator import Simulator
from strategies.condor import CondorActor


async def test_a_failing_actor_halts_its_layer_and_health_reports_degraded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(None, {"market": {"cadence_minutes": 30}})
    spec = RunSpec("calm", 1, date(2025, 1, 2))
    original = CondorActor.on_market_snapshot
    calls = {"n": 0}

    def flaky(self: CondorActor, snap: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 40:
            raise ZeroDivisionError("bad strike math")
        original(self, snap)

    monkeypatch.setattr(CondorActor, "on_market_snapshot", flaky)
    with StateDir(tmp_path / "s") as state:
        p = prepare(config, spec, state, resume=False)
        with capture_logs() as logs:
            for snap in Simulator(
                config.market, seed=1, start=spec.start, scenario="calm"
            ).snapshots(10):
                p.pipeline.process(snap)
        engine = p.engine
        assert engine.ticks == 150  # the pipeline went on to the end
        assert engine.halted == {"condor": "ZeroDivisionError: bad strike math"}
        assert calls["n"] == 40  # never called again once halted
        failed = [e for e in logs if e["event"] == "strategy_failed"]
        assert len(failed) == 1 and failed[0]["layer"] == "condor" and failed[0]["exc_info"]
        summary = engine.summary()
        assert summary["halted_layers"] == engine.halted and summary["handler_errors"] == 1
        async with TestClient(TestServer(build_app(engine))) as client:
            health = await (await client.get("/health")).json()
        assert health["status"] == "degraded"
        assert health["halted_layers"]["condor"].startswith("ZeroDivisionError")
        p.ledger.close()


async def test_a_ledger_write_failure_stops_trading_keeps_the_api_up_and_reports_unhealthy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import json
    import os
    import signal
    import socket
    import sqlite3
    import urllib.error
    import urllib.request

    from brokers.ledger import Ledger
    from daemon.service import run_daemon

    def disk_full(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Ledger, "record_fill", disk_full)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = load_config(
        None,
        {
            "market": {"cadence_minutes": 30},
            "runtime": {"time_scale": 90000},
            "api": {"port": port},
        },
    )

    def get_health() -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    with StateDir(tmp_path / "s") as state:
        daemon = asyncio.create_task(
            run_daemon(config, RunSpec("calm", 1, date(2025, 1, 2)), state, new=False)
        )
        status, body = 0, {}
        for _ in range(100):
            await asyncio.sleep(0.05)
            try:
                status, body = await asyncio.to_thread(get_health)
            except OSError:
                continue
            if status == 503:
                break
        assert status == 503 and body["status"] == "unhealthy"
        assert "database or disk is full" in body["halted_layers"]["daemon"]
        assert not daemon.done()  # the API stays up until the operator stops it
        os.kill(os.getpid(), signal.SIGTERM)
        assert await asyncio.wait_for(daemon, 10) == 74


async def test_a_stopped_feed_shows_as_stale_and_not_ready(tmp_path: Path) -> None:
    import time

    config = load_config(None, {"market": {"cadence_minutes": 30}, "runtime": {"stale_after_s": 5}})
    spec = RunSpec("calm", 1, date(2025, 1, 2))
    with StateDir(tmp_path / "s") as state:
        p = prepare(config, spec, state, resume=False)
        engine = p.engine
        assert engine.feed_stale()  # nothing yet
        for snap in Simulator(config.market, seed=1, start=spec.start).snapshots(1):
            p.pipeline.process(snap)
        assert not engine.feed_stale()
        assert engine.feed_stale(time.monotonic() + 6)
        engine.last_snapshot_monotonic = time.monotonic() - 6  # the feed stopped 6 s ago
        app = build_app(engine, ready=lambda: not engine.feed_stale())
        async with TestClient(TestServer(app)) as client:
            status = await (await client.get("/status")).json()
            ready = await client.get("/ready")
            body = await ready.json()
        assert status["feed_stale"] is True and status["last_snapshot_age_s"] >= 6
        assert ready.status == 503 and body["reason"].startswith("feed stale")
        p.ledger.close()


def test_a_reload_applies_the_log_level_and_thresholds_and_names_what_needs_a_restart(
    tmp_path: Path,
) -> None:
    import io
    import json

    import structlog

    from daemon.engine import Control
    from daemon.logging import configure_logging

    buf = io.StringIO()
    configure_logging("info", "json", stream=buf)
    config = load_config(None, {"market": {"cadence_minutes": 30}})
    with StateDir(tmp_path / "s") as state:
        p = prepare(config, RunSpec("calm", 1, date(2025, 1, 2)), state, resume=False)
        log = structlog.get_logger("test")
        log.info("before_reload")
        new = load_config(
            None,
            {
                "market": {"cadence_minutes": 15},
                "runtime": {"log_level": "warning"},
                "strategy": {"condor": {"max_condors": 1}},
            },
        )
        changed = p.engine.control(Control("reload", {"config": new.model_dump_json()}))
        log.info("after_reload")
        log.warning("warning_after_reload")
        assert changed == {
            "applied": ["runtime.log_level", "strategy.condor.max_condors"],
            "needs_restart": ["market.cadence_minutes"],
        }
        assert p.engine.config.strategy.condor.max_condors == 1
        assert p.engine.config.market.cadence_minutes == 30  # goes on under the old cadence
        p.ledger.close()
    events = [json.loads(line)["event"] for line in buf.getvalue().splitlines()]
    assert "before_reload" in events and "after_reload" not in events
    assert "warning_after_reload" in events


async def test_the_daily_report_says_what_changed_since_the_last_one(tmp_path: Path) -> None:
    from daemon.service import DailyReport

    config = load_config(None, {"market": {"cadence_minutes": 30}})
    spec = RunSpec("calm", 1, date(2025, 1, 2))
    with StateDir(tmp_path / "s") as state:
        p = prepare(config, spec, state, resume=False)
        report = DailyReport(p.engine)
        for snap in Simulator(config.market, seed=1, start=spec.start, scenario="calm").snapshots(
            20
        ):
            p.pipeline.process(snap)
        with capture_logs() as logs:
            await report.report()
            await report.report()
        first, second = logs
        assert first["event"] == "daily_report"
        assert first["fills_since_last_report"] == p.engine.broker.stats.fills >= 2
        assert first["equity"] == round(p.engine.broker.equity(), 2)
        assert second["fills_since_last_report"] == 0 and second["equity_change"] == 0
        p.ledger.close()

"""The HTTP API's control calls (bearer token, body limits, validation), the ledger lists, P&L,
readiness and Prometheus metrics, over a real engine."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from daemon.api import build_app
from daemon.config import load_config
from daemon.metrics import Metrics
from daemon.runner import Prepared, RunSpec, prepare
from daemon.statedir import StateDir
from market.simulator import Simulator

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _prepare(tmp_path: Path, snapshots: int) -> tuple[Prepared, StateDir]:
    config = load_config(None, {"market": {"cadence_minutes": 30}})
    spec = RunSpec("calm", 1, date(2025, 1, 2))
    state = StateDir(tmp_path / "s")
    p = prepare(config, spec, state, resume=False)
    sim = Simulator(config.market, seed=1, start=spec.start, scenario="calm")
    for snap in sim.snapshots(snapshots):
        p.pipeline.process(snap)
    return p, state


@pytest.fixture
def prepared(tmp_path: Path) -> Iterator[Prepared]:
    """An engine that has traded 20 calm sessions and holds condors."""
    p, state = _prepare(tmp_path, 20)
    yield p
    p.ledger.close()
    state.close()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Prepared]:
    """An engine that has not seen a snapshot yet."""
    p, state = _prepare(tmp_path, 0)
    yield p
    p.ledger.close()
    state.close()


def _client(p: Prepared, **kwargs: Any) -> TestClient[Any, Any]:
    kwargs.setdefault("token", TOKEN)
    return TestClient(TestServer(build_app(p.engine, **kwargs)))


# -- auth --------------------------------------------------------------------------------------


async def test_a_post_without_a_token_is_401_and_changes_nothing(prepared: Prepared) -> None:
    async with _client(prepared) as client:
        resp = await client.post("/pause")
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await resp.json())["error"] == "unauthorized"
    assert prepared.ledger.control_events() == []
    assert prepared.engine.broker.trading_paused is False


@pytest.mark.parametrize(
    "header", [f"Bearer {TOKEN}x", "Bearer ", f"Basic {TOKEN}", TOKEN, "Bearer wrong"]
)
async def test_a_post_with_a_wrong_token_is_401(prepared: Prepared, header: str) -> None:
    async with _client(prepared) as client:
        resp = await client.post("/pause", headers={"Authorization": header})
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert prepared.ledger.control_events() == []


@pytest.mark.parametrize("token", [None, ""])
async def test_without_a_configured_token_every_post_is_401(
    prepared: Prepared, token: str | None
) -> None:
    async with _client(prepared, token=token, reload=lambda: {}) as client:
        for path in ("/pause", "/resume", "/flatten", "/reload"):
            resp = await client.post(path, headers=AUTH)
            assert resp.status == 401, path
            assert "not configured" in (await resp.json())["detail"]
        # reads stay open
        assert (await client.get("/status")).status == 200
    assert prepared.ledger.control_events() == []


# -- controls ----------------------------------------------------------------------------------


async def test_pause_with_the_token_pauses_the_broker_and_records_the_control(
    prepared: Prepared,
) -> None:
    position = prepared.engine.ledger.position
    async with _client(prepared) as client:
        resp = await client.post("/pause", headers=AUTH, json={"reason": "vol spike"})
        assert resp.status == 200
        assert await resp.json() == {"applied": "pause", "position": position}
        assert prepared.engine.broker.trading_paused is True
        status = await (await client.get("/status")).json()
        assert status["trading_paused"] is True
    (event,) = prepared.ledger.control_events()
    assert event["kind"] == "pause" and event["position"] == position
    assert json.loads(event["payload"]) == {"reason": "vol spike"}


async def test_resume_after_pause_and_the_default_reason(prepared: Prepared) -> None:
    async with _client(prepared) as client:
        assert (await client.post("/pause", headers=AUTH)).status == 200
        resp = await client.post("/resume", headers=AUTH)
        assert resp.status == 200
        assert (await resp.json())["applied"] == "resume"
    assert prepared.engine.broker.trading_paused is False
    events = prepared.ledger.control_events()
    assert [e["kind"] for e in events] == ["pause", "resume"]
    assert json.loads(events[0]["payload"]) == {"reason": "operator"}


async def test_flatten_is_recorded_and_handed_to_the_broker(prepared: Prepared) -> None:
    assert prepared.engine.broker.portfolio.open_positions()
    async with _client(prepared) as client:
        resp = await client.post("/flatten", headers=AUTH, json={"reason": "eod"})
        assert resp.status == 200
        assert (await resp.json())["applied"] == "flatten"
    (event,) = prepared.ledger.control_events()
    assert event["kind"] == "flatten"
    broker = prepared.engine.broker
    # every open leg is either closed at once or queued as a flatten combo
    assert not broker.portfolio.open_positions() or broker.flatten_pending


async def test_reload_without_a_callback_is_501(prepared: Prepared) -> None:
    async with _client(prepared) as client:
        resp = await client.post("/reload", headers=AUTH)
        assert resp.status == 501
        assert await resp.json() == {"error": "reload is not available"}


async def test_reload_calls_the_runner_callback_and_is_202(prepared: Prepared) -> None:
    calls: list[int] = []

    def reload() -> dict[str, Any]:
        calls.append(1)
        return {"applied": ["strategy"], "needs_restart": []}

    async with _client(prepared, reload=reload) as client:
        resp = await client.post("/reload", headers=AUTH, json={"reason": "new exits"})
        assert resp.status == 202
        body = await resp.json()
        assert body["accepted"] == "reload" and "config source" in body["note"]
        assert body["result"] == {"applied": ["strategy"], "needs_restart": []}
    assert calls == [1]


# -- bodies ------------------------------------------------------------------------------------


async def test_a_body_over_the_limit_with_content_length_is_413(prepared: Prepared) -> None:
    body = json.dumps({"reason": "x" * 100}).encode()
    assert len(body) > 64
    async with _client(prepared, max_body_bytes=64) as client:
        resp = await client.post(
            "/pause", headers={**AUTH, "Content-Type": "application/json"}, data=body
        )
        assert resp.status == 413
        assert (await resp.json())["error"] == "request body too large"
    assert prepared.ledger.control_events() == []


async def test_a_chunked_body_over_the_limit_is_413(prepared: Prepared) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"reason": "'
        for _ in range(10):
            yield b"x" * 10
        yield b'"}'

    async with _client(prepared, max_body_bytes=64) as client:
        resp = await client.post("/pause", headers=AUTH, data=chunks())
        assert resp.request_info.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in resp.request_info.headers
        assert resp.status == 413
    assert prepared.ledger.control_events() == []


async def test_a_chunked_body_within_the_limit_is_accepted(prepared: Prepared) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"reason": '
        yield b'"ok"}'

    async with _client(prepared, max_body_bytes=64) as client:
        resp = await client.post("/pause", headers=AUTH, data=chunks())
        assert resp.status == 200
    (event,) = prepared.ledger.control_events()
    assert json.loads(event["payload"]) == {"reason": "ok"}


async def test_bad_json_is_400(prepared: Prepared) -> None:
    async with _client(prepared) as client:
        resp = await client.post("/pause", headers=AUTH, data=b'{"reason": "half')
        assert resp.status == 400
        body = await resp.json()
        assert body["error"] == "invalid JSON"
        assert "half" not in json.dumps(body)
    assert prepared.ledger.control_events() == []


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({"reasn": "secret-value-1"}, ["reasn"]),
        ({"reason": 12345}, ["reason"]),
        ({"reason": "secret-value-" + "y" * 300}, ["reason"]),
        (["secret-value-2"], []),
    ],
)
async def test_a_wrong_field_is_400_naming_the_field_without_echoing_it(
    prepared: Prepared, payload: Any, loc: list[str]
) -> None:
    async with _client(prepared) as client:
        resp = await client.post("/pause", headers=AUTH, json=payload)
        assert resp.status == 400
        body = await resp.json()
        assert body["error"] == "invalid body"
        assert [f["loc"] for f in body["fields"]] == [loc]
        assert all(f["msg"] for f in body["fields"])
        text = json.dumps(body)
        assert "secret-value" not in text and "12345" not in text
    assert prepared.ledger.control_events() == []
    assert prepared.engine.broker.trading_paused is False


# -- lists and P&L -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/fills", "/orders"])
async def test_lists_are_paginated(prepared: Prepared, path: str) -> None:
    rows = getattr(prepared.ledger, path.strip("/"))()
    assert len(rows) >= 2
    async with _client(prepared) as client:
        first = await (await client.get(path)).json()
        assert first["total"] == len(rows) and first["limit"] == 100 and first["offset"] == 0
        assert first["items"] == json.loads(json.dumps(rows[:100]))
        pages = []
        for offset in range(len(rows)):
            page = await (await client.get(path, params={"limit": 1, "offset": offset})).json()
            assert page["total"] == len(rows)
            assert (page["limit"], page["offset"]) == (1, offset)
            assert len(page["items"]) == 1
            pages.extend(page["items"])
        assert pages == json.loads(json.dumps(rows))
        past = await (await client.get(path, params={"offset": len(rows) + 5})).json()
        assert past["items"] == [] and past["total"] == len(rows)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "abc"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "1.5"}, "offset"),
    ],
)
async def test_a_bad_page_query_is_400_naming_the_field(
    prepared: Prepared, params: dict[str, str], field: str
) -> None:
    async with _client(prepared) as client:
        for path in ("/fills", "/orders"):
            resp = await client.get(path, params=params)
            assert resp.status == 400
            body = await resp.json()
            assert body["error"] == "invalid query"
            assert [f["loc"] for f in body["fields"]] == [[field]]


async def test_pnl_equals_the_broker(prepared: Prepared) -> None:
    broker = prepared.engine.broker
    portfolio = broker.portfolio
    async with _client(prepared) as client:
        resp = await client.get("/pnl")
        assert resp.status == 200
        body = await resp.json()
    assert body["equity"] == pytest.approx(broker.equity(), abs=0.01)
    assert body["cash"] == pytest.approx(portfolio.cash, abs=0.01)
    assert body["fees"] == pytest.approx(portfolio.fees_paid, abs=0.01)
    assert body["fees"] > 0
    assert body["realized_total"] == pytest.approx(portfolio.realized_pnl(), abs=0.01)
    assert body["realized_by_layer"] == {
        layer: pytest.approx(portfolio.realized_pnl(layer), abs=0.01)
        for layer in portfolio.layers()
    }
    assert "condor" in body["realized_by_layer"]
    assert body["unrealized"] == pytest.approx(portfolio.unrealized_pnl(broker.marks()), abs=0.01)
    # equity is what the account started with plus realized and unrealized P&L
    assert body["equity"] == pytest.approx(
        portfolio.starting_cash + body["realized_total"] + body["unrealized"], abs=0.05
    )


# -- readiness and metrics ---------------------------------------------------------------------


async def test_ready_is_503_before_any_snapshot_and_200_after(fresh: Prepared) -> None:
    async with _client(fresh) as client:
        resp = await client.get("/ready")
        assert resp.status == 503
        body = await resp.json()
        assert body["ready"] is False and body["reason"]
        config = fresh.config
        sim = Simulator(config.market, seed=1, start=fresh.spec.start, scenario="calm")
        for snap in sim.snapshots(1):
            fresh.pipeline.process(snap)
        resp = await client.get("/ready")
        assert resp.status == 200
        assert await resp.json() == {"ready": True}


async def test_ready_uses_the_runner_callable(prepared: Prepared) -> None:
    state = {"ready": False}
    async with _client(prepared, ready=lambda: state["ready"]) as client:
        resp = await client.get("/ready")
        assert resp.status == 503
        assert "recovering" in (await resp.json())["reason"]
        state["ready"] = True
        assert (await client.get("/ready")).status == 200


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_parse_and_match_the_engine(prepared: Prepared) -> None:
    engine = prepared.engine
    async with _client(prepared) as client:
        resp = await client.get("/metrics")
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        assert "version=" in resp.headers["Content-Type"]
        samples = _samples(await resp.text())
    stats = engine.broker.stats
    assert samples[("alvh_fills_total", ())] == stats.fills > 0
    assert samples[("alvh_orders_total", ())] == stats.orders
    assert samples[("alvh_snapshots_total", ())] == engine.ticks > 0
    assert samples[("alvh_handler_errors_total", ())] == 0
    assert samples[("alvh_trading_paused", ())] == 0
    assert samples[("alvh_bus_queue_depth", ())] == 0
    assert samples[("alvh_equity_dollars", ())] == pytest.approx(engine.broker.equity())
    assert samples[("alvh_cash_dollars", ())] == pytest.approx(engine.broker.portfolio.cash)
    assert samples[("alvh_realized_pnl_dollars", (("layer", "condor"),))] == pytest.approx(
        engine.broker.portfolio.realized_pnl("condor")
    )
    assert samples[("alvh_last_snapshot_age_seconds", ())] >= 0
    for reason, count in stats.rejects_by_reason.items():
        assert samples[("alvh_rejects_total", (("reason", reason),))] == count
    assert samples[("alvh_snapshot_to_order_seconds_count", ())] == 0


async def test_metrics_follow_a_pause_and_the_latency_histogram(prepared: Prepared) -> None:
    metrics = Metrics(prepared.engine)
    metrics.observe_snapshot_to_order(0.002)
    async with _client(prepared, metrics=metrics) as client:
        assert (await client.post("/pause", headers=AUTH)).status == 200
        samples = _samples(await (await client.get("/metrics")).text())
    assert samples[("alvh_trading_paused", ())] == 1
    assert samples[("alvh_snapshot_to_order_seconds_count", ())] == 1
    assert samples[("alvh_snapshot_to_order_seconds_bucket", (("le", "0.0025"),))] == 1


async def test_many_apps_do_not_share_a_registry(prepared: Prepared) -> None:
    for _ in range(3):
        async with _client(prepared) as client:
            assert (await client.get("/metrics")).status == 200

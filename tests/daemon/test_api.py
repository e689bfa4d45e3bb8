"""The HTTP API over a real engine: /status and /positions with greeks."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from daemon.api import build_app, positions_of
from daemon.config import load_config
from daemon.runner import Prepared, RunSpec, prepare
from daemon.statedir import StateDir
from market.simulator import Simulator


@pytest.fixture
def prepared(tmp_path: Path) -> Prepared:
    """An engine that has traded 20 calm sessions and holds condors."""
    config = load_config(None, {"market": {"cadence_minutes": 30}})
    spec = RunSpec("calm", 1, date(2025, 1, 2))
    state = StateDir(tmp_path / "s")
    p = prepare(config, spec, state, resume=False)
    for snap in Simulator(config.market, seed=1, start=spec.start, scenario="calm").snapshots(20):
        p.pipeline.process(snap)
    yield p
    p.ledger.close()
    state.close()


def test_positions_carry_greeks_that_add_up_to_the_layer_and_the_book(prepared: Prepared) -> None:
    view = positions_of(prepared.engine)
    assert len(view.positions) >= 4 and not view.unpriced
    fields = ("spx_delta", "spx_gamma", "vega_dollars", "theta_per_day")
    for name in fields:
        total = sum(getattr(p.greeks, name) for p in view.positions if p.greeks)
        assert total == pytest.approx(getattr(view.book, name), abs=1e-3)
        assert getattr(view.layers["condor"], name) == pytest.approx(total, abs=1e-3)
    # a short iron condor is short vega and collects theta
    assert view.book.vega_dollars < 0 < view.book.theta_per_day
    # each position's greeks are the snapshot's per-unit greeks x quantity x 100
    snap = prepared.engine.last_snapshot
    assert snap is not None
    pos = prepared.engine.broker.portfolio.open_positions()[0]
    unit = snap.option_greeks(pos.contract)
    assert unit is not None
    row = next(p for p in view.positions if p.contract == pos.contract.symbol)
    assert row.greeks is not None
    assert row.greeks.spx_delta == pytest.approx(float(unit.delta) * pos.quantity * 100, abs=1e-3)
    assert row.greeks.vega_dollars == pytest.approx(float(unit.vega) * pos.quantity * 100, abs=1e-3)


async def test_positions_and_status_over_http(prepared: Prepared) -> None:
    async with TestClient(TestServer(build_app(prepared.engine))) as client:
        resp = await client.get("/positions")
        assert resp.status == 200
        body = await resp.json()
        assert set(body) == {"market_time", "positions", "layers", "book", "unpriced"}
        assert set(body["book"]) == {
            "spx_delta",
            "spx_gamma",
            "vix_delta",
            "vix_gamma",
            "vega_dollars",
            "theta_per_day",
        }
        status = await (await client.get("/status")).json()
        assert len(status["open_positions"]) == len(body["positions"])
        # two condors: each holds its wider wing x 100 x quantity; buying power is cash less that
        portfolio = prepared.engine.broker.portfolio
        widths = {}
        for pos in portfolio.open_positions():
            widths.setdefault(pos.contract.expiry, []).append(pos)
        expected = 0.0
        for legs in widths.values():
            strikes = {(p.contract.right, p.quantity > 0): p.contract.strike for p in legs}
            put_w = strikes[("P", False)] - strikes[("P", True)]
            call_w = strikes[("C", True)] - strikes[("C", False)]
            expected += max(put_w, call_w) * 100 * abs(legs[0].quantity)
        assert status["margin_requirement"] == pytest.approx(expected)
        assert status["buying_power"] == pytest.approx(status["cash"] - expected, abs=0.01)
        assert status["trading_paused"] is False


def test_snapshot_to_order_latency_is_observed_for_every_accepted_order(tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from daemon.metrics import Metrics

    config = load_config(None, {"market": {"cadence_minutes": 30}})
    spec = RunSpec("calm", 1, date(2025, 1, 2))
    with StateDir(tmp_path / "s") as state:
        p = prepare(config, spec, state, resume=False)
        metrics = Metrics(p.engine)
        p.engine.order_latency = metrics.observe_snapshot_to_order
        for snap in Simulator(config.market, seed=1, start=spec.start, scenario="calm").snapshots(
            40
        ):
            p.pipeline.process(snap)
        stats = p.engine.broker.stats
        families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
        samples = {s.name: s.value for s in families["alvh_snapshot_to_order_seconds"].samples}
        assert (
            samples["alvh_snapshot_to_order_seconds_count"] == stats.orders - stats.rejected_orders
        )
        assert stats.orders >= 2
        assert 0 < samples["alvh_snapshot_to_order_seconds_sum"] < stats.orders * 0.1
        p.ledger.close()

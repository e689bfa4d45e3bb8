"""Prometheus metrics for one engine, on a registry of their own (never the global one).

Counts and money are read from the engine at scrape time by :class:`EngineCollector`, so nothing
in the trading path has to remember to update them; the one exception is the latency
histogram, which the engine feeds through :meth:`Metrics.observe_snapshot_to_order`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from daemon.engine import Engine

__all__ = ["CONTENT_TYPE_LATEST", "EngineCollector", "Metrics"]

SNAPSHOT_TO_ORDER_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
"""Seconds; an order normally follows its snapshot within a millisecond or two."""


class EngineCollector(Collector):
    """Read the engine's counters, money and health at each scrape."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterable[Metric]:
        engine = self._engine
        broker = engine.broker
        portfolio = broker.portfolio
        stats = broker.stats

        yield CounterMetricFamily(
            "alvh_snapshots", "Market snapshots the engine has handled.", value=engine.ticks
        )
        yield CounterMetricFamily(
            "alvh_orders", "Orders submitted to the paper broker.", value=stats.orders
        )
        yield CounterMetricFamily("alvh_fills", "Fills the paper broker made.", value=stats.fills)
        rejects = CounterMetricFamily(
            "alvh_rejects", "Orders the paper broker rejected, by reason.", labels=["reason"]
        )
        for reason, count in sorted(stats.rejects_by_reason.items()):
            rejects.add_metric([reason], count)
        yield rejects
        yield CounterMetricFamily(
            "alvh_handler_errors",
            "Handler exceptions the bus contained.",
            value=engine.bus.handler_errors,
        )
        yield GaugeMetricFamily(
            "alvh_equity_dollars", "Cash plus positions at mid, dollars.", value=broker.equity()
        )
        yield GaugeMetricFamily("alvh_cash_dollars", "Cash, dollars.", value=portfolio.cash)
        realized = GaugeMetricFamily(
            "alvh_realized_pnl_dollars",
            "Realized P&L net of fees per layer, dollars.",
            labels=["layer"],
        )
        for layer in portfolio.layers():
            realized.add_metric([layer], portfolio.realized_pnl(layer))
        yield realized
        age = (
            time.monotonic() - engine.last_snapshot_monotonic
            if engine.last_snapshot_monotonic is not None
            else float("nan")
        )
        yield GaugeMetricFamily(
            "alvh_last_snapshot_age_seconds",
            "Wall seconds since the latest snapshot was handled (NaN before the first).",
            value=age,
        )
        yield GaugeMetricFamily(
            "alvh_bus_queue_depth", "Events waiting on the bus queue.", value=engine.bus.depth
        )
        yield GaugeMetricFamily(
            "alvh_trading_paused",
            "1 while trading is paused, else 0.",
            value=1.0 if broker.trading_paused else 0.0,
        )


class Metrics:
    """One engine's metrics: the scrape-time collector and the latency histogram."""

    def __init__(self, engine: Engine, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.registry.register(EngineCollector(engine))
        self._snapshot_to_order = Histogram(
            "alvh_snapshot_to_order_seconds",
            "Wall seconds from a snapshot's dispatch to an order it caused.",
            buckets=SNAPSHOT_TO_ORDER_BUCKETS,
            registry=self.registry,
        )

    def observe_snapshot_to_order(self, seconds: float) -> None:
        """Record the latency from a snapshot to an order it caused, seconds."""
        self._snapshot_to_order.observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition (content type :data:`CONTENT_TYPE_LATEST`)."""
        return generate_latest(self.registry)

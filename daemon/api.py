"""The HTTP API (aiohttp): ``GET /health``, ``/status`` and ``/positions``; responses are
pydantic models."""

from __future__ import annotations

import time
from datetime import datetime

from aiohttp import web
from pydantic import BaseModel

from brokers.greeks import LayerGreeks, position_greeks
from daemon.engine import Engine

ENGINE_KEY = web.AppKey("engine", Engine)
STARTED_KEY = web.AppKey("started_monotonic", float)


class Health(BaseModel):
    status: str
    uptime_s: float


class PositionView(BaseModel):
    layer: str
    contract: str
    quantity: int
    avg_price: float
    mark: float | None


class Status(BaseModel):
    market_time: datetime | None
    vix: float | None
    spx: float | None
    regime: str
    open_positions: list[PositionView]
    equity: float
    cash: float
    margin_requirement: float
    """Dollars held against open structures (defined-risk width, futures initial margin)."""
    buying_power: float
    """Cash less the margin requirement, dollars."""
    trading_paused: bool
    snapshots: int
    handler_errors: int
    """Handler exceptions contained by the bus since start (each logged as handler_failed)."""
    last_snapshot_age_s: float | None
    """Wall seconds since the latest snapshot was dispatched."""


def status_of(engine: Engine) -> Status:
    snap = engine.last_snapshot
    age = (
        time.monotonic() - engine.last_snapshot_monotonic
        if engine.last_snapshot_monotonic is not None
        else None
    )
    positions = []
    for pos in engine.broker.portfolio.open_positions():
        quote = snap.quote(pos.contract) if snap is not None else None
        positions.append(
            PositionView(
                layer=pos.layer,
                contract=pos.contract.symbol,
                quantity=pos.quantity,
                avg_price=pos.avg_price,
                mark=quote.mid if quote is not None else None,
            )
        )
    return Status(
        market_time=snap.ts if snap else None,
        vix=snap.vix if snap else None,
        spx=snap.spx if snap else None,
        regime=engine.state.regime.value,
        open_positions=positions,
        equity=round(engine.broker.equity(), 2),
        cash=round(engine.broker.portfolio.cash, 2),
        margin_requirement=round(engine.broker.portfolio.requirement(), 2),
        buying_power=round(engine.broker.portfolio.buying_power(), 2),
        trading_paused=engine.broker.trading_paused,
        snapshots=engine.ticks,
        handler_errors=engine.bus.handler_errors,
        last_snapshot_age_s=round(age, 3) if age is not None else None,
    )


class GreeksView(BaseModel):
    """Dollar greeks (units in the README's Greeks section)."""

    spx_delta: float
    spx_gamma: float
    vix_delta: float
    vix_gamma: float
    vega_dollars: float
    theta_per_day: float


class PositionGreeksView(PositionView):
    greeks: GreeksView | None
    """None when the snapshot has no greeks for the contract (it is then listed in ``unpriced``)."""


class Positions(BaseModel):
    market_time: datetime | None
    positions: list[PositionGreeksView]
    layers: dict[str, GreeksView]
    book: GreeksView
    unpriced: list[str]


def _greeks_view(g: LayerGreeks) -> GreeksView:
    return GreeksView(**{k: round(getattr(g, k), 4) for k in GreeksView.model_fields})


def positions_of(engine: Engine) -> Positions:
    snap = engine.last_snapshot
    rows = []
    for pos in engine.broker.portfolio.open_positions():
        quote = snap.quote(pos.contract) if snap is not None else None
        greeks = position_greeks(pos, snap) if snap is not None else None
        rows.append(
            PositionGreeksView(
                layer=pos.layer,
                contract=pos.contract.symbol,
                quantity=pos.quantity,
                avg_price=pos.avg_price,
                mark=quote.mid if quote is not None else None,
                greeks=_greeks_view(greeks) if greeks is not None else None,
            )
        )
    book = engine.broker.greeks()
    return Positions(
        market_time=snap.ts if snap else None,
        positions=rows,
        layers={layer: _greeks_view(g) for layer, g in book.layers.items()},
        book=_greeks_view(book.book),
        unpriced=list(book.unpriced),
    )


def _json(model: BaseModel) -> web.Response:
    return web.Response(text=model.model_dump_json(), content_type="application/json")


async def health(request: web.Request) -> web.Response:
    started = request.app[STARTED_KEY]
    return _json(Health(status="ok", uptime_s=round(time.monotonic() - started, 3)))


async def status(request: web.Request) -> web.Response:
    return _json(status_of(request.app[ENGINE_KEY]))


async def positions(request: web.Request) -> web.Response:
    return _json(positions_of(request.app[ENGINE_KEY]))


def build_app(engine: Engine) -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    app[ENGINE_KEY] = engine
    app[STARTED_KEY] = time.monotonic()
    app.router.add_get("/health", health)
    app.router.add_get("/status", status)
    app.router.add_get("/positions", positions)
    return app

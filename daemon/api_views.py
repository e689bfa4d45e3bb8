"""What the API serves, as pydantic models, and how each is read off the engine.

The HTTP handlers (:mod:`daemon.api`) only route, authorize and serialize; everything a response
says is built here from the engine, the broker and the ledger.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from brokers.greeks import LayerGreeks, position_greeks
from daemon.engine import Engine
from daemon.eventlog import event_fields

DEFAULT_PAGE_LIMIT = 100
MAX_PAGE_LIMIT = 1000


class Health(BaseModel):
    status: str
    """``ok``; ``degraded`` when a layer is halted (the daemon itself is alive); ``unhealthy``
    (HTTP 503) when the daemon can no longer trade, e.g. after a failed ledger write."""
    uptime_s: float
    halted_layers: dict[str, str] = {}
    """Layer -> the exception that halted it."""


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
    risk_halt: dict[str, Any] | None = None
    """The risk limit that halted opening orders (limit, value, threshold, equity ...) until an
    operator resumes; None when not risk-halted."""
    rsi: float | None = None
    """Provisional RSI of the 30-day constant-maturity VX (None while it warms up)."""
    hedge_vx_equivalents: float = 0.0
    """The VIX hedge held, in VX futures equivalents."""
    snapshots: int
    handler_errors: int
    """Handler exceptions contained by the bus since start (each logged as handler_failed)."""
    last_snapshot_age_s: float | None
    feed_stale: bool
    """No snapshot for ``runtime.stale_after_s``: quotes are old, no layer can open anything."""
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
        risk_halt=event_fields(engine.risk.halted) if engine.risk.halted is not None else None,
        rsi=engine.state.rsi(snap) if snap is not None else None,
        hedge_vx_equivalents=round(engine.hedge.vx_equivalents(), 4),
        snapshots=engine.ticks,
        handler_errors=engine.bus.handler_errors,
        last_snapshot_age_s=round(age, 3) if age is not None else None,
        feed_stale=engine.feed_stale(),
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


class ErrorField(BaseModel):
    """One invalid field: where it is and what is wrong, never the value that was sent."""

    loc: list[str | int]
    msg: str


class ErrorBody(BaseModel):
    error: str
    detail: str | None = None
    fields: list[ErrorField] | None = None


class Ready(BaseModel):
    ready: bool
    reason: str | None = None


class ControlBody(BaseModel):
    """The optional JSON body of ``POST /pause /resume /flatten /reload``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str = Field("operator", max_length=200)
    """Why the operator acted; recorded with the control event."""


class ControlApplied(BaseModel):
    applied: str
    """The control kind: pause, resume or flatten."""
    position: int
    """Feed position (snapshot ``seq``) the control event was recorded at."""


class ReloadAccepted(BaseModel):
    accepted: str
    note: str
    result: dict[str, Any]
    """What the daemon's reload callback returned."""


class PageQuery(BaseModel):
    limit: int = Field(DEFAULT_PAGE_LIMIT, ge=1, le=MAX_PAGE_LIMIT)
    offset: int = Field(0, ge=0)


class Page(BaseModel):
    items: list[dict[str, Any]]
    """Ledger rows, oldest first."""
    total: int
    limit: int
    offset: int


class Pnl(BaseModel):
    """The account's P&L, dollars (SPEC section 14: realized is net of fees)."""

    market_time: datetime | None
    realized_by_layer: dict[str, float]
    realized_total: float
    """All layers' realized P&L net of fees, plus interest on cash."""
    unrealized: float
    """Open positions at mid less their cost."""
    fees: float
    interest: float
    equity: float
    cash: float


def pnl_of(engine: Engine) -> Pnl:
    broker = engine.broker
    portfolio = broker.portfolio
    snap = engine.last_snapshot
    return Pnl(
        market_time=snap.ts if snap else None,
        realized_by_layer={
            layer: round(portfolio.realized_pnl(layer), 2) for layer in portfolio.layers()
        },
        realized_total=round(portfolio.realized_pnl(), 2),
        unrealized=round(portfolio.unrealized_pnl(broker.marks()), 2),
        fees=round(portfolio.fees_paid, 2),
        interest=round(portfolio.interest, 2),
        equity=round(broker.equity(), 2),
        cash=round(portfolio.cash, 2),
    )

"""The HTTP API (aiohttp, SPEC section 12); responses are pydantic models.

Reads: ``GET /health /ready /status /positions /orders /fills /pnl /metrics`` (list endpoints
paginated with ``?limit=&offset=``). Controls: ``POST /pause /resume /flatten /reload``, each
behind a bearer token (no token configured: every POST is refused), with size-limited bodies
validated by :class:`ControlBody`. Once the daemon is stopping, every control is refused (503)
and ``/ready`` says not ready; the reads go on answering until the API shuts down.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web
from pydantic import BaseModel, ValidationError

from daemon.api_views import (
    ControlApplied,
    ControlBody,
    ErrorBody,
    ErrorField,
    Health,
    Page,
    PageQuery,
    Ready,
    ReloadAccepted,
    pnl_of,
    positions_of,
    status_of,
)
from daemon.engine import Control, Engine
from daemon.metrics import CONTENT_TYPE_LATEST, Metrics

log = structlog.get_logger("alvh.daemon.api")

ENGINE_KEY = web.AppKey("engine", Engine)
STARTED_KEY = web.AppKey("started_monotonic", float)
TOKEN_KEY = web.AppKey("token", str)
"""The bearer token; absent when none is configured (every POST is then refused)."""
MAX_BODY_KEY = web.AppKey("max_body_bytes", int)
READY_KEY: web.AppKey[Callable[[], bool]] = web.AppKey("ready")
STOPPING_KEY: web.AppKey[Callable[[], bool]] = web.AppKey("stopping")
"""Whether the daemon is stopping: from then on no control may be applied or recorded."""
RELOAD_KEY: web.AppKey[Callable[[], dict[str, Any]]] = web.AppKey("reload")
"""Absent when the daemon has no config source to reload from (``POST /reload`` is 501)."""
METRICS_KEY = web.AppKey("metrics", Metrics)

DEFAULT_MAX_BODY_BYTES = 16 * 1024
STOPPING_ERROR = "the daemon is stopping"


def _json(
    model: BaseModel, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        text=model.model_dump_json(exclude_none=isinstance(model, ErrorBody | Ready)),
        status=status,
        headers=headers,
        content_type="application/json",
    )


def _field_errors(exc: ValidationError) -> list[ErrorField]:
    return [
        ErrorField(loc=list(e["loc"]), msg=e["msg"])
        for e in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


def _bad_request(error: str, exc: ValidationError) -> web.Response:
    return _json(ErrorBody(error=error, fields=_field_errors(exc)), status=400)


def _too_large(limit: int) -> web.Response:
    return _json(
        ErrorBody(error="request body too large", detail=f"the limit is {limit} bytes"), status=413
    )


def _unauthorized(detail: str) -> web.Response:
    return _json(
        ErrorBody(error="unauthorized", detail=detail),
        status=401,
        headers={"WWW-Authenticate": 'Bearer realm="alvh"'},
    )


def _refused_while_stopping(request: web.Request) -> web.Response | None:
    """The 503 to send when the daemon is stopping, else None (the control may be applied).

    Called right before a control is applied, with no await in between: a request whose body
    was still arriving when the stop signal was handled is refused too, so no control is
    recorded after the daemon's stop marker."""
    if not request.app[STOPPING_KEY]():
        return None
    log.warning(
        "api_control_refused", method=request.method, path=request.path, reason=STOPPING_ERROR
    )
    return _json(ErrorBody(error=STOPPING_ERROR), status=503)


def _authorized(request: web.Request) -> str | None:
    """None when the request carries the configured bearer token, else why not."""
    token = request.app.get(TOKEN_KEY)
    if not token:
        return "the API token is not configured: control calls are disabled"
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return "a bearer token is required"
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return "invalid bearer token"
    return None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def guard_mutations(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every non-read call needs the bearer token and a body within the size limit."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return await handler(request)
    problem = _authorized(request)
    if problem is not None:
        log.warning("api_unauthorized", method=request.method, path=request.path, reason=problem)
        return _unauthorized(problem)
    limit = request.app[MAX_BODY_KEY]
    if request.content_length is not None and request.content_length > limit:
        return _too_large(limit)
    return await handler(request)


async def _control_body(request: web.Request) -> ControlBody | web.Response:
    """The validated body (empty: the defaults), or the error response to send."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _too_large(request.app[MAX_BODY_KEY])
    if not raw.strip():
        return ControlBody()
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = (
            f"line {exc.lineno} column {exc.colno}"
            if isinstance(exc, json.JSONDecodeError)
            else "not UTF-8"
        )
        return _json(ErrorBody(error="invalid JSON", detail=where), status=400)
    try:
        return ControlBody.model_validate(data)
    except ValidationError as exc:
        return _bad_request("invalid body", exc)


def _page_query(request: web.Request) -> PageQuery | web.Response:
    query = {k: request.query[k] for k in ("limit", "offset") if k in request.query}
    try:
        return PageQuery.model_validate(query)
    except ValidationError as exc:
        return _bad_request("invalid query", exc)


def _page(request: web.Request, rows: list[dict[str, Any]]) -> web.Response:
    query = _page_query(request)
    if isinstance(query, web.Response):
        return query
    items = rows[query.offset : query.offset + query.limit]
    return _json(Page(items=items, total=len(rows), limit=query.limit, offset=query.offset))


# -- reads -------------------------------------------------------------------------------------


async def health(request: web.Request) -> web.Response:
    started = request.app[STARTED_KEY]
    engine = request.app[ENGINE_KEY]
    halted = dict(engine.halted)
    if engine.fatal is not None:
        halted["daemon"] = engine.fatal
    body = Health(
        status="unhealthy" if engine.fatal else "degraded" if halted else "ok",
        uptime_s=round(time.monotonic() - started, 3),
        halted_layers=halted,
    )
    return web.Response(
        text=body.model_dump_json(),
        content_type="application/json",
        status=503 if engine.fatal else 200,
    )


async def ready_view(request: web.Request) -> web.Response:
    if request.app[STOPPING_KEY]():
        return _json(Ready(ready=False, reason=STOPPING_ERROR), status=503)
    if request.app[READY_KEY]():
        return _json(Ready(ready=True))
    engine = request.app[ENGINE_KEY]
    if engine.ticks == 0:
        reason = "no market snapshot processed yet"
    elif engine.feed_stale():
        reason = f"feed stale: no snapshot for over {engine.config.runtime.stale_after_s:g} s"
    else:
        reason = "recovering: re-deriving history from the ledger"
    return _json(Ready(ready=False, reason=reason), status=503)


async def status(request: web.Request) -> web.Response:
    return _json(status_of(request.app[ENGINE_KEY]))


async def positions(request: web.Request) -> web.Response:
    return _json(positions_of(request.app[ENGINE_KEY]))


async def orders(request: web.Request) -> web.Response:
    return _page(request, request.app[ENGINE_KEY].ledger_writer().orders())


async def fills(request: web.Request) -> web.Response:
    return _page(request, request.app[ENGINE_KEY].ledger_writer().fills())


async def pnl(request: web.Request) -> web.Response:
    return _json(pnl_of(request.app[ENGINE_KEY]))


async def metrics_view(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[METRICS_KEY].render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


# -- controls ----------------------------------------------------------------------------------


def _control(kind: str) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        body = await _control_body(request)
        if isinstance(body, web.Response):
            return body
        refused = _refused_while_stopping(request)
        if refused is not None:
            return refused
        engine = request.app[ENGINE_KEY]
        engine.control(Control(kind, {"reason": body.reason}))
        return _json(ControlApplied(applied=kind, position=engine.ledger.position))

    handle.__name__ = kind
    return handle


async def reload_view(request: web.Request) -> web.Response:
    body = await _control_body(request)
    if isinstance(body, web.Response):
        return body
    callback = request.app.get(RELOAD_KEY)
    if callback is None:
        return _json(ErrorBody(error="reload is not available"), status=501)
    refused = _refused_while_stopping(request)
    if refused is not None:
        return refused
    log.info("api_reload_requested", reason=body.reason)
    result = callback()
    return _json(
        ReloadAccepted(
            accepted="reload",
            note="the daemon reloads its config from its config source (file and ALVH_* env)",
            result=result,
        ),
        status=202,
    )


def build_app(
    engine: Engine,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ready: Callable[[], bool] | None = None,
    reload: Callable[[], dict[str, Any]] | None = None,
    metrics: Metrics | None = None,
    stopping: Callable[[], bool] | None = None,
) -> web.Application:
    """The API over ``engine``.

    ``token``: the bearer token every POST needs (None or empty: every POST is refused).
    ``ready``: whether ``GET /ready`` says ready (default: a snapshot has been handled).
    ``reload``: re-read the config and apply it, returning a summary (None: ``/reload`` is 501).
    ``metrics``: the engine's metrics, when the runner shares them with the engine (default: a
    fresh :class:`~daemon.metrics.Metrics` on its own registry).
    ``stopping``: whether the daemon is stopping (default: never); once true, every control is
    refused with 503 ``{"error": "the daemon is stopping"}`` and ``GET /ready`` answers 503.
    """
    app = web.Application(client_max_size=max_body_bytes, middlewares=[guard_mutations])
    app[ENGINE_KEY] = engine
    app[STARTED_KEY] = time.monotonic()
    app[MAX_BODY_KEY] = max_body_bytes
    if token:
        app[TOKEN_KEY] = token
    app[READY_KEY] = ready if ready is not None else (lambda: engine.ticks > 0)
    app[STOPPING_KEY] = stopping if stopping is not None else (lambda: False)
    if reload is not None:
        app[RELOAD_KEY] = reload
    app[METRICS_KEY] = metrics if metrics is not None else Metrics(engine)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready_view)
    app.router.add_get("/status", status)
    app.router.add_get("/positions", positions)
    app.router.add_get("/orders", orders)
    app.router.add_get("/fills", fills)
    app.router.add_get("/pnl", pnl)
    app.router.add_get("/metrics", metrics_view)
    for kind in ("pause", "resume", "flatten"):
        app.router.add_post(f"/{kind}", _control(kind))
    app.router.add_post("/reload", reload_view)
    return app

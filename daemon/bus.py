"""The typed event bus (SPEC section 2).

Topics are event types. Producers outside the pipeline (the feed, the API) ``await put(event)``
onto a bounded queue; one dispatcher task takes each event and dispatches it synchronously to
its subscribers, in subscription order. Anything a handler publishes is appended to a FIFO and
dispatched before the next queued event, so everything a snapshot causes (orders, fills, exits)
happens at that snapshot's timestamp, before the next snapshot (SPEC section 10's phases).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger("alvh.daemon.bus")

Handler = Callable[[Any], None]


class _Stop:
    __slots__ = ()


_STOP = _Stop()


def topic_of(event_type: type) -> str:
    """The one place topic names are built: ``market.MarketSnapshot`` style."""
    return f"{event_type.__module__.split('.')[0]}.{event_type.__qualname__}"


class EventBus:
    """Synchronous dispatch inside one asyncio dispatcher, with per-handler error containment.

    A handler's exception is logged, counted and contained, unless it is one of ``fatal``
    (e.g. a failed ledger write): those propagate, because going on would trade on state the
    ledger does not hold.
    """

    def __init__(self, maxsize: int = 10_000, fatal: tuple[type[BaseException], ...] = ()) -> None:
        self._fatal = fatal
        self._subscribers: dict[type, list[Handler]] = defaultdict(list)
        self._pending: deque[object] = deque()
        self._queue: asyncio.Queue[object] | None = None
        self._maxsize = maxsize
        self._dispatching = False
        self.dispatched = 0
        self.handler_errors = 0

    def subscribe(self, event_type: type, handler: Handler) -> None:
        self._subscribers[event_type].append(handler)

    def publish(self, event: object) -> None:
        """Publish from inside the pipeline (handlers); dispatched in FIFO order."""
        self._pending.append(event)
        if not self._dispatching:
            self._drain()

    def publish_next(self, *events: object) -> None:
        """Publish ahead of everything already queued, in the order given: for a command that
        must take effect before events the same snapshot queued earlier (a risk halt's pause
        must beat an opening order an actor sent at the snapshot whose mark breached the limit).
        """
        self._pending.extendleft(reversed(events))
        if not self._dispatching:
            self._drain()

    def dispatch(self, event: object) -> None:
        """Dispatch ``event`` and, synchronously, everything it causes."""
        self._pending.append(event)
        self._drain()

    def _drain(self) -> None:
        self._dispatching = True
        pending = self._pending
        subscribers = self._subscribers
        try:
            while pending:
                event = pending.popleft()
                self.dispatched += 1
                for handler in subscribers.get(type(event), ()):
                    try:
                        handler(event)
                    except self._fatal:
                        raise
                    except Exception:
                        self.handler_errors += 1
                        log.exception(
                            "handler_failed",
                            topic=topic_of(type(event)),
                            handler=getattr(handler, "__qualname__", repr(handler)),
                        )
        finally:
            self._dispatching = False

    # -- async intake --------------------------------------------------------------------------

    @property
    def queue(self) -> asyncio.Queue[object]:
        if self._queue is None:
            self._queue = asyncio.Queue(self._maxsize)
        return self._queue

    @property
    def depth(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    async def put(self, event: object) -> None:
        """Queue an event from outside the pipeline; waits when the queue is full."""
        await self.queue.put(event)

    async def stop(self) -> None:
        """Ask the dispatcher to finish what is queued and return."""
        await self.queue.put(_STOP)

    async def run(self) -> None:
        """Dispatcher task: dispatch queued events until :meth:`stop`."""
        queue = self.queue
        while True:
            event = await queue.get()
            if event is _STOP:
                return
            self.dispatch(event)

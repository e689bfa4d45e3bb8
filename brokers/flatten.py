"""Flatten bookkeeping: which structures still wait to be closed, and their closing combos.

A structure is a (layer, root, expiry) group of options or one (layer, future). Each gets one
market combo (client order id ``flatten-<n>``, reason ``flatten`` or the flatten's own, such as
``risk_halt``) that goes out as soon as every
leg has a fresh quote: at once, or at a later snapshot; never part of a structure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Container, Iterable, Sequence
from functools import reduce

import structlog

from market.clock import Clock

from .config import BrokerConfig
from .fills import Unpriceable, price_combo
from .orders import OrderIntent, OrderLeg, SubmitOrder, TimeInForce
from .portfolio import GroupKey, Portfolio, Position, group_key
from .ports import MarketView
from .validation import Rejection, stale_problem

log = structlog.get_logger(__name__)


def close_order(
    client_order_id: str, layer: str, positions: Sequence[Position], reason: str = "flatten"
) -> SubmitOrder:
    """One market combo closing ``positions``, at the largest common quantity; ``reason`` is the
    flatten's (``flatten`` from an operator, ``risk_halt`` from the risk limits)."""
    quantity = reduce(math.gcd, (abs(p.quantity) for p in positions))
    legs = tuple(OrderLeg(p.contract, -p.quantity // quantity) for p in positions)
    return SubmitOrder(
        client_order_id,
        layer,
        legs,
        quantity,
        intent=OrderIntent.CLOSE,
        reason=reason,
        time_in_force=TimeInForce.GTC,
    )


class FlattenQueue:
    """The structures a flatten still has to close, by the client order id of their combo."""

    def __init__(self, portfolio: Portfolio, config: BrokerConfig, clock: Clock) -> None:
        self._portfolio = portfolio
        self._config = config
        self._clock = clock
        self._pending: dict[str, GroupKey] = {}
        self._reason = "flatten"
        self._logged: set[str] = set()
        self._next = 1

    @property
    def pending(self) -> tuple[str, ...]:
        """Client order ids of flatten combos still waiting for quotes."""
        return tuple(self._pending)

    def __bool__(self) -> bool:
        return bool(self._pending)

    def start(
        self, keys: Iterable[GroupKey], used: Container[str], reason: str = "flatten"
    ) -> tuple[str, ...]:
        """Queue one combo per structure in ``keys``, replacing the queue; a structure already
        waiting keeps its id, a new one gets the next ``flatten-<n>`` not in ``used``. The combos
        carry ``reason``: an exit rule the layers count (``flatten`` or ``risk_halt``)."""
        self._reason = reason if reason in ("flatten", "risk_halt") else "flatten"
        pending: dict[str, GroupKey] = {}
        waiting = {key: cid for cid, key in self._pending.items()}
        for key in keys:
            pending[waiting.get(key) or self._new_id(used)] = key
        self._pending = pending
        return tuple(pending)

    def send(self, snap: MarketView, submit: Callable[[SubmitOrder], None]) -> None:
        """Submit the combo of every structure whose legs all have fresh quotes in ``snap``;
        drop the structures already closed, log the ones that still wait."""
        for cid, key in list(self._pending.items()):
            layer = key[0]
            positions = [
                p
                for p in self._portfolio.open_positions(layer)
                if group_key(layer, p.contract) == key
            ]
            if not positions:
                del self._pending[cid]
                continue
            order = close_order(cid, layer, positions, self._reason)
            problem = stale_problem(snap, self._clock, self._config.max_quote_age)
            if problem is None:
                price = price_combo(order.legs, order.quantity, snap, self._config)
                if isinstance(price, Unpriceable):
                    problem = Rejection(price.reason, price.message)
            if problem is not None:
                self.log_waiting(cid, problem.message, layer=layer, key=key)
                continue
            del self._pending[cid]
            submit(order)

    def log_waiting(self, cid: str, why: str, layer: str = "", key: GroupKey | None = None) -> None:
        """Warn, once per combo, that it cannot go out yet."""
        if cid in self._logged:
            return
        self._logged.add(cid)
        structure = f"{key[1]} {key[2].isoformat()}" if key is not None else ""
        log.warning(
            "flatten_waiting", client_order_id=cid, layer=layer, structure=structure, why=why
        )

    def _new_id(self, used: Container[str]) -> str:
        while True:
            cid = f"flatten-{self._next}"
            self._next += 1
            if cid not in used:
                return cid

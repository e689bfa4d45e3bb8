"""The paper broker: validate, fill against the current snapshot, settle, record, publish.

The broker knows no bus and does no I/O of its own beyond the :class:`Ledger` it is given: the
daemon hands it snapshots and commands through its ``on_*`` handlers and receives its events
through ``publish``. Market time comes from snapshot timestamps (the clock only before the first
snapshot), so live, replay and history runs produce the same orders, fills and ids.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Protocol

import structlog

from market.clock import Clock
from market.instruments import OptionContract, Root

from .config import BrokerConfig
from .events import (
    AccountMarked,
    ContractSettled,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    RejectReason,
)
from .fills import ComboPrice, QuoteLike, Unpriceable, price_combo
from .ledger import Ledger, OrderStatus
from .orders import CancelOrder, OrderIntent, OrderType, SubmitOrder
from .portfolio import Portfolio

log = structlog.get_logger(__name__)

_PRICE_EPSILON = 1e-9
"""Tolerance when comparing a 4-decimal fill price with a limit price."""


class MarketView(Protocol):
    """What the broker reads from a market snapshot (``market.snapshot.MarketSnapshot``)."""

    @property
    def ts(self) -> datetime: ...

    @property
    def session(self) -> date: ...

    @property
    def spx(self) -> float: ...

    @property
    def soq(self) -> float | None: ...

    def quote(self, contract: OptionContract) -> QuoteLike | None: ...


@dataclass(slots=True)
class BrokerStats:
    """Counts since the broker started."""

    orders: int = 0
    fills: int = 0
    rejected_orders: int = 0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    cancelled_orders: int = 0
    settlements: int = 0
    proxy_settlements: int = 0


@dataclass(frozen=True, slots=True)
class _Rejection:
    reason: RejectReason
    message: str


@dataclass(frozen=True, slots=True)
class RestingOrder:
    """An accepted limit order waiting for a marketable price."""

    order_id: str
    order: SubmitOrder
    accepted_ts: datetime


class PaperBroker:
    """Paper broker for SPX and VIX options (SPEC section 10)."""

    def __init__(
        self,
        config: BrokerConfig,
        ledger: Ledger,
        publish: Callable[[object], None],
        clock: Clock,
    ) -> None:
        self._config = config
        self._ledger = ledger
        self._publish = publish
        self._clock = clock
        self._portfolio = Portfolio(config.starting_equity)
        self._snap: MarketView | None = None
        self._session: date | None = None
        self._marks: dict[OptionContract, float] = {}
        self._resting: dict[str, RestingOrder] = {}
        self._unsettled = False
        self._client_ids: set[str] = set()
        self._next_order = 1
        self._next_fill = 1
        self._stats = BrokerStats()

    # --- read side -------------------------------------------------------------------------
    @property
    def portfolio(self) -> Portfolio:
        return self._portfolio

    @property
    def stats(self) -> BrokerStats:
        """A copy of the counters."""
        return replace(self._stats, rejects_by_reason=dict(self._stats.rejects_by_reason))

    @property
    def resting_orders(self) -> tuple[RestingOrder, ...]:
        """Accepted limit orders not yet filled or cancelled, oldest first."""
        return tuple(self._resting.values())

    def marks(self) -> dict[OptionContract, float]:
        """Mid of every held contract at the current snapshot (last known mid if unquoted)."""
        snap = self._snap
        marks: dict[OptionContract, float] = {}
        for pos in self._portfolio.positions.values():
            contract = pos.contract
            if contract in marks:
                continue
            quote = snap.quote(contract) if snap is not None else None
            if quote is not None and _usable(quote):
                marks[contract] = (quote.bid + quote.ask) / 2.0
            elif contract in self._marks:
                marks[contract] = self._marks[contract]
        self._marks = marks
        return dict(marks)

    def equity(self) -> float:
        """Cash plus positions at mid of the current snapshot, dollars."""
        return self._portfolio.equity(self.marks())

    def buying_power(self) -> float:
        """Cash less margin requirements, dollars (see :meth:`Portfolio.buying_power`)."""
        return self._portfolio.buying_power()

    # --- handlers --------------------------------------------------------------------------
    def on_market_snapshot(self, snap: MarketView) -> None:
        """Make ``snap`` the current market: settle expired positions, mark a new session,
        cancel resting orders on expired series and fill resting limits that became marketable."""
        self._snap = snap
        new_session = snap.session != self._session
        # Series expire with the session, so only a new session (or a settlement still waiting
        # for its print) can have anything to settle.
        settled = self._settle_expired(snap) if new_session or self._unsettled else 0
        if new_session:
            self._session = snap.session
        if new_session or settled:
            self._publish(self._account_marked(snap.ts))
        if self._resting:
            self._match_resting(snap)

    def on_submit_order(self, cmd: SubmitOrder) -> None:
        """Validate, then reject, fill at the current snapshot, or rest a non-marketable limit."""
        self._stats.orders += 1
        ts = self._now()
        if cmd.client_order_id in self._client_ids:
            # The first order with this id keeps its ledger row; the repeat is only reported.
            self._reject(
                cmd,
                ts,
                _Rejection(
                    RejectReason.DUPLICATE_CLIENT_ORDER_ID,
                    f"client order id {cmd.client_order_id!r} was already used",
                ),
                record=False,
            )
            return
        self._client_ids.add(cmd.client_order_id)
        self._ledger.record_order(cmd, ts)
        problem = _shape_problem(cmd)
        if problem is not None:
            self._reject(cmd, ts, problem)
            return
        snap = self._snap
        if snap is None:
            self._reject(cmd, ts, _Rejection(RejectReason.NO_QUOTE, "no market snapshot yet"))
            return
        expired = [leg.contract.symbol for leg in cmd.legs if leg.contract.expiry <= snap.session]
        if expired:
            self._reject(
                cmd,
                ts,
                _Rejection(RejectReason.NO_QUOTE, f"series no longer trade: {', '.join(expired)}"),
            )
            return
        price = price_combo(cmd.legs, cmd.quantity, snap, self._config)
        if isinstance(price, Unpriceable):
            self._reject(cmd, ts, _Rejection(price.reason, price.message))
            return
        problem = self._position_problem(cmd, price)
        if problem is not None:
            self._reject(cmd, ts, problem)
            return
        order_id = f"O{self._next_order:08d}"
        self._next_order += 1
        self._ledger.record_order_status(
            cmd.client_order_id, OrderStatus.ACCEPTED, ts, order_id=order_id
        )
        log.debug("order_accepted", order_id=order_id, client_order_id=cmd.client_order_id)
        self._publish(OrderAccepted(ts, order_id, cmd.client_order_id, cmd.layer))
        if _marketable(cmd, price):
            self._fill(order_id, cmd, price, ts)
        else:
            self._resting[cmd.client_order_id] = RestingOrder(order_id, cmd, ts)
            log.info(
                "order_resting",
                order_id=order_id,
                client_order_id=cmd.client_order_id,
                limit_price=cmd.limit_price,
                market_price=price.net_price,
            )

    def on_cancel_order(self, cmd: CancelOrder) -> None:
        """Cancel a resting order; an unknown or already finished one is logged and ignored."""
        resting = self._resting.get(cmd.client_order_id)
        if resting is None:
            log.warning("cancel_ignored", client_order_id=cmd.client_order_id, why="not resting")
            return
        self._cancel(resting, self._now(), "cancel_requested")

    # --- phases ----------------------------------------------------------------------------
    def _settle_expired(self, snap: MarketView) -> int:
        """Cash-settle every position whose series has expired; returns how many settled."""
        expired = [p for p in self._portfolio.open_positions() if p.contract.expiry <= snap.session]
        count = 0
        self._unsettled = False
        for pos in expired:
            print_ = _settlement_print(pos.contract.root, snap)
            if print_ is None:
                self._unsettled = True
                log.warning("settlement_waiting", contract=pos.contract.symbol, layer=pos.layer)
                continue
            value, proxy = print_
            intrinsic = pos.contract.intrinsic(value)
            settled = ContractSettled(
                snap.ts,
                pos.layer,
                pos.contract,
                pos.quantity,
                value,
                intrinsic * pos.contract.multiplier * pos.quantity,
                proxy,
            )
            self._ledger.record_settlement(settled, self._portfolio.cash + settled.cash)
            self._portfolio.apply_settlement(settled)
            self._marks.pop(pos.contract, None)
            self._stats.settlements += 1
            if proxy:
                self._stats.proxy_settlements += 1
                log.warning(
                    "settlement_proxy_used",
                    contract=pos.contract.symbol,
                    layer=pos.layer,
                    settlement_price=value,
                )
            self._publish(settled)
            count += 1
        return count

    def _match_resting(self, snap: MarketView) -> None:
        for resting in list(self._resting.values()):
            cmd = resting.order
            if any(leg.contract.expiry <= snap.session for leg in cmd.legs):
                self._cancel(resting, snap.ts, "expired")
                continue
            price = price_combo(cmd.legs, cmd.quantity, snap, self._config)
            if isinstance(price, Unpriceable) or not _marketable(cmd, price):
                continue
            problem = self._position_problem(cmd, price)
            if problem is not None:
                self._cancel(resting, snap.ts, problem.reason.value)
                continue
            del self._resting[cmd.client_order_id]
            self._fill(resting.order_id, cmd, price, snap.ts)

    # --- steps -----------------------------------------------------------------------------
    def _position_problem(self, cmd: SubmitOrder, price: ComboPrice) -> _Rejection | None:
        """Check the order against the account: closes reduce, no naked shorts, buying power."""
        portfolio = self._portfolio
        if cmd.intent is OrderIntent.CLOSE:
            for leg in price.legs:
                held = portfolio.quantity(cmd.layer, leg.contract)
                if held == 0 or (held > 0) == (leg.quantity > 0) or abs(leg.quantity) > abs(held):
                    return _Rejection(
                        RejectReason.NO_POSITION,
                        f"closing {leg.quantity:+d} {leg.contract.symbol} but {cmd.layer!r} "
                        f"holds {held:+d}",
                    )
        effect = portfolio.buying_power_effect(cmd.layer, price.legs, price.fees)
        if effect.naked:
            return _Rejection(
                RejectReason.NAKED_SHORT,
                f"order would leave {cmd.layer!r} with an uncovered short option",
            )
        if cmd.intent is OrderIntent.OPEN and effect.total > 0:
            after = portfolio.buying_power() - effect.total
            if after < 0:
                return _Rejection(
                    RejectReason.INSUFFICIENT_BUYING_POWER,
                    f"needs {effect.total:.2f} of buying power (requirement change "
                    f"{effect.requirement_change:.2f}, credit {effect.credit:.2f}, fees "
                    f"{effect.fees:.2f}); {portfolio.buying_power():.2f} available",
                )
        return None

    def _fill(self, order_id: str, cmd: SubmitOrder, price: ComboPrice, ts: datetime) -> None:
        fill = OrderFilled(
            ts,
            f"F{self._next_fill:08d}",
            order_id,
            cmd.client_order_id,
            cmd.layer,
            cmd.intent,
            cmd.reason,
            cmd.quantity,
            price.net_price,
            price.legs,
            price.fees,
        )
        self._next_fill += 1
        # Durable first: the ledger commits the fill before anyone hears of it.
        self._ledger.record_fill(fill, self._portfolio.cash + fill.cash_change)
        self._portfolio.apply_fill(fill)
        self._stats.fills += 1
        self._publish(fill)
        self._publish(self._account_marked(ts))

    def _reject(
        self, cmd: SubmitOrder, ts: datetime, rejection: _Rejection, *, record: bool = True
    ) -> None:
        reason = rejection.reason
        self._stats.rejected_orders += 1
        self._stats.rejects_by_reason[reason.value] = (
            self._stats.rejects_by_reason.get(reason.value, 0) + 1
        )
        if record:
            status_reason = f"{reason.value}: {rejection.message}"
            self._ledger.record_order_status(
                cmd.client_order_id, OrderStatus.REJECTED, ts, status_reason
            )
        self._publish(OrderRejected(ts, cmd.client_order_id, cmd.layer, reason, rejection.message))

    def _cancel(self, resting: RestingOrder, ts: datetime, reason: str) -> None:
        cmd = resting.order
        del self._resting[cmd.client_order_id]
        self._stats.cancelled_orders += 1
        self._ledger.record_order_status(cmd.client_order_id, OrderStatus.CANCELLED, ts, reason)
        self._publish(OrderCancelled(ts, resting.order_id, cmd.client_order_id, cmd.layer, reason))

    def _account_marked(self, ts: datetime) -> AccountMarked:
        marks = self.marks()
        p = self._portfolio
        return AccountMarked(
            ts,
            p.equity(marks),
            p.cash,
            p.realized_pnl(),
            p.unrealized_pnl(marks),
            p.fees_paid,
            p.buying_power(),
        )

    def _now(self) -> datetime:
        return self._snap.ts if self._snap is not None else self._clock.now()


def _usable(quote: QuoteLike) -> bool:
    return math.isfinite(quote.bid) and math.isfinite(quote.ask) and 0 <= quote.bid <= quote.ask


def _marketable(cmd: SubmitOrder, price: ComboPrice) -> bool:
    if cmd.order_type is OrderType.MARKET:
        return True
    assert cmd.limit_price is not None
    return price.net_price <= cmd.limit_price + _PRICE_EPSILON


def _shape_problem(cmd: SubmitOrder) -> _Rejection | None:
    """Reject orders that are malformed whatever the market does."""

    def invalid(message: str) -> _Rejection:
        return _Rejection(RejectReason.INVALID_ORDER, message)

    if not cmd.layer:
        return invalid("order has no layer")
    if cmd.quantity <= 0:
        return invalid(f"quantity must be positive, got {cmd.quantity}")
    if not cmd.legs:
        return invalid("order has no legs")
    if any(leg.ratio == 0 for leg in cmd.legs):
        return invalid("a leg has a zero ratio")
    contracts = [leg.contract for leg in cmd.legs]
    if len(set(contracts)) != len(contracts):
        return invalid("the same contract appears in more than one leg")
    if cmd.order_type is OrderType.LIMIT:
        if cmd.limit_price is None:
            return invalid("limit order without a limit price")
        if not math.isfinite(cmd.limit_price):
            return invalid(f"limit price must be finite, got {cmd.limit_price}")
    return None


def _settlement_print(root: Root, snap: MarketView) -> tuple[float, bool] | None:
    """The value a root's options settle at in ``snap`` and whether it is a proxy.

    SPX settles at the SOQ; without one, the snapshot's SPX level stands in (a proxy, logged).
    VIX options settle at the VRO when a snapshot carries one, else at the VIX level (a proxy).
    """
    if root is Root.SPX:
        if snap.soq is not None:
            return snap.soq, False
        return snap.spx, True
    vro = getattr(snap, "vro", None)
    if vro is not None:
        return float(vro), False
    vix = getattr(snap, "vix", None)
    return (float(vix), True) if vix is not None else None

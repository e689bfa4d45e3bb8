"""The paper broker: validate, fill against the current snapshot, settle, record, publish.

The broker knows no bus and does no I/O of its own beyond the ledger it is given: the daemon hands
it snapshots and commands through its ``on_*`` handlers and receives its events through
``publish``. Market time comes from snapshot timestamps (the clock only before the first snapshot,
and to tell how old the current snapshot is), so live, replay and history runs produce the same
orders, fills and ids.

Per snapshot, in this order: on the first snapshot of a new session, settle the futures' daily
variation at the previous session's last mid, credit interest on cash, cash-settle expired series;
then mark the account, cancel resting orders on expired series and DAY orders of earlier sessions,
fill resting limits that became marketable, and send the flatten combos whose legs now have quotes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import reduce
from typing import Protocol

import structlog

from market.clock import Clock
from market.instruments import (
    SPX_STRIKE_STEP,
    VIX_STRIKE_STEP,
    Contract,
    FutureContract,
    FutureRoot,
    OptionContract,
    Root,
)

from .config import BrokerConfig
from .events import (
    AccountMarked,
    ContractSettled,
    FlattenStarted,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    RejectReason,
    TradingPaused,
    TradingResumed,
)
from .fills import ComboPrice, QuoteLike, Unpriceable, price_combo
from .ledger import OrderStatus
from .orders import (
    CancelOrder,
    Flatten,
    OrderIntent,
    OrderLeg,
    OrderType,
    PauseTrading,
    ResumeTrading,
    SubmitOrder,
    TimeInForce,
)
from .portfolio import BookGreeks, GreeksLike, GroupKey, Portfolio, book_greeks, group_key

log = structlog.get_logger(__name__)

_PRICE_EPSILON = 1e-9
"""Tolerance when comparing a 4-decimal fill price with a limit price."""
_DAYS_PER_YEAR = 365.0
"""Interest accrues per calendar day, on a 365-day year."""


class CurvePoint(Protocol):
    @property
    def expiry(self) -> date: ...


class MarketView(Protocol):
    """What the broker reads from a market snapshot (``market.snapshot.MarketSnapshot``)."""

    @property
    def ts(self) -> datetime: ...

    @property
    def session(self) -> date: ...

    @property
    def spx(self) -> float: ...

    @property
    def vix(self) -> float: ...

    @property
    def soq(self) -> float | None: ...

    @property
    def vro(self) -> float | None: ...

    @property
    def rate(self) -> float: ...

    @property
    def spx_expiries(self) -> tuple[date, ...]: ...

    @property
    def vx_curve(self) -> tuple[CurvePoint, ...]: ...

    def quote(self, contract: Contract) -> QuoteLike | None: ...

    def option_greeks(self, contract: OptionContract) -> GreeksLike | None: ...


class BrokerLedger(Protocol):
    """The ledger writes the broker makes (``brokers.ledger.Ledger``)."""

    def record_order(self, cmd: SubmitOrder, ts: datetime) -> None: ...

    def record_order_status(
        self,
        client_order_id: str,
        status: str,
        ts: datetime,
        reason: str = "",
        order_id: str | None = None,
    ) -> None: ...

    def record_fill(self, fill: OrderFilled, cash_after: float) -> None: ...

    def record_settlement(self, settled: ContractSettled, cash_after: float) -> None: ...

    def record_cash_movement(
        self,
        ts: datetime,
        kind: str,
        amount: float,
        cash_after: float,
        layer: str | None = None,
        symbol: str | None = None,
        note: str = "",
    ) -> None: ...


@dataclass(slots=True)
class BrokerStats:
    """Counts since the broker started (fees are :attr:`Portfolio.fees_paid`)."""

    orders: int = 0
    fills: int = 0
    rejected_orders: int = 0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    cancelled_orders: int = 0
    duplicate_orders_ignored: int = 0
    settlements: int = 0
    proxy_settlements: int = 0


@dataclass(frozen=True, slots=True)
class _Rejection:
    reason: RejectReason
    message: str


@dataclass(frozen=True, slots=True)
class RestingOrder:
    """An accepted limit order waiting for a marketable price; ``session`` is when it was
    accepted (a DAY order lives until that session ends)."""

    order_id: str
    order: SubmitOrder
    accepted_ts: datetime
    session: date | None = None


class PaperBroker:
    """Paper broker for SPX and VIX options and VX/VXM futures (SPEC section 10)."""

    def __init__(
        self,
        config: BrokerConfig,
        ledger: BrokerLedger,
        publish: Callable[[object], None],
        clock: Clock,
    ) -> None:
        self._config = config
        self._ledger = ledger
        self._publish = publish
        self._clock = clock
        self._portfolio = Portfolio(
            config.starting_equity,
            {root: config.initial_margin(root) for root in FutureRoot},
        )
        self._snap: MarketView | None = None
        self._session: date | None = None
        self._marks: dict[Contract, float] = {}
        self._resting: dict[str, RestingOrder] = {}
        self._orders: dict[str, SubmitOrder] = {}
        self._paused = False
        self._flatten_pending: dict[str, GroupKey] = {}
        self._flatten_logged: set[str] = set()
        self._next_order = 1
        self._next_fill = 1
        self._next_flatten = 1
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

    @property
    def trading_paused(self) -> bool:
        """True between :class:`PauseTrading` and :class:`ResumeTrading`."""
        return self._paused

    @property
    def flatten_pending(self) -> tuple[str, ...]:
        """Client order ids of flatten combos still waiting for quotes."""
        return tuple(self._flatten_pending)

    def marks(self) -> dict[Contract, float]:
        """Mid of every held contract at the current snapshot (last known mid if unquoted)."""
        snap = self._snap
        marks: dict[Contract, float] = {}
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

    def greeks(self) -> BookGreeks:
        """Dollar greeks per layer and for the book at the current snapshot (see
        :class:`~brokers.portfolio.LayerGreeks` for units)."""
        if self._snap is None:
            return BookGreeks()
        return book_greeks(self._portfolio.open_positions(), self._snap)

    # --- handlers --------------------------------------------------------------------------
    def on_market_snapshot(self, snap: MarketView) -> None:
        """Make ``snap`` the current market and run the per-snapshot phases (module docstring)."""
        previous = self._session
        self._snap = snap
        new_session = snap.session != previous
        if new_session:
            if previous is not None:
                self._settle_variation(snap)
                self._credit_interest(snap, previous)
            self._settle_expired(snap)
            self._session = snap.session
        self.marks()  # remember the last mids: the futures' daily settlement reads them
        if new_session:
            self._publish(self._account_marked(snap.ts))
        if self._resting:
            self._match_resting(snap, new_session)
        if self._flatten_pending:
            self._send_flatten(snap)

    def on_submit_order(self, cmd: SubmitOrder) -> None:
        """Validate, then reject, fill at the current snapshot, or rest a non-marketable limit.

        An identical resubmission of a known client order id is ignored (idempotent).
        """
        self._submit(cmd)

    def on_cancel_order(self, cmd: CancelOrder) -> None:
        """Cancel a resting order; an unknown or already finished one is logged and ignored."""
        resting = self._resting.get(cmd.client_order_id)
        if resting is None:
            log.warning("cancel_ignored", client_order_id=cmd.client_order_id, why="not resting")
            return
        self._cancel(resting, self._now(), "cancel_requested")

    def on_pause_trading(self, cmd: PauseTrading) -> None:
        """Reject opening orders from now on (resting opening orders wait); closes still pass."""
        self._paused = True
        log.warning("trading_paused", reason=cmd.reason)
        self._publish(TradingPaused(self._now(), cmd.reason))

    def on_resume_trading(self, cmd: ResumeTrading) -> None:
        """Accept opening orders again."""
        self._paused = False
        log.warning("trading_resumed", reason=cmd.reason)
        self._publish(TradingResumed(self._now(), cmd.reason))

    def on_flatten(self, cmd: Flatten) -> None:
        """Cancel every resting order, then close every structure as one market combo.

        A structure is a (layer, root, expiry) group of options or one (layer, future). Its
        combo (client order id ``flatten-<n>``, reason ``flatten``) is sent as soon as every leg
        has a fresh quote: at once, or at a later snapshot; never part of a structure.
        """
        ts = self._now()
        pending: dict[str, GroupKey] = {}
        waiting = {key: cid for cid, key in self._flatten_pending.items()}
        for key in sorted(self._portfolio.requirements()):
            pending[waiting.get(key) or self._new_flatten_id()] = key
        self._flatten_pending = pending
        log.warning("flatten_started", reason=cmd.reason, structures=len(pending))
        self._publish(FlattenStarted(ts, cmd.reason, len(pending)))
        for resting in list(self._resting.values()):
            self._cancel(resting, ts, "flatten")
        if self._snap is not None:
            self._send_flatten(self._snap)
        else:
            for cid in pending:
                self._log_flatten_waiting(cid, "no market snapshot yet")

    # --- session change --------------------------------------------------------------------
    def _settle_variation(self, snap: MarketView) -> None:
        """Move every open future's daily variation into cash at its last mid of the previous
        session, which becomes its reference price."""
        for pos in self._portfolio.open_positions():
            contract = pos.contract
            if not isinstance(contract, FutureContract):
                continue
            settlement = self._marks.get(contract)
            if settlement is None:
                log.warning("variation_without_mark", contract=contract.symbol, layer=pos.layer)
                continue
            amount = self._portfolio.apply_variation(pos.layer, contract, settlement)
            if amount:
                self._ledger.record_cash_movement(
                    snap.ts,
                    "variation",
                    amount,
                    self._portfolio.cash,
                    layer=pos.layer,
                    symbol=contract.symbol,
                    note=f"daily settlement at {settlement}",
                )

    def _credit_interest(self, snap: MarketView, previous: date) -> None:
        """Credit (or charge) cash x rate x calendar days since the previous session / 365."""
        days = (snap.session - previous).days
        amount = self._portfolio.cash * snap.rate * days / _DAYS_PER_YEAR
        if not amount:
            return
        self._portfolio.apply_interest(amount)
        self._ledger.record_cash_movement(
            snap.ts,
            "interest",
            amount,
            self._portfolio.cash,
            note=f"{days} days at {snap.rate}",
        )

    def _settle_expired(self, snap: MarketView) -> None:
        """Cash-settle every position whose series has expired, each underlying against the one
        print of this snapshot: SPX options at the SOQ, VIX options and VX/VXM futures at the VRO.
        """
        for pos in self._portfolio.open_positions():
            contract = pos.contract
            if contract.expiry > snap.session:
                continue
            value, proxy = _settlement_print(contract, snap)
            if isinstance(contract, OptionContract):
                cash = contract.intrinsic(value) * contract.multiplier * pos.quantity
            else:
                cash = (value - pos.avg_price) * contract.multiplier * pos.quantity
            settled = ContractSettled(
                snap.ts, pos.layer, contract, pos.quantity, value, cash, proxy
            )
            self._ledger.record_settlement(settled, self._portfolio.cash + settled.cash)
            self._portfolio.apply_settlement(settled)
            self._marks.pop(contract, None)
            self._stats.settlements += 1
            if proxy:
                self._stats.proxy_settlements += 1
                log.warning(
                    "settlement_proxy_used",
                    contract=contract.symbol,
                    layer=pos.layer,
                    settlement_price=value,
                )
            self._publish(settled)

    # --- resting orders and flatten --------------------------------------------------------
    def _match_resting(self, snap: MarketView, new_session: bool) -> None:
        for resting in list(self._resting.values()):
            cmd = resting.order
            if any(leg.contract.expiry <= snap.session for leg in cmd.legs):
                self._cancel(resting, snap.ts, "expired")
                continue
            if (
                new_session
                and cmd.time_in_force is TimeInForce.DAY
                and resting.session is not None
                and resting.session < snap.session
            ):
                self._cancel(resting, snap.ts, "day_expired")
                continue
            if self._paused and cmd.intent is OrderIntent.OPEN:
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

    def _send_flatten(self, snap: MarketView) -> None:
        for cid, key in list(self._flatten_pending.items()):
            layer = key[0]
            positions = [
                p
                for p in self._portfolio.open_positions(layer)
                if group_key(layer, p.contract) == key
            ]
            if not positions:
                del self._flatten_pending[cid]
                continue
            quantity = reduce(math.gcd, (abs(p.quantity) for p in positions))
            legs = tuple(OrderLeg(p.contract, -p.quantity // quantity) for p in positions)
            order = SubmitOrder(
                cid,
                layer,
                legs,
                quantity,
                intent=OrderIntent.CLOSE,
                reason="flatten",
                time_in_force=TimeInForce.GTC,
            )
            problem = self._stale(snap)
            if problem is None:
                price = price_combo(legs, quantity, snap, self._config)
                if isinstance(price, Unpriceable):
                    problem = _Rejection(price.reason, price.message)
            if problem is not None:
                self._log_flatten_waiting(cid, problem.message, layer=layer, key=key)
                continue
            del self._flatten_pending[cid]
            self._submit(order)

    def _log_flatten_waiting(
        self, cid: str, why: str, layer: str = "", key: GroupKey | None = None
    ) -> None:
        if cid in self._flatten_logged:
            return
        self._flatten_logged.add(cid)
        structure = f"{key[1]} {key[2].isoformat()}" if key is not None else ""
        log.warning(
            "flatten_waiting", client_order_id=cid, layer=layer, structure=structure, why=why
        )

    def _new_flatten_id(self) -> str:
        while True:
            cid = f"flatten-{self._next_flatten}"
            self._next_flatten += 1
            if cid not in self._orders:
                return cid

    # --- orders ----------------------------------------------------------------------------
    def _submit(self, cmd: SubmitOrder) -> None:
        ts = self._now()
        known = self._orders.get(cmd.client_order_id)
        if known is not None:
            if known == cmd:
                self._stats.duplicate_orders_ignored += 1
                log.info("order_duplicate_ignored", client_order_id=cmd.client_order_id)
                return
            self._stats.orders += 1
            # The first order with this id keeps its ledger row; the repeat is only reported.
            self._reject(
                cmd,
                ts,
                _Rejection(
                    RejectReason.DUPLICATE_CLIENT_ORDER_ID,
                    f"client order id {cmd.client_order_id!r} was already used for another order",
                ),
                record=False,
            )
            return
        self._stats.orders += 1
        self._orders[cmd.client_order_id] = cmd
        self._ledger.record_order(cmd, ts)
        checked = self._check(cmd)
        if isinstance(checked, _Rejection):
            self._reject(cmd, ts, checked)
            return
        snap = self._snap
        assert snap is not None
        order_id = f"O{self._next_order:08d}"
        self._next_order += 1
        self._ledger.record_order_status(
            cmd.client_order_id, OrderStatus.ACCEPTED, ts, order_id=order_id
        )
        log.debug("order_accepted", order_id=order_id, client_order_id=cmd.client_order_id)
        self._publish(OrderAccepted(ts, order_id, cmd.client_order_id, cmd.layer))
        if _marketable(cmd, checked):
            self._fill(order_id, cmd, checked, ts)
        else:
            self._resting[cmd.client_order_id] = RestingOrder(order_id, cmd, ts, snap.session)
            log.info(
                "order_resting",
                order_id=order_id,
                client_order_id=cmd.client_order_id,
                limit_price=cmd.limit_price,
                market_price=checked.net_price,
            )

    def _check(self, cmd: SubmitOrder) -> ComboPrice | _Rejection:
        """Run the checks in :class:`RejectReason` order; the price if all pass."""
        problem = _shape_problem(cmd) or _grid_problem(cmd)
        if problem is not None:
            return problem
        if self._paused and cmd.intent is OrderIntent.OPEN:
            return _Rejection(RejectReason.TRADING_PAUSED, "trading is paused: closing orders only")
        snap = self._snap
        if snap is None:
            return _Rejection(RejectReason.NO_QUOTE, "no market snapshot yet")
        problem = self._stale(snap) or _listing_problem(cmd, snap)
        if problem is not None:
            return problem
        price = price_combo(cmd.legs, cmd.quantity, snap, self._config)
        if isinstance(price, Unpriceable):
            return _Rejection(price.reason, price.message)
        return self._position_problem(cmd, price) or price

    def _stale(self, snap: MarketView) -> _Rejection | None:
        age = (self._clock.now() - snap.ts).total_seconds()
        if age > self._config.max_quote_age:
            return _Rejection(
                RejectReason.STALE_QUOTE,
                f"snapshot of {snap.ts.isoformat()} is {age:.0f} s old "
                f"(max {self._config.max_quote_age:.0f} s)",
            )
        return None

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
        variation = self._portfolio.closing_variation(cmd.layer, price.legs)
        # Durable first: the ledger commits the fill before anyone hears of it.
        cash = self._portfolio.cash + fill.cash_change
        self._ledger.record_fill(fill, cash)
        for leg, amount in variation:
            cash += amount
            self._ledger.record_cash_movement(
                ts,
                "variation",
                amount,
                cash,
                layer=cmd.layer,
                symbol=leg.contract.symbol,
                note=f"closed at {leg.price} ({fill.fill_id})",
            )
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
        log.info(
            "order_rejected",
            client_order_id=cmd.client_order_id,
            reason=reason.value,
            message=rejection.message,
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

    if not isinstance(cmd.quantity, int) or isinstance(cmd.quantity, bool) or cmd.quantity <= 0:
        return _Rejection(
            RejectReason.INVALID_QUANTITY,
            f"quantity must be a positive whole number, got {cmd.quantity!r}",
        )
    if not cmd.layer:
        return invalid("order has no layer")
    if not cmd.legs:
        return invalid("order has no legs")
    if any(leg.ratio == 0 for leg in cmd.legs):
        return invalid("a leg has a zero ratio")
    contracts = [leg.contract for leg in cmd.legs]
    if len(set(contracts)) != len(contracts):
        return invalid("the same contract appears in more than one leg")
    futures = sum(isinstance(c, FutureContract) for c in contracts)
    if 0 < futures < len(contracts):
        return invalid("futures and options cannot share an order")
    if cmd.order_type is OrderType.LIMIT:
        if cmd.limit_price is None:
            return invalid("limit order without a limit price")
        if not math.isfinite(cmd.limit_price):
            return invalid(f"limit price must be finite, got {cmd.limit_price}")
    return None


def _grid_problem(cmd: SubmitOrder) -> _Rejection | None:
    """SPX strikes are listed every 5 points, VIX strikes every point."""
    for leg in cmd.legs:
        contract = leg.contract
        if not isinstance(contract, OptionContract):
            continue
        step = SPX_STRIKE_STEP if contract.root is Root.SPX else VIX_STRIKE_STEP
        steps = contract.strike / step
        if not contract.strike > 0 or abs(steps - round(steps)) > 1e-9:
            return _Rejection(
                RejectReason.OFF_GRID_STRIKE,
                f"{contract.symbol}: {contract.root.value} strikes are listed every {step:g} points",
            )
    return None


def _listing_problem(cmd: SubmitOrder, snap: MarketView) -> _Rejection | None:
    """Every leg must trade in ``snap``: not expired, and its expiry listed."""
    expired = [leg.contract.symbol for leg in cmd.legs if leg.contract.expiry <= snap.session]
    if expired:
        return _Rejection(
            RejectReason.EXPIRED_CONTRACT,
            f"expired on or before {snap.session.isoformat()}: {', '.join(expired)}",
        )
    vx_expiries = {point.expiry for point in snap.vx_curve}
    unknown = [
        leg.contract.symbol
        for leg in cmd.legs
        if leg.contract.expiry
        not in (
            snap.spx_expiries
            if isinstance(leg.contract, OptionContract) and leg.contract.root is Root.SPX
            else vx_expiries
        )
    ]
    if unknown:
        return _Rejection(
            RejectReason.UNKNOWN_CONTRACT,
            f"not listed on {snap.session.isoformat()}: {', '.join(unknown)}",
        )
    return None


def _settlement_print(contract: Contract, snap: MarketView) -> tuple[float, bool]:
    """The value ``contract`` settles at in ``snap`` and whether it is a proxy.

    SPX options settle at the SOQ; VIX options and VX/VXM futures at the VRO. Without the print
    the index level of the snapshot (SPX or VIX) stands in, flagged as a proxy and logged.
    """
    if isinstance(contract, OptionContract) and contract.root is Root.SPX:
        return (snap.soq, False) if snap.soq is not None else (snap.spx, True)
    return (snap.vro, False) if snap.vro is not None else (snap.vix, True)

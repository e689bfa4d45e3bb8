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
from typing import TYPE_CHECKING

import structlog

from market.clock import Clock
from market.instruments import Contract, FutureRoot

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
from .fills import ComboPrice, QuoteLike
from .flatten import FlattenQueue
from .greeks import BookGreeks, book_greeks
from .ledger import ClosingVariation, OrderStatus
from .lifecycle import credit_interest, settle_expired, settle_variation
from .orders import CancelOrder, Flatten, PauseTrading, ResumeTrading, SubmitOrder
from .portfolio import Portfolio
from .ports import BrokerLedger, CurvePoint, MarketView
from .resting import RestingOrder, match_resting

if TYPE_CHECKING:
    from .adopt import AdoptedBooks
from .validation import Rejection, check_order, marketable

RISK_HALT = "risk_halt"
"""The pause reason of the risk limits (strategies/risk.py)."""

__all__ = [
    "BrokerLedger",
    "BrokerStats",
    "CurvePoint",
    "MarketView",
    "PaperBroker",
    "RestingOrder",
]

log = structlog.get_logger(__name__)


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
        self._pauses: set[str] = set()
        """Why opening orders are blocked: ``risk_halt`` (the risk limits) and/or an operator's
        reason."""
        self._flatten = FlattenQueue(self._portfolio, config, clock)
        self._next_order = 1
        self._next_fill = 1
        self._stats = BrokerStats()

    def take_over(self, books: AdoptedBooks) -> None:
        """Continue from books rebuilt from the ledger (`--adopt`): ids go on after the ledger's,
        its client order ids stay taken, its counts carry on, and nothing is resting."""
        if books.portfolio is not self._portfolio:
            raise ValueError("rebuild the books into this broker's portfolio")
        self._next_order = books.next_order
        self._next_fill = books.next_fill
        self._orders = dict(books.orders)
        self._stats = replace(
            self._stats,
            orders=len(books.orders),
            fills=books.next_fill - 1,
            settlements=books.settlements,
            rejected_orders=books.rejected,
        )

    def prime(self, snap: MarketView) -> None:
        """Take ``snap`` as the market already handled (the adopt position): its session and mids
        become the broker's, so the next session change settles variation and interest as the
        original run did; nothing trades, settles or is published."""
        self._snap = snap
        self._session = snap.session
        self.marks()

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
        return bool(self._pauses)

    @property
    def pause_reasons(self) -> tuple[str, ...]:
        """Why trading is paused (empty when it is not)."""
        return tuple(sorted(self._pauses))

    @property
    def flatten_pending(self) -> tuple[str, ...]:
        """Client order ids of flatten combos still waiting for quotes."""
        return self._flatten.pending

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
        :class:`~brokers.greeks.LayerGreeks` for units)."""
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
                settle_variation(self._portfolio, self._ledger, self._marks, snap.ts)
                credit_interest(self._portfolio, self._ledger, snap, previous)
            settle_expired(self._portfolio, self._ledger, snap, self._on_settled)
            self._session = snap.session
        self.marks()  # remember the last mids: the futures' daily settlement reads them
        if new_session:
            self._publish(self._account_marked(snap.ts))
        if self._resting:
            self._match_resting(snap, new_session)
        if self._flatten:
            self._flatten.send(snap, self._submit)

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
        self._pauses.add(cmd.reason)
        self._publish(TradingPaused(self._now(), cmd.reason))

    def on_resume_trading(self, cmd: ResumeTrading) -> None:
        """Accept opening orders again: a ``risk_halt`` resume lifts only the risk halt (a batch
        run's next session must not lift an operator's pause); any other lifts every pause."""
        if cmd.reason == RISK_HALT:
            self._pauses.discard(RISK_HALT)
        else:
            self._pauses.clear()
        self._publish(TradingResumed(self._now(), cmd.reason))

    def on_flatten(self, cmd: Flatten) -> None:
        """Cancel every resting order, then close every structure as one market combo.

        A structure is a (layer, root, expiry) group of options or one (layer, future). Its
        combo (client order id ``flatten-<n>``, reason ``flatten``) is sent as soon as every leg
        has a fresh quote: at once, or at a later snapshot; never part of a structure.
        """
        ts = self._now()
        pending = self._flatten.start(
            sorted(self._portfolio.requirements()), self._orders, cmd.reason
        )
        self._publish(FlattenStarted(ts, cmd.reason, len(pending)))
        for resting in list(self._resting.values()):
            self._cancel(resting, ts, "flatten")
        if self._snap is not None:
            self._flatten.send(self._snap, self._submit)
        else:
            for cid in pending:
                self._flatten.log_waiting(cid, "no market snapshot yet")

    # --- settlement and resting orders -----------------------------------------------------
    def _on_settled(self, settled: ContractSettled) -> None:
        self._marks.pop(settled.contract, None)
        self._stats.settlements += 1
        if settled.proxy:
            self._stats.proxy_settlements += 1
        self._publish(settled)

    def _match_resting(self, snap: MarketView, new_session: bool) -> None:
        for resting in list(self._resting.values()):
            outcome = match_resting(
                resting,
                snap,
                new_session=new_session,
                paused=bool(self._pauses),
                portfolio=self._portfolio,
                config=self._config,
            )
            if isinstance(outcome, str):
                self._cancel(resting, snap.ts, outcome)
            elif outcome is not None:
                del self._resting[resting.order.client_order_id]
                self._fill(resting.order_id, resting.order, outcome, snap.ts)

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
                Rejection(
                    RejectReason.DUPLICATE_CLIENT_ORDER_ID,
                    f"client order id {cmd.client_order_id!r} was already used for another order",
                ),
                record=False,
            )
            return
        self._stats.orders += 1
        self._orders[cmd.client_order_id] = cmd
        self._ledger.record_order(cmd, ts)
        checked = check_order(
            cmd,
            self._snap,
            paused=bool(self._pauses),
            clock=self._clock,
            config=self._config,
            portfolio=self._portfolio,
        )
        if isinstance(checked, Rejection):
            self._reject(cmd, ts, checked)
            return
        snap = self._snap
        assert snap is not None
        order_id = f"O{self._next_order:08d}"
        self._next_order += 1
        self._ledger.record_order_status(
            cmd.client_order_id, OrderStatus.ACCEPTED, ts, order_id=order_id
        )
        effect = self._portfolio.buying_power_effect(cmd.layer, checked.legs, checked.fees)
        self._publish(
            OrderAccepted(
                ts,
                order_id,
                cmd.client_order_id,
                cmd.layer,
                round(effect.requirement_change, 2),
                round(effect.total, 2),
            )
        )
        if marketable(cmd, checked):
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
        closing = []
        running = cash
        for leg, amount in variation:
            running += amount
            closing.append(
                ClosingVariation(
                    cmd.layer,
                    leg.contract.symbol,
                    amount,
                    running,
                    f"closed at {leg.price} ({fill.fill_id})",
                )
            )
        self._ledger.record_fill(fill, cash, closing)
        self._portfolio.apply_fill(fill)
        self._stats.fills += 1
        self._publish(fill)
        self._publish(self._account_marked(ts))

    def _reject(
        self, cmd: SubmitOrder, ts: datetime, rejection: Rejection, *, record: bool = True
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

    def account_marked(self) -> AccountMarked:
        """The account at the current snapshot, as the broker publishes it."""
        return self._account_marked(self._now())

    def marked_equity(self) -> float:
        """Equity at the mids the broker took at the current snapshot (no re-quoting)."""
        return self._portfolio.equity(self._marks)

    def _now(self) -> datetime:
        return self._snap.ts if self._snap is not None else self._clock.now()


def _usable(quote: QuoteLike) -> bool:
    return math.isfinite(quote.bid) and math.isfinite(quote.ask) and 0 <= quote.bid <= quote.ask

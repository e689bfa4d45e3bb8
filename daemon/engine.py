"""Wiring: the broker, market state and layer actors subscribed to one bus.

Subscription order on a snapshot is the SPEC section 10 phase order: the clock advances, the
broker settles and matches resting orders, the shared market state updates, then the actors.
Orders the actors send are dispatched right after, at the same timestamp.
"""

from __future__ import annotations

import time
from typing import Any

from brokers.broker import PaperBroker
from brokers.events import (
    AccountMarked,
    ContractSettled,
    OrderFilled,
    OrderRejected,
)
from brokers.ledger import Ledger
from brokers.orders import CancelOrder, SubmitOrder
from daemon.bus import EventBus
from daemon.config import AppConfig
from daemon.eventlog import EVENT_NAMES, make_logger
from market.clock import SimulatedClock
from market.snapshot import MarketSnapshot
from strategies.condor import CondorActor
from strategies.events import ExitRule, Regime
from strategies.state import MarketState


class Engine:
    """One trading pipeline over a ledger; the same object runs `simulate` and `run`."""

    def __init__(
        self,
        config: AppConfig,
        ledger: Ledger,
        bus: EventBus,
        clock: SimulatedClock,
        log_events: bool = True,
    ) -> None:
        self.config = config
        self.bus = bus
        self.clock = clock
        publish = bus.publish
        self.broker = PaperBroker(config.account, ledger, publish, clock)
        self.state = MarketState(config.strategy.regime, publish)
        self.condor = CondorActor(
            config.strategy.condor,
            config.strategy.exits,
            self.state,
            publish,
            config.account.starting_equity,
        )
        self.ticks = 0
        self.last_snapshot: MarketSnapshot | None = None
        self.last_snapshot_monotonic: float | None = None

        sub = bus.subscribe
        sub(MarketSnapshot, self._on_market_snapshot)
        sub(MarketSnapshot, self.broker.on_market_snapshot)
        sub(MarketSnapshot, self.state.on_market_snapshot)
        sub(MarketSnapshot, self.condor.on_market_snapshot)
        sub(SubmitOrder, self.broker.on_submit_order)
        sub(CancelOrder, self.broker.on_cancel_order)
        sub(OrderFilled, self.condor.on_order_filled)
        sub(OrderRejected, self.condor.on_order_rejected)
        sub(ContractSettled, self.condor.on_contract_settled)
        sub(AccountMarked, self.condor.on_account_marked)
        if log_events:
            for event_type in EVENT_NAMES:
                sub(event_type, make_logger(event_type))

    def _on_market_snapshot(self, snap: MarketSnapshot) -> None:
        self.clock.advance_to(snap.ts)
        self.ticks += 1
        self.last_snapshot = snap
        self.last_snapshot_monotonic = time.monotonic()

    def finish(self) -> None:
        """The feed has ended: count the last session."""
        self.state.finish()

    def summary(self) -> dict[str, Any]:
        """The run summary (`alvh simulate --json`); deterministic for a given run."""
        stats = self.broker.stats
        condor = self.condor.stats
        exits = {
            rule.value: condor.exits.get(rule.value, 0)
            for rule in (ExitRule.CREDIT_STOP, ExitRule.DTE)
        }
        exits["settlement"] = condor.exits.get("settlement", 0)
        return {
            "ticks": self.ticks,
            "handler_errors": self.bus.handler_errors,
            "orders": stats.orders,
            "fills": stats.fills,
            "rejected_orders": stats.rejected_orders,
            "rejects_by_reason": dict(sorted(stats.rejects_by_reason.items())),
            "final_equity": round(self.broker.equity(), 2),
            "fees": round(self.broker.portfolio.fees_paid, 2),
            "layers": {
                "condor": {
                    "opened": condor.opened,
                    "closed": condor.closed,
                    "open": len(self.condor.open_condors()),
                    "realized_pnl": round(self.broker.portfolio.realized_pnl("condor"), 2),
                }
            },
            "exits": exits,
            "regimes": {f"{r.value}_days": self.state.regime_days.get(r, 0) for r in Regime},
        }

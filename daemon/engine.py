"""Wiring: the broker, market state and layer actors subscribed to one bus.

Subscription order on a snapshot is the SPEC section 10 phase order: the clock advances, the
broker settles and matches resting orders, the shared market state updates, then the actors.
Orders the actors send are dispatched right after, at the same timestamp.

The engine also owns what happens *between* snapshots: control events (pause, resume,
flatten, reload) take effect after the snapshot at their feed position, are recorded there,
and recovery re-applies them at the same place.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from brokers.broker import PaperBroker
from brokers.events import (
    AccountMarked,
    ContractSettled,
    FlattenStarted,
    OrderAccepted,
    OrderFilled,
    OrderRejected,
    TradingResumed,
)
from brokers.ledger import Ledger
from brokers.orders import CancelOrder, Flatten, PauseTrading, ResumeTrading, SubmitOrder
from brokers.recovery import LedgerReplay
from daemon.bus import EventBus
from daemon.config import AppConfig, stored_config
from daemon.eventlog import EVENT_NAMES, make_logger
from daemon.logging import LEVEL
from market.clock import SimulatedClock
from market.macro import MacroCalendar
from market.snapshot import MarketSnapshot
from strategies.condor import CondorActor
from strategies.events import (
    CondorClosed,
    CondorOpened,
    CondorRolled,
    ExitRule,
    Regime,
    RegimeChanged,
)
from strategies.hedge import HedgeActor
from strategies.press import PressActor
from strategies.risk import RiskMonitor
from strategies.state import MarketState

log = structlog.get_logger("alvh.daemon.engine")

HOT_RELOADABLE = ("strategy.", "runtime.log_level", "runtime.stale_after_s")
"""Config fields (dotted prefixes) a reload applies at once; anything else needs a restart."""


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        tree = tree[part]
    tree[leaf] = value


def config_hash(config: AppConfig) -> str:
    return recorded_config_hash(config.model_dump_json())


def recorded_config_hash(text: str) -> str:
    """The hash of a config's JSON text as written (in a session file, or by
    :func:`config_hash`): it stays valid when a later build adds config fields with defaults."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Control:
    """An operator's control event: ``kind`` is pause, resume, flatten or reload."""

    kind: str
    payload: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(self.payload, sort_keys=True)


CONTROL_KINDS = ("pause", "resume", "flatten", "reload", "stop", "adopt")
"""``stop`` marks where a daemon stopped, so a restart resumes from that feed position;
``adopt`` marks where the ledger's books were adopted, so later resumes start from there."""
MARKERS = ("stop", "adopt")


class Engine:
    """One trading pipeline over a ledger; the same object runs `simulate` and `run`."""

    def __init__(
        self,
        config: AppConfig,
        ledger: Ledger | LedgerReplay,
        bus: EventBus,
        clock: SimulatedClock,
        log_events: bool = True,
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.bus = bus
        self.clock = clock
        publish = bus.publish
        self.broker = PaperBroker(config.account, ledger, publish, clock)
        strategy, equity = config.strategy, config.account.starting_equity
        self.state = MarketState(strategy, publish)
        self.condor = CondorActor(strategy, self.state, publish, equity)
        self.hedge = HedgeActor(
            strategy,
            self.state,
            publish,
            equity,
            self.condor.book_greeks,
            self.condor.reference,
        )
        self.press = PressActor(strategy, self.state, publish, equity)
        self.risk = RiskMonitor(
            strategy,
            publish,
            equity,
            publish_next=bus.publish_next,
            equity_now=self.broker.marked_equity,
        )
        """Batch runs resume after a risk halt at the next session; `alvh run` sets
        ``strategy.risk.auto_resume`` off in its config so an operator decides."""
        self.ticks = 0
        self.halted: dict[str, str] = {}
        """Layers halted by an exception in their actor, with the reason (SPEC section 13)."""
        self.strategy_errors = 0
        self.fatal: str | None = None
        """Why the daemon can no longer trade (a failed ledger write); /health is then 503."""
        self.last_snapshot: MarketSnapshot | None = None
        self.last_snapshot_monotonic: float | None = None
        self._snapshot_arrival = 0.0
        self.order_latency: Callable[[float], None] | None = None
        """Called with the seconds from a snapshot's arrival on the bus to the broker's acceptance
        of an order sent at it (the daemon feeds its /metrics histogram with this)."""
        self.on_control: Callable[[Control, int], None] | None = None
        """Called with every control event applied (recorded or re-applied) and the feed position
        it follows (the session recorder listens here)."""

        sub = bus.subscribe
        sub(MarketSnapshot, self._on_market_snapshot)
        sub(MarketSnapshot, self.broker.on_market_snapshot)
        sub(MarketSnapshot, self.state.on_market_snapshot)
        sub(MarketSnapshot, self._contained("risk", self.risk.on_market_snapshot))
        sub(SubmitOrder, self.broker.on_submit_order)
        sub(CancelOrder, self.broker.on_cancel_order)
        sub(OrderAccepted, self._on_order_accepted)
        sub(PauseTrading, self.broker.on_pause_trading)
        sub(ResumeTrading, self.broker.on_resume_trading)
        sub(Flatten, self.broker.on_flatten)
        sub(AccountMarked, self._contained("risk", self.risk.on_account_marked))
        sub(TradingResumed, self._contained("risk", self.risk.on_trading_resumed))
        layers: dict[str, CondorActor | HedgeActor | PressActor] = {
            "condor": self.condor,
            "hedge": self.hedge,
            "press": self.press,
        }
        for name, actor in layers.items():
            sub(MarketSnapshot, self._contained(name, actor.on_market_snapshot))
        for name, actor in layers.items():
            sub(FlattenStarted, self._contained(name, actor.on_flatten_started))
            sub(OrderFilled, self._contained(name, actor.on_order_filled))
            sub(OrderRejected, self._contained(name, actor.on_order_rejected))
            sub(ContractSettled, self._contained(name, actor.on_contract_settled))
            sub(AccountMarked, self._contained(name, actor.on_account_marked))
        sub(RegimeChanged, self._contained("hedge", self.hedge.on_regime_changed))
        sub(RegimeChanged, self._contained("press", self.press.on_regime_changed))
        for condor_event in (CondorOpened, CondorClosed, CondorRolled):
            sub(condor_event, self._contained("hedge", self.hedge.on_condor_changed))
        if log_events:
            for event_type in EVENT_NAMES:
                sub(event_type, make_logger(event_type))

    # -- containment -------------------------------------------------------------------------

    def _contained(self, layer: str, handler: Callable[[Any], None]) -> Callable[[Any], None]:
        """The one choke point for strategy code: an exception halts that layer only.

        It is logged with its traceback and counted; the layer's handlers are skipped from then
        on (its open positions stay, for the operator to flatten or adopt); the broker and the
        other layers go on, and /health reports the daemon degraded with the reason.
        """

        def guarded(event: Any) -> None:
            if layer in self.halted:
                return
            try:
                handler(event)
            except Exception as exc:
                self.strategy_errors += 1
                self.halted[layer] = f"{type(exc).__name__}: {exc}"
                log.exception(
                    "strategy_failed",
                    layer=layer,
                    handler=getattr(handler, "__qualname__", repr(handler)),
                    event_type=type(event).__name__,
                )

        return guarded

    # -- snapshots ---------------------------------------------------------------------------

    def _on_order_accepted(self, event: OrderAccepted) -> None:
        if self.order_latency is not None:
            self.order_latency(time.perf_counter() - self._snapshot_arrival)

    def _on_market_snapshot(self, snap: MarketSnapshot) -> None:
        self._snapshot_arrival = time.perf_counter()
        last = self.last_snapshot
        if last is not None and snap.session != last.session:
            # Take the close first (STRESS is decided there), so the mark's regime is the one
            # the session closed in, as the summary counts it.
            self.state.close_session()
            self._record_daily_mark(last)
        self.ledger.position = snap.seq
        self.clock.advance_to(snap.ts)
        self.ticks += 1
        self.last_snapshot = snap
        self.last_snapshot_monotonic = time.monotonic()

    def use_macro_calendar(self, calendar: MacroCalendar) -> None:
        """Let the macro overlay read the releases ahead from the feed's calendar (history mode's
        ``--macro`` file) instead of the simulator's; before the first snapshot."""
        self.state.use_macro_calendar(calendar)

    def feed_stale(self, now: float | None = None) -> bool:
        """No snapshot for ``runtime.stale_after_s`` wall seconds (or none yet)."""
        if self.last_snapshot_monotonic is None:
            return True
        now = time.monotonic() if now is None else now
        return now - self.last_snapshot_monotonic > self.config.runtime.stale_after_s

    def prime(self, snap: MarketSnapshot) -> None:
        """Stand at ``snap`` as if it had just been handled (the position an adopt continues
        from): clock, feed position, the broker's session and mids, the market state."""
        self.clock.advance_to(snap.ts)
        self.ledger.position = snap.seq
        self.ticks = snap.seq + 1
        self.last_snapshot = snap
        self.broker.prime(snap)
        self.state.on_market_snapshot(snap)
        # The layers and the risk limits start from the adopted account, not the config's equity.
        mark = self.broker.account_marked()
        self.risk.prime(snap.session, mark)
        self.bus.dispatch(mark)

    def _record_daily_mark(self, close: MarketSnapshot) -> None:
        """The end-of-session mark, taken before the next session's snapshot touches anything."""
        portfolio = self.broker.portfolio
        self.ledger.record_daily_mark(
            {
                "session": close.session.isoformat(),
                "ts": close.ts.isoformat(),
                "equity": round(self.broker.equity(), 2),
                "cash": round(portfolio.cash, 2),
                "spx": close.spx,
                "vix": close.vix,
                "regime": self.state.regime.value,
                "layer_pnl": json.dumps(
                    {
                        layer: round(portfolio.realized_pnl(layer), 2)
                        for layer in portfolio.layers()
                    },
                    sort_keys=True,
                ),
                "hedge_size": round(self.hedge.vx_equivalents(), 4),
                "layer_equity": json.dumps(
                    {
                        layer: round(
                            portfolio.realized_pnl(layer)
                            + portfolio.unrealized_pnl(self.broker.marks(), layer),
                            2,
                        )
                        for layer in portfolio.layers()
                    },
                    sort_keys=True,
                ),
            }
        )

    def finish(self) -> None:
        """The feed has ended: count and mark the last session."""
        self.state.finish()
        if self.last_snapshot is not None:
            self._record_daily_mark(self.last_snapshot)

    # -- control events ----------------------------------------------------------------------

    def control(self, control: Control, record: bool = True) -> dict[str, Any]:
        """Apply a control event between snapshots; record it at the current feed position.

        Returns what a reload changed (``applied`` sections and those that ``needs_restart``);
        an empty dict for the other kinds."""
        if control.kind not in CONTROL_KINDS:
            raise ValueError(f"unknown control event {control.kind!r} (known: {CONTROL_KINDS})")
        ts = self.clock.now()
        if record:
            self.ledger_writer().record_control_event(ts, control.kind, control.to_json())
        if self.on_control is not None:
            self.on_control(control, self.ledger.position)
        if control.kind == "reload":
            return self._reload(stored_config(control.payload["config"]), ts, record)
        if control.kind not in MARKERS:
            log.info(
                "control_applied",
                kind=control.kind,
                position=self.ledger.position,
                **control.payload,
            )
            self._dispatch_control(control)
        return {}

    def _dispatch_control(self, control: Control) -> None:
        """Hand pause, resume or flatten to the broker now, ahead of any queued snapshot."""
        reason = str(control.payload.get("reason", "operator"))
        command = {"pause": PauseTrading, "resume": ResumeTrading, "flatten": Flatten}[
            control.kind
        ](reason)
        self.bus.dispatch(command)

    def _reload(self, new: AppConfig, ts: Any, record: bool) -> dict[str, Any]:
        old_fields = _flatten(self.config.model_dump())
        new_fields = _flatten(new.model_dump())
        changed = sorted(k for k in new_fields if new_fields[k] != old_fields.get(k))
        applied = [k for k in changed if k.startswith(HOT_RELOADABLE)]
        deferred = [k for k in changed if not k.startswith(HOT_RELOADABLE)]
        # Keep the fields that need a restart as they were: the run goes on under them.
        merged = self.config.model_dump()
        for key in applied:
            _set(merged, key, new_fields[key])
        self.config = AppConfig.model_validate(merged)
        strategy = self.config.strategy
        self.state.reconfigure(strategy)
        for actor in (self.condor, self.hedge, self.press, self.risk):
            actor.reconfigure(strategy)
        if "runtime.log_level" in applied:
            LEVEL.set(self.config.runtime.log_level)
        if record:
            self.ledger_writer().record_config_version(
                ts, config_hash(self.config), self.config.model_dump_json(indent=2)
            )
        log.info(
            "config_reloaded",
            applied=applied,
            needs_restart=deferred,
            position=self.ledger.position,
            config_hash=config_hash(self.config),
        )
        return {"applied": applied, "needs_restart": deferred}

    def ledger_writer(self) -> Ledger:
        """The ledger that control events and config versions go to (never re-derived)."""
        ledger = self.ledger
        return ledger.ledger if isinstance(ledger, LedgerReplay) else ledger

    # -- summary -----------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The run summary (`alvh simulate --json`); deterministic for a given run."""
        stats = self.broker.stats
        portfolio = self.broker.portfolio
        layers: dict[str, Any] = {}
        exits: dict[str, int] = {rule.value: 0 for rule in ExitRule}
        exits["settlement"] = 0
        exits["rebalance"] = 0  # a hedge rebalanced down to nothing (layer 2's closes add up)
        exits["roll"] = 0  # a hedge roll's closing half, sent alone while trading was paused
        rolls: dict[str, int] = {"time_shift": 0, "delta_band": 0, "hedge": 0}
        for name, actor in (("condor", self.condor), ("hedge", self.hedge), ("press", self.press)):
            layer = actor.stats
            layers[name] = {
                "opened": layer.opened,
                "closed": layer.closed,
                "open": actor.open_count(),
                "realized_pnl": round(portfolio.realized_pnl(name), 2),
                "exits": dict(sorted(layer.exits.items())),
            }
            for rule, count in layer.exits.items():
                exits[rule] = exits.get(rule, 0) + count
            for kind, count in layer.rolls.items():
                rolls[kind] = rolls.get(kind, 0) + count
        rolls["total"] = sum(rolls.values())
        rejects = dict(sorted(stats.rejects_by_reason.items()))
        return {
            "ticks": self.ticks,
            "handler_errors": self.bus.handler_errors + self.strategy_errors,
            "halted_layers": dict(sorted(self.halted.items())),
            "orders": stats.orders,
            "fills": stats.fills,
            "rejected_orders": stats.rejected_orders,
            "rejected_orders_by_reason": rejects,
            "settlements": stats.settlements,
            "final_equity": round(self.broker.equity(), 2),
            "final_cash": round(portfolio.cash, 2),
            "fees": round(portfolio.fees_paid, 2),
            "layers": layers,
            "exits": exits,
            "rolls": rolls,
            "risk_halts": self.risk.halts,
            "regimes": {f"{r.value}_days": self.state.regime_days.get(r, 0) for r in Regime},
        }

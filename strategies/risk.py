"""The steward's rule (SPEC section 9): a daily loss limit and a margin-use limit.

Breaching either blocks opening orders (a ``PauseTrading`` with reason ``risk_halt``) and, with
``risk.flatten``, closes everything (a ``Flatten`` whose combos carry reason ``risk_halt``, the
exit rule the layers count). The live daemon then waits for an operator's resume; batch runs
(``simulate``, ``replay``, ``history``) resume by themselves at the next session. Closing orders
are never blocked. Everything is derived from the broker's account marks, so recovery re-derives
the same halts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING

import structlog

from brokers.events import AccountMarked, TradingResumed
from brokers.orders import Flatten, PauseTrading, ResumeTrading
from strategies.config import StrategyConfig
from strategies.events import RiskHalted

if TYPE_CHECKING:
    from market.snapshot import MarketSnapshot

log = structlog.get_logger("alvh.strategies.risk")

HALT_REASON = "risk_halt"


class RiskMonitor:
    """Checks the limits on every snapshot (equity at the broker's mids) and after every fill
    (the broker's account mark); halts at most once per limit per session.

    The session's starting equity is the equity at the previous session's last snapshot (its
    close), so yesterday's loss never counts against today.
    """

    def __init__(
        self,
        config: StrategyConfig,
        publish: Callable[[object], None],
        starting_equity: float,
        *,
        publish_next: Callable[..., None] | None = None,
        equity_now: Callable[[], float] | None = None,
        auto_resume: bool | None = None,
    ) -> None:
        self._config = config
        self._publish = publish
        self._publish_next = publish_next or self._publish_each
        """Sends commands ahead of anything already queued (the bus's ``publish_next``): a halt's
        pause must reach the broker before an opening order queued at the same snapshot. The
        ``risk_halt`` event itself goes through ``publish``, so the log reads in causal order:
        after whatever was executed before the breach was seen, before the flatten's fills."""
        self._equity_now = equity_now
        """Equity at the current snapshot's mids (the broker's, read without I/O); without it
        only account marks are checked."""
        self._auto_resume = auto_resume
        """A fixed policy (tests); None follows ``config.risk.auto_resume``."""
        self._equity = starting_equity
        self._requirement = 0.0
        self._cash = starting_equity
        self.start_equity = starting_equity
        """Equity at the start of the current session (the previous session's close)."""
        self._session: date | None = None
        self.halted: RiskHalted | None = None
        """The halt in force (None when trading is not risk-halted)."""
        self._halted_today: set[str] = set()
        self.halts = 0

    def _publish_each(self, *events: object) -> None:
        for event in events:
            self._publish(event)

    @property
    def auto_resume(self) -> bool:
        """Batch runs resume at the next session; the live daemon waits for an operator
        (``strategy.risk.auto_resume``, recorded with the config)."""
        if self._auto_resume is not None:
            return self._auto_resume
        return self._config.risk.auto_resume

    def reconfigure(self, config: StrategyConfig) -> None:
        self._config = config

    def prime(self, session: date, mark: AccountMarked) -> None:
        """Stand in ``session`` with ``mark`` as its starting account (an adopt: the books are
        the ledger's, not the config's starting equity)."""
        self._session = session
        self._take(mark)
        self.start_equity = mark.equity
        self._halted_today.clear()

    def on_market_snapshot(self, snap: MarketSnapshot) -> None:
        if snap.session != self._session:
            self._session = snap.session
            self.start_equity = self._equity
            self._halted_today.clear()
            if self.halted is not None and self.auto_resume:
                log.info(
                    "risk_halt_cleared", limit=self.halted.limit, session=snap.session.isoformat()
                )
                self.halted = None
                self._publish(ResumeTrading(HALT_REASON))
        if self._equity_now is not None:
            self._equity = self._equity_now()
            self._check(snap.ts)

    def on_account_marked(self, event: AccountMarked) -> None:
        self._take(event)
        if self._session is not None:
            self._check(event.ts)

    def on_trading_resumed(self, event: TradingResumed) -> None:
        """An operator's resume lifts the halt (the same limit does not halt again this session)."""
        if self.halted is not None and event.reason != HALT_REASON:
            log.info("risk_halt_cleared", limit=self.halted.limit, by=event.reason)
            self.halted = None

    def _take(self, mark: AccountMarked) -> None:
        self._equity = mark.equity
        self._cash = mark.cash
        self._requirement = mark.cash - mark.buying_power

    def _check(self, ts: datetime) -> None:
        if self.halted is not None:
            return
        cfg = self._config.risk
        equity, start = self._equity, self.start_equity
        if start > 0 and "daily_loss" not in self._halted_today:
            loss = 1.0 - equity / start
            if loss >= cfg.daily_loss_limit:
                self._halt(ts, "daily_loss", loss, cfg.daily_loss_limit)
                return
        if "margin_use" not in self._halted_today:
            use = self._requirement / equity if equity > 0 else float("inf")
            if use > cfg.margin_use_limit:
                self._halt(ts, "margin_use", use, cfg.margin_use_limit)

    def _halt(self, ts: datetime, limit: str, value: float, threshold: float) -> None:
        self._halted_today.add(limit)
        self.halts += 1
        flatten = self._config.risk.flatten
        halt = RiskHalted(
            ts,
            limit,
            round(value, 6),
            threshold,
            round(self._equity, 2),
            round(self.start_equity, 2),
            round(self._requirement, 2),
            flatten,
        )
        self.halted = halt
        commands: list[object] = [PauseTrading(HALT_REASON)]
        if flatten:
            commands.append(Flatten(HALT_REASON))
        self._publish_next(*commands)
        self._publish(halt)

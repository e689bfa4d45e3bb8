"""The steward's limits (SPEC section 9): daily loss and margin use halt opening orders."""

from __future__ import annotations

from datetime import UTC, date, datetime

from brokers.events import AccountMarked, TradingResumed
from brokers.orders import Flatten, PauseTrading, ResumeTrading
from market.snapshot import MarketSnapshot
from strategies.config import StrategyConfig
from strategies.events import RiskHalted
from strategies.risk import RiskMonitor

TS = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)


def _snap(session: date) -> MarketSnapshot:
    return MarketSnapshot(0, TS, session, 5000.0, 15.0)


def _mark(
    equity: float, cash: float | None = None, buying_power: float | None = None
) -> AccountMarked:
    cash = equity if cash is None else cash
    return AccountMarked(
        TS, equity, cash, 0.0, 0.0, 0.0, cash if buying_power is None else buying_power
    )


def test_a_five_percent_loss_from_the_session_start_halts_pauses_and_flattens() -> None:
    out: list[object] = []
    risk = RiskMonitor(StrategyConfig(), out.append, 1_000_000.0)
    risk.on_market_snapshot(_snap(date(2025, 3, 3)))
    risk.on_account_marked(_mark(1_100_000.0))
    risk.on_market_snapshot(_snap(date(2025, 3, 4)))  # starts the day at 1.1M
    risk.on_account_marked(_mark(1_046_000.0))  # -4.9%: fine
    assert out == []
    risk.on_account_marked(_mark(1_045_000.0))  # -5.0%
    pause, flatten, halt = out
    assert isinstance(halt, RiskHalted) and halt.limit == "daily_loss"
    assert halt.start_equity == 1_100_000.0 and halt.value == 0.05
    assert pause == PauseTrading("risk_halt") and flatten == Flatten("risk_halt")
    risk.on_account_marked(_mark(1_000_000.0))  # already halted: nothing more
    assert len(out) == 3


def test_batch_runs_resume_at_the_next_session_and_the_live_daemon_waits() -> None:
    for auto, expected in ((True, [ResumeTrading("risk_halt")]), (False, [])):
        out: list[object] = []
        risk = RiskMonitor(StrategyConfig(), out.append, 100.0, auto_resume=auto)
        risk.on_market_snapshot(_snap(date(2025, 3, 3)))
        risk.on_account_marked(_mark(90.0))
        out.clear()
        risk.on_market_snapshot(_snap(date(2025, 3, 4)))
        assert out == expected
        assert (risk.halted is None) is auto


def test_an_operator_resume_lifts_the_halt_and_the_same_limit_waits_for_the_next_session() -> None:
    out: list[object] = []
    risk = RiskMonitor(StrategyConfig(), out.append, 100.0, auto_resume=False)
    risk.on_market_snapshot(_snap(date(2025, 3, 3)))
    risk.on_account_marked(_mark(90.0))
    risk.on_trading_resumed(TradingResumed(TS, "operator"))
    assert risk.halted is None
    out.clear()
    risk.on_account_marked(_mark(89.0))
    assert out == []  # the daily-loss halt already fired this session


def test_margin_use_above_sixty_percent_of_equity_halts_without_flatten_when_configured() -> None:
    out: list[object] = []
    cfg = StrategyConfig.model_validate({"risk": {"flatten": False}})
    risk = RiskMonitor(cfg, out.append, 1_000_000.0)
    risk.on_market_snapshot(_snap(date(2025, 3, 3)))
    risk.on_account_marked(_mark(1_000_000.0, cash=1_000_000.0, buying_power=400_000.0))  # 60%
    assert out == []
    risk.on_account_marked(_mark(1_000_000.0, cash=1_000_000.0, buying_power=399_000.0))
    pause, halt = out
    assert isinstance(halt, RiskHalted) and halt.limit == "margin_use"
    assert halt.requirement == 601_000.0 and halt.value == 0.601 and not halt.flatten
    assert pause == PauseTrading("risk_halt")


def test_a_loss_within_a_session_without_fills_halts_at_the_snapshot() -> None:
    out: list[object] = []
    equity = {"now": 1_000_000.0}
    risk = RiskMonitor(StrategyConfig(), out.append, 1_000_000.0, equity_now=lambda: equity["now"])
    risk.on_market_snapshot(_snap(date(2025, 3, 3)))
    equity["now"] = 960_000.0
    risk.on_market_snapshot(_snap(date(2025, 3, 3)))
    assert out == []  # -4%
    equity["now"] = 949_000.0
    risk.on_market_snapshot(_snap(date(2025, 3, 3)))
    pause, flatten, halt = out
    assert isinstance(halt, RiskHalted) and halt.limit == "daily_loss" and halt.equity == 949_000.0


def test_the_session_starts_from_the_previous_close_not_from_an_earlier_mark() -> None:
    out: list[object] = []
    equity = {"now": 1_000_000.0}
    risk = RiskMonitor(StrategyConfig(), out.append, 1_000_000.0, equity_now=lambda: equity["now"])
    risk.on_market_snapshot(_snap(date(2025, 3, 3)))
    risk.on_account_marked(_mark(1_000_000.0))  # a fill's mark early in the day
    equity["now"] = 955_000.0  # the day closes 4.5% down: no halt
    risk.on_market_snapshot(_snap(date(2025, 3, 3)))
    equity["now"] = 950_000.0  # next morning: flat against the close, 5% against the old mark
    risk.on_market_snapshot(_snap(date(2025, 3, 4)))
    assert out == [] and risk.start_equity == 955_000.0


def test_an_adopted_account_primes_the_starting_equity() -> None:
    out: list[object] = []
    risk = RiskMonitor(StrategyConfig(), out.append, 1_000_000.0, equity_now=lambda: 935_000.0)
    risk.prime(date(2025, 8, 18), _mark(935_000.0))
    risk.on_market_snapshot(_snap(date(2025, 8, 19)))
    assert out == [] and risk.start_equity == 935_000.0

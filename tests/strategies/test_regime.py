"""Regimes (SPEC section 5): CALM / ELEVATED by prints with hysteresis, STRESS by session closes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from market.macro import ReleaseSchedule
from market.snapshot import MarketSnapshot
from strategies.config import RegimeConfig, StrategyConfig
from strategies.events import MacroClassified, Regime, RegimeChanged, SessionClosed
from strategies.regime import RegimeDetector
from strategies.state import MarketState


def test_elevated_entered_at_threshold_and_left_below_hysteresis_band() -> None:
    det = RegimeDetector(RegimeConfig())
    assert det.update(14.0) is Regime.CALM
    assert det.update(15.99) is None
    assert det.update(16.0) is Regime.ELEVATED
    assert det.update(15.6) is None  # inside the 0.5 band: still elevated
    assert det.update(15.5) is None  # not below 15.5 yet
    assert det.update(15.49) is Regime.CALM


def test_first_print_above_threshold_starts_elevated() -> None:
    assert RegimeDetector(RegimeConfig()).update(22.0) is Regime.ELEVATED


def test_stress_needs_press_confirm_closes_in_a_row_at_or_above_threshold() -> None:
    det = RegimeDetector(RegimeConfig())
    det.update(26.0)
    assert det.close(26.0) is None and det.close(25.0) is None
    assert det.close(24.9) is None  # the run is broken
    assert det.close(25.0) is None and det.close(27.0) is None
    assert det.close(25.0) is Regime.STRESS
    assert det.regime is Regime.STRESS


def test_stress_ignores_intraday_prints_and_ends_on_a_close_below_threshold_minus_hysteresis() -> (
    None
):
    det = RegimeDetector(RegimeConfig(press_confirm=1))
    det.update(30.0)
    assert det.close(30.0) is Regime.STRESS
    assert det.update(15.0) is None  # intraday: STRESS stands (the base regime goes CALM)
    assert det.close(24.6) is None  # inside the hysteresis band
    assert det.close(24.4) is Regime.CALM  # ends on the close; the prints said CALM underneath


def test_press_threshold_and_confirm_are_configurable() -> None:
    det = RegimeDetector(RegimeConfig(press_threshold=28.0, press_confirm=2))
    det.update(27.0)
    assert det.close(27.0) is None and det.close(27.5) is None
    assert det.close(28.0) is None
    assert det.close(28.1) is Regime.STRESS


def _snap(seq: int, session: date, vix: float, **kw: object) -> MarketSnapshot:
    ts = datetime(session.year, session.month, session.day, 15, 0, tzinfo=UTC) + timedelta(
        minutes=seq % 300
    )
    return MarketSnapshot(seq, ts, session, 5000.0, vix, **kw)  # type: ignore[arg-type]


def _sessions(n: int) -> list[date]:
    out: list[date] = []
    d = date(2025, 3, 3)
    while len(out) < n:
        if d.weekday() < 5:
            out.append(d)
        d += timedelta(days=1)
    return out


def test_market_state_publishes_changes_and_counts_regime_days_by_session_close() -> None:
    out: list[object] = []
    state = MarketState(StrategyConfig(), out.append)
    d1, d2, d3 = _sessions(3)
    prints = ((d1, 14.0), (d1, 17.0), (d1, 15.6), (d2, 15.0), (d2, 15.2), (d3, 14.0))
    for seq, (session, vix) in enumerate(prints):
        state.on_market_snapshot(_snap(seq, session, vix))
    state.finish()
    changes = [e for e in out if isinstance(e, RegimeChanged)]
    assert [(c.previous, c.current) for c in changes] == [
        (Regime.CALM, Regime.ELEVATED),
        (Regime.ELEVATED, Regime.CALM),
    ]
    # d1 closes at 15.6 (elevated, inside the band), d2 and d3 close calm
    assert state.regime_days == {Regime.ELEVATED: 1, Regime.CALM: 2}
    assert state.session_index == 2
    assert [e.session for e in out if isinstance(e, SessionClosed)] == [d1, d2, d3]


def test_stress_begins_after_the_third_close_and_counts_an_episode() -> None:
    out: list[object] = []
    state = MarketState(StrategyConfig(), out.append)
    days = _sessions(7)
    closes = [14.0, 26.0, 27.0, 28.0, 26.0, 20.0, 14.0]
    seq = 0
    seen: list[Regime] = []
    for day, close in zip(days, closes, strict=True):
        for vix in (close - 0.5, close):
            state.on_market_snapshot(_snap(seq, day, vix))
            seq += 1
        seen.append(state.regime)
    state.finish()
    # After the third close >= 25 (day 4), STRESS stands from day 5's first snapshot on.
    assert seen[:4] == [Regime.CALM, Regime.ELEVATED, Regime.ELEVATED, Regime.ELEVATED]
    assert seen[4] is Regime.STRESS
    assert state.stress_episode == 1
    stress = [e for e in out if isinstance(e, RegimeChanged) and e.current is Regime.STRESS]
    assert len(stress) == 1 and stress[0].ts.date() == days[3]
    # days counted by the close: day 4 closes into STRESS, day 5 too, day 6 (20) leaves it
    assert state.regime_days[Regime.STRESS] == 2


def test_a_jump_on_a_cpi_day_with_breadth_holding_up_is_headline_and_holds_the_hedge() -> None:
    out: list[object] = []
    days = _sessions(8)
    # The calendar the overlay reads ahead agrees with what the snapshots carry.
    state = MarketState(StrategyConfig(), out.append, ReleaseSchedule({days[7]: ("cpi",)}))
    for i, day in enumerate(days[:7]):
        state.on_market_snapshot(_snap(i, day, 17.0, ad_line=1000.0 + 10 * i))
    # day 8: a CPI release and a 20% jump, A/D up over 5 sessions
    state.on_market_snapshot(_snap(7, days[7], 20.4, macro_events=("cpi",), ad_line=1100.0))
    macro = [e for e in out if isinstance(e, MacroClassified)]
    assert len(macro) == 1 and macro[0].kind == "headline" and macro[0].trigger == "jump"
    assert macro[0].macro_events == ("cpi",) and macro[0].ad_change == 1100.0 - 1020.0
    assert state.hedge_hold and state.press_hold
    assert macro[0].hold_until_session == state.session_index + 1


def test_a_jump_without_a_release_or_with_falling_breadth_is_stress() -> None:
    for events, ad in (((), 1100.0), (("fomc",), 900.0), (("ppi",), None)):
        out: list[object] = []
        days = _sessions(8)
        schedule = ReleaseSchedule({days[7]: events} if events else {})
        state = MarketState(StrategyConfig(), out.append, schedule)
        for i, day in enumerate(days[:7]):
            state.on_market_snapshot(_snap(i, day, 17.0, ad_line=1000.0))
        state.on_market_snapshot(_snap(7, days[7], 20.0, macro_events=events, ad_line=ad))
        macro = [e for e in out if isinstance(e, MacroClassified)]
        assert [m.kind for m in macro] == ["stress"], (events, ad)
        assert not state.hedge_hold and not state.press_hold


def test_a_release_the_session_before_counts_within_the_window() -> None:
    out: list[object] = []
    days = _sessions(8)
    state = MarketState(StrategyConfig(), out.append, ReleaseSchedule({days[6]: ("fomc",)}))
    for i, day in enumerate(days[:7]):
        events = ("fomc",) if i == 6 else ()
        state.on_market_snapshot(_snap(i, day, 14.0, macro_events=events, ad_line=1000.0 + i))
    state.on_market_snapshot(_snap(7, days[7], 16.5, ad_line=1010.0))  # an upgrade, no jump
    macro = [e for e in out if isinstance(e, MacroClassified)]
    assert [(m.kind, m.trigger) for m in macro] == [("headline", "regime_upgrade")]
    assert state.sessions_since_fomc() == 1 and state.post_fomc()


def test_rsi_reads_the_constant_maturity_vx_with_the_live_value_as_provisional_close() -> None:
    from market.snapshot import FuturePoint
    from strategies.indicators import Rsi, constant_maturity

    out: list[object] = []
    cfg = StrategyConfig.model_validate({"rsi": {"periods": 3}})
    state = MarketState(cfg, out.append)
    days = _sessions(6)
    closes: list[float] = []
    seq = 0
    for i, day in enumerate(days):
        curve = (
            FuturePoint(day + timedelta(days=20), 15.0 + i),
            FuturePoint(day + timedelta(days=50), 17.0 + 2 * i),
        )
        snap = _snap(seq, day, 15.0, vx_curve=curve)
        seq += 1
        state.on_market_snapshot(snap)
        cm = constant_maturity(curve, snap.ts, 30.0)
        assert cm is not None and state.constant_maturity_vx(snap) == cm
        reference = Rsi(3, "cutler")
        for c in closes:
            reference.commit(c)
        assert state.rsi(snap) == reference.value(cm)
        closes.append(cm)
    assert state.rsi(snap) is not None

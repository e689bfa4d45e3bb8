"""The macro overlay reads ahead (SPEC section 9): a VIX jump or regime upgrade within
``macro.window_sessions`` exchange sessions *before* a scheduled CPI, PPI or FOMC day is headline
too, from the same macro calendar in every mode: the simulator's, or a ``--macro`` file's in
history mode."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from daemon.config import AppConfig
from daemon.history import run_history
from daemon.runner import Prepared, prepare
from daemon.statedir import StateDir
from market.calendar import CALENDAR_END, trading_calendar
from market.history_feed import HistoryFeed, HistoryInputs
from market.macro import MacroCalendar, ReleaseSchedule, macro_events
from market.snapshot import MarketSnapshot
from strategies.config import MacroConfig, StrategyConfig
from strategies.events import MacroClassified
from strategies.state import MarketState

QUIET = ReleaseSchedule({})


def _snap(
    seq: int, session: date, vix: float, events: tuple[str, ...], ad: float | None
) -> MarketSnapshot:
    ts = datetime(session.year, session.month, session.day, 15, 0, tzinfo=UTC)
    return MarketSnapshot(seq, ts, session, 5000.0, vix, macro_events=events, ad_line=ad)


def _classify_jump(
    jump_day: date,
    calendar: MacroCalendar = macro_events,
    *,
    window: int = 1,
    look_ahead: bool = True,
    ad_step: float = 10.0,
    vix: float = 17.0,
    jump: float = 1.2,
) -> tuple[MarketState, list[MacroClassified]]:
    """Seven quiet sessions up to ``jump_day``, then a ``jump`` × VIX print on it; every snapshot
    carries its session's releases from ``calendar`` (as the simulator and history feeds do) and
    an A/D line moving ``ad_step`` a session."""
    out: list[object] = []
    config = StrategyConfig(macro=MacroConfig(window_sessions=window, look_ahead=look_ahead))
    state = MarketState(config, out.append, calendar)
    cal = trading_calendar()
    days = [jump_day]
    while len(days) < 8:
        days.insert(0, cal.previous_session(days[0]))
    for i, day in enumerate(days):
        level = vix * jump if day == jump_day else vix
        state.on_market_snapshot(_snap(i, day, level, calendar(day), 1000.0 + ad_step * i))
    return state, [e for e in out if isinstance(e, MacroClassified)]


def _kinds(classified: Iterable[MacroClassified]) -> list[tuple[str, tuple[str, ...]]]:
    return [(m.kind, m.macro_events) for m in classified]


# -- the simulator's calendar (simulate, run, replay) ---------------------------------------------


def test_a_jump_the_session_before_a_cpi_day_with_breadth_holding_up_is_headline() -> None:
    # The simulator's calendar: CPI on Wednesday 2025-03-12, PPI the next session.
    assert macro_events(date(2025, 3, 12)) == ("cpi",)
    state, classified = _classify_jump(date(2025, 3, 11))
    assert _kinds(classified) == [("headline", ("cpi",))]
    assert classified[0].trigger == "jump" and classified[0].ad_change == 50.0
    assert state.hedge_hold and state.press_hold


def test_without_look_ahead_a_jump_the_session_before_a_release_is_stress() -> None:
    """``macro.look_ahead = false``: the overlay of the build before the look-ahead (what a
    config stored by that build means, daemon.config.LEGACY_DEFAULTS)."""
    _, classified = _classify_jump(date(2025, 3, 11), look_ahead=False)
    assert _kinds(classified) == [("stress", ())]


def test_a_jump_the_session_before_a_release_with_falling_breadth_is_stress() -> None:
    _, classified = _classify_jump(date(2025, 3, 11), ad_step=-10.0)
    assert _kinds(classified) == [("stress", ())]


def test_a_jump_two_sessions_before_a_release_is_stress_with_the_default_window() -> None:
    _, classified = _classify_jump(date(2025, 3, 10))
    assert _kinds(classified) == [("stress", ())]


def test_the_releases_ahead_are_the_simulators_for_the_next_sessions() -> None:
    state = MarketState(StrategyConfig(), lambda _: None)
    assert state.releases_ahead(date(2025, 3, 11)) == ("cpi",)
    assert state.releases_ahead(date(2025, 3, 12)) == ("ppi",)
    assert state.releases_ahead(date(2025, 3, 13)) == ()


# -- the window, in exchange sessions --------------------------------------------------------------

CPI_DAY = date(2025, 4, 16)  # a Wednesday; nothing else is scheduled around it here
CPI_ONLY = ReleaseSchedule({CPI_DAY: ("cpi",)})


def test_the_session_after_a_release_is_still_headline() -> None:
    _, classified = _classify_jump(date(2025, 4, 17), CPI_ONLY)
    assert _kinds(classified) == [("headline", ("cpi",))]


def test_releases_behind_and_ahead_are_both_listed() -> None:
    schedule = ReleaseSchedule({date(2025, 4, 14): ("fomc",), CPI_DAY: ("cpi",)})
    # the jump is on neither day: a release the session before it and one the session after
    _, classified = _classify_jump(date(2025, 4, 15), schedule)
    assert _kinds(classified) == [("headline", ("cpi", "fomc"))]


@pytest.mark.parametrize(
    ("jump_day", "kind"),
    [(date(2025, 4, 15), "stress"), (CPI_DAY, "headline"), (date(2025, 4, 17), "stress")],
)
def test_window_sessions_zero_counts_only_the_release_day_itself(jump_day: date, kind: str) -> None:
    _, classified = _classify_jump(jump_day, CPI_ONLY, window=0)
    assert [m.kind for m in classified] == [kind]


def test_the_window_counts_exchange_sessions_not_calendar_days() -> None:
    # Friday 2025-01-17, then Martin Luther King Day: Tuesday the 21st is the next session.
    friday = date(2025, 1, 17)
    tuesday = ReleaseSchedule({date(2025, 1, 21): ("cpi",)})
    wednesday = ReleaseSchedule({date(2025, 1, 22): ("cpi",)})
    assert _kinds(_classify_jump(friday, tuesday)[1]) == [("headline", ("cpi",))]
    assert _kinds(_classify_jump(friday, wednesday)[1]) == [("stress", ())]
    assert _kinds(_classify_jump(friday, wednesday, window=2)[1]) == [("headline", ("cpi",))]


def test_a_regime_upgrade_the_session_before_an_fomc_day_is_headline() -> None:
    fomc = ReleaseSchedule({date(2025, 5, 7): ("fomc",)})
    # CALM at 14, then ELEVATED at 16.5 (an upgrade, not a 15% jump) the session before FOMC
    _, classified = _classify_jump(date(2025, 5, 6), fomc, vix=14.0, jump=16.5 / 14.0)
    assert [(m.kind, m.trigger, m.macro_events) for m in classified] == [
        ("headline", "regime_upgrade", ("fomc",))
    ]


def test_nothing_is_scheduled_past_the_trading_calendars_end() -> None:
    state = MarketState(StrategyConfig(macro=MacroConfig(window_sessions=3)), lambda _: None)
    last = trading_calendar().business_day_on_or_before(CALENDAR_END)
    assert state.releases_ahead(last) == ()


def test_the_calendar_is_chosen_before_the_first_snapshot() -> None:
    state = MarketState(StrategyConfig(), lambda _: None)
    state.use_macro_calendar(QUIET)
    assert state.releases_ahead(date(2025, 3, 11)) == ()
    state.on_market_snapshot(_snap(0, date(2025, 3, 3), 14.0, (), None))
    with pytest.raises(RuntimeError):
        state.use_macro_calendar(macro_events)


# -- history mode: the --macro file's calendar ------------------------------------------------------

START, END = date(2018, 1, 2), date(2018, 3, 29)
JUMP_DAY = date(2018, 2, 20)
"""The session after Presidents' Day; the file schedules a CPI release the next day (Feb 21),
the simulator's calendar nothing (its February CPI is the 14th, PPI the 15th)."""


def _write_inputs(root: Path, macro: bool) -> HistoryInputs:
    """FRED-style VIX and SPX closes (no opens, no term structure): VIX near 12.5 with a 20%
    jump at the close of :data:`JUMP_DAY`; with ``macro``, a ``date,event`` file."""
    vix_rows, spx_rows = ["DATE,VIXCLS"], ["DATE,SP500"]
    for i, day in enumerate(trading_calendar().sessions_between(START, END)):
        vix = 12.5 + 0.4 * math.sin(i)
        if day == JUMP_DAY:
            vix = 12.5 * 1.2
        spx = 2700.0 * math.exp(0.0004 * i - 0.012 * (vix - 12.5))
        vix_rows.append(f"{day},{vix:.2f}")
        spx_rows.append(f"{day},{spx:.2f}")
    (root / "vix.csv").write_text("\n".join(vix_rows) + "\n", encoding="utf-8")
    (root / "spx.csv").write_text("\n".join(spx_rows) + "\n", encoding="utf-8")
    macro_path = None
    if macro:
        macro_path = root / "macro.csv"
        # Feb 21 is the release after the jump; Saturday Mar 10 moves to Monday Mar 12; Apr 11
        # lies past --end.
        rows = ["date,event", "2018-02-21,cpi", "2018-03-10,ppi", "2018-04-11,cpi"]
        macro_path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return HistoryInputs(root / "vix.csv", root / "spx.csv", macro=macro_path)


def _history_classified(feed: HistoryFeed) -> list[MacroClassified]:
    """The feed's snapshots through the overlay with the feed's calendar, an A/D line added
    (history files hold none) rising a point a snapshot."""
    out: list[object] = []
    state = MarketState(StrategyConfig(), out.append, feed.macro_calendar)
    for snap in feed.snapshots():
        state.on_market_snapshot(
            _snap(snap.seq, snap.session, snap.vix, snap.macro_events, 1000.0 + snap.seq)
        )
    state.finish()
    return [e for e in out if isinstance(e, MacroClassified)]


def test_history_with_a_macro_file_reads_the_files_releases_ahead(tmp_path: Path) -> None:
    with_file = HistoryFeed(_write_inputs(tmp_path, macro=True), AppConfig().market)
    assert with_file.macro_calendar(date(2018, 2, 21)) == ("cpi",)
    assert with_file.macro_calendar(date(2018, 4, 11)) == ("cpi",)  # past the joined sessions
    classified = _history_classified(with_file)
    assert [(m.ts.date(), m.kind, m.macro_events) for m in classified] == [
        (JUMP_DAY, "headline", ("cpi",))
    ]


def test_history_without_a_macro_file_reads_the_simulators_calendar(tmp_path: Path) -> None:
    synthetic = HistoryFeed(_write_inputs(tmp_path, macro=False), AppConfig().market)
    assert synthetic.macro_calendar is macro_events
    classified = _history_classified(synthetic)
    assert [(m.ts.date(), m.kind) for m in classified] == [(JUMP_DAY, "stress")]


@pytest.mark.parametrize("resume", [False, True])
def test_alvh_history_hands_the_files_calendar_to_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, resume: bool
) -> None:
    prepared: list[Prepared] = []

    def capture(*args: Any, **kw: Any) -> Prepared:
        prepared.append(prepare(*args, **kw))
        return prepared[-1]

    monkeypatch.setattr("daemon.history.prepare", capture)
    inputs = _write_inputs(tmp_path, macro=True)
    config = AppConfig()
    with StateDir(tmp_path / "state") as state:
        run_history(config, inputs, state)
    if resume:
        with StateDir(tmp_path / "state") as state:
            run_history(config, inputs, state, resume=True)
    assert prepared[-1].engine.state.releases_ahead(JUMP_DAY) == ("cpi",)
    assert prepared[-1].engine.state.releases_ahead(date(2018, 3, 9)) == ("ppi",)

"""Market state shared by the layer actors: regime, sessions, indicators and the macro overlay.

The daemon hands every snapshot to :class:`MarketState` before any actor, so actors read a
regime and indicators that already reflect the snapshot they are handling. Everything here is
derived from snapshots alone, so a replay or a recovery re-derives it exactly.

Session closes are taken when the next session's first snapshot arrives (or the feed ends): the
close commits the day's VIX, the 30-day constant-maturity VX (the RSI's input), the VX curve (the
hedge beta's input) and the advance-decline line, and decides STRESS (SPEC section 5).

The macro overlay looks both ways around a jump: back at the releases the snapshots of recent
sessions carried, and ahead at those a macro calendar (:data:`~market.macro.MacroCalendar`, a
pure function of the date) schedules for the next exchange sessions. Release dates are public in
advance, and the calendar is fixed for a run (the simulator's by default, a ``--macro`` file's in
history mode), so the look-ahead is as deterministic as the snapshots.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

import structlog

from market.calendar import CalendarRangeError, trading_calendar
from market.macro import MacroCalendar, macro_events
from strategies.config import StrategyConfig
from strategies.events import MacroClassified, Regime, RegimeChanged, SessionClosed
from strategies.indicators import Rsi, constant_maturity, hedge_beta
from strategies.regime import RegimeDetector

if TYPE_CHECKING:
    from market.snapshot import MarketSnapshot

log = structlog.get_logger("alvh.strategies.state")

_HISTORY = 400
"""Session closes kept (beta window, A/D change, FOMC look-back need far fewer)."""

_RANK = {Regime.CALM: 0, Regime.ELEVATED: 1, Regime.STRESS: 2}


class MarketState:
    """Regime, session index, regime days, indicators and the macro classification."""

    def __init__(
        self,
        config: StrategyConfig,
        publish: Callable[[object], None],
        macro_calendar: MacroCalendar = macro_events,
    ) -> None:
        self._config = config
        self._macro_calendar = macro_calendar
        """The releases of a session date, read for the sessions ahead (the snapshots carry the
        past ones): the simulator's calendar unless the feed has its own."""
        self._detector = RegimeDetector(config.regime)
        self._publish = publish
        self.session: date | None = None
        self.session_index = -1
        """0 on the first session seen, +1 per new session."""
        self.regime_days: Counter[Regime] = Counter()
        self.stress_episode = 0
        """Count of STRESS episodes begun so far (the press sizes once per episode)."""
        self._last: MarketSnapshot | None = None
        self._rsi = Rsi(config.rsi.periods, config.rsi.method)
        self._rsi_cache: tuple[int, float | None] = (-1, None)
        self._vix_closes: deque[float] = deque(maxlen=_HISTORY)
        self._curve_closes: deque[dict[date, float]] = deque(maxlen=_HISTORY)
        self._ad_closes: deque[float | None] = deque(maxlen=_HISTORY)
        self._event_sessions: deque[tuple[int, tuple[str, ...]]] = deque(maxlen=64)
        """(session index, releases) of recent sessions with a CPI, PPI or FOMC release."""
        self._last_fomc = -(10**9)
        self._beta_cache: dict[date, float] = {}
        self._jump_checked = -1
        """Session index whose VIX jump has been classified (once per session)."""
        self.macro_kind: str | None = None
        """``headline`` or ``stress`` since the last trigger; None in CALM."""
        self.headline_hold_until = -1
        """Session index through which the hedge waits after a headline jump."""

    def reconfigure(self, config: StrategyConfig) -> None:
        """Take new thresholds (a config reload); the current regime stands until the next print.

        A changed RSI method or period count restarts the RSI from the closes kept."""
        old = self._config.rsi
        self._config = config
        self._detector.reconfigure(config.regime)
        self._beta_cache.clear()
        if (old.periods, old.method, old.maturity_days) != (
            config.rsi.periods,
            config.rsi.method,
            config.rsi.maturity_days,
        ):
            self._rsi = Rsi(config.rsi.periods, config.rsi.method)
            self._rsi_cache = (-1, None)
            log.info(
                "rsi_restarted",
                method=config.rsi.method,
                periods=config.rsi.periods,
                why="rsi config changed: the indicator warms up again from the next close",
            )

    def use_macro_calendar(self, calendar: MacroCalendar) -> None:
        """Read the releases ahead from ``calendar`` (the feed's: history mode's ``--macro``
        file); only before the first snapshot, so a whole run sees one calendar."""
        if self.session_index >= 0:
            raise RuntimeError("the macro calendar is set before the first snapshot, not during")
        self._macro_calendar = calendar

    @property
    def regime(self) -> Regime:
        return self._detector.regime or Regime.CALM

    # -- snapshots -------------------------------------------------------------------------------

    def on_market_snapshot(self, snap: MarketSnapshot) -> None:
        if snap.session != self.session:
            self._close_session()
            self.session = snap.session
            self.session_index += 1
            self._beta_cache.clear()
            if snap.macro_events:
                self._event_sessions.append((self.session_index, snap.macro_events))
                if "fomc" in snap.macro_events:
                    self._last_fomc = self.session_index
        previous = self._detector.regime
        changed = self._detector.update(snap.vix)
        if changed is not None and previous is not None:
            self._regime_changed(snap, previous, changed)
        elif self._jump_checked != self.session_index and self._vix_closes:
            prior = self._vix_closes[-1]
            if snap.vix >= prior * (1.0 + self._config.macro.jump_pct):
                self._classify(snap, "jump")
        self._last = snap

    def finish(self) -> None:
        """Count the last session when the feed ends."""
        self.close_session()

    def close_session(self) -> None:
        """Take the current session's close now (the daemon does this just before the next
        session's first snapshot, to mark the day in its closing regime); idempotent."""
        self._close_session()
        self._last = None

    # -- indicators ------------------------------------------------------------------------------

    def constant_maturity_vx(self, snap: MarketSnapshot) -> float | None:
        """The 30-day (``rsi.maturity_days``) constant-maturity VX price at ``snap``."""
        return constant_maturity(snap.vx_curve, snap.ts, float(self._config.rsi.maturity_days))

    def rsi(self, snap: MarketSnapshot) -> float | None:
        """RSI of the constant-maturity VX with ``snap``'s value as the provisional close; None
        during the warm-up (``rsi.periods`` sessions)."""
        seq, value = self._rsi_cache
        if seq == snap.seq:
            return value
        live = self.constant_maturity_vx(snap)
        value = self._rsi.value(live)
        self._rsi_cache = (snap.seq, value)
        return value

    def hedge_beta(self, expiry: date) -> float:
        """OLS beta of the VX future ``expiry``'s daily changes on the VIX's (SPEC section 7),
        over the last ``hedge.beta_window`` sessions that listed it, clipped; cached per session."""
        beta = self._beta_cache.get(expiry)
        if beta is not None:
            return beta
        cfg = self._config.hedge
        futures: list[float] = []
        vix: list[float] = []
        closes = list(self._curve_closes)[-(cfg.beta_window + 1) :]
        vixes = list(self._vix_closes)[-(cfg.beta_window + 1) :]
        for (c0, v0), (c1, v1) in zip(
            zip(closes, vixes, strict=True), zip(closes[1:], vixes[1:], strict=True), strict=False
        ):
            if expiry in c0 and expiry in c1:
                futures.append(c1[expiry] - c0[expiry])
                vix.append(v1 - v0)
        beta = hedge_beta(
            futures,
            vix,
            window=cfg.beta_window,
            min_observations=cfg.beta_min_observations,
            default=cfg.beta_default,
            low=cfg.beta_min,
            high=cfg.beta_max,
        )
        self._beta_cache[expiry] = beta
        return beta

    @property
    def beta_observations(self) -> int:
        """Session closes held (a beta uses at most ``beta_window`` changes of them)."""
        return len(self._vix_closes)

    def releases_ahead(self, session: date) -> tuple[str, ...]:
        """The releases the macro calendar schedules in the ``macro.window_sessions`` exchange
        sessions after ``session``, sorted (none past the trading calendar's end)."""
        cal = trading_calendar()
        names: set[str] = set()
        day = session
        try:
            for _ in range(self._config.macro.window_sessions):
                day = cal.next_session(day)
                names.update(self._macro_calendar(day))
        except CalendarRangeError:
            pass  # the trading calendar ends (2040): no session, so no release, after it
        return tuple(sorted(names))

    def sessions_since_fomc(self) -> int | None:
        """Sessions since the last FOMC day (0 on it); None when none was seen."""
        if self._last_fomc < 0:
            return None
        return self.session_index - self._last_fomc

    def post_fomc(self) -> bool:
        """Within ``condor.post_fomc_sessions`` sessions after an FOMC day (not the day itself)."""
        since = self.sessions_since_fomc()
        return since is not None and 1 <= since <= self._config.condor.post_fomc_sessions

    @property
    def hedge_hold(self) -> bool:
        """The hedge waits: a headline jump's ``macro.headline_confirm`` sessions are running."""
        return self.session_index <= self.headline_hold_until

    @property
    def press_hold(self) -> bool:
        """The press stays off while the last jump or upgrade was classified headline."""
        return self.macro_kind == "headline"

    # -- internals --------------------------------------------------------------------------------

    def _regime_changed(self, snap: MarketSnapshot, previous: Regime, current: Regime) -> None:
        self._publish(RegimeChanged(snap.ts, previous, current, snap.vix))
        if current is Regime.CALM:
            self.macro_kind = None
            self.headline_hold_until = -1
        elif _RANK[current] > _RANK[previous]:
            self._classify(snap, "regime_upgrade")

    def _classify(self, snap: MarketSnapshot, trigger: str) -> None:
        """Headline or stress (SPEC section 9): a jump or upgrade within ``window_sessions``
        before or after a scheduled release, while the A/D line's change is not negative, is
        headline. Past releases (and the session's own) are the ones the snapshots carried;
        those ahead come from the macro calendar."""
        cfg = self._config.macro
        self._jump_checked = self.session_index
        prior = self._vix_closes[-1] if self._vix_closes else None
        change = snap.vix / prior - 1.0 if prior else 0.0
        releases = tuple(
            sorted(
                {
                    name
                    for index, names in self._event_sessions
                    if self.session_index - index <= cfg.window_sessions
                    for name in names
                }.union(self.releases_ahead(snap.session) if cfg.look_ahead else ())
            )
        )
        ad_change: float | None = None
        if snap.ad_line is not None and len(self._ad_closes) >= cfg.ad_sessions:
            past = self._ad_closes[-cfg.ad_sessions]
            if past is not None:
                ad_change = snap.ad_line - past
        headline = bool(releases) and ad_change is not None and ad_change >= 0.0
        if headline:
            self.macro_kind = "headline"
            self.headline_hold_until = self.session_index + cfg.headline_confirm
        else:
            self.macro_kind = "stress"
            self.headline_hold_until = -1
        self._publish(
            MacroClassified(
                snap.ts,
                self.macro_kind,
                trigger,
                snap.vix,
                round(change, 6),
                releases if headline else (),
                ad_change,
                self.headline_hold_until,
            )
        )

    def _close_session(self) -> None:
        last = self._last
        if last is None:
            return
        cm = self.constant_maturity_vx(last)
        if cm is not None:
            self._rsi.commit(cm)
        self._rsi_cache = (-1, None)
        previous = self._detector.regime
        changed = self._detector.close(last.vix)
        if changed is not None and previous is not None:
            if changed is Regime.STRESS:
                self.stress_episode += 1
            self._regime_changed(last, previous, changed)
        self._vix_closes.append(last.vix)
        self._curve_closes.append({p.expiry: p.price for p in last.vx_curve})
        self._ad_closes.append(last.ad_line)
        self.regime_days[self.regime] += 1
        self._publish(SessionClosed(last.ts, last.session, self.regime))

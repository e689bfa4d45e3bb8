"""Market state shared by the layer actors: the regime and the session count.

The daemon hands every snapshot to :class:`MarketState` before any actor, so actors read a
regime that already reflects the snapshot they are handling.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

from strategies.config import RegimeConfig
from strategies.events import Regime, RegimeChanged, SessionClosed
from strategies.regime import RegimeDetector

if TYPE_CHECKING:
    from market.snapshot import MarketSnapshot


class MarketState:
    """Regime, session index and regime days, derived from the snapshots alone."""

    def __init__(self, config: RegimeConfig, publish: Callable[[object], None]) -> None:
        self._detector = RegimeDetector(config)
        self._publish = publish
        self.session: date | None = None
        self.session_index = -1
        """0 on the first session seen, +1 per new session."""
        self.regime_days: Counter[Regime] = Counter()
        self._last: MarketSnapshot | None = None

    def reconfigure(self, config: RegimeConfig) -> None:
        """Take new thresholds (a config reload); the current regime stands until the next print."""
        self._detector.reconfigure(config)

    @property
    def regime(self) -> Regime:
        return self._detector.regime or Regime.CALM

    def on_market_snapshot(self, snap: MarketSnapshot) -> None:
        if snap.session != self.session:
            self._close_session()
            self.session = snap.session
            self.session_index += 1
        previous = self._detector.regime
        changed = self._detector.update(snap.vix)
        if changed is not None and previous is not None:
            self._publish(RegimeChanged(snap.ts, previous, changed, snap.vix))
        self._last = snap

    def finish(self) -> None:
        """Count the last session when the feed ends."""
        self._close_session()
        self._last = None

    def _close_session(self) -> None:
        last = self._last
        if last is None:
            return
        self.regime_days[self.regime] += 1
        self._publish(SessionClosed(last.ts, last.session, self.regime))

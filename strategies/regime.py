"""VIX regime detector with hysteresis (SPEC section 5).

CALM below ``elevated_vix``; ELEVATED from any snapshot at or above it, left when the VIX prints
below ``elevated_vix - hysteresis``. STRESS is decided by session closes only: it begins once the
VIX has closed at or above ``press_threshold`` for ``press_confirm`` sessions in a row and ends at
a close below ``press_threshold - hysteresis``. While STRESS stands, intraday prints keep the
CALM / ELEVATED state current underneath it, which is the regime once STRESS ends.
"""

from __future__ import annotations

from strategies.config import RegimeConfig
from strategies.events import Regime


class RegimeDetector:
    __slots__ = ("_base", "_config", "_stress", "closes_at_threshold", "regime")

    def __init__(self, config: RegimeConfig) -> None:
        self._config = config
        self._base: Regime | None = None
        self._stress = False
        self.closes_at_threshold = 0
        """Session closes in a row at or above the press threshold."""
        self.regime: Regime | None = None

    def reconfigure(self, config: RegimeConfig) -> None:
        self._config = config

    def update(self, vix: float) -> Regime | None:
        """Feed one VIX print; return the new regime when it changed (including the first)."""
        base = self._base
        threshold = self._config.elevated_vix
        if base is None or base is Regime.CALM:
            base = Regime.ELEVATED if vix >= threshold else Regime.CALM
        elif vix < threshold - self._config.hysteresis:
            base = Regime.CALM
        self._base = base
        return self._settle()

    def close(self, vix_close: float) -> Regime | None:
        """Feed one session's closing VIX; return the new regime when STRESS began or ended."""
        cfg = self._config
        if vix_close >= cfg.press_threshold:
            self.closes_at_threshold += 1
        else:
            self.closes_at_threshold = 0
        if not self._stress and self.closes_at_threshold >= cfg.press_confirm:
            self._stress = True
        elif self._stress and vix_close < cfg.press_threshold - cfg.hysteresis:
            self._stress = False
        if self._base is None:
            self._base = Regime.ELEVATED if vix_close >= cfg.elevated_vix else Regime.CALM
        return self._settle()

    def _settle(self) -> Regime | None:
        previous = self.regime
        current = Regime.STRESS if self._stress else self._base
        self.regime = current
        return current if current is not previous else None

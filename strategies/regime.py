"""VIX regime detector with hysteresis (SPEC section 5): CALM and ELEVATED.

STRESS (press confirmation by session closes) comes with the full method.
"""

from __future__ import annotations

from strategies.config import RegimeConfig
from strategies.events import Regime


class RegimeDetector:
    """CALM below ``elevated_vix``; ELEVATED from any snapshot at or above it, left below
    ``elevated_vix - hysteresis``."""

    __slots__ = ("_config", "regime")

    def __init__(self, config: RegimeConfig) -> None:
        self._config = config
        self.regime: Regime | None = None

    def reconfigure(self, config: RegimeConfig) -> None:
        self._config = config

    def update(self, vix: float) -> Regime | None:
        """Feed one VIX print; return the new regime when it changed (including the first)."""
        previous = self.regime
        threshold = self._config.elevated_vix
        if previous is None:
            current = Regime.ELEVATED if vix >= threshold else Regime.CALM
        elif previous is Regime.CALM:
            current = Regime.ELEVATED if vix >= threshold else Regime.CALM
        else:
            current = Regime.CALM if vix < threshold - self._config.hysteresis else previous
        self.regime = current
        return current if current is not previous else None

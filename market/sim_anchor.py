"""The VX curve's moving anchor (:class:`CurveAnchor`): the slow average of log-VIX the curve
relaxes towards, shared by the simulator's VX curve (see :mod:`market.simulator`) and history
mode's model curve (:mod:`market.history_curve`, :mod:`market.history_sessions`). No random draws.
"""

from __future__ import annotations

import math

from market.sim_config import SimulatorConfig


class CurveAnchor:
    """The VX curve's moving anchor (see :mod:`market.simulator`): the slow exponentially weighted
    average ``s`` of log-VIX, started at a first VIX and moved by :meth:`step`, and the anchor
    ``log(vx_curve_level) + vx_anchor_weight * (s - log(vx_curve_level))`` it gives. The simulator
    runs the same arithmetic inline; history mode uses this class."""

    __slots__ = ("_base", "_weight", "_rate", "average")

    def __init__(self, config: SimulatorConfig, vix: float) -> None:
        self._weight = config.vx_anchor_weight
        self._base = (1.0 - self._weight) * math.log(config.vx_curve_level)
        self._rate = math.log(2.0) / config.vx_anchor_half_life_days
        self.average = math.log(vix)
        """The slow average of log-VIX."""

    def step(self, vix: float, sessions: float) -> None:
        """Move the average towards ``log(vix)`` over ``sessions`` sessions of model time (a
        snapshot step: the overnight gap counts ``overnight_variance_fraction`` of a session)."""
        self.average += -math.expm1(-self._rate * sessions) * (math.log(vix) - self.average)

    @property
    def log_level(self) -> float:
        """The anchor: log of a VIX level."""
        return self._base + self._weight * self.average

    @property
    def level(self) -> float:
        """The anchor in VIX points."""
        return math.exp(self.log_level)

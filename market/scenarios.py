"""Scripted VIX paths laid over the simulator's model (SPEC section 4).

A scenario is data: anchor VIX levels on session offsets (0 = the first simulated session),
interpolated log-linearly through each session, with seeded mean-reverting noise around the script
that is clamped to a band, so a scenario's promise ("calm never reaches 16") holds for every seed.
Beyond the last anchor the last level holds. The simulator's SPX, VX curve and surface follow the
scripted VIX through the usual model, so tuning the base model never breaks a scenario.

Add a scenario by adding an entry to :data:`SCENARIOS`.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Scenario:
    """A scripted VIX path."""

    name: str
    description: str
    anchors: tuple[tuple[float, float], ...]
    """(session offset, VIX level) pairs, offsets strictly increasing from 0. An anchor at offset
    ``i`` is the level at the open of the ``i``-th simulated session."""
    noise: float = 0.04
    """Stationary standard deviation of the log-VIX noise around the script."""
    noise_half_life_sessions: float = 2.0
    """How fast the noise forgets (sessions)."""
    noise_bound: float = 2.5
    """The noise is clamped to +- this many standard deviations."""
    _offsets: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _logs: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.anchors or self.anchors[0][0] != 0:
            raise ValueError(f"scenario {self.name!r}: the first anchor must be at offset 0")
        offsets = tuple(float(o) for o, _ in self.anchors)
        if any(b <= a for a, b in zip(offsets, offsets[1:], strict=False)):
            raise ValueError(f"scenario {self.name!r}: anchor offsets must increase")
        if any(level <= 0 for _, level in self.anchors):
            raise ValueError(f"scenario {self.name!r}: anchor levels must be positive")
        object.__setattr__(self, "_offsets", offsets)
        object.__setattr__(self, "_logs", tuple(math.log(level) for _, level in self.anchors))

    def log_level(self, t_sessions: float) -> float:
        """Scripted log-VIX at ``t_sessions`` (session offset plus the elapsed fraction of it)."""
        offsets, logs = self._offsets, self._logs
        i = bisect.bisect_right(offsets, t_sessions)
        if i >= len(offsets):
            return logs[-1]
        if i == 0:
            return logs[0]
        t0, t1 = offsets[i - 1], offsets[i]
        return logs[i - 1] + (logs[i] - logs[i - 1]) * (t_sessions - t0) / (t1 - t0)

    def level_bounds(self) -> tuple[float, float]:
        """Lowest and highest VIX the scenario can print (script times the clamped noise)."""
        band = math.exp(self.noise * self.noise_bound)
        levels = [level for _, level in self.anchors]
        return min(levels) / band, max(levels) * band


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            name="calm",
            description="VIX roughly 11-15 for as long as it runs; never reaches 16",
            anchors=((0, 13.0), (30, 12.0), (70, 13.5), (120, 12.5)),
            noise=0.04,
        ),
        Scenario(
            name="spike-and-revert",
            description="calm near 13 for 20 sessions, a spike to about 35 over three sessions, "
            "then a slow decay back to about 15 some 60 sessions later",
            anchors=((0, 13.0), (20, 13.5), (23, 35.0), (35, 24.0), (55, 18.0), (83, 15.0)),
            noise=0.05,
        ),
    )
}
"""Scenario registry: name -> scripted path."""


def scenario_names() -> list[str]:
    """Names of the known scenarios, in registry order."""
    return list(SCENARIOS)


def get_scenario(name: str) -> Scenario:
    """The scenario called ``name``; ValueError naming the known ones otherwise."""
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(scenario_names())
        raise ValueError(f"unknown scenario {name!r} (known: {known})") from None

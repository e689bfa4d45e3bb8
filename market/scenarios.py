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
        Scenario(
            name="volmageddon",
            description="modelled on 5 February 2018: 25 sessions of VIX 11-13 (a short-volatility "
            "seller's paradise), a rise to about 17 at the close of session 24, then a one-session "
            "doubling to about 37 at the close of session 25; an aftershock near 33 and a decay "
            "through the 20s, back below 16 some 40 sessions later",
            anchors=(
                (0, 12.0),
                (10, 11.0),
                (20, 11.5),
                (24, 13.0),
                (25, 17.0),
                (26, 37.0),
                (27, 30.0),
                (28, 28.0),
                (29, 33.0),
                (31, 26.0),
                (35, 19.5),
                (42, 20.0),
                (47, 18.0),
                (52, 22.0),
                (58, 19.0),
                (66, 14.5),
                (80, 13.5),
            ),
            noise=0.035,
        ),
        Scenario(
            name="grind-up",
            description="a slow rise with no single shock: about 12 for 10 sessions, through 16 "
            "near session 30 and 25 near session 70, a plateau near 30 that holds at or above 26 "
            "for over 10 sessions, then an easing back below 16 by session 140",
            anchors=(
                (0, 12.0),
                (10, 12.2),
                (30, 16.0),
                (70, 25.0),
                (76, 29.0),
                (82, 30.0),
                (88, 29.0),
                (95, 25.0),
                (115, 19.0),
                (140, 14.0),
                (170, 13.5),
            ),
            noise=0.04,
            noise_half_life_sessions=3.0,
        ),
        Scenario(
            name="crash-2020",
            description="modelled on February-June 2020: about 14 (below 16) for 20 sessions, up "
            "to 40 over six sessions, to about 80 ten sessions later, back to about 40 fifteen "
            "sessions after the peak, 30 by session 81, 25 by session 110 and 20 by session 180",
            anchors=(
                (0, 14.0),
                (12, 13.5),
                (20, 14.0),
                (22, 17.0),
                (23, 25.0),
                (24, 28.0),
                (26, 40.0),
                (31, 50.0),
                (34, 75.0),
                (36, 82.0),
                (41, 64.0),
                (45, 60.0),
                (48, 48.0),
                (51, 41.0),
                (60, 36.0),
                (81, 30.0),
                (110, 25.0),
                (140, 23.0),
                (180, 20.0),
            ),
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

"""One simulated session's plan (:class:`SessionPlan`): its snapshot times at the configured
cadence (each session ends with a snapshot at its close), the model-time length of each step into
them (the overnight gap into the open carries ``overnight_variance_fraction`` of a session), its
listed SPX and VX expiries and the VX settlement times, whether it is an SPX or a VX expiry session,
and its scheduled macro releases. Plans follow from the calendar alone (no random draws) and are
cached (:func:`session_plan`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache

import numpy as np

from market.calendar import (
    NEW_YORK,
    TradingCalendar,
    spx_expiries_after,
    trading_calendar,
    vx_expiries_after,
)
from market.macro import macro_events
from market.snapshot import SPX_EXPIRIES_LISTED


class SessionPlan:
    """Snapshot times of one session and the model-time length of each step into them."""

    __slots__ = (
        "session",
        "times",
        "ts_seconds",
        "step_sessions",
        "spx_expiries",
        "vx_expiries",
        "vx_settle_seconds",
        "is_spx_expiry",
        "is_vx_expiry",
        "sqrt_steps",
        "macro_events",
    )

    def __init__(
        self, cal: TradingCalendar, session: date, cadence: int, points: int, overnight: float
    ) -> None:
        open_utc, close_utc = cal.session_hours(session)
        total = (close_utc - open_utc).total_seconds() / 60.0
        offsets = list(range(0, int(total), cadence))
        if offsets[-1] != total:
            offsets.append(int(total))
        self.session = session
        self.times = [open_utc + timedelta(minutes=m) for m in offsets]
        self.ts_seconds = [t.timestamp() for t in self.times]
        # Step 0 is the overnight gap into the open; step i the stretch between snapshots i-1, i.
        self.step_sessions = [overnight] + [
            (1.0 - overnight) * (b - a) / total for a, b in zip(offsets, offsets[1:], strict=False)
        ]
        self.spx_expiries = tuple(spx_expiries_after(session, SPX_EXPIRIES_LISTED, cal))
        self.vx_expiries = tuple(vx_expiries_after(session, points, cal))
        self.vx_settle_seconds = [
            datetime(e.year, e.month, e.day, 9, 30, tzinfo=NEW_YORK).timestamp()
            for e in self.vx_expiries
        ]
        yesterday = session - timedelta(days=1)
        self.is_spx_expiry = spx_expiries_after(yesterday, 1, cal)[0] == session
        self.is_vx_expiry = vx_expiries_after(yesterday, 1, cal)[0] == session
        self.sqrt_steps = np.sqrt(self.step_sessions)
        self.macro_events = macro_events(session)


@lru_cache(maxsize=64)
def session_plan(session: date, cadence: int, points: int, overnight: float) -> SessionPlan:
    """The plan of ``session`` at ``cadence`` minutes with ``points`` VX expiries (cached)."""
    return SessionPlan(trading_calendar(), session, cadence, points, overnight)

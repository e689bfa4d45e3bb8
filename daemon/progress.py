"""A progress bar for long batch runs, on stderr when it is a terminal and nowhere otherwise.

``advance()`` costs an addition and a comparison until the next redraw is due (every
``1/200`` of the total, and at most every ``min_interval_s``), so a run can call it once per
snapshot. The bar doubles as the stream log lines are written to: each write first clears the
bar's line, then redraws it below, so JSON log lines and the bar never share a line.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO, cast

REDRAWS = 200
"""Redraws over a whole run at most (one per half percent)."""


class ProgressBar:
    """``label [#####-----]  45%  1,234/2,000 snapshots  1.2 s  eta 1.5 s`` on one line."""

    def __init__(
        self,
        label: str,
        total: int = 0,
        *,
        unit: str = "snapshots",
        stream: TextIO | None = None,
        enabled: bool | None = None,
        width: int = 30,
        min_interval_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = _isatty(self.stream) if enabled is None else enabled
        self.label = label
        self.unit = unit
        self.width = width
        self.min_interval_s = min_interval_s
        self.clock = clock
        self.done = 0
        self.total = 0
        self._started = clock()
        self._next = 0
        self._step = 1
        self._last_draw = float("-inf")
        self._shown = False
        self._cleared = False
        """The bar was cleared for a log line and comes back when that line ends."""
        self.reset(total)

    def reset(self, total: int) -> None:
        """Start over towards ``total`` (0: unknown yet, nothing is drawn)."""
        self.total = max(0, total)
        self.done = 0
        self._started = self.clock()
        self._step = max(1, self.total // REDRAWS)
        self._next = 0 if self.enabled and self.total else 2**62

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more units done; redraw when due."""
        self.done += n
        if self.done >= self._next:
            self._due()

    def close(self) -> None:
        """Draw the final state and end the bar's line (idempotent)."""
        if self._shown:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False
        self._next = 2**62

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the stream protocol, so log lines can be written through the bar ---------------------

    def write(self, text: str) -> int:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self._shown = False
            self._cleared = True
        self.stream.write(text)
        if self._cleared and text.endswith("\n"):
            self._cleared = False
            self._draw()
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def as_stream(self) -> TextIO:
        """This bar as the text stream ``configure_logging`` writes to (it uses only ``write``,
        ``flush`` and ``isatty``)."""
        return cast(TextIO, self)

    def isatty(self) -> bool:
        return _isatty(self.stream)

    # -- drawing ------------------------------------------------------------------------------

    def _due(self) -> None:
        done, total = self.done, self.total
        # the last unit always draws; past it, nothing more does
        self._next = min(done + self._step, total) if done < total else 2**62
        now = self.clock()
        if now - self._last_draw >= self.min_interval_s or done >= total:
            self._last_draw = now
            self._draw()

    def line(self) -> str:
        """The bar's text for the current count."""
        total = self.total
        done = min(self.done, total) if total else self.done
        fraction = done / total if total else 0.0
        filled = int(fraction * self.width)
        elapsed = self.clock() - self._started
        text = (
            f"{self.label} [{'#' * filled}{'-' * (self.width - filled)}] {fraction:4.0%}"
            f"  {done:,}/{total:,} {self.unit}  {elapsed:.1f} s"
        )
        if 0 < fraction < 1:
            text += f"  eta {elapsed * (1 - fraction) / fraction:.1f} s"
        return text

    def _draw(self) -> None:
        if not self.enabled or not self.total:
            return
        self.stream.write("\r\x1b[K" + self.line())
        self.stream.flush()
        self._shown = True


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False

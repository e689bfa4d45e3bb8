"""structlog setup: one JSON object per line when stdout is not a terminal, console otherwise.

Timestamps are UTC ISO-8601; event names are stable snake_case (see the README's table).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any, Literal, TextIO

import structlog

LogFormat = Literal["auto", "json", "console"]


class ReplayGate:
    """Process-wide: on while recovery fast-forwards over recorded history, so old events are
    not logged again (errors still are); recovery logs one ``recovery_completed`` line."""

    __slots__ = ("active",)

    def __init__(self) -> None:
        self.active = False


REPLAYING = ReplayGate()


class LevelGate:
    """The lowest level written, changeable at run time (SIGHUP reloads it): cached loggers
    keep working because the filtering is a processor, not baked into the logger class."""

    __slots__ = ("numeric",)

    def __init__(self) -> None:
        self.numeric = logging.INFO

    def set(self, level: str) -> None:
        self.numeric = logging.getLevelNamesMapping()[level.upper()]
        logging.getLogger().setLevel(self.numeric)
        logging.getLogger("apscheduler").setLevel(max(self.numeric, logging.WARNING))


LEVEL = LevelGate()

FLOOD_EVENTS = frozenset(
    {
        "handler_failed",
        "order_rejected",
        "snapshot_rejected",
        "flatten_waiting",
        "variation_without_mark",
        "settlement_waiting",
    }
)
"""Events that can repeat on every snapshot: rate-limited per (event, reason)."""


class FloodGate:
    """Let the first ``burst`` lines of a flood event per (event, reason) through in each
    ``window_s`` and drop the rest; the first line let through in a later window carries
    ``suppressed_before``: how many were dropped in the window before (SPEC section 12)."""

    def __init__(self, burst: int = 5, window_s: float = 60.0) -> None:
        self.burst = burst
        self.window_s = window_s
        self._windows: dict[tuple[str, str], tuple[float, int, int]] = {}
        self.clock = time.monotonic

    def __call__(
        self, logger: object, method_name: str, event_dict: structlog.types.EventDict
    ) -> structlog.types.EventDict:
        event = event_dict.get("event")
        if event not in FLOOD_EVENTS:
            return event_dict
        detail = event_dict.get("reason") or event_dict.get("topic") or event_dict.get("layer")
        key = (str(event), str(detail))
        now = self.clock()
        start, count, dropped = self._windows.get(key, (now, 0, 0))
        if now - start >= self.window_s:
            if dropped:
                event_dict["suppressed_before"] = dropped
            start, count, dropped = now, 0, 0
        if count >= self.burst:
            self._windows[key] = (start, count + 1, dropped + 1)
            raise structlog.DropEvent
        self._windows[key] = (start, count + 1, dropped)
        return event_dict


FLOODS = FloodGate()
_NUMERIC = logging.getLevelNamesMapping()


def _drop_below_level(
    logger: object, method_name: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    name = (
        "WARNING"
        if method_name == "warn"
        else "ERROR"
        if method_name == "exception"
        else method_name.upper()
    )
    if _NUMERIC.get(name, logging.INFO) < LEVEL.numeric:
        raise structlog.DropEvent
    return event_dict


def _drop_while_replaying(
    logger: object, method_name: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    if REPLAYING.active and method_name not in ("error", "critical", "exception"):
        raise structlog.DropEvent
    return event_dict


CACHE_LOGGERS = True
"""Cache bound loggers on first use (fast). Tests turn it off: cached loggers would keep
writing to a stream that pytest has already closed."""


class _Tee:
    """A text stream writing to the terminal (or journal) and a log file, line-buffered."""

    def __init__(self, first: TextIO, second: TextIO) -> None:
        self._streams = (first, second)

    def write(self, text: str) -> int:
        for stream in self._streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self._streams:
            stream.flush()


def configure_logging(
    level: str = "info",
    fmt: LogFormat = "auto",
    stream: TextIO | None = None,
    log_file: Path | None = None,
) -> None:
    """Route structlog (and stdlib logging, e.g. aiohttp) to ``stream`` (stdout) in one shape;
    with ``log_file``, the same lines are appended to that file too."""
    console = stream if stream is not None else sys.stdout
    use_json = fmt == "json" or (fmt == "auto" and not console.isatty())
    out: Any = console
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        out = _Tee(console, log_file.open("a", encoding="utf-8", buffering=1))
    base: list[structlog.types.Processor] = [
        _drop_while_replaying,
        _drop_below_level,
        FLOODS,
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    final: list[structlog.types.Processor] = (
        [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
        if use_json
        else [structlog.dev.ConsoleRenderer()]
    )
    structlog.configure(
        processors=[*base, *final],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=CACHE_LOGGERS,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
            foreign_pre_chain=[*base[3:], structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # The scheduler logs its own structured events (scheduler_*); APScheduler's chatter about
    # adding jobs stays out, its warnings and errors still come through in the same JSON shape.
    LEVEL.set(level)

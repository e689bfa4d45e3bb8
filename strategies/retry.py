"""The resend rule of a decided exit whose closing order the broker rejected (every layer)."""

from __future__ import annotations

import structlog

log = structlog.get_logger("alvh.strategies.retry")

MAX_BACKOFF_EXPONENT = 6
"""Backoff doubles from 1 snapshot up to 2**6 = 64."""


def schedule_exit_retry(
    layer: str, position_id: str, rule: str, attempts: int, reason: str, now_tick: int
) -> int:
    """The snapshot count at which to resend: the exit stays decided, and its order goes out
    again after 1, 2, 4 ... 64 snapshots so a persistent reject cannot flood the broker.
    Logs ``exit_retry_scheduled``."""
    retry_at: int = now_tick + 2 ** min(attempts - 1, MAX_BACKOFF_EXPONENT)
    log.warning(
        "exit_retry_scheduled",
        layer=layer,
        position_id=position_id,
        rule=rule,
        attempts=attempts,
        reason=reason,
        in_snapshots=retry_at - now_tick,
    )
    return retry_at

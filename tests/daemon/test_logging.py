"""Log floods are rate-limited per event and reason; nothing else is touched."""

from __future__ import annotations

import pytest
import structlog

from daemon.logging import FloodGate


def test_a_flood_lets_a_burst_through_per_reason_and_counts_the_rest() -> None:
    now = [0.0]
    gate = FloodGate(burst=3, window_s=60.0)
    gate.clock = lambda: now[0]

    def log(event: str, **kw: object) -> dict[str, object] | None:
        try:
            return gate(None, "warning", {"event": event, **kw})
        except structlog.DropEvent:
            return None

    passed = [log("order_rejected", reason="no_quote") for _ in range(7)]
    assert sum(p is not None for p in passed) == 3
    assert log("order_rejected", reason="stale_quote") is not None  # another reason: its own burst
    assert all(log("fill_recorded", fill_id=f"F{i}") is not None for i in range(10))  # not a flood
    now[0] = 61.0
    first = log("order_rejected", reason="no_quote")
    assert first is not None and first["suppressed_before"] == 4
    second = log("order_rejected", reason="no_quote")
    assert second is not None and "suppressed_before" not in second


@pytest.mark.parametrize("event", ["handler_failed", "snapshot_rejected"])
def test_flood_events_include_the_per_snapshot_failures(event: str) -> None:
    gate = FloodGate(burst=1)
    gate(None, "error", {"event": event, "topic": "t"})
    with pytest.raises(structlog.DropEvent):
        gate(None, "error", {"event": event, "topic": "t"})

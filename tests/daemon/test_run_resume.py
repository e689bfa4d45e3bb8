"""`alvh run` resumes its state dir by default, from where market time stopped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from daemon_process import RunningDaemon


def _run_until(
    state: Path, cfg: Path, min_snapshots: int, *extra: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    with RunningDaemon(state, cfg, *extra) as daemon:
        status = daemon.wait_for_snapshots(min_snapshots)
        done = daemon.stop()
    assert done.returncode == 0, done.stderr[-2000:]
    return done.lines, status


def test_run_resumes_by_default_from_where_it_stopped_and_new_starts_over(tmp_path: Path) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text("[market]\ncadence_minutes = 30\n[runtime]\ntime_scale = 90000\n")
    state = tmp_path / "state"
    first, status1 = _run_until(state, cfg, 40)
    assert status1["snapshots"] >= 40
    assert next(e for e in first if e["event"] == "daemon_started")["mode"] == "new"

    second, status2 = _run_until(state, cfg, status1["snapshots"] + 5)
    events = [e["event"] for e in second]
    assert next(e for e in second if e["event"] == "daemon_started")["mode"] == "resume"
    recovered = next(e for e in second if e["event"] == "recovery_completed")
    # fast-forward to the snapshot the first daemon stopped at, no further
    assert recovered["snapshots"] >= status1["snapshots"]
    assert status2["snapshots"] > recovered["snapshots"]
    # old events are not logged again: nothing but the recovery line before new market time
    before = events[: events.index("recovery_completed")]
    assert set(before) <= {"daemon_started", "scheduler_started"}

    third, _ = _run_until(state, cfg, 1, "--new")
    assert next(e for e in third if e["event"] == "daemon_started")["mode"] == "new"
    assert any(e["event"] == "ledger_archived" for e in third)
    assert len(list((state / "archive").iterdir())) == 1

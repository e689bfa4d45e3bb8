"""The wall-clock ops scheduler: pure cron triggers across the 2026 DST changes, and a started
scheduler that runs its jobs and logs failures and misses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from apscheduler.events import (  # type: ignore[import-untyped]
    EVENT_JOB_ERROR,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]
from structlog.testing import capture_logs

from daemon.scheduler import (
    BACKUP_JOB,
    HEARTBEAT_JOB,
    NEW_YORK,
    REPORT_JOB,
    OpsScheduler,
    backup_trigger,
    report_trigger,
)


def _fires(trigger: Any, start: datetime, n: int) -> list[datetime]:
    out: list[datetime] = []
    prev = None
    now = start
    for _ in range(n):
        nxt = trigger.get_next_fire_time(prev, now)
        out.append(nxt)
        prev, now = nxt, nxt + timedelta(seconds=1)
    return out


def _ny(y: int, m: int, d: int, hh: int = 12, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=NEW_YORK)


@pytest.mark.parametrize(
    ("friday", "monday", "friday_utc_hour", "monday_utc_hour"),
    [
        # Spring forward on Sunday 2026-03-08: 17:30 EST = 22:30Z, then 17:30 EDT = 21:30Z.
        (_ny(2026, 3, 6), _ny(2026, 3, 9), 22, 21),
        # Fall back on Sunday 2026-11-01: 17:30 EDT = 21:30Z, then 17:30 EST = 22:30Z.
        (_ny(2026, 10, 30), _ny(2026, 11, 2), 21, 22),
    ],
)
def test_backup_fires_at_1730_new_york_across_the_dst_change(
    friday: datetime, monday: datetime, friday_utc_hour: int, monday_utc_hour: int
) -> None:
    trigger = backup_trigger()
    before, after = _fires(trigger, friday, 2)  # the Friday, then straight to the Monday

    assert before.date() == friday.date() and after.date() == monday.date()
    for fire in (before, after):
        assert (fire.hour, fire.minute) == (17, 30)  # local wall time, EST or EDT
        assert fire.utcoffset() != timedelta(0)
    assert before.astimezone(UTC).hour == friday_utc_hour
    assert after.astimezone(UTC).hour == monday_utc_hour
    assert abs(before.utcoffset() - after.utcoffset()) == timedelta(hours=1)  # type: ignore[operator]


@pytest.mark.parametrize("start", [_ny(2026, 3, 1), _ny(2026, 10, 25)])
def test_backup_and_report_fire_every_weekday_and_never_on_a_weekend(start: datetime) -> None:
    for trigger, hhmm in ((backup_trigger(), (17, 30)), (report_trigger(), (17, 45))):
        fires = _fires(trigger, start, 15)  # three weeks spanning the change
        assert all(f.weekday() < 5 for f in fires)  # weekday names: mon-fri, not 0-4 crontab
        assert [f.weekday() for f in fires[:5]] == [0, 1, 2, 3, 4]
        assert all((f.hour, f.minute) == hhmm for f in fires)
        assert len({f.date() for f in fires}) == 15


def test_custom_backup_time_is_new_york_local() -> None:
    fire = backup_trigger(6, 5).get_next_fire_time(None, _ny(2026, 7, 3, 7, 0))  # Friday
    assert fire == _ny(2026, 7, 6, 6, 5)  # the next Monday (cron knows no holiday)


def test_jobs_are_registered_with_their_triggers() -> None:
    ops = OpsScheduler()

    async def noop() -> None:
        return None

    ops.add_backup(noop)
    ops.add_heartbeat(noop, minutes=5)
    ops.add_daily_report(noop, hour=18, minute=0)
    assert set(ops.jobs()) == {BACKUP_JOB, HEARTBEAT_JOB, REPORT_JOB}
    heartbeat = ops.trigger_of(HEARTBEAT_JOB)
    assert isinstance(heartbeat, IntervalTrigger)
    assert heartbeat.interval == timedelta(minutes=5)
    report = ops.trigger_of(REPORT_JOB)
    assert report.get_next_fire_time(None, _ny(2026, 3, 6)) == _ny(2026, 3, 6, 18, 0)
    assert ops.trigger_of("nope") is None


def test_start_outside_a_running_loop_is_refused() -> None:
    with pytest.raises(RuntimeError):
        OpsScheduler().start()


async def _until(cond: Callable[[], bool], timeout: float = 1.0) -> None:
    async def wait() -> None:
        while not cond():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(wait(), timeout)


async def test_heartbeat_runs_on_a_started_scheduler() -> None:
    beats: list[datetime] = []

    async def beat() -> None:
        beats.append(datetime.now(UTC))

    ops = OpsScheduler()
    ops.add_heartbeat(beat, minutes=0.05 / 60)  # every 50 ms
    with capture_logs() as logs:
        ops.start()
        assert ops.running
        await _until(lambda: len(beats) >= 2)
        await ops.shutdown()
    assert not ops.running
    count = len(beats)
    await asyncio.sleep(0.1)
    assert len(beats) == count  # nothing runs after shutdown
    ran = [e for e in logs if e["event"] == "scheduler_job_ran"]
    assert ran and ran[0]["job_id"] == HEARTBEAT_JOB and ran[0]["log_level"] == "debug"
    await ops.shutdown()  # idempotent


async def test_a_failing_job_is_logged_as_scheduler_job_failed() -> None:
    async def broken() -> None:
        raise OSError("disk full")

    ops = OpsScheduler()
    with capture_logs() as logs:
        ops.start()
        ops.add_once(broken, BACKUP_JOB, datetime.now(UTC) + timedelta(milliseconds=20))
        await _until(lambda: any(e["event"] == "scheduler_job_failed" for e in logs))
        await ops.shutdown()
    [failed] = [e for e in logs if e["event"] == "scheduler_job_failed"]
    assert failed["job_id"] == BACKUP_JOB and failed["log_level"] == "error"
    assert isinstance(failed["exc_info"], OSError) and str(failed["exc_info"]) == "disk full"
    assert failed["scheduled_run_time"] is not None


def test_missed_and_failed_events_are_logged_by_the_listener() -> None:
    ops = OpsScheduler()
    when = _ny(2026, 3, 9, 17, 30)
    boom = ValueError("boom")
    with capture_logs() as logs:
        ops._on_event(JobExecutionEvent(EVENT_JOB_MISSED, BACKUP_JOB, "default", when))
        ops._on_event(
            JobExecutionEvent(EVENT_JOB_ERROR, REPORT_JOB, "default", when, exception=boom)
        )
    missed, failed = logs
    assert missed == {
        "event": "scheduler_job_missed",
        "log_level": "warning",
        "job_id": BACKUP_JOB,
        "scheduled_run_time": "2026-03-09T17:30:00-04:00",
    }
    assert failed["event"] == "scheduler_job_failed" and failed["exc_info"] is boom


async def test_a_run_missed_beyond_the_grace_time_is_logged() -> None:
    ops = OpsScheduler()

    async def late() -> None:
        raise AssertionError("a missed run must not run")

    ops.add_once(late, "late", datetime.now(UTC) - timedelta(seconds=120))  # grace is 60 s
    with capture_logs() as logs:
        ops.start()
        await _until(lambda: any(e["event"] == "scheduler_job_missed" for e in logs))
        await ops.shutdown()
    [missed] = [e for e in logs if e["event"] == "scheduler_job_missed"]
    assert missed["job_id"] == "late"

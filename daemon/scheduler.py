"""Operational jobs on the wall clock (SPEC 12): ledger backup, heartbeat, daily report.

A thin wrapper over APScheduler 3's ``AsyncIOScheduler`` in America/New_York. Market events
(open, close, marks, settlement) never come from here: they come from snapshot timestamps.
The job callables are injected, so this module knows nothing of the engine.

Job callables: an ``async def`` runs on the event loop (use it for anything that touches the
engine or the ledger connection, which are not thread-safe); a plain function runs in the loop's
default thread pool (use it for blocking work with its own resources, such as
:func:`daemon.backup.backup_ledger`). Cron knows no holidays: a job that must skip exchange
holidays checks the calendar itself. Missed and failed runs are logged (``scheduler_job_missed``,
``scheduler_job_failed``), never silent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from apscheduler.events import (  # type: ignore[import-untyped]
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.date import DateTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

__all__ = [
    "BACKUP_JOB",
    "HEARTBEAT_JOB",
    "JOB_DEFAULTS",
    "NEW_YORK",
    "REPORT_JOB",
    "OpsScheduler",
    "backup_trigger",
    "heartbeat_trigger",
    "report_trigger",
]

log = structlog.get_logger("alvh.scheduler")

NEW_YORK = ZoneInfo("America/New_York")
JOB_DEFAULTS: dict[str, Any] = {"misfire_grace_time": 60, "coalesce": True, "max_instances": 1}
"""APScheduler's default grace (1 s) would drop a run delayed by a busy loop; 60 s does not.
``coalesce``: a backlog of missed runs runs once. ``max_instances=1``: never two at once."""
WEEKDAYS = "mon-fri"
"""Weekday *names*: in APScheduler 3 numeric day 0 is Monday, not Sunday as in crontab."""

BACKUP_JOB = "ledger_backup"
HEARTBEAT_JOB = "heartbeat"
REPORT_JOB = "daily_report"

Job = Callable[[], object]


def backup_trigger(hour: int = 17, minute: int = 30) -> Any:
    """Weekdays at ``hour:minute`` New York local time (EST or EDT), a ``CronTrigger``."""
    return CronTrigger(day_of_week=WEEKDAYS, hour=hour, minute=minute, timezone=NEW_YORK)


def report_trigger(hour: int = 17, minute: int = 45) -> Any:
    """Weekdays at ``hour:minute`` New York local time, a ``CronTrigger``."""
    return CronTrigger(day_of_week=WEEKDAYS, hour=hour, minute=minute, timezone=NEW_YORK)


def heartbeat_trigger(minutes: float = 5) -> Any:
    """Every ``minutes`` (fractions allowed), an ``IntervalTrigger``."""
    if minutes <= 0:
        raise ValueError(f"heartbeat interval must be positive, got {minutes}")
    return IntervalTrigger(seconds=minutes * 60.0, timezone=NEW_YORK)


class OpsScheduler:
    """The daemon's wall-clock jobs. Create anywhere; :meth:`start` from inside the running
    event loop; ``await`` :meth:`shutdown` before the loop ends.

    Jobs may be added before or after :meth:`start` (APScheduler holds them until it starts).
    """

    def __init__(self) -> None:
        self._scheduler: Any = AsyncIOScheduler(timezone=NEW_YORK, job_defaults=JOB_DEFAULTS)
        self._scheduler.add_listener(
            self._on_event,
            EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_EXECUTED | EVENT_JOB_MAX_INSTANCES,
        )

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self) -> None:
        """Start on the running loop (sync, but raises RuntimeError outside a running loop)."""
        asyncio.get_running_loop()
        self._scheduler.start()
        log.info("scheduler_started", jobs=self.jobs())

    async def shutdown(self) -> None:
        """Pause (no new runs), shut down without waiting for running jobs (pending coroutine
        jobs are cancelled), then yield to the loop so the shutdown actually runs. Idempotent."""
        if not self._scheduler.running:
            return
        self._scheduler.pause()
        self._scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # AsyncIOScheduler.shutdown is scheduled with call_soon
        log.info("scheduler_stopped")

    def add_backup(self, job: Job, hour: int = 17, minute: int = 30) -> None:
        """Back up the ledger on weekdays at ``hour:minute`` New York time."""
        self._add(job, BACKUP_JOB, backup_trigger(hour, minute))

    def add_heartbeat(self, job: Job, minutes: float = 5) -> None:
        """Run ``job`` every ``minutes``."""
        self._add(job, HEARTBEAT_JOB, heartbeat_trigger(minutes))

    def add_daily_report(self, job: Job, hour: int = 17, minute: int = 45) -> None:
        """Write the daily report on weekdays at ``hour:minute`` New York time."""
        self._add(job, REPORT_JOB, report_trigger(hour, minute))

    def add_once(self, job: Job, job_id: str, run_date: datetime) -> None:
        """Run ``job`` once at ``run_date`` (tz-aware), for example a backup on demand."""
        self._add(job, job_id, DateTrigger(run_date=run_date, timezone=NEW_YORK))

    def jobs(self) -> dict[str, str]:
        """Job id -> next run time (ISO, New York), or "pending" (not started, or paused)."""
        out: dict[str, str] = {}
        for job in self._scheduler.get_jobs():
            nxt = getattr(job, "next_run_time", None)
            out[job.id] = nxt.isoformat() if nxt is not None else "pending"
        return out

    def trigger_of(self, job_id: str) -> Any:
        """The trigger of a registered job (None if there is no such job)."""
        job = self._scheduler.get_job(job_id)
        return None if job is None else job.trigger

    def _add(self, job: Job, job_id: str, trigger: Any) -> None:
        self._scheduler.add_job(job, trigger=trigger, id=job_id, name=job_id, replace_existing=True)

    def _on_event(self, event: JobExecutionEvent | JobSubmissionEvent) -> None:
        code = event.code
        if code == EVENT_JOB_ERROR:
            log.error(
                "scheduler_job_failed",
                job_id=event.job_id,
                scheduled_run_time=_iso(event.scheduled_run_time),
                exc_info=event.exception,
            )
        elif code == EVENT_JOB_MISSED:
            log.warning(
                "scheduler_job_missed",
                job_id=event.job_id,
                scheduled_run_time=_iso(event.scheduled_run_time),
            )
        elif code == EVENT_JOB_MAX_INSTANCES:
            log.warning(
                "scheduler_job_skipped",
                job_id=event.job_id,
                reason="previous run still going",
                scheduled_run_times=[_iso(t) for t in event.scheduled_run_times],
            )
        elif code == EVENT_JOB_EXECUTED:
            log.debug(
                "scheduler_job_ran",
                job_id=event.job_id,
                scheduled_run_time=_iso(event.scheduled_run_time),
            )


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts is not None else None

"""APScheduler fires the tick; what is due, and running it once, is bot/scheduling.py's."""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.scheduling import JobRunner


def start_scheduler(runner: JobRunner, interval_seconds: float) -> AsyncIOScheduler:
    """A tick every interval (the application ran one at start, catching up what passed
    while the bot was down). One tick at a time; ticks missed while one ran are merged."""
    scheduler = AsyncIOScheduler()
    scheduler.add_job(
        runner.tick,
        IntervalTrigger(seconds=interval_seconds),
        id="tick",
        coalesce=True,
        max_instances=1,
        next_run_time=datetime.now().astimezone() + timedelta(seconds=interval_seconds),
        misfire_grace_time=None,
    )
    scheduler.start()
    return scheduler

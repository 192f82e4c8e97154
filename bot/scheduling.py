"""Scheduled jobs, shared by the scheduler, `dlxh schedule` and /schedule: which jobs there
are, their rules, and running what is due.

`JobRunner.tick` looks, for each job, at the latest time its rule fell at or before now (the
injected clock). If that time is after the rule was set (`schedule.since`), not older than
the job's `stale_after`, and not yet claimed, the run is claimed in `job_run` and done in
the same transaction. So a time that passed while the bot was down runs once at start,
never twice, with no catch-up storm (only the latest time counts), and when several
processes tick, the claim decides which one runs it. APScheduler calls `tick`
(schedules/scheduler.py); tests move the clock and call it. The job functions live in
schedules/jobs.py.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.conversation import FormCatalog
from bot.delivery.media import MediaStore
from bot.delivery.service import Delivery
from bot.i18n import N_
from bot.schedule_rules import Rule, RuleError, parse
from storage import jobs as job_store
from storage.db import SessionFactory
from storage.models import Schedule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobContext:
    """What jobs use besides their session; the CLI, which runs none, gives the first three."""

    settings: Settings
    clock: Clock
    media: MediaStore
    delivery: Delivery | None = None
    forms: FormCatalog | None = None
    bot_username: str = ""


Run = Callable[[JobContext, AsyncSession, datetime], Awaitable[str]]


@dataclass(frozen=True)
class JobInfo:
    name: str
    description: str  # a catalog text (N_)
    # None: no rule of its own; it runs at each tick and acts at each topic's own time
    default_rule: Callable[[Settings], str] | None
    # After downtime the latest time that passed is run once at start, unless it passed
    # longer ago than this.
    stale_after: timedelta


CATALOG: dict[str, JobInfo] = {
    info.name: info
    for info in (
        JobInfo(
            name="publish_scheduled",
            description=N_("Publish scheduled topics at their time"),
            default_rule=None,
            stale_after=timedelta(0),
        ),
        JobInfo(
            name="topic_warning",
            description=N_(
                "Tell staff, a few days before a month starts, that their unit has no topic for it"
            ),
            default_rule=lambda settings: settings.schedule_topic_warning,
            # after downtime, still that day (the next day's run warns as well: claimed per month)
            stale_after=timedelta(hours=12),
        ),
        JobInfo(
            name="roll_calls",
            description=N_(
                "Send staff each unit's roll-call (sent / not yet) a few days before a topic's due time"
            ),
            default_rule=None,
            stale_after=timedelta(0),
        ),
        JobInfo(
            name="housekeeping",
            description=N_(
                "Remove handled updates, unfinished registrations, abandoned forms and old charts"
            ),
            default_rule=lambda settings: settings.schedule_housekeeping,
            stale_after=timedelta(days=7),
        ),
        JobInfo(
            name="due_reminders",
            description=N_("Remind the silent collaborators of each topic the day before its due time"),
            default_rule=None,
            stale_after=timedelta(0),
        ),
        JobInfo(
            name="close_topics",
            description=N_("Close topics at their due time and send their summary to leaders and staff"),
            default_rule=None,
            stale_after=timedelta(0),
        ),
        JobInfo(
            name="urgent_repush",
            description=N_(
                "Send an urgent matter once more to the silent collaborators, part of the way to its deadline"
            ),
            default_rule=None,
            stale_after=timedelta(0),
        ),
        JobInfo(
            name="urgent_deadline",
            description=N_("Send the staff the status of an urgent matter at its deadline"),
            default_rule=None,
            stale_after=timedelta(0),
        ),
        JobInfo(
            name="urgent_escalation",
            description=N_(
                "At an urgent matter's deadline, tell the staff of the unit above which units are below the response threshold"
            ),
            default_rule=None,
            stale_after=timedelta(0),
        ),
        JobInfo(
            name="briefing_reminders",
            description=N_("Remind the bound groups of each unit of its monthly briefing the day before"),
            default_rule=None,  # at each briefing's own time, claimed per briefing
            stale_after=timedelta(0),
        ),
        JobInfo(
            name="held_reminders",
            description=N_("Send the reminders held back while a person was filling in a form"),
            default_rule=None,
            stale_after=timedelta(0),
        ),
        JobInfo(
            name="reminders",
            description=N_("Remind collaborators who have not reported on an open topic"),
            default_rule=lambda settings: settings.schedule_reminders,
            # the 20th's reminder still goes after the bot was down from the 19th to the 21st
            stale_after=timedelta(days=3),
        ),
        JobInfo(
            name="draft_reminders",
            description=N_("Remind people of forms they left unfinished, before they are discarded"),
            default_rule=lambda settings: settings.schedule_draft_reminders,
            # after downtime, only while it is still daytime; otherwise the next day's run
            stale_after=timedelta(hours=3),
        ),
    )
}


@dataclass(frozen=True)
class JobState:
    info: JobInfo
    rule: Rule | None  # None: at each topic's own time
    paused: bool
    next_run: datetime | None


class ScheduleError(ValueError):
    """An unknown job, or a rule that cannot be read (`rule_error`)."""

    def __init__(self, message: str, rule_error: RuleError | None = None) -> None:
        super().__init__(message)
        self.rule_error = rule_error


class JobRunner:
    def __init__(
        self, *, context: JobContext, session_factory: SessionFactory, runs: Mapping[str, Run] | None = None
    ) -> None:
        self.context = context
        self.session_factory = session_factory
        self.runs = dict(runs or {})
        self._warned: set[str] = set()

    async def states(self, *, session: AsyncSession | None = None) -> list[JobState]:
        """`session`: the caller's transaction (/schedule runs inside its update's), else one of its own."""
        rows = await self._rows(session)
        now, tz = self.context.clock.now(), self.context.settings.tz
        found = []
        for info in CATALOG.values():
            rule = self._rule(rows[info.name], info) if info.default_rule is not None else None
            found.append(
                JobState(
                    info=info,
                    rule=rule,
                    paused=rows[info.name].paused,
                    next_run=rule.next_after(now, tz) if rule is not None else None,
                )
            )
        return found

    async def set_rule(
        self, job: str, text: str, *, by: int | None = None, session: AsyncSession | None = None
    ) -> JobState:
        """A new rule for a job, from now on (times already past are not caught up)."""
        info = _known(job)
        if info.default_rule is None:
            raise ScheduleError("no_rule")
        try:
            rule = parse(text)
        except RuleError as error:
            raise ScheduleError(error.code, error) from error
        await self._change(info, rule=rule.text, by=by, session=session)
        return next(state for state in await self.states(session=session) if state.info.name == info.name)

    async def set_paused(
        self, job: str, paused: bool, *, by: int | None = None, session: AsyncSession | None = None
    ) -> JobState:
        info = _known(job)
        await self._change(info, paused=paused, by=by, session=session)
        return next(state for state in await self.states(session=session) if state.info.name == info.name)

    async def tick(self) -> list[str]:
        """Run what is due; the names of the jobs that did something. A job that fails is logged, its run is
        not claimed (the next tick tries again) and the others go on."""
        try:
            rows = await self._rows()
        except Exception:  # the database is away: the next tick tries again
            log.exception("the scheduled jobs could not be read; trying at the next tick")
            return []
        done = []
        for info in CATALOG.values():
            row, run = rows[info.name], self.runs.get(info.name)
            if row.paused or run is None:
                continue
            now = self.context.clock.now()
            if info.default_rule is None:  # at each topic's own time: the job claims per topic
                if await self._run_each_tick(info, run, now):
                    done.append(info.name)
                continue
            occurrence = self._rule(row, info).last_at_or_before(now, self.context.settings.tz)
            if occurrence < row.since or now - occurrence > info.stale_after:
                continue
            try:
                async with self.session_factory() as session:
                    claimed = await job_store.claim(
                        session=session, job=info.name, subject=occurrence.isoformat(), targets=[""], now=now
                    )
                    if not claimed:
                        continue
                    outcome = await run(self.context, session, occurrence)
                    await session.commit()
            except Exception:
                log.exception("scheduled job %s failed; it will be tried again", info.name)
                continue
            if outcome:  # a run with nothing to do (no month starting soon, say) is not news
                log.info("scheduled job %s (%s): %s", info.name, occurrence.isoformat(), outcome)
                done.append(info.name)
        return done

    async def _run_each_tick(self, info: JobInfo, run: Run, now: datetime) -> bool:
        try:
            async with self.session_factory() as session:
                outcome = await run(self.context, session, now)
                await session.commit()
        except Exception:
            log.exception("scheduled job %s failed; it will be tried again", info.name)
            return False
        if outcome:
            log.info("scheduled job %s: %s", info.name, outcome)
        return bool(outcome)

    async def _change(
        self,
        info: JobInfo,
        *,
        rule: str | None = None,
        paused: bool | None = None,
        by: int | None,
        session: AsyncSession | None = None,
    ) -> None:
        async with self._session(session) as active:
            row = (await self._rows(active))[info.name]
            if rule is not None:
                row.rule, row.since = rule, self.context.clock.now()
            if paused is not None:
                if row.paused and not paused:
                    row.since = self.context.clock.now()  # what passed while paused stays undone
                row.paused = paused
            row.updated_by = by
            await job_store.save_schedule(session=active, schedule=row)

    @contextlib.asynccontextmanager
    async def _session(self, session: AsyncSession | None) -> AsyncIterator[AsyncSession]:
        """The caller's session, left for the caller to commit (on SQLite a second one would
        wait for the update's own write lock), or one of our own, committed here."""
        if session is not None:
            yield session
            return
        async with self.session_factory() as own:
            yield own
            await own.commit()

    async def _rows(self, session: AsyncSession | None = None) -> dict[str, Schedule]:
        """Each job's row; a job seen for the first time gets its default rule from now on
        (nothing already past runs on a new install)."""
        async with self._session(session) as active:
            rows = await job_store.schedules(session=active)
            missing = [name for name in CATALOG if name not in rows]
            for name in missing:
                row = Schedule(job=name, rule=self._default(CATALOG[name]), since=self.context.clock.now())
                await job_store.save_schedule(session=active, schedule=row)
                rows[name] = row
        for name, row in rows.items():
            default = self._default(CATALOG[name]) if name in CATALOG else row.rule
            if row.rule != default and name not in self._warned:
                self._warned.add(name)
                log.warning(
                    "job %s runs on %r, kept in the database (set with dlxh schedule, or the default "
                    "when the job was first seen), not on the setting's %r; `dlxh schedule set %s ...` changes it",
                    name,
                    row.rule,
                    default,
                    name,
                )
        return rows

    def _default(self, info: JobInfo) -> str:
        return info.default_rule(self.context.settings) if info.default_rule is not None else ""

    def _rule(self, row: Schedule, info: JobInfo) -> Rule:
        try:
            return parse(row.rule)
        except RuleError:  # stored by an older version: the default, rather than no job at all
            log.error("job %s has an unreadable rule %r; using its default", info.name, row.rule)
            return parse(self._default(info))


def _known(job: str) -> JobInfo:
    info = CATALOG.get(job.strip().lower())
    if info is None:
        raise ScheduleError("unknown_job")
    return info

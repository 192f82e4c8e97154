"""The scheduled jobs' work. Each gets the session of the transaction that claimed its run:
what it writes commits with the claim or not at all, and it makes no network call (the
delivery engine sends after the commit). Which jobs there are, and when: bot/scheduling.py."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.closing import close_topic
from bot.reminders import HOLD_WHILE_FILLING, ReminderPlan, remind_silent
from bot.scheduling import JobContext, Run
from storage import inbox, people, topics
from storage import jobs as job_store


async def housekeeping(context: JobContext, session: AsyncSession, occurrence: datetime) -> str:
    """Personal data is kept no longer than said: handled updates, unfinished registrations,
    charts already sent."""
    settings, now = context.settings, context.clock.now()
    pruned = await inbox.prune_done(
        session=session, handled_before=now - timedelta(days=settings.inbox_retention_days)
    )
    expired = await people.expire_pending(
        session=session, created_before=now - timedelta(days=settings.pending_retention_days)
    )
    charts = await asyncio.to_thread(context.media.prune, older_than_days=settings.media_retention_days)
    return f"{pruned} handled update(s), {expired} unfinished registration(s), {charts} chart(s) removed"


async def reminders(context: JobContext, session: AsyncSession, occurrence: datetime) -> str:
    """Each open topic published before this reminder's time: its silent collaborators (a
    topic already in the day before its due time is left to due_reminders: one, not two)."""
    plan = _plan(context)
    now = context.clock.now()
    occasion = _occasion(context, occurrence)
    queued = 0
    due_window = timedelta(hours=context.settings.reminder_hours_before_due)
    for topic in await topics.open_topics(session=session, now=now):
        if topic.due_at - now <= due_window:
            continue  # the day before its due time has its own reminder (due_reminders)
        if topic.published_at is not None and topic.published_at <= occurrence:
            queued += await remind_silent(session, plan, topic, occasion=occasion, now=now, due_at=occurrence)
    return f"{queued} reminder(s) queued"


async def due_reminders(context: JobContext, session: AsyncSession, now: datetime) -> str:
    """Each tick: a topic whose due time is REMINDER_HOURS_BEFORE_DUE away or less, and was
    published before that, reminds its silent collaborators once (claimed per topic)."""
    before = timedelta(hours=context.settings.reminder_hours_before_due)
    queued = 0
    for topic in await topics.open_topics(session=session, now=now):
        start = topic.due_at - before
        if now < start or (topic.published_at is not None and topic.published_at >= start):
            continue
        claimed = await job_store.claim(
            session=session, job="due_reminders", subject=str(topic.id), targets=[""], now=now
        )
        if claimed and topic.due_at - now > before / 4:  # not a "1 hour left" after downtime
            queued += await remind_silent(
                session, _plan(context), topic, occasion="due", now=now, due_at=start
            )
    return f"{queued} reminder(s) queued" if queued else ""


async def held_reminders(context: JobContext, session: AsyncSession, now: datetime) -> str:
    """Each tick: the reminders held back from people filling in a form go once the form has
    ended, or HOLD_WHILE_FILLING after their time (the outbox's key keeps the others from
    getting theirs twice)."""
    since = now - HOLD_WHILE_FILLING - timedelta(hours=1)  # a held one has an hour to go
    dated = [
        datetime.fromisoformat(subject)
        for subject in await job_store.recent_subjects(session=session, job="reminders", since=since)
    ]
    due = set(await job_store.recent_subjects(session=session, job="due_reminders", since=since))
    if not dated and not due:
        return ""
    plan, before = _plan(context), timedelta(hours=context.settings.reminder_hours_before_due)
    queued = 0
    for topic in await topics.open_topics(session=session, now=now):
        in_last_day = topic.due_at - now <= before  # the due reminder's, not a second one
        for occurrence in dated:
            if not in_last_day and topic.published_at is not None and topic.published_at <= occurrence:
                queued += await remind_silent(
                    session, plan, topic, occasion=_occasion(context, occurrence), now=now, due_at=occurrence
                )
        if str(topic.id) in due:
            queued += await remind_silent(
                session, plan, topic, occasion="due", now=now, due_at=topic.due_at - before
            )
    return f"{queued} held reminder(s) queued" if queued else ""


async def close_topics(context: JobContext, session: AsyncSession, now: datetime) -> str:
    """Each tick: topics whose due time has passed are closed (once, claimed per topic) and
    their readers get the summary."""
    closed = queued = 0
    for topic in await topics.past_due(session=session, now=now):
        if await job_store.claim(
            session=session, job="close_topics", subject=str(topic.id), targets=[""], now=now
        ):
            stale = now - topic.due_at > CLOSE_STALE  # a first deploy, long downtime: no summary storm
            queued += await close_topic(session, _plan(context), topic, now=now, summary=not stale)
            closed += 1
    return f"{closed} topic(s) closed, {queued} summary message(s) queued" if closed else ""


CLOSE_STALE = timedelta(days=1)


def _occasion(context: JobContext, occurrence: datetime) -> str:
    return occurrence.astimezone(context.settings.tz).strftime("%Y%m%d%H%M")


def _plan(context: JobContext) -> ReminderPlan:
    assert context.delivery is not None and context.forms is not None
    return ReminderPlan(
        delivery=context.delivery,
        forms=context.forms,
        default_locale=context.settings.default_locale,
        bot_username=context.bot_username,
        tz=context.settings.tz,
    )


RUNS: dict[str, Run] = {
    "housekeeping": housekeeping,
    "reminders": reminders,
    "due_reminders": due_reminders,
    "held_reminders": held_reminders,
    "close_topics": close_topics,
}

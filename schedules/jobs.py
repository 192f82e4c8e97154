"""The scheduled jobs' work. Each gets the session of the transaction that claimed its run:
what it writes commits with the claim or not at all, and it makes no network call (the
delivery engine sends after the commit). Which jobs there are, and when: bot/scheduling.py."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.reminders import ReminderPlan, remind_silent
from bot.scheduling import JobContext, Run
from storage import inbox, people, topics


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
    """Each open topic published before this reminder's time: its silent collaborators."""
    assert context.delivery is not None and context.forms is not None
    plan = ReminderPlan(
        delivery=context.delivery,
        forms=context.forms,
        default_locale=context.settings.default_locale,
        bot_username=context.bot_username,
        tz=context.settings.tz,
    )
    now = context.clock.now()
    occasion = occurrence.astimezone(context.settings.tz).strftime("%Y%m%d%H%M")
    queued = 0
    for topic in await topics.open_topics(session=session, now=now):
        if topic.published_at is not None and topic.published_at <= occurrence:
            queued += await remind_silent(session, plan, topic, occasion=occasion, now=now)
    return f"{queued} reminder(s) queued"


RUNS: dict[str, Run] = {"housekeeping": housekeeping, "reminders": reminders}

"""The scheduled jobs' work. Each gets the session of the transaction that claimed its run:
what it writes commits with the claim or not at all, and it makes no network call (the
delivery engine sends after the commit). Which jobs there are, and when: bot/scheduling.py."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.scheduling import JobContext, Run
from storage import inbox, people


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


RUNS: dict[str, Run] = {"housekeeping": housekeeping}

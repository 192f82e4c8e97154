"""Closing a topic at its due time (issue 20): it stops being "open" (reminders end), reports
sent later are still taken and marked late, and the leaders and staff of its target units get
the month's summary of their own unit, in their language."""

from __future__ import annotations

from datetime import datetime

from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.analytics.render import render_summary
from bot.analytics.service import summary_forms
from bot.analytics.summary import Summary, build_summary
from bot.clock import format_datetime
from bot.delivery.service import Outgoing, Recipient
from bot.i18n import normalize_locale
from bot.reminders import ReminderPlan
from bot.tags import tag_of
from bot.ui import escape
from storage import people, topics
from storage.models import Topic, TopicStatus


async def close_topic(
    session: AsyncSession, plan: ReminderPlan, topic: Topic, *, now: datetime, summary: bool = True
) -> int:
    """Close the topic and (unless `summary` is False) queue each reader's summary; how many
    were queued."""
    assert topic.id is not None
    topic.status = TopicStatus.CLOSED
    session.add(topic)
    if not summary:
        return 0
    readers = await people.readers_of_units(
        session=session, unit_ids=await topics.target_unit_ids(session=session, topic_id=topic.id)
    )
    if not readers:
        return 0
    scope_of = {member.chat_id: unit_id for member, unit_id in readers}
    locales = {
        member.chat_id: normalize_locale(member.locale, plan.default_locale) for member, _unit in readers
    }
    summaries: dict[tuple[int, str], Summary] = {}
    for unit_id, locale in {(scope_of[chat], locales[chat]) for chat in scope_of}:
        unit = await people.get_unit(session=session, unit_id=unit_id)
        if unit is None:
            continue
        forms = await summary_forms(plan.forms, session, period=topic.period, path=unit.path)
        summaries[(unit_id, locale)] = await build_summary(
            session=session, period=topic.period, scope=unit, forms=forms, locale=locale
        )

    def render(recipient: Recipient) -> Outgoing:
        heading = _(
            "📕 Topic No. {number} “{title}” closed at its due time, {due}. Reports sent from now on "
            "are still taken, marked late."
        ).format(number=tag_of(topic), title=escape(topic.title), due=format_datetime(topic.due_at, plan.tz))
        summary = summaries.get((scope_of[recipient.chat_id], recipient.locale))
        body = render_summary(summary, plan.tz) if summary is not None else ""
        return Outgoing(text=f"{heading}\n\n{body}".strip())

    recipients = [
        Recipient(chat_id=member.chat_id, locale=locales[member.chat_id], person_id=member.person_id)
        for member, _unit in readers
        if (scope_of[member.chat_id], locales[member.chat_id]) in summaries
    ]
    return await plan.delivery.deliver(
        session, key=f"closed:{topic.id}", recipients=recipients, render=render, personal=True
    )

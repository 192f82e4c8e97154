"""Closing a topic at its due time (issue 20): it stops being "open" (reminders end), reports
sent later are still taken and marked late, and the leaders and staff of its target units get
the month's summary of their own unit, in their language."""

from __future__ import annotations

from collections import defaultdict

from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.analytics.render import render_summary
from bot.analytics.service import summary_forms
from bot.analytics.summary import Summary, build_summary
from bot.clock import format_datetime
from bot.delivery.service import Outgoing, Recipient
from bot.i18n import N_, normalize_locale
from bot.reminders import ReminderPlan
from bot.tags import tag_of
from bot.ui import escape
from storage import people, topics
from storage.models import Topic, TopicStatus
from storage.people import Member


async def close_topic(session: AsyncSession, topic: Topic) -> None:
    """Reminders stop; reports are still taken, and marked late."""
    topic.status = TopicStatus.CLOSED
    session.add(topic)


async def send_closing_summaries(session: AsyncSession, plan: ReminderPlan, topic: Topic) -> int:
    """Each reader of the topic's units (staff, leaders) gets the month's summary of each of
    their units, in their language; how many messages were queued."""
    assert topic.id is not None
    readers = await people.readers_of_units(
        session=session, unit_ids=await topics.target_unit_ids(session=session, topic_id=topic.id)
    )
    by_unit: dict[int, list[Member]] = defaultdict(list)
    for member, unit_id in readers:  # someone reading two target units gets both summaries
        by_unit[unit_id].append(member)
    heading = N_(
        "📕 Topic No. {number} “{title}” closed at its due time, {due}. Reports sent from now on "
        "are still taken, marked late."
    )
    queued = 0
    for unit_id, members in by_unit.items():
        unit = await people.get_unit(session=session, unit_id=unit_id)
        if unit is None:
            continue
        forms = await summary_forms(plan.forms, session, period=topic.period, path=unit.path)
        locales = {normalize_locale(member.locale, plan.default_locale) for member in members}
        summaries: dict[str, Summary] = {
            locale: await build_summary(
                session=session, period=topic.period, scope=unit, forms=forms, locale=locale
            )
            for locale in sorted(locales)
        }

        def render(recipient: Recipient, summaries: dict[str, Summary] = summaries) -> Outgoing:
            opening = _(heading).format(
                number=tag_of(topic), title=escape(topic.title), due=format_datetime(topic.due_at, plan.tz)
            )
            return Outgoing(
                text=f"{opening}\n\n{render_summary(summaries[recipient.locale], plan.tz)}".strip()
            )

        recipients = [plan.to_member(member) for member in members]
        queued += await plan.delivery.deliver(
            session,
            key=f"closed:{topic.id}:{topic.due_at:%Y%m%d}:{unit_id}",
            recipients=recipients,
            render=render,
            personal=True,
        )
    return queued

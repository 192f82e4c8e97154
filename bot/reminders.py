"""Reminders to collaborators who have not answered an open topic (issue 20): personal, since
they say how long is left and where an unfinished report stopped. The scheduler calls them
(schedules/jobs.py); they only queue outbox rows, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import awake, format_datetime
from bot.conversation import FormCatalog
from bot.delivery.service import Delivery, Outgoing, Recipient
from bot.forms import FormDefinition, FormState, progress
from bot.i18n import normalize_locale
from bot.reporting import topic_slot
from bot.tags import report_payload, tag_of
from bot.topics import report_button_text
from bot.ui import deep_link, escape, link_choices
from storage import outbox, reports, topics
from storage.models import Person, Topic
from storage.people import Member


@dataclass(frozen=True)
class ReminderPlan:
    """What a reminder run needs besides the session (the job's context supplies it)."""

    delivery: Delivery
    forms: FormCatalog
    default_locale: str
    bot_username: str
    tz: ZoneInfo

    def to_member(self, member: Member) -> Recipient:
        """A staff member, leader or collaborator in private, in their language."""
        return Recipient(
            chat_id=member.chat_id,
            locale=normalize_locale(member.locale, self.default_locale),
            person_id=member.person_id,
        )

    def to_person(self, person: Person) -> Recipient:
        return Recipient(
            chat_id=person.chat_id,
            locale=normalize_locale(person.locale, self.default_locale),
            person_id=person.id,
        )


# Someone filling in a form is not interrupted: their reminder waits until the form ends
# (the next tick after) or this long after the reminder's time.
HOLD_WHILE_FILLING = timedelta(minutes=30)
# The job_run claims of reminders staff send by hand ("remind now", reopening): subject
# "<topic id>|<occasion>", target the comma-joined subtrees it reached ("" for all).
MANUAL_REMINDERS = "manual_reminders"


async def remind_silent(
    session: AsyncSession,
    plan: ReminderPlan,
    topic: Topic,
    *,
    occasion: str,
    now: datetime,
    due_at: datetime | None = None,
    within: Sequence[str] | None = None,
) -> int:
    """Queue a reminder to each collaborator of the topic's units who has not reported on it;
    `occasion` names the reminder ("202612200900", "due"): the same occasion is never queued
    twice for one person (the outbox's key), so running it again sends only to whom it held
    back. Until `due_at` + HOLD_WHILE_FILLING, a person who touched a form in the last
    HOLD_WHILE_FILLING is held back. `within`: only these subtrees of the topic's units (a
    staff member's "remind now"). Returns how many were queued."""
    assert topic.id is not None
    paths = await topics.target_paths(session=session, topic_id=topic.id)
    if within is not None:
        paths = common_subtrees(paths, within)
    silent = list(await topics.unanswered(session=session, topic_id=topic.id, unit_paths=paths))
    key = f"remind:{topic.id}:{occasion}"
    done = await outbox.known_keys(session=session, keys=[f"{key}:{person.chat_id}:0" for person in silent])
    silent = [person for person in silent if f"{key}:{person.chat_id}:0" not in done]
    if not silent:
        return 0
    if due_at is not None and now < due_at + HOLD_WHILE_FILLING:
        busy = await reports.filling_in(
            session=session, person_ids=[p.id for p in silent if p.id], since=now - HOLD_WHILE_FILLING
        )
        silent = [person for person in silent if person.id not in busy]
    if not silent:
        return 0
    drafts = await reports.drafts_in_slot(
        session=session, slot=topic_slot(topic.id), person_ids=[person.id for person in silent if person.id]
    )
    stopped_at: dict[int, tuple[int, int]] = {}
    for person_id, draft in drafts.items():
        if draft.form_id is None:
            continue
        form = await plan.forms.get(session, draft.form_id)
        stopped_at[person_id] = where_stopped(form, FormState.from_json(draft.state))
    link = deep_link(plan.bot_username, report_payload(topic))

    def render(recipient: Recipient) -> Outgoing:
        text = reminder_text(
            topic, left=topic.due_at - now, stopped_at=stopped_at.get(recipient.person_id or 0), tz=plan.tz
        )
        return Outgoing(text=text, choices=link_choices(report_button_text(), link))

    recipients = [plan.to_person(person) for person in silent]
    # Thousands of rows at 09:00: sent as a broadcast, so that they go at the bulk rate and
    # behind the answers to people using the bot then (bench/reminders.py); an admin sees it
    # in /broadcasts and can stop it.
    broadcast = await plan.delivery.start_broadcast(
        session, kind="reminder", title=f"⏰ {topic.title}", created_by=None, progress=None, topic_id=topic.id
    )
    return await plan.delivery.deliver(
        session, key=key, recipients=recipients, render=render, personal=True, broadcast=broadcast
    )


def where_stopped(form: FormDefinition, state: FormState) -> tuple[int, int]:
    """(question N, of M) where an unfinished form stopped; on its review screen, the last."""
    position, total = progress(form, state)
    return (position if state.status == "asking" else total, total)


def reminder_text(topic: Topic, *, left: timedelta, stopped_at: tuple[int, int] | None, tz: ZoneInfo) -> str:
    lines = [
        _("⏰ <b>Reminder</b>: topic No. {number} “{title}”").format(
            number=tag_of(topic), title=escape(topic.title)
        ),
        _("Report by {due} ({left} left).").format(
            due=format_datetime(topic.due_at, tz), left=time_left(left)
        ),  # type: ignore[arg-type]
    ]
    if stopped_at is not None:
        position, total = stopped_at
        lines.append(
            _(
                "You have an unfinished report on it, stopped at question {position} of {total}: press the button to go on."
            ).format(position=position, total=total)
        )
    else:
        lines.append(_("You have not sent your report yet: press the button to send it."))
    return "\n".join(lines)


def time_left(left: timedelta) -> str:
    days = left.days
    if days >= 1:
        return ngettext("{count} day", "{count} days", days).format(count=days)
    hours = max(1, int(left.total_seconds() // 3600))
    return ngettext("{count} hour", "{count} hours", hours).format(count=hours)


def common_subtrees(paths: Sequence[str], others: Sequence[str]) -> list[str]:
    """The subtrees in both sets (of materialised paths): of two nested ones, the lower."""
    found = {a if a.startswith(b) else b for a in paths for b in others if a.startswith(b) or b.startswith(a)}
    return sorted(found)


def reminder_before_due(topic: Topic, *, hours: int, tz: ZoneInfo) -> datetime:
    """When the reminder before a topic's due time goes: REMINDER_HOURS_BEFORE_DUE before it,
    or the evening before if that falls at night."""
    return awake(topic.due_at - timedelta(hours=hours), tz)


def due_occasion(topic: Topic) -> str:
    """The due reminder's occasion: of this due time (a reopened topic has its own)."""
    return f"due{topic.due_at:%Y%m%d%H%M}"

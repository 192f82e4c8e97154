"""Unfinished forms left alone (issue 20, housekeeping): a draft nobody touched for
DRAFT_REMINDER_DAYS gets one personal reminder (the draft_reminders job), and one untouched
for DRAFT_DISCARD_DAYS is discarded (the housekeeping job). Touching a draft again starts its
count anew, so a form taken up and left again is reminded of again, once.

A reminder says which form, where it stopped ("question 3 of 10"), until when it is kept,
and how to go on: a report on a topic by its report link (`báo cáo 3` on Zalo), any other
form by a resume link (`/start d-12` on Zalo), which works whichever draft is the latest.
Registration drafts are not handled here: they belong to people still registering, whom
`people.expire_pending` forgets with their draft after PENDING_RETENTION_DAYS.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.access import Actor
from bot.clock import format_date
from bot.conversation import Conversations, Outcome, Services
from bot.delivery.service import Outgoing, Recipient
from bot.forms import FormDefinition, FormState, text_for
from bot.onboarding import REGISTRATION_SLOT
from bot.reminders import HOLD_WHILE_FILLING, ReminderPlan, where_stopped
from bot.tags import report_payload, tag_of
from bot.ui import Choice, current_locale, deep_link, escape, text_only
from storage import jobs as job_store
from storage import reports, topics
from storage.models import Draft, Person, Topic, TopicKind

JOB = "draft_reminders"
# Left to people.expire_pending (see the module's docstring).
NOT_HANDLED_HERE = (REGISTRATION_SLOT,)
# `/start d-12`: resume draft 12. The dash keeps it from ever reading as an invite code
# (five characters come before an invite code's dash).
DRAFT_PAYLOAD = re.compile(r"^d-([0-9]{1,12})$")

log = logging.getLogger(__name__)


def draft_payload(draft_id: int) -> str:
    return f"d-{draft_id}"


def claim_target(draft: Draft) -> str:
    """One reminder per draft and per time it was last touched (job_run's target)."""
    return f"{draft.id}@{draft.updated_at.isoformat()}"


def kept_until(draft: Draft, discard_days: int) -> datetime:
    return draft.updated_at + timedelta(days=discard_days)


@dataclass(frozen=True)
class Unfinished:
    """One draft, as its reminder names it."""

    draft_id: int
    form: FormDefinition
    topic: Topic | None
    stopped_at: tuple[int, int]
    kept_until: datetime


async def remind_untouched(
    session: AsyncSession,
    plan: ReminderPlan,
    *,
    now: datetime,
    reminder_days: int,
    discard_days: int,
    key: str,
) -> int:
    """Queue a reminder to each active, reachable person with drafts untouched for
    `reminder_days` (and not yet for `discard_days`: those go at housekeeping), one message
    per person naming each such draft; each draft is claimed once per time it was touched.
    Someone filling in a form right now is left for the next run. How many were queued."""
    found = await reports.untouched_drafts(
        session=session,
        touched_before=now - timedelta(days=reminder_days),
        touched_after=now - timedelta(days=discard_days),
        except_slots=NOT_HANDLED_HERE,
    )
    if not found:
        return 0
    busy = await reports.filling_in(
        session=session,
        person_ids=sorted({person.id for _draft, person in found if person.id is not None}),
        since=now - HOLD_WHILE_FILLING,
    )
    named = await topics.numbers_of(
        session=session, topic_ids=[draft.topic_id for draft, _person in found if draft.topic_id is not None]
    )
    candidates = [
        (draft, person)
        for draft, person in found
        if person.id not in busy and can_still_be_sent(draft, named, now)
    ]
    claimed = await job_store.claim(
        session=session,
        job=JOB,
        subject="draft",
        targets=[claim_target(draft) for draft, _person in candidates],
        now=now,
    )
    owners: dict[int, Person] = {}
    unfinished: dict[int, list[Unfinished]] = defaultdict(list)
    for draft, person in candidates:
        if claim_target(draft) not in claimed or draft.id is None or person.id is None:
            continue
        form = await _definition(session, plan, draft)
        if form is None:
            continue
        owners[person.id] = person
        unfinished[person.id].append(
            Unfinished(
                draft_id=draft.id,
                form=form,
                topic=named.get(draft.topic_id) if draft.topic_id is not None else None,
                stopped_at=where_stopped(form, FormState.from_json(draft.state)),
                kept_until=kept_until(draft, discard_days),
            )
        )
    if not owners:
        return 0

    def render(recipient: Recipient) -> Outgoing:
        items = unfinished[recipient.person_id or 0]
        return Outgoing(
            text=reminder_text(items, tz=plan.tz),
            choices=[[Choice(label=_button_label(item), url=_link(plan, item))] for item in items],
        )

    recipients = [plan.to_person(person) for person in owners.values()]
    return await plan.delivery.deliver(session, key=key, recipients=recipients, render=render, personal=True)


def can_still_be_sent(draft: Draft, named: dict[int, Topic], now: datetime) -> bool:
    """A report on a closed or past-due topic is still taken (marked late), so its draft is
    reminded of as any other; not a draft replacing a report already sent, which the deadline
    has made unsendable."""
    topic = named.get(draft.topic_id) if draft.topic_id is not None else None
    replacing = bool((draft.context or {}).get("replace_report_id"))
    return not (topic is not None and replacing and now > topic.due_at)


async def _definition(session: AsyncSession, plan: ReminderPlan, draft: Draft) -> FormDefinition | None:
    """A report's form from the catalog; a wizard's own snapshot. None for one that cannot be
    read (a snapshot of an older version, a form gone): that draft is not reminded of, and
    does not stop the others."""
    try:
        if draft.definition is not None:
            return FormDefinition.model_validate(draft.definition)
        if draft.form_id is not None:
            return await plan.forms.get(session, draft.form_id)
    except (ValueError, LookupError):  # pydantic's ValidationError is a ValueError
        log.warning("draft %s: its form cannot be read; no reminder for it", draft.id, exc_info=True)
    return None


def _link(plan: ReminderPlan, item: Unfinished) -> str:
    payload = report_payload(item.topic) if item.topic is not None else draft_payload(item.draft_id)
    return deep_link(plan.bot_username, payload)


def _what(item: Unfinished) -> str:
    if item.topic is None:
        return _("“{form}”").format(form=escape(text_for(item.form.title, current_locale())))
    if item.topic.kind == TopicKind.URGENT:
        return _("your report on urgent matter No. {number} “{title}”").format(
            number=tag_of(item.topic), title=escape(item.topic.title)
        )
    return _("your report on topic No. {number} “{title}”").format(
        number=tag_of(item.topic), title=escape(item.topic.title)
    )


def _button_label(item: Unfinished) -> str:
    if item.topic is None:
        return _("▶️ Go on: {form}").format(form=text_for(item.form.title, current_locale()))
    if item.topic.kind == TopicKind.URGENT:
        return _("▶️ Go on: urgent matter No. {number}").format(number=tag_of(item.topic))
    return _("▶️ Go on: topic No. {number}").format(number=tag_of(item.topic))


def reminder_text(items: list[Unfinished], *, tz: ZoneInfo) -> str:
    lines = []
    for item in items:
        position, total = item.stopped_at
        lines.append(
            _(
                "📝 You have not finished {what}: it stopped at question {position} of {total}. "
                "Unless you finish it, it is discarded after {date}."
            ).format(what=_what(item), position=position, total=total, date=format_date(item.kept_until, tz))
        )
    if not text_only():  # on Zalo, what to type follows (bot/channels/zalo_text.py)
        lines.append(_("Press the button below to go on where you stopped."))
    return "\n\n".join(lines)


async def resume_draft(
    services: Services, conversations: Conversations, *, actor: Actor, draft_id: int
) -> Outcome:
    """`/start d-12` (a draft reminder's link): the person's own draft 12, where it stopped;
    touched, so that typed answers go to it."""
    draft = await reports.get_draft(session=services.session, draft_id=draft_id)
    if draft is None or actor.person is None or draft.person_id != actor.person.id:
        return Outcome(
            alert=_(
                "That unfinished form is no longer kept: it was sent, cancelled, or discarded after "
                "{days} days untouched."
            ).format(days=services.settings.draft_discard_days)
        )
    draft.updated_at = services.clock.now()
    await reports.save_draft(session=services.session, draft=draft)
    screen = await conversations.resume_screen(services, draft)
    screen.notes.append(_("Let's continue where you stopped."))
    return Outcome(screen=screen, draft=draft)

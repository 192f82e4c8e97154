"""Urgent matters (vấn đề đột xuất): the staff wizard, sending with pin and buttons,
acknowledgements, and who in the staff member's scope has answered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.access import Actor, Permission
from bot.clock import period_of
from bot.conversation import Conversations, Outcome, Services, WizardPurpose
from bot.delivery.service import Outgoing, Recipient
from bot.delivery.splitting import split_html
from bot.forms import FormDefinition
from bot.forms.deadlines import format_deadline
from bot.i18n import localized
from bot.onboarding import no_units_text, units_in_scope
from bot.people import channels_line
from bot.reporting import INCIDENT_FORM, topic_is_for
from bot.tags import Tag, report_payload, tag_of
from bot.topics import (
    collaborators,
    deliver_topic,
    delivery_summary,
    plan_targets,
    receiving_units_line,
    target_context,
    target_questions,
)
from bot.ui import AckButton, Choice, Screen, deep_link, escape, text_only
from storage import outbox, people, topics
from storage.models import Draft, Topic, TopicKind, TopicStatus, Unit
from storage.topics import UnitResponse

URGENT_SLOT = "urgent"
MATTER_MAX = 3000
TITLE_MAX = 80


def urgent_form(services: Services, units: list[Unit]) -> FormDefinition:
    i18n = services.i18n
    return FormDefinition.model_validate(
        {
            "key": "urgent_wizard",
            "title": localized(i18n, "New urgent matter"),
            "questions": [
                {
                    "key": "matter",
                    "type": "text",
                    "min_length": 10,
                    "max_length": MATTER_MAX,
                    "label": localized(i18n, "The matter to watch"),
                    "help": localized(
                        i18n, "What happened, and what should collaborators watch and report on?"
                    ),
                },
                {
                    "key": "photo",
                    "type": "attachment",
                    "accept": ["photo"],
                    "required": False,
                    "label": localized(i18n, "A photo to go with it (optional)"),
                    "short_label": localized(i18n, "Photo"),
                },
                *target_questions(services, units),
                {
                    "key": "deadline",
                    "type": "deadline",
                    "label": localized(i18n, "Deadline for reports"),
                },
            ],
        }
    )


async def open_urgent_wizard(services: Services, conversations: Conversations, *, actor: Actor) -> Outcome:
    units = await units_in_scope(services.session, actor, Permission.PUBLISH_TOPIC)
    if not units:
        return Outcome(alert=no_units_text())
    assert actor.person is not None and actor.person.id is not None
    return await conversations.start(
        services,
        person_id=actor.person.id,
        slot=URGENT_SLOT,
        definition=urgent_form(services, units),
        context=target_context(units),
    )


def urgent_text(topic: Topic, tz: ZoneInfo, *, in_group: bool) -> str:
    deadline = format_deadline(topic.due_at.astimezone(tz))
    heading = _("🚨 <b>URGENT MATTER</b> (No. {number})").format(number=tag_of(topic))
    if text_only():  # Zalo: what to type (in private, the words come with the choices)
        how = (
            _(
                "To confirm, send “#{tag} đã nhận” here; to share what you learn, start a message with #{tag}."
            ).format(tag=tag_of(topic))
            if in_group
            else ""
        )
    elif in_group:
        how = _(
            "Press ✅ Received to confirm. Reply to this message, or press 📝 Report, to send what you learn."
        )
    else:
        how = _("Press ✅ Received to confirm, and 📝 Report to send what you learn.")
    return (
        _("{heading}\n\n{matter}\n\n⏰ Report by {deadline}.\n{how}")
        .format(heading=heading, matter=escape(topic.guidance), deadline=deadline, how=how)
        .rstrip()
    )


def urgent_choices(bot_username: str, topic: Topic) -> list[list[Choice]]:
    """Under the post (and its re-push): ✅ Received and 📝 Report (in the reader's language)."""
    assert topic.id is not None
    return [
        [
            Choice(label=_("✅ Received"), data=AckButton(topic=topic.id).pack()),
            Choice(label=_("📝 Report"), url=deep_link(bot_username, report_payload(topic))),
        ]
    ]


class UrgentPurpose(WizardPurpose):
    name = URGENT_SLOT

    def intro(self, services: Services, draft: Draft, form: FormDefinition) -> str | None:
        return _("🚨 A new urgent matter. You will see a preview before anything is sent.")

    def review(self, services: Services, draft: Draft, form: FormDefinition) -> tuple[str, str, str | None]:
        return (
            _("Preview before sending"),
            _("🚨 Send"),
            receiving_units_line(draft, form)
            + "\n"
            + _("It will be posted and pinned in the groups, and sent to each collaborator in private."),
        )

    async def complete(
        self, services: Services, actor: Actor, draft: Draft, answers: dict[str, Any]
    ) -> Outcome:
        session, now = services.session, services.clock.now()
        scope = await units_in_scope(session, actor, Permission.PUBLISH_TOPIC)
        unit_ids = plan_targets(answers, scope)
        if not unit_ids or not set(unit_ids) <= {unit.id for unit in scope}:
            return Outcome(alert=_("That unit is outside your scope."))
        deadline = datetime.fromisoformat(str(answers["deadline"]))
        if deadline <= now:
            return Outcome(alert=_("The deadline has passed meanwhile. Press ✏️ to change it."))
        assert actor.person is not None
        matter = str(answers["matter"])
        photo = answers.get("photo")
        topic = Topic(
            kind=TopicKind.URGENT,
            title=_title(matter),
            guidance=matter,
            form_id=services.forms.form_id(INCIDENT_FORM),
            period=period_of(deadline, services.tz),
            due_at=deadline,
            status=TopicStatus.PUBLISHED,
            photo_file_id=photo.get("file_id") if isinstance(photo, dict) else None,
            created_by=actor.person.id,
            published_at=now,
        )
        await topics.add_topic(session=session, topic=topic, target_unit_ids=unit_ids)

        def render(recipient: Recipient) -> Outgoing:
            return Outgoing(
                text=urgent_text(topic, services.tz, in_group=recipient.is_group),
                photo=topic.photo_file_id,
                choices=urgent_choices(services.bot_username, topic),
                pin=recipient.is_group,
            )

        delivery = await deliver_topic(services, actor, topic, unit_ids, kind="urgent", render=render)
        lines = [
            _("🚨 Urgent matter No. {number} is being sent.").format(number=tag_of(topic)),
            delivery_summary(delivery),
            _("/urgent_status shows who has received and answered it."),
        ]
        return Outcome(screen=Screen(text="\n".join(lines)), finished=True)


def _title(matter: str) -> str:
    first = matter.strip().splitlines()[0]
    return first if len(first) <= TITLE_MAX else first[: TITLE_MAX - 1].rstrip() + "…"


async def acknowledge(services: Services, actor: Actor, topic_id: int) -> Outcome:
    """The ✅ button, in a group or in private: recorded once per collaborator."""
    topic = await topics.get_topic(session=services.session, topic_id=topic_id)
    if topic is None or topic.kind != TopicKind.URGENT:
        return Outcome(alert=_("This button has expired."))
    if not await topic_is_for(services, topic, actor):
        return Outcome(alert=_("This matter is not addressed to your unit."))
    assert actor.person is not None and actor.person.id is not None
    new = await topics.acknowledge(
        session=services.session, topic_id=topic_id, person_id=actor.person.id, now=services.clock.now()
    )
    if new:
        return Outcome(alert=_("✅ Thank you, your receipt is recorded."))
    return Outcome(alert=_("Your receipt was already recorded."))


def _overlap(targets: list[str], scope: list[str]) -> list[str]:
    """The part of the matter's targets that lies in the staff member's scope."""
    paths = set()
    for target in targets:
        for own in scope:
            if target.startswith(own):
                paths.add(target)
            elif own.startswith(target):
                paths.add(own)
    return sorted(paths)


async def status_by_number(services: Services, actor: Actor, number: int | None) -> Outcome:
    """/urgent_status [K3]: that urgent matter, or the latest one sent to the actor's units."""
    session = services.session
    if number is None:
        topic = await topics.latest_urgent(
            session=session, unit_paths=actor.scope_paths(Permission.PUBLISH_TOPIC)
        )
        if topic is None:
            return Outcome(alert=_("No urgent matter has been sent to your units yet."))
    else:
        topic = await topics.get_by_number(session=session, kind=TopicKind.URGENT, number=number)
        if topic is None:
            return Outcome(
                alert=_("There is no urgent matter No. {number}.").format(
                    number=Tag(urgent=True, number=number)
                )
            )
    return await status(services, actor, topic)


async def status(services: Services, actor: Actor, topic: Topic) -> Outcome:
    """Acknowledged / reported / silent per unit, with the silent by name, within scope."""
    session = services.session
    scope = actor.scope_paths(Permission.PUBLISH_TOPIC)
    assert topic.id is not None
    paths = _overlap(await topics.target_paths(session=session, topic_id=topic.id), scope)
    if not paths:
        return Outcome(
            alert=_("Urgent matter No. {number} is not addressed to your units.").format(number=tag_of(topic))
        )
    text = status_text(topic, await load_status(session, topic, paths), services.tz)
    return Outcome(messages=[Screen(text=part) for part in split_html(text)])


@dataclass(frozen=True)
class UrgentStatus:
    """Who in some target subtrees has answered an urgent matter: read once, then written in
    each reader's language (/urgent_status, and the status at the deadline)."""

    rows: list[UnitResponse]
    silent: list[tuple[str, str]]
    channels: dict[str, int]


async def load_status(session: AsyncSession, topic: Topic, paths: list[str]) -> UrgentStatus:
    assert topic.id is not None
    return UrgentStatus(
        rows=await topics.urgent_responses(session=session, topic_id=topic.id, unit_paths=paths),
        silent=await topics.silent_members(session=session, topic_id=topic.id, unit_paths=paths),
        channels=await people.collaborators_by_channel(session=session, unit_paths=paths),
    )


def status_text(topic: Topic, status: UrgentStatus, tz: ZoneInfo) -> str:
    """Acknowledged / reported / silent per unit, then the silent by name (in the current language)."""
    rows, silent, channels = status.rows, status.silent, status.channels
    lines = [
        _("📊 <b>Urgent matter No. {number}</b>: {title}").format(
            number=tag_of(topic), title=escape(topic.title)
        ),
        _("⏰ Deadline: {deadline}").format(deadline=format_deadline(topic.due_at.astimezone(tz))),
        "",
    ]
    totals = [0, 0, 0, 0]
    for row in rows:
        lines.append(
            _(
                "<b>{unit}</b>: {members} · ✅ received {acknowledged} · 📝 reported {reported} · 🔕 silent {silent}"
            ).format(
                unit=escape(row.unit_name),
                members=collaborators(row.members),
                acknowledged=row.acknowledged,
                reported=row.reported,
                silent=row.silent,
            )
        )
        for index, value in enumerate((row.members, row.acknowledged, row.reported, row.silent)):
            totals[index] += value
    if channels:
        lines.append(channels_line(channels))
    if not rows:
        lines.append(_("No active collaborators in these units."))
    elif len(rows) > 1:
        lines.append(
            _("<b>Total</b>: {members} · ✅ {acknowledged} · 📝 {reported} · 🔕 {silent}").format(
                members=totals[0], acknowledged=totals[1], reported=totals[2], silent=totals[3]
            )
        )
    if silent:
        lines.append("")
        lines.append(_("<b>Not answered yet:</b>"))
        lines.extend(f"• {escape(name)} — {escape(unit)}" for unit, name in silent)
    return "\n".join(lines)


async def status_for_broadcast(services: Services, actor: Actor, broadcast_id: int) -> Outcome:
    broadcast = await outbox.get_broadcast(session=services.session, broadcast_id=broadcast_id)
    if broadcast is None or broadcast.topic_id is None or broadcast.kind != "urgent":
        return Outcome(alert=_("This button has expired."))
    topic = await topics.get_topic(session=services.session, topic_id=broadcast.topic_id)
    if topic is None:
        return Outcome(alert=_("This button has expired."))
    return await status(services, actor, topic)

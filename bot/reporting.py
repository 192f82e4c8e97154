"""Reports: opening the questionnaire for a topic or an incident, submitting, group replies."""

from __future__ import annotations

from typing import Any

from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.access import Actor, Permission
from bot.clock import format_date, format_datetime, period_of
from bot.conversation import Conversations, Outcome, Services
from bot.delivery.service import Outgoing, Recipient
from bot.forms import FormDefinition, text_for
from bot.i18n import board, normalize_locale
from bot.people import help_text
from bot.tags import ReportLink, report_payload, tag_of
from bot.ui import (
    Choice,
    ReplaceButton,
    ReportButton,
    Screen,
    answer_lines,
    current_locale,
    deep_link,
    escape,
    fit,
    text_only,
    truncate,
)
from storage import people, reports, topics
from storage.models import Draft, Report, ReportChannel, ReportStatus, Topic, TopicKind, TopicStatus

INCIDENT_FORM = "incident"
ADHOC_SLOT = "report:adhoc"
URGENCY_QUESTION = "muc_do"
URGENT = reports.URGENT
OVERVIEW_LIMIT = 10  # open topics and matters listed by /start; the rest are counted
ALERT_EXCERPT = 600  # characters of the report's text in the alert; 📄 shows the rest
MAIN_TEXT_QUESTIONS = ("noi_dung", "su_viec")
PROPOSAL_QUESTION = "de_xuat"


def topic_slot(topic_id: int) -> str:
    return f"report:topic:{topic_id}"


def choice_values(form: FormDefinition, answers: dict[str, Any]) -> list[tuple[str, str]]:
    """The (question, option) pairs SQL groups by: one per chosen option."""
    pairs: list[tuple[str, str]] = []
    for question in form.questions:
        value = answers.get(question.key)
        if value is None or question.type not in ("choice", "multi_choice", "yes_no"):
            continue
        for item in value if isinstance(value, list) else [value]:
            pairs.append((question.key, str(item)))
    return pairs


def main_text(answers: dict[str, Any]) -> str | None:
    for key in MAIN_TEXT_QUESTIONS:
        if isinstance(answers.get(key), str):
            return str(answers[key])
    return None


def proposal_text(answers: dict[str, Any]) -> str | None:
    proposal = answers.get(PROPOSAL_QUESTION)
    return proposal.strip() or None if isinstance(proposal, str) else None


async def topic_is_for(services: Services, topic: Topic, actor: Actor) -> bool:
    """A topic reaches a person when it targets their unit or any unit above it."""
    if actor.person is None or actor.person.unit_id is None:
        return False
    unit = await people.get_unit(session=services.session, unit_id=actor.person.unit_id)
    if unit is None:
        return False
    ancestors = {int(part) for part in unit.path.strip("/").split("/") if part}
    targets = set(await topics.target_unit_ids(session=services.session, topic_id=topic.id or 0))
    return bool(ancestors & targets)


async def open_report_link(
    services: Services, conversations: Conversations, *, actor: Actor, link: ReportLink
) -> Outcome:
    """A report link or "báo cáo 3": the topic it names, by its number (or, in links sent
    before numbers, by its id)."""
    topic_id = link.topic_id
    if link.tag is not None:
        topic = await topics.get_by_number(
            session=services.session, kind=link.tag.kind, number=link.tag.number
        )
        if topic is None:
            return Outcome(alert=_("This topic does not exist or is not open for reports."))
        topic_id = topic.id
    assert topic_id is not None
    return await open_topic_report(services, conversations, actor=actor, topic_id=topic_id)


async def open_topic_report(
    services: Services, conversations: Conversations, *, actor: Actor, topic_id: int, replace: bool = False
) -> Outcome:
    """The "📝 Send report" button: resume the draft, offer to replace, or start anew."""
    session = services.session
    topic = await topics.get_topic(session=session, topic_id=topic_id)
    if topic is None or topic.status not in (TopicStatus.PUBLISHED, TopicStatus.CLOSED):
        return Outcome(alert=_("This topic does not exist or is not open for reports."))
    if not await topic_is_for(services, topic, actor):
        return Outcome(alert=_("This topic is not addressed to your unit."))
    assert actor.person is not None and actor.person.id is not None
    slot = topic_slot(topic_id)
    draft = await reports.get_draft_by_slot(session=session, person_id=actor.person.id, slot=slot)
    if draft is not None and not replace:
        draft.updated_at = services.clock.now()  # typed answers go to the draft just resumed
        await reports.save_draft(session=session, draft=draft)
        screen = await conversations.resume_screen(services, draft)
        screen.notes.append(
            _("You have an unfinished report for this topic; let's continue where you stopped.")
        )
        return Outcome(screen=screen, draft=draft)
    existing = await reports.get_private_report(session=session, person_id=actor.person.id, topic_id=topic_id)
    if existing is not None and not replace:
        return Outcome(screen=_replace_offer(services, topic, existing))
    if existing is not None and services.clock.now() > topic.due_at:
        return Outcome(
            alert=_(
                "The deadline for this topic has passed; your report No. {number} stays as it was sent."
            ).format(number=existing.id)
        )
    return await conversations.start(
        services,
        person_id=actor.person.id,
        slot=slot,
        form_id=topic.form_id,
        topic_id=topic_id,
        context={"replace_report_id": existing.id} if existing else {},
    )


def _replace_offer(services: Services, topic: Topic, existing: Report) -> Screen:
    assert topic.id is not None
    sent = format_datetime(existing.updated_at, services.tz)
    if services.clock.now() > topic.due_at:
        return Screen(
            text=_(
                "You already sent report No. {number} for this topic ({sent}). The deadline has passed, "
                "so it can no longer be replaced."
            ).format(number=existing.id, sent=sent)
        )
    text = _(
        "You already sent report No. {number} for this topic ({sent}). "
        "Do you want to replace it with a new report? You can do so until {due}."
    ).format(number=existing.id, sent=sent, due=format_datetime(topic.due_at, services.tz))
    choices = [
        [
            Choice(label=_("✏️ Replace"), data=ReplaceButton(topic=topic.id, replace=True).pack()),
            Choice(label=_("Keep it"), data=ReplaceButton(topic=topic.id, replace=False).pack()),
        ]
    ]
    return Screen(text=text, choices=choices)


async def open_incident_report(services: Services, conversations: Conversations, *, actor: Actor) -> Outcome:
    assert actor.person is not None and actor.person.id is not None
    return await conversations.start(
        services, person_id=actor.person.id, slot=ADHOC_SLOT, form_id=services.forms.form_id(INCIDENT_FORM)
    )


class ReportPurpose:
    name = "report"

    async def definition(self, services: Services, draft: Draft) -> FormDefinition:
        assert draft.form_id is not None
        return await services.forms.get(services.session, draft.form_id)

    def intro(self, services: Services, draft: Draft, form: FormDefinition) -> str | None:
        return f"📝 <b>{escape(text_for(form.title, current_locale()))}</b>"

    def review(self, services: Services, draft: Draft, form: FormDefinition) -> tuple[str, str, str | None]:
        return _("Check your report before sending"), _("✅ Send report"), None

    async def complete(
        self, services: Services, actor: Actor, draft: Draft, answers: dict[str, Any]
    ) -> Outcome:
        session, now = services.session, services.clock.now()
        assert actor.person is not None and actor.person.id is not None
        if actor.person.unit_id is None:
            return Outcome(alert=_("Sorry, only registered collaborators can send reports."))
        form = await self.definition(services, draft)
        topic = await topics.get_topic(session=session, topic_id=draft.topic_id) if draft.topic_id else None
        report: Report | None = None
        if topic is not None:
            report = await reports.get_private_report(
                session=session, person_id=actor.person.id, topic_id=topic.id or 0
            )
            if report is not None and now > topic.due_at:
                return Outcome(
                    screen=Screen(
                        text=_(
                            "The deadline has passed; your report No. {number} stays as it was sent."
                        ).format(number=report.id)
                    ),
                    finished=True,
                )
        replaced = report is not None
        if report is None:
            report = Report(
                person_id=actor.person.id,
                unit_id=actor.person.unit_id,
                topic_id=topic.id if topic else None,
                channel=ReportChannel.PRIVATE,
                period=topic.period if topic else period_of(now, services.tz),
                source_update_id=services.update_id,
                submitted_at=now,
                # after the due time (the topic closed or not): taken, and marked late
                status=ReportStatus.LATE if topic is not None and now > topic.due_at else ReportStatus.NEW,
            )
        else:
            report.revision += 1
            report.source_update_id = services.update_id
        report.form_id = draft.form_id
        report.answers = answers
        report.text = main_text(answers)
        report.proposal = proposal_text(answers)
        report.urgency = answers.get(URGENCY_QUESTION)
        report.updated_at = now
        await reports.save_report(session=session, report=report, choice_values=choice_values(form, answers))
        # Urgent-marked reports, and incidents filed with /report (answers to an urgent matter
        # use the incident form too, but its staff follow them in /urgent_status).
        if report.urgency == URGENT or (form.key == INCIDENT_FORM and topic is None):
            await alert_staff(services, report=report, reporter=actor.person.full_name, form=form)
        if replaced:
            text = _("✅ Your report No. {number} has been replaced with the new answers.").format(
                number=report.id
            )
        else:
            text = _("✅ Thank you! Your report has been received as No. {number}.").format(number=report.id)
        if topic is not None and now > topic.due_at:
            text += "\n" + _("Note: it arrived after the deadline ({due}).").format(
                due=format_date(topic.due_at, services.tz)
            )
        return Outcome(screen=Screen(text=text), finished=True)


async def alert_staff(services: Services, *, report: Report, reporter: str, form: FormDefinition) -> int:
    """A report marked urgent, or an incident, reaches the staff of the reporter's unit and
    of the unit above it at once, through the outbox (sent after the commit, retried, never
    twice for one revision), rather than waiting for someone to ask for /summary."""
    session = services.session
    unit = await people.get_unit(session=session, unit_id=report.unit_id)
    if unit is None or unit.id is None:
        return 0
    unit_ids = [unit.id] + ([unit.parent_id] if unit.parent_id is not None else [])
    staff = await people.staff_of_units(session=session, unit_ids=unit_ids, except_person=report.person_id)
    if not staff:
        return 0
    submitted = format_datetime(report.submitted_at, services.tz)

    def render(_recipient: Recipient) -> Outgoing:
        heading = (
            _("🚨 <b>Urgent report No. {number}</b> from {unit}")
            if report.urgency == URGENT
            else _("📝 <b>Incident report No. {number}</b> from {unit}")
        )
        lines = [
            heading.format(number=report.id, unit=escape(unit.name)),
            _("By {name}, {when}").format(name=escape(reporter), when=submitted),
            "",
            escape(truncate(report.text or "", ALERT_EXCERPT)),
        ]
        button = Choice(label=_("📄 Open the report"), data=ReportButton(report=report.id or 0).pack())
        return Outgoing(text="\n".join(lines), choices=[[button]])

    recipients = [
        Recipient(
            chat_id=member.chat_id,
            locale=normalize_locale(member.locale, services.i18n.default_locale),
            person_id=member.person_id,
        )
        for member in staff
    ]
    return await services.delivery.deliver(
        session, key=f"report-alert:{report.id}:{report.revision}", recipients=recipients, render=render
    )


async def show_report(services: Services, *, actor: Actor, report_id: int) -> Outcome:
    """📄: the whole report, for staff and leaders whose scope holds its unit."""
    session = services.session
    report = await reports.get_report(session=session, report_id=report_id)
    unit = await people.get_unit(session=session, unit_id=report.unit_id) if report is not None else None
    if report is None or unit is None or not actor.can_act_on(Permission.VIEW_SUMMARY, unit):
        return Outcome(alert=_("That unit is outside your scope."))
    reporter = await people.get_person(session=session, person_id=report.person_id)
    lines = [
        _("📄 <b>Report No. {number}</b> · {unit}").format(number=report.id, unit=escape(unit.name)),
        _("By {name}, {when}").format(
            name=escape(reporter.full_name if reporter and reporter.full_name else "—"),
            when=format_datetime(report.submitted_at, services.tz),
        ),
        "",
    ]
    if report.form_id is not None:
        form = await services.forms.get(session, report.form_id)
        lines += answer_lines(form, report.answers, limit=None)
    else:
        lines.append(escape(report.text or ""))
    return Outcome(screen=Screen(text=fit("\n".join(lines))), finished=True)


async def overview(services: Services, *, actor: Actor) -> str:
    """/start for a member with nothing to resume: what is open for them now, answered or
    not, above the help. Topics and urgent matters whose deadline has not passed, addressed
    to their unit or one above it."""
    person = actor.person
    if not actor.is_member or person is None or person.id is None or person.unit_id is None:
        return help_text(actor)
    session, now = services.session, services.clock.now()
    unit = await people.get_unit(session=session, unit_id=person.unit_id)
    ancestors = [int(part) for part in unit.path.strip("/").split("/") if part] if unit else []
    open_topics = [
        topic
        for topic in await topics.topics_for_unit(session=session, ancestor_unit_ids=ancestors)
        if topic.due_at > now
    ]
    if not open_topics:
        return _("Nothing is open for you right now.") + "\n\n" + help_text(actor)
    # newest last, so the number shown is the latest report on each topic
    reported = {
        report.topic_id: report.id
        for report in reversed(await reports.reports_of(session=session, person_id=person.id))
    }
    acknowledged = await topics.acknowledged_by(
        session=session, person_id=person.id, topic_ids=[topic.id or 0 for topic in open_topics]
    )
    lines = [_("<b>Open for you now:</b>")]
    shown = open_topics[:OVERVIEW_LIMIT]
    for topic in shown:
        due = format_datetime(topic.due_at, services.tz)
        title = escape(topic.title)
        if topic.kind == TopicKind.URGENT:
            line = _("🚨 Urgent matter No. {number}: {title} (by {due})").format(
                number=tag_of(topic), title=title, due=due
            )
            line += " — " + (
                _("✅ receipt confirmed") if topic.id in acknowledged else _("not confirmed yet")
            )
        else:
            line = _("📢 Topic No. {number}: {title} (by {due})").format(
                number=tag_of(topic), title=title, due=due
            )
        if topic.id in reported:
            line += " — " + _("✅ you sent report No. {report}").format(report=reported[topic.id])
        else:
            line += " — " + _("📝 not reported yet: {how}").format(how=how_to_report(services, topic))
        lines.append(line)
    if len(open_topics) > len(shown):
        lines.append(_("… and {count} more.").format(count=len(open_topics) - len(shown)))
    return fit("\n".join(lines) + "\n\n" + help_text(actor))


def how_to_report(services: Services, topic: Topic) -> str:
    if text_only() or not services.bot_username:
        return _("write “báo cáo {tag}”").format(tag=tag_of(topic))
    link = deep_link(services.bot_username, report_payload(topic))
    return _('<a href="{link}">report now</a>').format(link=link)


async def store_group_reply(
    services: Services, *, actor: Actor, topic: Topic, message: Message
) -> Report | None:
    """A reply to a topic post in a group is a quick report; the same update never stores twice."""
    assert actor.person is not None and actor.person.id is not None and actor.person.unit_id is not None
    existing = await reports.get_report_by_update(session=services.session, update_id=services.update_id)
    if existing is not None:
        return existing
    now = services.clock.now()
    answers: dict[str, Any] = {}
    if message.photo:
        photo = message.photo[-1]
        answers["minh_chung"] = {
            "kind": "photo",
            "file_id": photo.file_id,
            "file_unique_id": photo.file_unique_id,
        }
    elif message.document:
        document = message.document
        answers["minh_chung"] = {
            "kind": "document",
            "file_id": document.file_id,
            "file_unique_id": document.file_unique_id,
            "file_name": document.file_name,
        }
    report = Report(
        person_id=actor.person.id,
        unit_id=actor.person.unit_id,
        topic_id=topic.id,
        form_id=None,
        channel=ReportChannel.GROUP_REPLY,
        answers=answers,
        text=message.text or message.caption or "",
        period=topic.period,
        source_update_id=services.update_id,
        source_chat_id=message.chat.id,
        source_message_id=message.message_id,
        submitted_at=now,
        updated_at=now,
        status=ReportStatus.LATE if now > topic.due_at else ReportStatus.NEW,
    )
    return await reports.save_report(session=services.session, report=report, choice_values=[])


def kept_screen() -> Screen:
    return Screen(text=_("OK, your report stays as it was sent."))


async def group_reply_for(services: Services, message: Message) -> Topic | None:
    """The topic whose post this message replies to, if any."""
    replied = message.reply_to_message
    if replied is None:
        return None
    post = await topics.find_post(
        session=services.session, chat_id=message.chat.id, message_id=replied.message_id
    )
    if post is None:
        return None
    return await topics.get_topic(session=services.session, topic_id=post.topic_id)


def not_your_topic_text() -> str:
    return _("This topic is not addressed to your unit, so your reply was not recorded.")


def not_member_text() -> str:
    return _(
        "Thank you! Only registered collaborators' replies are recorded. "
        "Ask the staff of {board} for an invite link to join."
    ).format(board=board())

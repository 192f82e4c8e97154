"""Monthly topics: the staff wizard, the preview, and publishing into the target groups."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.access import Actor, Permission
from bot.clock import end_of_day, format_date, format_datetime
from bot.conversation import Conversations, Outcome, Services, WizardPurpose
from bot.delivery.service import Delivery, Outgoing, ProgressTarget, Recipient
from bot.forms import FormDefinition, FormState, text_for
from bot.i18n import N_, localized, normalize_locale
from bot.onboarding import no_units_text, units_in_scope
from bot.schedule_rules import parse as parse_rule
from bot.tags import report_payload, tag_of
from bot.ui import Screen, current_locale, deep_link, escape, link_choices, text_only, truncate
from storage import audit, people, topics
from storage.models import Draft, Topic, TopicKind, TopicStatus, Unit

log = logging.getLogger(__name__)

TOPIC_SLOT = "topic"
REPORT_FORMS = ("monthly_opinion", "incident")
GUIDANCE_MAX = 3000


def topic_form(services: Services, units: list[Unit]) -> FormDefinition:
    i18n = services.i18n
    forms = services.forms.builtin
    return FormDefinition.model_validate(
        {
            "key": "topic_wizard",
            "title": localized(i18n, "New monthly topic"),
            "questions": [
                {
                    "key": "title",
                    "type": "text",
                    "min_length": 5,
                    "max_length": 200,
                    "label": localized(i18n, "Title of the topic"),
                },
                {
                    "key": "guidance",
                    "type": "text",
                    "min_length": 20,
                    "max_length": GUIDANCE_MAX,
                    "label": localized(i18n, "Guidance for collaborators"),
                    "help": localized(i18n, "What should collaborators watch and report on this month?"),
                },
                {
                    "key": "form",
                    "type": "choice",
                    "label": localized(i18n, "Report form"),
                    "options": [
                        {"value": key, "label": forms[key].title} for key in REPORT_FORMS if key in forms
                    ],
                },
                month_question(services),
                *target_questions(services, units),
                {
                    "key": "due",
                    "type": "date",
                    "allow_past": False,
                    "label": localized(i18n, "Due date for reports"),
                },
                *when_questions(services),
            ],
        }
    )


def default_publish_time(services: Services) -> datetime:
    """When "Schedule" publishes unless told otherwise: the next TOPIC_PUBLISH_DEFAULT (the
    1st of next month at 08:00)."""
    rule = parse_rule(services.settings.topic_publish_default)
    return rule.next_after(services.clock.now(), services.tz)


def when_questions(services: Services) -> list[dict[str, Any]]:
    """Publish now, at the default time (one tap), or at a time typed as for a deadline."""
    i18n = services.i18n
    default = format_datetime(default_publish_time(services), services.tz)
    scheduled = localized(i18n, "🗓 Schedule for {when}")
    return [
        {
            "key": "when",
            "type": "choice",
            "label": localized(i18n, "When should it be published?"),
            "short_label": localized(i18n, "Publication"),
            "options": [
                {"value": "now", "label": localized(i18n, "📢 Now")},
                {
                    "value": "default",
                    "label": {locale: text.format(when=default) for locale, text in scheduled.items()},
                },
                {"value": "at", "label": localized(i18n, "🗓 Schedule for another time")},
            ],
        },
        {
            "key": "publish_at",
            "type": "deadline",
            "label": localized(i18n, "Publication time (e.g. 08:00 01/01)"),
            "short_label": localized(i18n, "Published at"),
            "show_if": {"question": "when", "equals": "at"},
        },
    ]


def month_question(services: Services) -> dict[str, Any]:
    """The month a topic is for (issue 19): its reports count in that month's /summary,
    whatever its due date (a December topic may be due on 05/01). This month first."""
    today = services.clock.now().astimezone(services.tz).date()
    this_month = today.replace(day=1)
    following = (this_month + timedelta(days=32)).replace(day=1)
    previous = (this_month - timedelta(days=1)).replace(day=1)
    i18n = services.i18n
    options = []
    for first, note in (
        (this_month, N_("this month")),
        (following, N_("next month")),
        (previous, N_("last month")),
    ):
        shown = localized(i18n, note)
        options.append(
            {
                "value": first.strftime("%Y_%m"),  # option values are [a-z0-9_]
                "label": {locale: f"{first:%m/%Y} ({text})" for locale, text in shown.items()},
            }
        )
    return {
        "key": "period",
        "type": "choice",
        "label": localized(i18n, "Which month is the topic for?"),
        "short_label": localized(i18n, "Month"),
        "options": options,
    }


def target_questions(services: Services, units: list[Unit]) -> list[dict[str, Any]]:
    """ "All units / let me choose" and the choice itself; nothing to ask with one unit."""
    if len(units) < 2:
        return []
    i18n = services.i18n
    return [
        {
            "key": "target_mode",
            "type": "choice",
            "label": localized(i18n, "Which units receive it?"),
            "short_label": localized(i18n, "Choice of units"),
            "options": [
                {"value": "all", "label": localized(i18n, "All units in my scope")},
                {"value": "chosen", "label": localized(i18n, "Let me choose")},
            ],
        },
        {
            "key": "targets",
            "type": "multi_choice",
            "label": localized(i18n, "Choose the target units"),
            "short_label": localized(i18n, "Units chosen"),
            "show_if": {"question": "target_mode", "equals": "chosen"},
            "options": [{"value": str(unit.id), "label": {"vi": unit.name}} for unit in units],
        },
    ]


async def open_topic_wizard(services: Services, conversations: Conversations, *, actor: Actor) -> Outcome:
    units = await units_in_scope(services.session, actor, Permission.PUBLISH_TOPIC)
    if not units:
        return Outcome(alert=no_units_text())
    assert actor.person is not None and actor.person.id is not None
    return await conversations.start(
        services,
        person_id=actor.person.id,
        slot=TOPIC_SLOT,
        definition=topic_form(services, units),
        context={**target_context(units), "default_publish": default_publish_time(services).isoformat()},
    )


def target_context(units: list[Unit]) -> dict[str, Any]:
    """What "all units in my scope" means, kept with the wizard for its preview."""
    return {"scope_tops": [unit.name for unit in _top_units(units)], "scope_count": len(units)}


def receiving_units_line(draft: Draft, form: FormDefinition) -> str:
    """ "Receiving units: …" in a wizard's preview, naming the units it will reach."""
    answers = FormState.from_json(draft.state).answers
    if answers.get("target_mode") == "chosen" and form.has_question("targets"):
        labels = {
            option.value: text_for(option.label, current_locale())
            for option in form.question("targets").choices()
        }
        names = [labels.get(value, value) for value in answers.get("targets", [])]
        shown = truncate(", ".join(names), 1200)
    else:
        tops = list(draft.context.get("scope_tops") or [])
        count = int(draft.context.get("scope_count") or len(tops))
        shown = ", ".join(tops)
        if count > len(tops):
            shown += " " + ngettext(
                "(all {count} unit in the scope)", "(all {count} units in the scope)", count
            ).format(count=count)
    return _("<b>Receiving units</b>: {units}").format(units=escape(shown) if shown else "—")


@dataclass(frozen=True)
class TopicPlan:
    title: str
    guidance: str
    form_key: str
    unit_ids: list[int]
    due: date
    period: str  # YYYY-MM: the month the topic is for
    publish_at: datetime | None = None  # None: now


def plan_targets(answers: dict[str, Any], scope_units: list[Unit]) -> list[int]:
    """The units a wizard's "all / let me choose" answers name."""
    if answers.get("target_mode") == "chosen":
        return [int(value) for value in answers.get("targets", [])]
    return [unit.id for unit in _top_units(scope_units) if unit.id is not None]


def plan_from_answers(
    answers: dict[str, Any], scope_units: list[Unit], *, default_publish: datetime | None = None
) -> TopicPlan:
    unit_ids = plan_targets(answers, scope_units)
    when = answers.get("when", "now")
    publish_at = (
        datetime.fromisoformat(str(answers["publish_at"]))
        if when == "at"
        else default_publish
        if when == "default"
        else None
    )
    return TopicPlan(
        publish_at=publish_at,
        title=str(answers["title"]),
        guidance=str(answers["guidance"]),
        form_key=str(answers["form"]),
        unit_ids=unit_ids,
        due=date.fromisoformat(str(answers["due"])),
        period=str(
            answers.get("period") or date.fromisoformat(str(answers["due"])).strftime("%Y_%m")
        ).replace("_", "-"),
    )


def _top_units(units: list[Unit]) -> list[Unit]:
    """The roots of a set of subtrees: targeting them covers everything below."""
    tops: list[Unit] = []
    for unit in sorted(units, key=lambda u: len(u.path)):
        if not any(unit.path.startswith(top.path) for top in tops):
            tops.append(unit)
    return tops


def post_text(tz: ZoneInfo, topic: Topic) -> str:
    """The topic as posted into groups (in the locale of the current context)."""
    period = f"{topic.period[5:7]}/{topic.period[:4]}"
    if text_only():  # Zalo: no replies to a message, so a tag names the topic
        how = _(
            "To share opinions quickly here, start your message with #{tag}. "
            "For the full report, write to the bot: báo cáo {tag}"
        ).format(tag=tag_of(topic))
    else:
        how = _("Reply to this message to share opinions quickly, or press the button for the full report.")
    return _(
        "📢 <b>Guidance topic {period}</b>\n<b>{title}</b>\n\n{guidance}\n\n⏰ Reports due by {due}.\n{how}"
    ).format(
        period=period,
        title=escape(topic.title),
        guidance=escape(topic.guidance),
        due=format_date(topic.due_at, tz),
        how=how,
    )


def report_button_text() -> str:
    return _("📝 Send report")


class TopicPurpose(WizardPurpose):
    name = TOPIC_SLOT

    def intro(self, services: Services, draft: Draft, form: FormDefinition) -> str | None:
        return _("Let's prepare this month's topic. You will see a preview before anything is published.")

    def review(self, services: Services, draft: Draft, form: FormDefinition) -> tuple[str, str, str | None]:
        scheduled = FormState.from_json(draft.state).answers.get("when", "now") != "now"
        return (
            _("Preview before publishing"),
            _("🗓 Schedule") if scheduled else _("📢 Publish"),
            receiving_units_line(draft, form)
            + "\n"
            + _("Collaborators will see the topic in their groups with a button to report."),
        )

    async def complete(
        self, services: Services, actor: Actor, draft: Draft, answers: dict[str, Any]
    ) -> Outcome:
        session, now = services.session, services.clock.now()
        scope = await units_in_scope(session, actor, Permission.PUBLISH_TOPIC)
        default_publish = draft.context.get("default_publish")
        plan = plan_from_answers(
            answers,
            scope,
            default_publish=datetime.fromisoformat(default_publish) if default_publish else None,
        )
        allowed = {unit.id for unit in scope}
        if not plan.unit_ids or not set(plan.unit_ids) <= allowed:
            return Outcome(alert=_("That unit is outside your scope."))
        due_at = end_of_day(plan.due, services.tz)
        if due_at <= now:
            return Outcome(alert=_("The date cannot be in the past."))
        if plan.publish_at is not None and plan.publish_at <= now:
            return Outcome(alert=_("That publication time has passed: choose “Now” or a later time."))
        if plan.publish_at is not None and plan.publish_at >= due_at:
            return Outcome(alert=_("The topic would be published after its due date: change one of them."))
        assert actor.person is not None
        topic = Topic(
            kind=TopicKind.MONTHLY,
            title=plan.title,
            guidance=plan.guidance,
            form_id=services.forms.form_id(plan.form_key),
            period=plan.period,
            due_at=due_at,
            status=TopicStatus.PUBLISHED if plan.publish_at is None else TopicStatus.SCHEDULED,
            created_by=actor.person.id,
            published_at=now if plan.publish_at is None else None,
            scheduled_for=plan.publish_at,
        )
        await topics.add_topic(session=session, topic=topic, target_unit_ids=plan.unit_ids)
        if plan.publish_at is not None:
            await audit.record(
                session=session,
                action="topic.schedule",
                actor_id=actor.person.id,
                details={"topic_id": topic.id, "units": plan.unit_ids, "at": plan.publish_at.isoformat()},
            )
            return Outcome(screen=Screen(text=scheduled_text(topic, services.tz)), finished=True)
        progress = ProgressTarget(chat_id=actor.address, locale=current_locale())
        delivery = await publish_topic(
            services.session,
            services.delivery,
            topic,
            plan.unit_ids,
            bot_username=services.bot_username,
            default_locale=services.settings.default_locale,
            tz=services.tz,
            progress=progress,
        )
        await audit.record(
            session=session,
            action="topic.publish",
            actor_id=actor.person.id,
            details={
                "topic_id": topic.id,
                "units": plan.unit_ids,
                "groups": delivery.groups,
                "people": delivery.people,
                "broadcast_id": delivery.broadcast_id,
            },
        )
        return Outcome(screen=Screen(text=published_text(topic, delivery)), finished=True)


def scheduled_text(topic: Topic, tz: ZoneInfo) -> str:
    assert topic.scheduled_for is not None
    return _(
        "🗓 Topic No. {number} “{title}” will be published at {when}. "
        "/topics lists scheduled topics, to change the time or cancel."
    ).format(number=tag_of(topic), title=escape(topic.title), when=format_datetime(topic.scheduled_for, tz))


def published_text(topic: Topic, delivery: TopicDelivery) -> str:
    lines = [
        _("📢 Topic No. {number} “{title}” is published.").format(
            number=tag_of(topic), title=escape(topic.title)
        ),
        delivery_summary(delivery),
    ]
    if not delivery.groups:
        lines.append(
            _("No registered group in the target units yet: add the bot to a group and send /setup there.")
        )
    return "\n".join(lines)


async def publish_topic(
    session: AsyncSession,
    delivery: Delivery,
    topic: Topic,
    unit_ids: list[int],
    *,
    bot_username: str,
    default_locale: str,
    tz: ZoneInfo,
    progress: ProgressTarget,
) -> TopicDelivery:
    """Queue a monthly topic for its groups (the post) and collaborators (in private), with a
    button to report: the wizard's "Now", and a scheduled topic at its time."""
    button_url = deep_link(bot_username, report_payload(topic))

    def render(recipient: Recipient) -> Outgoing:
        text = post_text(tz, topic) if recipient.is_group else direct_text(tz, topic)
        return Outgoing(text=text, choices=link_choices(report_button_text(), button_url))

    assert topic.created_by is not None
    return await queue_topic(
        session,
        delivery,
        topic,
        unit_ids,
        kind="topic",
        render=render,
        default_locale=default_locale,
        created_by=topic.created_by,
        progress=progress,
    )


@dataclass(frozen=True)
class TopicDelivery:
    broadcast_id: int
    groups: int
    people: int


def delivery_summary(delivery: TopicDelivery) -> str:
    return _("Delivering to {groups} and {people}; the progress is shown below.").format(
        groups=ngettext("{count} group", "{count} groups", delivery.groups).format(count=delivery.groups),
        people=collaborators(delivery.people),
    )


def collaborators(count: int) -> str:
    return ngettext("{count} collaborator", "{count} collaborators", count).format(count=count)


async def deliver_topic(
    services: Services,
    actor: Actor,
    topic: Topic,
    unit_ids: list[int],
    *,
    kind: str,
    render: Callable[[Recipient], Outgoing],
) -> TopicDelivery:
    """`queue_topic` for the staff member at hand, who sees the progress."""
    assert actor.person is not None and actor.person.id is not None
    return await queue_topic(
        services.session,
        services.delivery,
        topic,
        unit_ids,
        kind=kind,
        render=render,
        default_locale=services.settings.default_locale,
        created_by=actor.person.id,
        progress=ProgressTarget(chat_id=actor.address, locale=current_locale()),
    )


async def queue_topic(
    session: AsyncSession,
    delivery: Delivery,
    topic: Topic,
    unit_ids: list[int],
    *,
    kind: str,
    render: Callable[[Recipient], Outgoing],
    default_locale: str,
    created_by: int,
    progress: ProgressTarget,
) -> TopicDelivery:
    """Queue the topic for every active group and collaborator of the target subtrees, as
    one broadcast whose progress `progress` sees."""
    # Scans and inserts that grow with the number of recipients (thousands of rows).
    paths = []
    for unit_id in unit_ids:
        unit = await people.get_unit(session=session, unit_id=unit_id)
        if unit is not None:
            paths.append(unit.path)
    groups = await people.groups_for_units(session=session, unit_paths=paths)
    members = await people.active_collaborators(session=session, unit_paths=paths)
    recipients = [
        Recipient(chat_id=group.chat_id, locale=default_locale, chat_group_id=group.id) for group in groups
    ] + [
        Recipient(
            chat_id=member.chat_id,
            locale=normalize_locale(member.locale, default_locale),
            person_id=member.person_id,
        )
        for member in members
    ]
    assert topic.id is not None
    broadcast = await delivery.start_broadcast(
        session, kind=kind, title=topic.title, created_by=created_by, progress=progress, topic_id=topic.id
    )
    await delivery.deliver(
        session,
        key=f"topic:{topic.id}",
        recipients=recipients,
        render=render,
        broadcast=broadcast,
        topic_id=topic.id,
    )
    assert broadcast.id is not None
    return TopicDelivery(broadcast_id=broadcast.id, groups=len(groups), people=len(members))


def direct_text(tz: ZoneInfo, topic: Topic) -> str:
    """The topic as sent to each collaborator in private."""
    period = f"{topic.period[5:7]}/{topic.period[:4]}"
    if text_only():  # Zalo: what to type comes with the choices
        return (
            _(
                "📢 <b>Guidance topic {period}</b>\n<b>{title}</b>\n\n{guidance}\n\n⏰ Reports due by {due}.\n{how}"
            )
            .format(
                period=period,
                title=escape(topic.title),
                guidance=escape(topic.guidance),
                due=format_date(topic.due_at, tz),
                how="",
            )
            .rstrip()
        )
    return _(
        "📢 <b>Guidance topic {period}</b>\n<b>{title}</b>\n\n{guidance}\n\n"
        "⏰ Reports due by {due}.\nPress the button below to send your report."
    ).format(
        period=period,
        title=escape(topic.title),
        guidance=escape(topic.guidance),
        due=format_date(topic.due_at, tz),
    )


def describe_topic(topic: Topic, form: FormDefinition) -> str:
    return f"{escape(topic.title)} — {escape(text_for(form.title, current_locale()))}"

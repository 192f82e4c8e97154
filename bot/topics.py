"""Monthly topics: the staff wizard, the preview, and publishing into the target groups."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from aiogram.exceptions import TelegramAPIError
from aiogram.utils.i18n import gettext as _

from bot.access import Actor, Permission
from bot.clock import end_of_day, format_date
from bot.conversation import Conversations, Outcome, Services, WizardPurpose
from bot.forms import FormDefinition, text_for
from bot.i18n import in_locale, localized
from bot.onboarding import units_in_scope
from bot.ui import Screen, current_locale, deep_link, escape, fit, url_keyboard
from storage import audit, people, topics
from storage.models import Draft, Topic, TopicKind, TopicPost, TopicStatus, Unit

log = logging.getLogger(__name__)

TOPIC_SLOT = "topic"
REPORT_FORMS = ("monthly_opinion", "incident")
GUIDANCE_MAX = 3000


def report_payload(topic_id: int) -> str:
    return f"report_{topic_id}"


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
                {
                    "key": "target_mode",
                    "type": "choice",
                    "label": localized(i18n, "Which units receive the topic?"),
                    "options": [
                        {"value": "all", "label": localized(i18n, "All units in my scope")},
                        {"value": "chosen", "label": localized(i18n, "Let me choose")},
                    ],
                },
                {
                    "key": "targets",
                    "type": "multi_choice",
                    "label": localized(i18n, "Choose the target units"),
                    "show_if": {"question": "target_mode", "equals": "chosen"},
                    "options": [{"value": str(unit.id), "label": {"vi": unit.name}} for unit in units],
                },
                {
                    "key": "due",
                    "type": "date",
                    "allow_past": False,
                    "label": localized(i18n, "Due date for reports (dd/mm/yyyy)"),
                },
            ],
        }
    )


async def open_topic_wizard(services: Services, conversations: Conversations, *, actor: Actor) -> Outcome:
    units = await units_in_scope(services.session, actor, Permission.PUBLISH_TOPIC)
    if not units:
        return Outcome(alert=_("There is no unit in your scope yet. Import units with `dlxh units import`."))
    assert actor.person is not None and actor.person.id is not None
    return await conversations.start(
        services, person_id=actor.person.id, slot=TOPIC_SLOT, definition=topic_form(services, units)
    )


@dataclass(frozen=True)
class TopicPlan:
    title: str
    guidance: str
    form_key: str
    unit_ids: list[int]
    due: date


def plan_from_answers(answers: dict[str, Any], scope_units: list[Unit]) -> TopicPlan:
    if answers.get("target_mode") == "chosen":
        unit_ids = [int(value) for value in answers.get("targets", [])]
    else:
        unit_ids = [unit.id for unit in _top_units(scope_units) if unit.id is not None]
    return TopicPlan(
        title=str(answers["title"]),
        guidance=str(answers["guidance"]),
        form_key=str(answers["form"]),
        unit_ids=unit_ids,
        due=date.fromisoformat(str(answers["due"])),
    )


def _top_units(units: list[Unit]) -> list[Unit]:
    """The roots of a set of subtrees: targeting them covers everything below."""
    tops: list[Unit] = []
    for unit in sorted(units, key=lambda u: len(u.path)):
        if not any(unit.path.startswith(top.path) for top in tops):
            tops.append(unit)
    return tops


def post_text(services: Services, topic: Topic) -> str:
    """The topic as posted into groups (in the locale of the current context)."""
    period = f"{topic.period[5:7]}/{topic.period[:4]}"
    return fit(
        _(
            "📢 <b>Guidance topic {period}</b>\n<b>{title}</b>\n\n{guidance}\n\n"
            "⏰ Reports due by {due}.\n"
            "Reply to this message to share opinions quickly, or press the button for the full report."
        ).format(
            period=period,
            title=escape(topic.title),
            guidance=escape(topic.guidance),
            due=format_date(topic.due_at, services.tz),
        )
    )


def report_button_text() -> str:
    return _("📝 Send report")


class TopicPurpose(WizardPurpose):
    name = TOPIC_SLOT

    def intro(self, services: Services, draft: Draft, form: FormDefinition) -> str | None:
        return _("Let's prepare this month's topic. You will see a preview before anything is published.")

    def review(self, services: Services, draft: Draft, form: FormDefinition) -> tuple[str, str, str | None]:
        return (
            _("Preview before publishing"),
            _("📢 Publish"),
            _("Collaborators will see the topic in their groups with a button to report."),
        )

    async def complete(
        self, services: Services, actor: Actor, draft: Draft, answers: dict[str, Any]
    ) -> Outcome:
        session, now = services.session, services.clock.now()
        scope = await units_in_scope(session, actor, Permission.PUBLISH_TOPIC)
        plan = plan_from_answers(answers, scope)
        allowed = {unit.id for unit in scope}
        if not plan.unit_ids or not set(plan.unit_ids) <= allowed:
            return Outcome(alert=_("That unit is outside your scope."))
        due_at = end_of_day(plan.due, services.tz)
        if due_at <= now:
            return Outcome(alert=_("The date cannot be in the past."))
        assert actor.person is not None
        topic = Topic(
            kind=TopicKind.MONTHLY,
            title=plan.title,
            guidance=plan.guidance,
            form_id=services.forms.form_id(plan.form_key),
            period=plan.due.strftime("%Y-%m"),
            due_at=due_at,
            status=TopicStatus.PUBLISHED,
            created_by=actor.person.id,
            published_at=now,
        )
        await topics.add_topic(session=session, topic=topic, target_unit_ids=plan.unit_ids)
        posted, failed = await publish_to_groups(services, topic, plan.unit_ids)
        await audit.record(
            session=session,
            action="topic.publish",
            actor_id=actor.person.id,
            details={"topic_id": topic.id, "units": plan.unit_ids, "groups": posted, "failed": failed},
        )
        lines = [
            _("📢 Topic No. {number} “{title}” is published.").format(
                number=topic.id, title=escape(topic.title)
            ),
            _("Posted in {count} group(s).").format(count=len(posted)),
        ]
        if failed:
            lines.append(_("Could not post in: {groups}").format(groups=escape(", ".join(failed))))
        if not posted:
            lines.append(
                _(
                    "No registered group in the target units yet: add the bot to a group and send /setup there."
                )
            )
        return Outcome(screen=Screen(text="\n".join(lines)), finished=True)


async def publish_to_groups(
    services: Services, topic: Topic, unit_ids: list[int]
) -> tuple[list[str], list[str]]:
    """Post the topic into every active group of the target subtrees; returns (posted, failed) titles."""
    session = services.session
    paths = []
    for unit_id in unit_ids:
        unit = await people.get_unit(session=session, unit_id=unit_id)
        if unit is not None:
            paths.append(unit.path)
    assert topic.id is not None
    posted: list[str] = []
    failed: list[str] = []
    with in_locale(services.i18n, services.settings.default_locale):
        text = post_text(services, topic)
        markup = url_keyboard(
            report_button_text(), deep_link(services.bot_username, report_payload(topic.id))
        )
    for group in await people.groups_for_units(session=session, unit_paths=paths):
        assert group.id is not None
        try:
            message = await services.bot.send_message(group.telegram_chat_id, text, reply_markup=markup)
        except TelegramAPIError as error:
            log.warning("could not post topic %s in chat %s: %s", topic.id, group.telegram_chat_id, error)
            failed.append(group.title)
            continue
        await topics.add_post(
            session=session,
            post=TopicPost(
                topic_id=topic.id,
                chat_group_id=group.id,
                telegram_chat_id=group.telegram_chat_id,
                message_id=message.message_id,
            ),
        )
        posted.append(group.title)
    return posted, failed


def describe_topic(topic: Topic, form: FormDefinition) -> str:
    return f"{escape(topic.title)} — {escape(text_for(form.title, current_locale()))}"

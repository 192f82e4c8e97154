"""Staff managing their monthly topics (issue 20): /topics lists the scheduled, open and
recently closed ones; a scheduled topic's time can be changed or it can be called off, a
closed one reopened with a new due date, and a roll-call's silent collaborators reminded now."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.access import Actor, manages_topic, reaches_topic, topic_scope
from bot.clock import end_of_day, format_date, format_datetime, local_today
from bot.conversation import Conversations, Outcome, Services, WizardPurpose
from bot.forms import FormDefinition
from bot.i18n import localized
from bot.reminders import MANUAL_REMINDERS, ReminderPlan, remind_silent
from bot.tags import tag_of
from bot.topics import open_topic_wizard
from bot.ui import Choice, Screen, TopicButton, escape
from storage import audit, topics
from storage import jobs as job_store
from storage.models import Draft, Topic, TopicKind, TopicStatus

RESCHEDULE_SLOT = "reschedule"
REOPEN_SLOT = "reopen"
CLOSED_LISTED_FOR = timedelta(days=62)
# The claims of a topic's own-time jobs: a reopened topic is reminded, called and closed anew.
TOPIC_JOBS = ("due_reminders", "roll_calls", "close_topics", "closing_summaries")
MAX_CLAIM_TARGET = 64  # job_run.target's length


async def list_topics(services: Services, actor: Actor) -> Outcome:
    session, now, tz = services.session, services.clock.now(), services.tz
    paths = topic_scope(actor)
    if paths == []:
        return Outcome(alert=_("That unit is outside your scope."))
    sections = (
        (TopicStatus.SCHEDULED, now, _("🗓 <b>Scheduled</b>")),
        (TopicStatus.PUBLISHED, now, _("📢 <b>Open</b>")),
        (TopicStatus.CLOSED, now - CLOSED_LISTED_FOR, _("📕 <b>Closed</b>")),
    )
    lines = [_("🗂 <b>Monthly topics</b>")]
    buttons: list[list[Choice]] = []
    for status, due_after, heading in sections:
        found = await topics.topics_in_scope(
            session=session, unit_paths=paths, statuses=[status], due_after=due_after
        )
        if not found:
            continue
        lines += ["", heading]
        for topic in found:
            assert topic.id is not None
            number, title = tag_of(topic), escape(topic.title)
            due = format_date(topic.due_at, tz)
            if status == TopicStatus.SCHEDULED:
                assert topic.scheduled_for is not None
                lines.append(
                    _("No. {number} “{title}”: published at {when}, due {due}").format(
                        number=number, title=title, when=format_datetime(topic.scheduled_for, tz), due=due
                    )
                )
                buttons.append(
                    [
                        Choice(
                            label=_("🕘 Time of No. {number}").format(number=number),
                            data=TopicButton(topic=topic.id, action="time").pack(),
                        ),
                        Choice(
                            label=_("✖ Cancel No. {number}").format(number=number),
                            data=TopicButton(topic=topic.id, action="cancel").pack(),
                        ),
                    ]
                )
            elif status == TopicStatus.PUBLISHED:
                lines.append(
                    _("No. {number} “{title}”: due {due}").format(number=number, title=title, due=due)
                )
            else:
                lines.append(
                    _("No. {number} “{title}”: closed on {due}").format(number=number, title=title, due=due)
                )
                buttons.append(
                    [
                        Choice(
                            label=_("🔓 Reopen No. {number}").format(number=number),
                            data=TopicButton(topic=topic.id, action="reopen").pack(),
                        )
                    ]
                )
    if len(lines) == 1:
        return Outcome(
            screen=Screen(text=_("No scheduled, open or recently closed topic. /topic prepares one."))
        )
    return Outcome(screen=Screen(text="\n".join(lines), choices=buttons))


async def press(
    services: Services, conversations: Conversations, actor: Actor, button: TopicButton
) -> Outcome:
    """A button of /topics, of a roll-call or of the warning that a month has no topic."""
    if button.action == "new":
        return await open_topic_wizard(services, conversations, actor=actor)
    topic = await topics.get_topic(session=services.session, topic_id=button.topic)
    if topic is not None and topic.kind == TopicKind.MONTHLY and button.action == "remind":
        if await _reaches(services, actor, topic):
            return await remind_now(services, actor, topic)
        topic = None
    if topic is None or topic.kind != TopicKind.MONTHLY or not await _manages(services, actor, topic):
        return Outcome(alert=_("This topic is not yours to manage."))
    if button.action == "cancel":
        return await cancel_scheduled(services, actor, topic)
    wanted = TopicStatus.SCHEDULED if button.action == "time" else TopicStatus.CLOSED
    if topic.status != wanted:
        return Outcome(alert=changed_text(topic))
    assert actor.person is not None and actor.person.id is not None
    slot, definition = (
        (RESCHEDULE_SLOT, reschedule_form(services))
        if button.action == "time"
        else (REOPEN_SLOT, reopen_form(services))
    )
    return await conversations.start(
        services,
        person_id=actor.person.id,
        slot=f"{slot}:{topic.id}",
        definition=definition,
        context={"topic_id": topic.id},
    )


def changed_text(topic: Topic) -> str:
    return _("Topic No. {number} has changed meanwhile: send /topics again.").format(number=tag_of(topic))


async def _manages(services: Services, actor: Actor, topic: Topic) -> bool:
    assert topic.id is not None
    return manages_topic(actor, await topics.target_paths(session=services.session, topic_id=topic.id))


async def _reaches(services: Services, actor: Actor, topic: Topic) -> bool:
    assert topic.id is not None
    return reaches_topic(actor, await topics.target_paths(session=services.session, topic_id=topic.id))


async def cancel_scheduled(services: Services, actor: Actor, topic: Topic) -> Outcome:
    if not await topics.change_status(
        session=services.session, topic=topic, was=TopicStatus.SCHEDULED, becomes=TopicStatus.CANCELLED
    ):
        return Outcome(alert=changed_text(topic))
    assert actor.person is not None
    await audit.record(
        session=services.session,
        action="topic.cancel",
        actor_id=actor.person.id,
        details={"topic_id": topic.id},
    )
    return Outcome(
        screen=Screen(
            text=_("✖ Topic No. {number} “{title}” is cancelled: it will not be published.").format(
                number=tag_of(topic), title=escape(topic.title)
            )
        )
    )


async def remind_now(services: Services, actor: Actor, topic: Topic) -> Outcome:
    """The roll-call's button: the silent collaborators of the presser's scope, once a day."""
    now = services.clock.now()
    if topic.status != TopicStatus.PUBLISHED or topic.due_at <= now:
        return Outcome(alert=_("Topic No. {number} is closed.").format(number=tag_of(topic)))
    today = local_today(services.clock, services.tz)
    queued = await remind_by_hand(services, topic, occasion=f"now{today:%Y%m%d}", within=topic_scope(actor))
    if not queued:
        return Outcome(alert=_("Nobody to remind: everyone has sent the report or was reminded today."))
    assert actor.person is not None
    await audit.record(
        session=services.session,
        action="topic.remind",
        actor_id=actor.person.id,
        details={"topic_id": topic.id, "reminded": queued},
    )
    return Outcome(
        alert=ngettext(
            "🔔 {count} collaborator who has not sent the report is reminded.",
            "🔔 {count} collaborators who have not sent the report are reminded.",
            queued,
        ).format(count=queued)
    )


async def remind_by_hand(services: Services, topic: Topic, *, occasion: str, within: list[str] | None) -> int:
    """A reminder staff send (now, or on reopening): someone filling in a form is held back
    like for the scheduled ones, and the held_reminders job sends theirs after (it reads the
    claim made here)."""
    now = services.clock.now()
    scope = "" if within is None else ",".join(within)
    if len(scope) <= MAX_CLAIM_TARGET:  # (a scope of more subtrees than fit: no held part)
        await job_store.claim(
            session=services.session,
            job=MANUAL_REMINDERS,
            subject=f"{topic.id}|{occasion}",
            targets=[scope],
            now=now,
        )
    return await remind_silent(
        services.session, _plan(services), topic, occasion=occasion, now=now, due_at=now, within=within
    )


def _plan(services: Services) -> ReminderPlan:
    return ReminderPlan(
        delivery=services.delivery,
        forms=services.forms,
        default_locale=services.settings.default_locale,
        bot_username=services.bot_username,
        tz=services.tz,
    )


def reschedule_form(services: Services) -> FormDefinition:
    return FormDefinition.model_validate(
        {
            "key": "reschedule",
            "title": localized(services.i18n, "Change the publication time"),
            "questions": [
                {
                    "key": "publish_at",
                    "type": "deadline",
                    "label": localized(services.i18n, "New publication time (e.g. 08:00 01/01)"),
                    "short_label": localized(services.i18n, "Published at"),
                }
            ],
        }
    )


def reopen_form(services: Services) -> FormDefinition:
    return FormDefinition.model_validate(
        {
            "key": "reopen",
            "title": localized(services.i18n, "Reopen a topic"),
            "questions": [
                {
                    "key": "due",
                    "type": "date",
                    "allow_past": False,
                    "label": localized(services.i18n, "New due date for reports"),
                    "short_label": localized(services.i18n, "Due date for reports"),
                }
            ],
        }
    )


async def _topic_of(services: Services, actor: Actor, draft: Draft, status: str) -> Topic | None:
    topic = await topics.get_topic(session=services.session, topic_id=int(draft.context.get("topic_id") or 0))
    if topic is None or topic.status != status or not await _manages(services, actor, topic):
        return None
    return topic


class ReschedulePurpose(WizardPurpose):
    name = RESCHEDULE_SLOT

    def intro(self, services: Services, draft: Draft, form: FormDefinition) -> str | None:
        return None

    def review(self, services: Services, draft: Draft, form: FormDefinition) -> tuple[str, str, str | None]:
        return _("Check the new time"), _("🗓 Save"), None

    async def complete(
        self, services: Services, actor: Actor, draft: Draft, answers: dict[str, Any]
    ) -> Outcome:
        topic = await _topic_of(services, actor, draft, TopicStatus.SCHEDULED)
        if topic is None:
            return Outcome(screen=Screen(text=_("This topic is no longer scheduled.")), finished=True)
        at = datetime.fromisoformat(str(answers["publish_at"]))
        if at <= services.clock.now():
            return Outcome(alert=_("That publication time has passed: choose “Now” or a later time."))
        if at >= topic.due_at:
            return Outcome(alert=_("The topic would be published after its due date: change one of them."))
        before, topic.scheduled_for = topic.scheduled_for, at
        services.session.add(topic)
        assert actor.person is not None
        await audit.record(
            session=services.session,
            action="topic.reschedule",
            actor_id=actor.person.id,
            details={
                "topic_id": topic.id,
                "from": before.isoformat() if before else None,
                "to": at.isoformat(),
            },
        )
        return Outcome(
            screen=Screen(
                text=_("🗓 Topic No. {number} “{title}” will now be published at {when}.").format(
                    number=tag_of(topic), title=escape(topic.title), when=format_datetime(at, services.tz)
                )
            ),
            finished=True,
        )


class ReopenPurpose(WizardPurpose):
    name = REOPEN_SLOT

    def intro(self, services: Services, draft: Draft, form: FormDefinition) -> str | None:
        return None

    def review(self, services: Services, draft: Draft, form: FormDefinition) -> tuple[str, str, str | None]:
        return (
            _("Check before reopening"),
            _("🔓 Reopen"),
            _("Collaborators who have not sent the report will be reminded."),
        )

    async def complete(
        self, services: Services, actor: Actor, draft: Draft, answers: dict[str, Any]
    ) -> Outcome:
        topic = await _topic_of(services, actor, draft, TopicStatus.CLOSED)
        if topic is None:
            return Outcome(screen=Screen(text=_("This topic is no longer closed.")), finished=True)
        now = services.clock.now()
        due_at = end_of_day(date.fromisoformat(str(answers["due"])), services.tz)
        if due_at <= now:
            return Outcome(alert=_("The date cannot be in the past."))
        assert topic.id is not None and actor.person is not None
        before = topic.due_at
        if not await topics.change_status(
            session=services.session,
            topic=topic,
            was=TopicStatus.CLOSED,
            becomes=TopicStatus.PUBLISHED,
            due_at=due_at,
        ):
            return Outcome(screen=Screen(text=_("This topic is no longer closed.")), finished=True)
        await job_store.release(session=services.session, jobs=TOPIC_JOBS, subject=str(topic.id))
        reminded = await remind_by_hand(services, topic, occasion=f"reopen{due_at:%Y%m%d}", within=None)
        await audit.record(
            session=services.session,
            action="topic.reopen",
            actor_id=actor.person.id,
            details={"topic_id": topic.id, "from": before.isoformat(), "to": due_at.isoformat()},
        )
        return Outcome(
            screen=Screen(
                text=_("🔓 Topic No. {number} “{title}” is open again until {due}.").format(
                    number=tag_of(topic), title=escape(topic.title), due=format_date(due_at, services.tz)
                )
                + "\n"
                + ngettext(
                    "{count} collaborator who has not sent the report is reminded.",
                    "{count} collaborators who have not sent the report are reminded.",
                    reminded,
                ).format(count=reminded)
            ),
            finished=True,
        )

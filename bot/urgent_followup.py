"""An urgent matter after it is sent (issue 20): the silent get it once more part of the way
to its deadline, the staff get its status at the deadline, and a unit still below the
response threshold then is named to the staff of the unit above. The scheduler calls these
(schedules/jobs.py, claimed once per matter); they only queue outbox rows, in the caller's
transaction.

The re-push does not wait for people filling in a form (bot/reminders.py's
HOLD_WHILE_FILLING): an urgent deadline is hours away, so half an hour's hold is a large
share of what is left, and the message asks for one word or press, which does not disturb a
form (it reads the person's next answer; "1" is taken by the form, not as ✅).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import format_datetime
from bot.delivery.service import Outgoing, Recipient
from bot.reminders import ReminderPlan, time_left
from bot.tags import tag_of
from bot.ui import escape
from bot.urgent import UrgentStatus, load_status, status_text, urgent_choices, urgent_text
from storage import people, topics
from storage.models import PersonStatus, Reachability, Role, Topic, Unit


def repush_at(topic: Topic, fraction: float) -> datetime | None:
    """When the silent get the matter again: `fraction` of the way from sending to the deadline."""
    if topic.published_at is None:
        return None
    return topic.published_at + (topic.due_at - topic.published_at) * fraction


async def repush(session: AsyncSession, plan: ReminderPlan, topic: Topic, *, now: datetime) -> int:
    """The matter once more, in private, to each target collaborator who has neither
    confirmed nor reported (active and reachable), with the same ✅ / 📝 (on Zalo, the same
    words to type); how many were queued. It goes as an "urgent" delivery of the matter, so
    that "đã nhận" typed on Zalo confirms this matter, and the sender finds it in /broadcasts."""
    assert topic.id is not None
    paths = await topics.target_paths(session=session, topic_id=topic.id)
    silent = await topics.unconfirmed(session=session, topic_id=topic.id, unit_paths=paths)
    if not silent:
        return 0
    broadcast = await plan.delivery.start_broadcast(
        session,
        kind="urgent",
        title="🔁 " + topic.title,
        created_by=topic.created_by,
        progress=None,
        topic_id=topic.id,
    )
    left = topic.due_at - now

    def render(recipient: Recipient) -> Outgoing:
        return Outgoing(
            text=repush_text(topic, left=left, plan=plan),
            photo=topic.photo_file_id,
            choices=urgent_choices(plan.bot_username, topic),
        )

    recipients = [plan.to_person(person) for person in silent]
    return await plan.delivery.deliver(
        session,
        key=f"urgent-repush:{topic.id}",
        recipients=recipients,
        render=render,
        broadcast=broadcast,
        topic_id=topic.id,
    )


def repush_text(topic: Topic, *, left: timedelta, plan: ReminderPlan) -> str:
    reminder = _(
        "🔔 <b>Reminder</b>: you have not confirmed this urgent matter yet; {left} left until its deadline."
    ).format(left=_left(left))
    return f"{reminder}\n\n{urgent_text(topic, plan.tz, in_group=False)}"


def _left(left: timedelta) -> str:
    if left >= timedelta(hours=1):
        return time_left(left)
    minutes = max(1, int(left.total_seconds() // 60))
    return ngettext("{count} minute", "{count} minutes", minutes).format(count=minutes)


async def deadline_status(session: AsyncSession, plan: ReminderPlan, topic: Topic) -> int:
    """At the deadline: the staff of each target unit get the matter's status for that unit's
    subtree (one message, however many target units they hold), and its sender for all of
    them, as /urgent_status shows it; how many were queued."""
    assert topic.id is not None
    targets = await _units(session, await topics.target_unit_ids(session=session, topic_id=topic.id))
    scopes: dict[int, set[str]] = {}
    recipients: dict[int, Recipient] = {}
    staff = await people.readers_of_units(session=session, unit_ids=list(targets), roles=(Role.STAFF,))
    for member, unit_id in staff:
        scopes.setdefault(member.chat_id, set()).add(targets[unit_id].path)
        recipients[member.chat_id] = plan.to_member(member)
    sender = (
        await people.get_person(session=session, person_id=topic.created_by) if topic.created_by else None
    )
    if (
        sender is not None
        and sender.status == PersonStatus.ACTIVE
        and sender.reachability == Reachability.ACTIVE
    ):  # they sent it to units in their scope: all of it
        scopes.setdefault(sender.chat_id, set()).update(unit.path for unit in targets.values())
        recipients[sender.chat_id] = plan.to_person(sender)
    if not recipients:
        return 0
    statuses: dict[frozenset[str], UrgentStatus] = {}
    for paths in {frozenset(paths) for paths in scopes.values()}:
        statuses[paths] = await load_status(session, topic, sorted(paths))

    def render(recipient: Recipient) -> Outgoing:
        heading = _("⏰ The deadline of urgent matter No. {number} has come. Where it stands:").format(
            number=tag_of(topic)
        )
        status = statuses[frozenset(scopes[recipient.chat_id])]
        return Outgoing(text=f"{heading}\n\n{status_text(topic, status, plan.tz)}")

    return await plan.delivery.deliver(
        session,
        key=f"urgent-deadline:{topic.id}",
        recipients=recipients.values(),
        render=render,
        personal=True,
    )


async def escalate(session: AsyncSession, plan: ReminderPlan, topic: Topic, *, threshold: int) -> int:
    """At the deadline, each target unit whose collaborators have confirmed (or reported) less
    than `threshold` percent is named to the staff of its parent unit: one message to each,
    listing all its units behind. A top unit, with no parent, is named to its own leaders
    (its staff already have the status). A unit with no active collaborator is never
    behind. How many were queued."""
    assert topic.id is not None
    behind = [
        rate
        for rate in await topics.target_rates(session=session, topic_id=topic.id)
        if rate.members and rate.responded * 100 < threshold * rate.members
    ]
    if not behind:
        return 0
    units = await _units(session, [rate.unit_id for rate in behind])
    lines: dict[int, list[topics.TargetRate]] = {}  # chat → its units behind
    recipients: dict[int, Recipient] = {}
    staff: set[int] = set()  # who can open /urgent_status (not leaders)
    for rate in behind:
        unit = units[rate.unit_id]
        if unit.parent_id is not None:
            readers = await people.staff_of_units(session=session, unit_ids=[unit.parent_id])
        else:
            readers = [
                member
                for member, _unit in await people.readers_of_units(
                    session=session, unit_ids=[rate.unit_id], roles=(Role.LEADER,)
                )
            ]
        for member in readers:
            lines.setdefault(member.chat_id, []).append(rate)
            if unit.parent_id is not None:
                staff.add(member.chat_id)
            recipients[member.chat_id] = plan.to_member(member)

    def render(recipient: Recipient) -> Outgoing:
        text = [
            _(
                "⚠️ <b>Urgent matter No. {number}</b> “{title}”: at its deadline, {deadline}, these units "
                "were below {threshold}% (of their collaborators, those who confirmed or reported):"
            ).format(
                number=tag_of(topic),
                title=escape(topic.title),
                deadline=format_datetime(topic.due_at, plan.tz),
                threshold=threshold,
            )
        ]
        for rate in lines[recipient.chat_id]:
            text.append(
                _("• <b>{unit}</b>: {percent}% ({responded} of {members})").format(
                    unit=escape(units[rate.unit_id].name),
                    percent=rate.responded * 100 // rate.members,
                    responded=rate.responded,
                    members=rate.members,
                )
            )
        if recipient.chat_id in staff:
            text.append(_("/urgent_status {number} shows who has not answered.").format(number=tag_of(topic)))
        return Outgoing(text="\n".join(text))

    return await plan.delivery.deliver(
        session,
        key=f"urgent-escalation:{topic.id}",
        recipients=recipients.values(),
        render=render,
        personal=True,
    )


async def _units(session: AsyncSession, unit_ids: list[int]) -> dict[int, Unit]:
    found = {}
    for unit_id in unit_ids:
        unit = await people.get_unit(session=session, unit_id=unit_id)
        if unit is not None and unit.id is not None:
            found[unit.id] = unit
    return found

"""A monthly topic's cycle as the scheduler runs it (issue 20): a scheduled topic published
at its time, staff told of a coming month without a topic, the roll-call before the due
time, and leaders told of the units behind at it. Each only queues through the delivery
engine, in the caller's (the job's) transaction."""

from __future__ import annotations

import zlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import format_date, format_datetime
from bot.delivery.service import Outgoing, ProgressTarget, Recipient
from bot.i18n import normalize_locale
from bot.reminders import ReminderPlan, time_left
from bot.tags import tag_of
from bot.topics import delivery_summary, publish_topic
from bot.ui import Choice, TopicButton, escape, text_only
from storage import jobs as job_store
from storage import people, topics
from storage.models import Role, Topic, TopicStatus, Unit
from storage.people import Member


async def publish_due(session: AsyncSession, plan: ReminderPlan, topic: Topic, *, now: datetime) -> bool:
    """Publish a scheduled topic whose time has come, as /topic's "Now" does, and tell whoever
    scheduled it. One whose due date passed while the bot was down is called off instead.
    True if published."""
    assert topic.id is not None and topic.scheduled_for is not None
    creator = (
        await people.get_person(session=session, person_id=topic.created_by) if topic.created_by else None
    )
    locale = normalize_locale(creator.locale if creator else None, plan.default_locale)
    scheduled_for = topic.scheduled_for
    if topic.due_at <= now:
        cancelled = await topics.change_status(
            session=session, topic=topic, was=TopicStatus.SCHEDULED, becomes=TopicStatus.CANCELLED
        )
        if cancelled and creator is not None:
            await plan.delivery.deliver(
                session,
                key=f"unpublished:{topic.id}",
                recipients=[Recipient(chat_id=creator.chat_id, locale=locale, person_id=creator.id)],
                render=lambda _recipient: Outgoing(
                    text=_(
                        "🗓 Topic No. {number} “{title}” was to be published at {when}, but the bot was not "
                        "running then and its due date has passed: it was not published. Create it again with /topic."
                    ).format(
                        number=tag_of(topic),
                        title=escape(topic.title),
                        when=format_datetime(scheduled_for, plan.tz),
                    )
                ),
            )
        return False
    if not await topics.change_status(
        session=session,
        topic=topic,
        was=TopicStatus.SCHEDULED,
        becomes=TopicStatus.PUBLISHED,
        published_at=now,
    ):
        return False  # cancelled meanwhile
    unit_ids = await topics.target_unit_ids(session=session, topic_id=topic.id)
    # The progress is shown to whoever scheduled it (a forgotten creator: nobody, in a chat 0
    # that the sender drops as unreachable).
    progress = ProgressTarget(chat_id=creator.chat_id if creator else 0, locale=locale)
    delivery = await publish_topic(
        session,
        plan.delivery,
        topic,
        unit_ids,
        bot_username=plan.bot_username,
        default_locale=plan.default_locale,
        tz=plan.tz,
        progress=progress,
    )
    if creator is not None:
        await plan.delivery.deliver(
            session,
            key=f"published:{topic.id}",
            recipients=[Recipient(chat_id=creator.chat_id, locale=locale, person_id=creator.id)],
            render=lambda _recipient: Outgoing(
                text=_("🗓 Topic No. {number} “{title}”, scheduled for {when}, is published.").format(
                    number=tag_of(topic),
                    title=escape(topic.title),
                    when=format_datetime(scheduled_for, plan.tz),
                )
                + "\n"
                + delivery_summary(delivery)
            ),
        )
    return True


def coming_month(today: date, days_before: int) -> date | None:
    """The first day of the next month if it starts within `days_before` days, else None."""
    first = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    return first if (first - today).days <= days_before else None


async def warn_missing_topics(
    session: AsyncSession, plan: ReminderPlan, *, today: date, days_before: int, now: datetime
) -> int:
    """Staff of each unit that has no topic (scheduled, open or closed) for the coming month
    (`covered_units`) are told once, with a button to create one. How many were told."""
    first = coming_month(today, days_before)
    if first is None:
        return 0
    period = first.strftime("%Y-%m")
    covered = await topics.covered_paths(session=session, period=period)
    units = {unit.id: unit for unit in await people.list_units(session=session)}
    staff = await people.readers_of_units(
        session=session, unit_ids=[uid for uid in units if uid is not None], roles=[Role.STAFF]
    )
    has_topic = covered_units(units, covered)
    missing = {unit_id for _member, unit_id in staff if unit_id not in has_topic}
    claimed = await job_store.claim(
        session=session,
        job="topic_warning",
        subject=period,
        targets=[str(uid) for uid in sorted(missing)],
        now=now,
    )
    units_of: dict[int, list[Unit]] = defaultdict(list)
    members: dict[int, Member] = {}
    for member, unit_id in staff:
        if str(unit_id) in claimed:
            units_of[member.chat_id].append(units[unit_id])
            members[member.chat_id] = member
    if not units_of:
        return 0

    def render(recipient: Recipient) -> Outgoing:
        names = ", ".join(unit.name for unit in units_of[recipient.chat_id])
        text = _(
            "🗓 There is no topic for {month} yet for {units}. The month starts on {first}: "
            "prepare it now and schedule it for the 1st."
        ).format(month=first.strftime("%m/%Y"), units=escape(names), first=format_date(first, plan.tz))
        if text_only():  # Zalo: a push names what to type
            return Outgoing(text=text + "\n" + _("To prepare it, send /topic."))
        return Outgoing(
            text=text,
            choices=[
                [Choice(label=_("📝 Create the topic"), data=TopicButton(topic=0, action="new").pack())]
            ],
        )

    # One message per person naming their units; keyed by those units, so a unit found
    # without a topic on a later day is told of too.
    by_units: dict[str, list[Recipient]] = defaultdict(list)
    for chat_id, member in members.items():
        ids = "-".join(str(unit.id) for unit in sorted(units_of[chat_id], key=lambda unit: unit.id or 0))
        by_units[f"{zlib.crc32(ids.encode()):08x}"].append(plan.to_member(member))
    told = 0
    for units_key, recipients in by_units.items():
        told += await plan.delivery.deliver(
            session, key=f"no-topic:{period}:{units_key}", recipients=recipients, render=render, personal=True
        )
    return told


def covered_units(units: dict[int | None, Unit], targeted: list[str]) -> set[int]:
    """The units that have a topic: one of their own or of a unit above them, or every unit
    just below them has one (a province's staff may publish to each district apart)."""
    covered = {
        uid
        for uid, unit in units.items()
        if uid is not None and any(unit.path.startswith(p) for p in targeted)
    }
    children: dict[int, list[int]] = defaultdict(list)
    for uid, unit in units.items():
        if uid is not None and unit.parent_id is not None:
            children[unit.parent_id].append(uid)
    for uid, _unit in sorted(units.items(), key=lambda item: -len(item[1].path)):  # lowest first
        if uid is not None and children.get(uid) and all(child in covered for child in children[uid]):
            covered.add(uid)
    return covered


@dataclass(frozen=True)
class UnitCount:
    unit: Unit
    answered: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.answered / self.total) if self.total else 100


@dataclass
class RollCall:
    """What one staffed unit's staff see: their own collaborators by name (those not under a
    lower unit with staff of its own), and the lower staffed units in figures."""

    unit: Unit
    names: dict[int, tuple[list[str], list[str]]]  # unit id → (answered, not yet)
    lower: list[UnitCount]
    answered: int = 0  # in the whole subtree
    total: int = 0

    @property
    def silent(self) -> int:
        return self.total - self.answered


async def roll_calls(session: AsyncSession, topic: Topic) -> list[tuple[RollCall, list[Member]]]:
    """Each unit with staff at or above the topic's units: its roll-call and its staff."""
    assert topic.id is not None
    paths = await topics.target_paths(session=session, topic_id=topic.id)
    units = await _units_around(session, paths)
    staff = await people.readers_of_units(session=session, unit_ids=list(units), roles=[Role.STAFF])
    staffed = sorted({unit_id for _member, unit_id in staff}, key=lambda uid: len(units[uid].path))
    members = await people.active_collaborators(session=session, unit_paths=paths)
    answered = await topics.reported_people(session=session, topic_id=topic.id)
    calls = {unit_id: RollCall(unit=units[unit_id], names={}, lower=[]) for unit_id in staffed}
    for member in members:
        path = units[member.unit_id].path if member.unit_id in units else ""
        holders = [uid for uid in staffed if path.startswith(units[uid].path)]
        if not holders:
            continue
        done = member.person_id in answered
        owner = holders[-1]  # the lowest unit with staff above the collaborator
        yes, no = calls[owner].names.setdefault(member.unit_id, ([], []))
        (yes if done else no).append(member.full_name)
        for uid in holders:
            calls[uid].answered += int(done)
            calls[uid].total += 1
    for uid in staffed:
        above = [other for other in staffed if other != uid and units[uid].path.startswith(units[other].path)]
        if above:
            calls[above[-1]].lower.append(UnitCount(units[uid], calls[uid].answered, calls[uid].total))
    by_unit: dict[int, list[Member]] = defaultdict(list)
    for member, unit_id in staff:
        by_unit[unit_id].append(member)
    return [(calls[uid], by_unit[uid]) for uid in staffed if calls[uid].total]


async def send_roll_calls(session: AsyncSession, plan: ReminderPlan, topic: Topic, *, now: datetime) -> int:
    """The roll-call of each staffed unit to its staff, with a button to remind the silent
    ones now; how many messages were queued."""
    queued = 0
    for call, staff in await roll_calls(session, topic):

        def render(recipient: Recipient, call: RollCall = call) -> Outgoing:
            return roll_call_message(topic, call, left=topic.due_at - now, plan=plan)

        recipients = [plan.to_member(member) for member in staff]
        queued += await plan.delivery.deliver(
            session,
            key=f"rollcall:{topic.id}:{topic.due_at:%Y%m%d}:{call.unit.id}",
            recipients=recipients,
            render=render,
            personal=True,
        )
    return queued


def roll_call_message(topic: Topic, call: RollCall, *, left: timedelta, plan: ReminderPlan) -> Outgoing:
    lines = [
        _("📋 <b>Roll-call</b>: topic No. {number} “{title}”, due {due} ({left} left)").format(
            number=tag_of(topic),
            title=escape(topic.title),
            due=format_datetime(topic.due_at, plan.tz),
            left=time_left(left),
        ),
        _("<b>{unit}</b>: {answered} of {total} collaborators have sent the report.").format(
            unit=escape(call.unit.name), answered=call.answered, total=call.total
        ),
    ]
    for unit_id in sorted(call.names, key=lambda uid: (uid != call.unit.id, uid)):
        yes, no = call.names[unit_id]
        if len(call.names) > 1 or unit_id != call.unit.id:
            lines.append("")
        if yes:
            lines.append(_("✅ Sent: {names}").format(names=escape(", ".join(yes))))
        if no:
            lines.append(_("⏳ Not yet: {names}").format(names=escape(", ".join(no))))
    if call.lower:
        lines.append("")
        lines.append(_("Units with staff of their own (who have the names):"))
        for count in sorted(call.lower, key=lambda c: (c.percent, c.unit.name)):
            lines.append(
                _("• {unit}: {answered}/{total} ({percent}%)").format(
                    unit=escape(count.unit.name),
                    answered=count.answered,
                    total=count.total,
                    percent=count.percent,
                )
            )
    choices: list[list[Choice]] = []
    if call.silent and text_only():  # Zalo: a push names what to type
        lines += ["", _("To remind them now, answer “nhắc {number}”.").format(number=tag_of(topic))]
    elif call.silent:
        label = ngettext(
            "🔔 Remind the {count} who has not sent it, now",
            "🔔 Remind the {count} who have not sent it, now",
            call.silent,
        ).format(count=call.silent)
        choices.append([Choice(label=label, data=TopicButton(topic=topic.id or 0, action="remind").pack())])
    return Outgoing(text="\n".join(lines), choices=choices)


async def behind_alerts(session: AsyncSession, plan: ReminderPlan, topic: Topic, *, threshold: int) -> int:
    """At the due time: the leader of each unit whose response rate is below the threshold
    gets one line naming the units behind (those of its subtree below the threshold)."""
    assert topic.id is not None
    paths = await topics.target_paths(session=session, topic_id=topic.id)
    units = await _units_around(session, paths)
    leaders = await people.readers_of_units(session=session, unit_ids=list(units), roles=[Role.LEADER])
    if not leaders:
        return 0
    members = await people.active_collaborators(session=session, unit_paths=paths)
    answered = await topics.reported_people(session=session, topic_id=topic.id)
    own: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # unit → answered, total (its own people)
    for member in members:
        own[member.unit_id][0] += int(member.person_id in answered)
        own[member.unit_id][1] += 1
    counts = [UnitCount(units[uid], yes, total) for uid, (yes, total) in own.items() if uid in units]
    lines: dict[int, tuple[UnitCount, list[UnitCount]]] = {}
    for _member, unit_id in leaders:
        unit = units[unit_id]
        inside = [count for count in counts if count.unit.path.startswith(unit.path)]
        whole = UnitCount(unit, sum(c.answered for c in inside), sum(c.total for c in inside))
        if whole.total and whole.percent < threshold:
            behind = sorted(
                (c for c in inside if c.percent < threshold), key=lambda c: (c.percent, c.unit.name)
            )
            lines[unit_id] = (whole, behind)
    if not lines:
        return 0

    def render(recipient: Recipient, unit_id: int) -> Outgoing:
        whole, behind = lines[unit_id]
        shown = ", ".join(f"{escape(c.unit.name)} ({c.percent}%)" for c in behind[:15])
        if len(behind) > 15:
            shown += " " + _("and {count} more").format(count=len(behind) - 15)
        return Outgoing(
            text=_(
                "⚠️ Topic No. {number} “{title}” is due: the collaborators of {unit} who sent the report are "
                "{percent}%, below {threshold}%. Units behind: {units}."
            ).format(
                number=tag_of(topic),
                title=escape(topic.title),
                percent=whole.percent,
                unit=escape(whole.unit.name),
                threshold=threshold,
                units=shown,
            )
        )

    queued = 0
    for unit_id in lines:  # a leader of two units behind hears of each
        recipients = [plan.to_member(member) for member, leader_unit in leaders if leader_unit == unit_id]
        queued += await plan.delivery.deliver(
            session,
            key=f"behind:{topic.id}:{topic.due_at:%Y%m%d}:{unit_id}",
            recipients=recipients,
            render=partial(render, unit_id=unit_id),
            personal=True,
        )
    return queued


async def _units_around(session: AsyncSession, paths: list[str]) -> dict[int, Unit]:
    """The units of these subtrees and every unit above them, by id."""
    found: dict[int, Unit] = {}
    for path in paths:
        for unit in await people.list_units(session=session, under_path=path):
            assert unit.id is not None
            found[unit.id] = unit
    above = {int(part) for path in paths for part in path.strip("/").split("/") if part} - set(found)
    for unit_id in above:
        parent = await people.get_unit(session=session, unit_id=unit_id)
        if parent is not None:
            found[unit_id] = parent
    return found

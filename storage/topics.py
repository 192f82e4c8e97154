"""Forms, topics, their targets and where they were posted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, case, cast, func, literal, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Acknowledgement,
    Broadcast,
    Form,
    JobRun,
    Outbox,
    Person,
    PersonRole,
    PersonStatus,
    Reachability,
    Report,
    ReportChannel,
    Role,
    Topic,
    TopicKind,
    TopicPost,
    TopicStatus,
    TopicTarget,
    Unit,
)


async def ensure_form(
    *, session: AsyncSession, key: str, version: int, title: str, definition: dict[str, Any]
) -> Form:
    """Store a form version once; an existing (key, version) is returned unchanged."""
    existing = (await session.exec(select(Form).where(Form.key == key, Form.version == version))).first()
    if existing is not None:
        return existing
    form = Form(key=key, version=version, title=title, definition=definition)
    session.add(form)
    await session.flush()
    return form


async def get_form(*, session: AsyncSession, form_id: int) -> Form | None:
    return await session.get(Form, form_id)


async def latest_form(*, session: AsyncSession, key: str) -> Form | None:
    return (
        await session.exec(select(Form).where(Form.key == key).order_by(col(Form.version).desc()))
    ).first()


async def add_topic(*, session: AsyncSession, topic: Topic, target_unit_ids: Sequence[int]) -> Topic:
    """Store a topic with the next number of its kind. Two staff publishing at the same
    moment on PostgreSQL may take the same number: the unique index refuses the second, and
    its update is handled again (the inbox retries it) with the next number."""
    latest = await session.exec(select(func.max(Topic.number)).where(Topic.kind == topic.kind))
    topic.number = (latest.one() or 0) + 1
    session.add(topic)
    await session.flush()
    assert topic.id is not None
    for unit_id in sorted(set(target_unit_ids)):
        session.add(TopicTarget(topic_id=topic.id, unit_id=unit_id))
    await session.flush()
    return topic


async def get_topic(*, session: AsyncSession, topic_id: int) -> Topic | None:
    return await session.get(Topic, topic_id)


async def get_by_number(*, session: AsyncSession, kind: str, number: int) -> Topic | None:
    statement = select(Topic).where(Topic.kind == kind, Topic.number == number)
    return (await session.exec(statement)).first()


async def numbers_of(*, session: AsyncSession, topic_ids: Sequence[int]) -> dict[int, Topic]:
    """Topics by id (to name them by their numbers)."""
    if not topic_ids:
        return {}
    rows = await session.exec(select(Topic).where(col(Topic.id).in_(set(topic_ids))))
    return {topic.id: topic for topic in rows.all() if topic.id is not None}


async def target_unit_ids(*, session: AsyncSession, topic_id: int) -> list[int]:
    statement = select(TopicTarget.unit_id).where(TopicTarget.topic_id == topic_id)
    return list((await session.exec(statement)).all())


async def topics_for_unit(
    *,
    session: AsyncSession,
    ancestor_unit_ids: Sequence[int],
    statuses: Sequence[str] = (TopicStatus.PUBLISHED,),
) -> Sequence[Topic]:
    """Topics addressed to a unit: a target is the unit itself or any unit above it."""
    statement = (
        select(Topic)
        .join(TopicTarget, col(TopicTarget.topic_id) == Topic.id)
        .where(col(TopicTarget.unit_id).in_(list(ancestor_unit_ids)), col(Topic.status).in_(list(statuses)))
        .distinct()
        .order_by(col(Topic.due_at))
    )
    return (await session.exec(statement)).all()


async def add_post(*, session: AsyncSession, post: TopicPost) -> TopicPost:
    session.add(post)
    return post


async def find_post(*, session: AsyncSession, chat_id: int, message_id: int) -> TopicPost | None:
    return (
        await session.exec(
            select(TopicPost).where(TopicPost.chat_id == chat_id, TopicPost.message_id == message_id)
        )
    ).first()


async def acknowledge(*, session: AsyncSession, topic_id: int, person_id: int, now: datetime) -> bool:
    """Record that a collaborator received an urgent matter; False if already recorded."""
    existing = (
        await session.exec(
            select(Acknowledgement.id).where(
                Acknowledgement.topic_id == topic_id, Acknowledgement.person_id == person_id
            )
        )
    ).first()
    if existing is not None:
        return False
    session.add(Acknowledgement(topic_id=topic_id, person_id=person_id, created_at=now))
    return True


async def acknowledged_by(*, session: AsyncSession, person_id: int, topic_ids: Sequence[int]) -> set[int]:
    """Which of these urgent matters the person has confirmed receiving."""
    if not topic_ids:
        return set()
    statement = select(Acknowledgement.topic_id).where(
        Acknowledgement.person_id == person_id, col(Acknowledgement.topic_id).in_(list(topic_ids))
    )
    return set((await session.exec(statement)).all())


@dataclass(frozen=True)
class UnitResponse:
    unit_name: str
    members: int
    acknowledged: int
    reported: int
    silent: int


def _response_columns(topic_id: int) -> tuple[Any, Any]:
    acked = (
        select(Acknowledgement.id)
        .where(Acknowledgement.topic_id == topic_id, Acknowledgement.person_id == Person.id)
        .exists()
    )
    reported = select(Report.id).where(Report.topic_id == topic_id, Report.person_id == Person.id).exists()
    return acked, reported


def _members_under(unit_paths: Sequence[str]) -> list[Any]:
    return [
        Person.status == PersonStatus.ACTIVE,
        or_(*[col(Unit.path).startswith(path) for path in unit_paths]),
        col(Person.id).in_(select(PersonRole.person_id).where(PersonRole.role == Role.COLLABORATOR)),
    ]


async def urgent_responses(
    *, session: AsyncSession, topic_id: int, unit_paths: Sequence[str]
) -> list[UnitResponse]:
    """Per unit of the given subtrees: collaborators, who acknowledged, who reported, who is silent."""
    if not unit_paths:
        return []
    acked, reported = _response_columns(topic_id)
    statement = (
        select(  # type: ignore[call-overload]  # sqlmodel types select() for up to 4 columns
            Unit.name,
            func.count(col(Person.id)),
            func.sum(case((acked, 1), else_=0)),
            func.sum(case((reported, 1), else_=0)),
            func.sum(case((or_(acked, reported), 0), else_=1)),
        )
        .select_from(Person)
        .join(Unit, col(Unit.id) == Person.unit_id)
        .where(*_members_under(unit_paths))
        .group_by(col(Unit.id), col(Unit.name), col(Unit.path))
        .order_by(col(Unit.path))
    )
    return [
        UnitResponse(
            unit_name=name,
            members=int(members),
            acknowledged=int(a or 0),
            reported=int(r or 0),
            silent=int(s or 0),
        )
        for name, members, a, r, s in (await session.exec(statement)).all()
    ]


async def silent_members(
    *, session: AsyncSession, topic_id: int, unit_paths: Sequence[str], limit: int = 200
) -> list[tuple[str, str]]:
    """(unit name, full name) of collaborators who neither acknowledged nor reported."""
    if not unit_paths:
        return []
    acked, reported = _response_columns(topic_id)
    statement = (
        select(Unit.name, Person.full_name)
        .select_from(Person)
        .join(Unit, col(Unit.id) == Person.unit_id)
        .where(*_members_under(unit_paths), ~acked, ~reported)
        .order_by(col(Unit.path), Person.full_name)
        .limit(limit)
    )
    return [(unit_name, name) for unit_name, name in (await session.exec(statement)).all()]


async def latest_urgent(*, session: AsyncSession, unit_paths: Sequence[str]) -> Topic | None:
    """The newest urgent matter aimed at or above any of the given subtrees."""
    if not unit_paths:
        return None
    overlaps = [
        or_(col(Unit.path).startswith(path), literal(path).startswith(col(Unit.path))) for path in unit_paths
    ]
    statement = (
        select(Topic)
        .join(TopicTarget, col(TopicTarget.topic_id) == Topic.id)
        .join(Unit, col(Unit.id) == TopicTarget.unit_id)
        .where(Topic.kind == TopicKind.URGENT, or_(*overlaps))
        .order_by(col(Topic.id).desc())
        .limit(1)
    )
    return (await session.exec(statement)).first()


async def target_paths(*, session: AsyncSession, topic_id: int) -> list[str]:
    statement = (
        select(Unit.path)
        .join(TopicTarget, col(TopicTarget.unit_id) == Unit.id)
        .where(TopicTarget.topic_id == topic_id)
    )
    return list((await session.exec(statement)).all())


async def post_in_chat(*, session: AsyncSession, chat_id: int, topic_id: int) -> TopicPost | None:
    """The latest post of a topic in a group (on Zalo, a tag #N names the topic, not a message)."""
    statement = (
        select(TopicPost)
        .where(TopicPost.chat_id == chat_id, TopicPost.topic_id == topic_id)
        .order_by(col(TopicPost.id).desc())
        .limit(1)
    )
    return (await session.exec(statement)).first()


async def urgent_sent_to(*, session: AsyncSession, person_id: int, unacknowledged: bool) -> int | None:
    """The urgent matter most recently sent to this person (that they have not confirmed)."""
    statement = (
        select(Broadcast.topic_id)
        .join(Outbox, col(Outbox.broadcast_id) == Broadcast.id)
        .where(
            Outbox.person_id == person_id, Broadcast.kind == "urgent", col(Broadcast.topic_id).is_not(None)
        )
        .order_by(col(Outbox.id).desc())
        .limit(1)
    )
    if unacknowledged:
        acknowledged = select(Acknowledgement.topic_id).where(Acknowledgement.person_id == person_id)
        statement = statement.where(col(Broadcast.topic_id).not_in(acknowledged))
    return (await session.exec(statement)).first()


async def open_topics(
    *, session: AsyncSession, now: datetime, kind: str = TopicKind.MONTHLY
) -> Sequence[Topic]:
    """Published topics of a kind whose due time is still ahead."""
    statement = (
        select(Topic)
        .where(Topic.kind == kind, Topic.status == TopicStatus.PUBLISHED, col(Topic.due_at) > now)
        .order_by(col(Topic.due_at), col(Topic.id))
    )
    return (await session.exec(statement)).all()


async def unanswered(*, session: AsyncSession, topic_id: int, unit_paths: Sequence[str]) -> Sequence[Person]:
    """Active collaborators of the topic's units who can be reached and have sent no report
    on it (a quick opinion in a group does not count: the topic asks for the report)."""
    if not unit_paths:
        return []
    reported = (
        select(Report.id)
        .where(
            Report.topic_id == topic_id,
            Report.person_id == Person.id,
            Report.channel == ReportChannel.PRIVATE,
        )
        .exists()
    )
    statement = (
        select(Person)
        .join(Unit, col(Unit.id) == Person.unit_id)
        .where(*_members_under(unit_paths), Person.reachability == Reachability.ACTIVE, ~reported)
        .order_by(col(Person.id))
    )
    return (await session.exec(statement)).all()


async def past_due(*, session: AsyncSession, now: datetime, kind: str = TopicKind.MONTHLY) -> Sequence[Topic]:
    """Published topics whose due time has passed: to be closed."""
    statement = (
        select(Topic)
        .where(Topic.kind == kind, Topic.status == TopicStatus.PUBLISHED, col(Topic.due_at) <= now)
        .order_by(col(Topic.due_at), col(Topic.id))
    )
    return (await session.exec(statement)).all()


async def scheduled_due(*, session: AsyncSession, now: datetime) -> Sequence[Topic]:
    """Scheduled topics whose publication time has come."""
    statement = (
        select(Topic)
        .where(Topic.status == TopicStatus.SCHEDULED, col(Topic.scheduled_for) <= now)
        .order_by(col(Topic.scheduled_for), col(Topic.id))
    )
    return (await session.exec(statement)).all()


async def topics_in_scope(
    *,
    session: AsyncSession,
    unit_paths: Sequence[str] | None,
    statuses: Sequence[str],
    due_after: datetime,
    limit: int = 20,
) -> Sequence[Topic]:
    """Monthly topics with a target unit in these subtrees (None: everywhere), due after
    `due_after`: what /topics lists to staff (scheduled and open ones soonest first, closed
    ones latest first)."""
    statement = select(Topic).where(
        Topic.kind == TopicKind.MONTHLY, col(Topic.status).in_(list(statuses)), col(Topic.due_at) > due_after
    )
    if unit_paths is not None:
        targeted = (
            select(TopicTarget.topic_id)
            .join(Unit, col(Unit.id) == TopicTarget.unit_id)
            .where(or_(*[col(Unit.path).startswith(path) for path in unit_paths]))
        )
        statement = statement.where(col(Topic.id).in_(targeted))
    order: list[Any]
    if TopicStatus.SCHEDULED in statuses:
        order = [col(Topic.scheduled_for), col(Topic.id)]
    elif TopicStatus.CLOSED in statuses:  # the latest closed first
        order = [col(Topic.due_at).desc(), col(Topic.id).desc()]
    else:
        order = [col(Topic.due_at), col(Topic.id)]
    return (await session.exec(statement.order_by(*order).limit(limit))).all()


async def covered_paths(*, session: AsyncSession, period: str) -> list[str]:
    """The paths of the target units of the month's topics (scheduled, open or closed): a
    unit at or below one of them has its topic for that month."""
    statement = (
        select(Unit.path)
        .join(TopicTarget, col(TopicTarget.unit_id) == Unit.id)
        .join(Topic, col(Topic.id) == TopicTarget.topic_id)
        .where(
            Topic.kind == TopicKind.MONTHLY,
            Topic.period == period,
            col(Topic.status).in_([TopicStatus.SCHEDULED, TopicStatus.PUBLISHED, TopicStatus.CLOSED]),
        )
        .distinct()
    )
    return list((await session.exec(statement)).all())


async def reported_people(*, session: AsyncSession, topic_id: int) -> set[int]:
    """Who has sent the report on a topic (in private; a quick opinion in a group does not count)."""
    statement = (
        select(Report.person_id)
        .where(Report.topic_id == topic_id, Report.channel == ReportChannel.PRIVATE)
        .distinct()
    )
    return {int(person_id) for person_id in (await session.exec(statement)).all() if person_id is not None}


async def unconfirmed(*, session: AsyncSession, topic_id: int, unit_paths: Sequence[str]) -> Sequence[Person]:
    """Active, reachable collaborators of the given subtrees who have neither confirmed an
    urgent matter nor reported on it (the silent of its status): whom it is pushed to again."""
    if not unit_paths:
        return []
    acked, reported = _response_columns(topic_id)
    statement = (
        select(Person)
        .join(Unit, col(Unit.id) == Person.unit_id)
        .where(*_members_under(unit_paths), Person.reachability == Reachability.ACTIVE, ~acked, ~reported)
        .order_by(col(Person.id))
    )
    return (await session.exec(statement)).all()


@dataclass(frozen=True)
class TargetRate:
    unit_id: int
    members: int  # active collaborators in the target's subtree
    responded: int  # of them, those who confirmed or reported


async def target_rates(*, session: AsyncSession, topic_id: int) -> list[TargetRate]:
    """Per target unit of an urgent matter (its whole subtree), how many answered it, in one
    query; a target with no active collaborator is not listed."""
    target = aliased(Unit)
    acked, reported = _response_columns(topic_id)
    statement = (
        select(  # type: ignore[call-overload]
            TopicTarget.unit_id,
            func.count(col(Person.id)),
            func.sum(case((or_(acked, reported), 1), else_=0)),
        )
        .select_from(TopicTarget)
        .join(target, col(target.id) == TopicTarget.unit_id)
        .join(Unit, col(Unit.path).startswith(col(target.path)))
        .join(Person, col(Person.unit_id) == Unit.id)
        .where(
            TopicTarget.topic_id == topic_id,
            Person.status == PersonStatus.ACTIVE,
            col(Person.id).in_(select(PersonRole.person_id).where(PersonRole.role == Role.COLLABORATOR)),
        )
        .group_by(col(TopicTarget.unit_id))
        .order_by(col(TopicTarget.unit_id))
    )
    return [
        TargetRate(unit_id=int(unit_id), members=int(members), responded=int(responded or 0))
        for unit_id, members, responded in (await session.exec(statement)).all()
    ]


async def urgent_past_deadline(*, session: AsyncSession, now: datetime, unclaimed_by: str) -> Sequence[Topic]:
    """Urgent matters whose deadline has passed and that a job has not claimed yet: they stay
    published after it (reports are still taken), so the job's claim is what marks them done."""
    claimed = (
        select(JobRun.id).where(JobRun.job == unclaimed_by, JobRun.subject == cast(Topic.id, String)).exists()
    )
    statement = (
        select(Topic)
        .where(
            Topic.kind == TopicKind.URGENT,
            Topic.status == TopicStatus.PUBLISHED,
            col(Topic.due_at) <= now,
            ~claimed,
        )
        .order_by(col(Topic.due_at), col(Topic.id))
    )
    return (await session.exec(statement)).all()


async def change_status(
    *, session: AsyncSession, topic: Topic, was: str, becomes: str, **values: Any
) -> bool:
    """Move a topic from one status to another only if it still has the first: of a staff
    member cancelling a scheduled topic and the job publishing it, one wins, never both.
    Sets `values` too; False if the topic had moved on."""
    statement = (
        update(Topic)
        .where(col(Topic.id) == topic.id, col(Topic.status) == was)
        .values(status=becomes, **values)
        .execution_options(synchronize_session=False)
    )
    result = await session.exec(statement)  # type: ignore[call-overload]
    if result.rowcount != 1:
        return False
    topic.status = becomes
    for name, value in values.items():
        setattr(topic, name, value)
    return True


async def closed_since(
    *, session: AsyncSession, since: datetime, unclaimed_by: str, kind: str = TopicKind.MONTHLY
) -> Sequence[Topic]:
    """Closed topics whose due time is after `since` and that a job has not claimed yet:
    whose summaries may be due."""
    claimed = (
        select(JobRun.id).where(JobRun.job == unclaimed_by, JobRun.subject == cast(Topic.id, String)).exists()
    )
    statement = (
        select(Topic)
        .where(Topic.kind == kind, Topic.status == TopicStatus.CLOSED, col(Topic.due_at) > since, ~claimed)
        .order_by(col(Topic.due_at), col(Topic.id))
    )
    return (await session.exec(statement)).all()

"""Forms, topics, their targets and where they were posted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import flush
from storage.models import Form, Topic, TopicPost, TopicStatus, TopicTarget


async def ensure_form(
    *, session: AsyncSession, key: str, version: int, title: str, definition: dict[str, Any]
) -> Form:
    """Store a form version once; an existing (key, version) is returned unchanged."""
    existing = (await session.exec(select(Form).where(Form.key == key, Form.version == version))).first()
    if existing is not None:
        return existing
    form = Form(key=key, version=version, title=title, definition=definition)
    session.add(form)
    await flush(session)
    return form


async def get_form(*, session: AsyncSession, form_id: int) -> Form | None:
    return await session.get(Form, form_id)


async def latest_form(*, session: AsyncSession, key: str) -> Form | None:
    return (
        await session.exec(select(Form).where(Form.key == key).order_by(col(Form.version).desc()))
    ).first()


async def add_topic(*, session: AsyncSession, topic: Topic, target_unit_ids: Sequence[int]) -> Topic:
    session.add(topic)
    await flush(session)
    assert topic.id is not None
    for unit_id in sorted(set(target_unit_ids)):
        session.add(TopicTarget(topic_id=topic.id, unit_id=unit_id))
    await flush(session)
    return topic


async def get_topic(*, session: AsyncSession, topic_id: int) -> Topic | None:
    return await session.get(Topic, topic_id)


async def target_unit_ids(*, session: AsyncSession, topic_id: int) -> list[int]:
    rows = await session.exec(select(TopicTarget.unit_id).where(TopicTarget.topic_id == topic_id))
    return list(rows.all())


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


async def find_post(*, session: AsyncSession, telegram_chat_id: int, message_id: int) -> TopicPost | None:
    return (
        await session.exec(
            select(TopicPost).where(
                TopicPost.telegram_chat_id == telegram_chat_id, TopicPost.message_id == message_id
            )
        )
    ).first()

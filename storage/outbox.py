"""The outbox and its broadcasts: messages waiting to go out, and what became of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.addresses import ZALO_ADDRESS_BASE
from storage.models import (
    Broadcast,
    BroadcastStatus,
    Channel,
    ChatGroup,
    Outbox,
    OutboxStatus,
    Person,
    Reachability,
    Unit,
)

OUTBOX = Outbox.__table__  # type: ignore[attr-defined]


async def add_broadcast(*, session: AsyncSession, broadcast: Broadcast) -> Broadcast:
    session.add(broadcast)
    await session.flush()
    return broadcast


async def get_broadcast(*, session: AsyncSession, broadcast_id: int) -> Broadcast | None:
    return await session.get(Broadcast, broadcast_id)


async def known_keys(*, session: AsyncSession, keys: Sequence[str]) -> set[str]:
    """Which of these dedupe keys are queued already (sent or not)."""
    known: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = list(keys[start : start + 500])
        rows = await session.exec(select(col(Outbox.dedupe_key)).where(col(Outbox.dedupe_key).in_(chunk)))
        known |= {key for key in rows.all() if key is not None}
    return known


async def add_rows(*, session: AsyncSession, rows: Sequence[Outbox]) -> int:
    """Queue rows whose dedupe key is new; returns how many were queued.

    INSERT … ON CONFLICT (dedupe_key) DO NOTHING, 500 rows a statement: a key queued
    meanwhile by another process (two schedulers, a retried update) is skipped instead of
    failing the whole transaction, and no ORM objects are flushed one by one. The rows are
    not added to the session; those with a dedupe key get the id they were written with
    (None: a row the key kept out)."""
    if not rows:
        return 0
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite  # type: ignore[union-attr]
    queued = 0
    for start in range(0, len(rows), ADD_CHUNK):
        chunk = rows[start : start + ADD_CHUNK]
        statement = (
            dialect.insert(Outbox)
            .values([row.model_dump(exclude={"id"}) for row in chunk])
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(col(Outbox.id), col(Outbox.dedupe_key))
        )
        returned = (await session.exec(statement)).all()  # type: ignore[call-overload]
        queued += len(returned)
        written = {key: row_id for row_id, key in returned if key is not None}
        for row in chunk:
            if row.dedupe_key is not None:
                row.id = written.get(row.dedupe_key)
    return queued


ADD_CHUNK = 500  # rows of about 15 columns: within SQLite's limit of bound parameters


_INSERT_RETURNING_IDS = insert(OUTBOX).returning(OUTBOX.c.id, sort_by_parameter_order=True)


async def insert_rows(*, session: AsyncSession, values: Sequence[dict[str, Any]]) -> list[int]:
    """Write rows (column values) with one Core INSERT; returns their ids, in order.

    Answers are written this way on every update: no ORM objects to build and flush, and
    the sender gets them as `PendingRow`s without reading them back."""
    if not values:
        return []
    result = await session.exec(_INSERT_RETURNING_IDS, params=list(values))  # type: ignore[call-overload]
    return [int(row_id) for row_id in result.scalars().all()]


@dataclass(frozen=True)
class PendingRow:
    """An outbox row as the sender holds it: plain data, no session attached."""

    id: int
    broadcast_id: int | None
    chat_id: int
    person_id: int | None
    chat_group_id: int | None
    topic_id: int | None
    payload: dict
    attempts: int
    not_before: datetime
    created_at: datetime
    error: str | None = None  # what the last attempt met

    @property
    def is_bulk(self) -> bool:
        """Part of a broadcast (paced, behind replies) rather than an answer or a notice."""
        return self.broadcast_id is not None

    @classmethod
    def of(cls, row: Outbox) -> PendingRow:
        assert row.id is not None
        return cls(
            id=row.id,
            broadcast_id=row.broadcast_id,
            chat_id=row.chat_id,
            person_id=row.person_id,
            chat_group_id=row.chat_group_id,
            topic_id=row.topic_id,
            payload=row.payload,
            attempts=row.attempts,
            not_before=row.not_before,
            created_at=row.created_at,
            error=row.error,
        )


async def pending_rows(
    *, session: AsyncSession, after_id: int, limit: int, channel: Channel | None = None
) -> list[PendingRow]:
    """Pending rows in id order (the order they must go out per chat), of one channel's
    chats if given (storage/addresses.py)."""
    statement = select(Outbox).where(Outbox.status == OutboxStatus.PENDING, col(Outbox.id) > after_id)
    if channel is Channel.ZALO:
        statement = statement.where(func.abs(Outbox.chat_id) >= ZALO_ADDRESS_BASE)
    elif channel is Channel.TELEGRAM:
        statement = statement.where(func.abs(Outbox.chat_id) < ZALO_ADDRESS_BASE)
    rows = (await session.exec(statement.order_by(col(Outbox.id)).limit(limit))).all()
    return [PendingRow.of(row) for row in rows]


async def sent_message_id(*, session: AsyncSession, row_id: int) -> int | None:
    """The message an earlier row showed, if it was sent (an edit or a clear refers to it)."""
    statement = select(Outbox.message_id).where(Outbox.id == row_id, Outbox.status == OutboxStatus.SENT)
    return (await session.exec(statement)).first()


async def pending_for_update(*, session: AsyncSession, update_id: int) -> int:
    """How many answers to an update have not gone out yet."""
    statement = (
        select(func.count())
        .select_from(Outbox)
        .where(Outbox.update_id == update_id, Outbox.status == OutboxStatus.PENDING)
    )
    return (await session.exec(statement)).one()


async def set_row(*, session: AsyncSession, row_id: int, only_pending: bool = True, **values: object) -> bool:
    """Change one row with a Core UPDATE; False when it was no longer pending (cancelled)."""
    statement = update(OUTBOX).where(OUTBOX.c.id == row_id)
    if only_pending:
        statement = statement.where(OUTBOX.c.status == OutboxStatus.PENDING)
    result = await session.exec(statement.values(**values))
    return bool(result.rowcount)


@dataclass(frozen=True)
class SentMark:
    row_id: int
    message_id: int | None
    attempts: int
    sent_at: datetime


_MARK_SENT = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("b_id"), OUTBOX.c.status == OutboxStatus.PENDING)
    .values(
        status=OutboxStatus.SENT,
        sent_at=bindparam("b_sent_at"),
        message_id=bindparam("b_message_id"),
        attempts=bindparam("b_attempts"),
        error=None,
    )
)


async def mark_sent(*, session: AsyncSession, marks: Sequence[SentMark]) -> None:
    """Record many sent rows in one statement (rows cancelled meanwhile stay cancelled)."""
    if not marks:
        return
    params = [
        {
            "b_id": mark.row_id,
            "b_sent_at": mark.sent_at,
            "b_message_id": mark.message_id,
            "b_attempts": mark.attempts,
        }
        for mark in marks
    ]
    await session.exec(_MARK_SENT, params=params)  # type: ignore[call-overload]


async def move_chat(*, session: AsyncSession, old_chat_id: int, new_chat_id: int) -> None:
    """A group became a supergroup: its pending messages follow it."""
    await session.exec(
        update(OUTBOX)
        .where(OUTBOX.c.chat_id == old_chat_id, OUTBOX.c.status == OutboxStatus.PENDING)
        .values(chat_id=new_chat_id)
    )


async def set_reachability(*, session: AsyncSession, person_id: int, reachability: Reachability) -> None:
    await session.exec(  # type: ignore[call-overload]
        update(Person).where(col(Person.id) == person_id).values(reachability=reachability)
    )


async def status_counts(*, session: AsyncSession, broadcast_id: int) -> dict[str, int]:
    rows = (
        await session.exec(
            select(Outbox.status, func.count())
            .where(Outbox.broadcast_id == broadcast_id)
            .group_by(col(Outbox.status))
        )
    ).all()
    return {status: count for status, count in rows}


async def recipient_counts(*, session: AsyncSession, broadcast_id: int) -> dict[str, int]:
    """Recipients by status (of their message's first part)."""
    rows = (
        await session.exec(
            select(Outbox.status, func.count())
            .where(Outbox.broadcast_id == broadcast_id, Outbox.part == 0)
            .group_by(col(Outbox.status))
        )
    ).all()
    return {status: count for status, count in rows}


async def sent_since(*, session: AsyncSession, broadcast_id: int, since: datetime) -> int:
    return (
        await session.exec(
            select(func.count()).where(
                Outbox.broadcast_id == broadcast_id,
                Outbox.status == OutboxStatus.SENT,
                Outbox.part == 0,
                col(Outbox.sent_at) >= since,
            )
        )
    ).one()


async def running_broadcasts(*, session: AsyncSession) -> Sequence[Broadcast]:
    return (
        await session.exec(
            select(Broadcast).where(Broadcast.status == BroadcastStatus.RUNNING).order_by(col(Broadcast.id))
        )
    ).all()


async def unshown_finished(*, session: AsyncSession) -> Sequence[Broadcast]:
    """Finished broadcasts whose final state has not reached the progress message yet
    (finished by a cancel, or just before a restart)."""
    return (
        await session.exec(
            select(Broadcast).where(
                Broadcast.status != BroadcastStatus.RUNNING,
                or_(
                    col(Broadcast.progress_shown).is_(None), ~col(Broadcast.progress_shown).endswith("|True")
                ),
            )
        )
    ).all()


async def set_progress(
    *, session: AsyncSession, broadcast_id: int, message_id: int | None, shown: str
) -> None:
    await session.exec(  # type: ignore[call-overload]
        update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id)
        .values(progress_message_id=message_id, progress_shown=shown)
    )


async def recent_broadcasts(
    *, session: AsyncSession, created_by: int | None, limit: int = 10
) -> Sequence[Broadcast]:
    """The latest deliveries; `created_by` None means everyone's (for admins)."""
    statement = select(Broadcast).order_by(col(Broadcast.id).desc()).limit(limit)
    if created_by is not None:
        statement = statement.where(Broadcast.created_by == created_by)
    return (await session.exec(statement)).all()


async def cancel_pending(*, session: AsyncSession, broadcast_id: int) -> int:
    """Drop what has not gone out yet; what was sent stays sent."""
    result = await session.exec(
        update(OUTBOX)
        .where(OUTBOX.c.broadcast_id == broadcast_id, OUTBOX.c.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.CANCELLED)
    )
    return int(result.rowcount or 0)


@dataclass(frozen=True)
class Undelivered:
    name: str
    unit: str
    status: str
    error: str | None
    phone: str | None = None  # for staff to follow up (two people may share a name)


async def undelivered(*, session: AsyncSession, broadcast_id: int, limit: int = 500) -> list[Undelivered]:
    """Who could not be reached, by unit then name (people and groups alike)."""
    statement = (
        select(  # type: ignore[call-overload]  # sqlmodel types select() for up to 4 columns
            Outbox.chat_id,
            Outbox.status,
            Outbox.error,
            Person.full_name,
            Person.phone,
            ChatGroup.title,
            Unit.name,
        )
        .outerjoin(Person, col(Person.id) == Outbox.person_id)
        .outerjoin(ChatGroup, col(ChatGroup.id) == Outbox.chat_group_id)
        .outerjoin(Unit, col(Unit.id) == func.coalesce(Person.unit_id, ChatGroup.unit_id))
        .where(
            Outbox.broadcast_id == broadcast_id,
            Outbox.part == 0,
            col(Outbox.status).in_([OutboxStatus.FAILED, OutboxStatus.UNREACHABLE]),
        )
        .order_by(Unit.name, Person.full_name, ChatGroup.title)
        .limit(limit)
    )
    seen: set[int] = set()
    result: list[Undelivered] = []
    rows = (await session.exec(statement)).all()
    for chat_id, status, error, person_name, phone, group_title, unit_name in rows:
        if chat_id in seen:  # one line per recipient (two people may share a name)
            continue
        seen.add(chat_id)
        name = person_name or group_title or "?"
        result.append(Undelivered(name=name, unit=unit_name or "", status=status, error=error, phone=phone))
    return result


async def finish_broadcast(
    *, session: AsyncSession, broadcast_id: int, status: BroadcastStatus, now: datetime
) -> None:
    await session.exec(  # type: ignore[call-overload]
        update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id, col(Broadcast.status) == BroadcastStatus.RUNNING)
        .values(status=status, finished_at=now)
    )


async def settled(*, session: AsyncSession) -> bool:
    """Nothing left to send and every broadcast's final state shown (tests, the demo)."""
    pending = (
        await session.exec(
            select(func.count()).select_from(Outbox).where(Outbox.status == OutboxStatus.PENDING)
        )
    ).one()
    if pending:
        return False
    return not await running_broadcasts(session=session) and not await unshown_finished(session=session)


async def cancel_pending_for_person(*, session: AsyncSession, person_id: int) -> int:
    """A person who asked to be forgotten gets nothing more that was queued for them."""
    result = await session.exec(  # type: ignore[call-overload]
        update(Outbox)
        .where(col(Outbox.person_id) == person_id, col(Outbox.status) == OutboxStatus.PENDING)
        .values(status=OutboxStatus.CANCELLED)
    )
    return int(result.rowcount or 0)

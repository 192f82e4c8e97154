"""The inbox: updates kept before they are confirmed, and their processing state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Inbox, InboxStatus

INBOX = Inbox.__table__  # type: ignore[attr-defined]


async def store_updates(
    *, session: AsyncSession, rows: Sequence[tuple[int, int, str]], now: datetime
) -> set[int]:
    """Insert (update_id, chat_key, payload) rows not seen before; returns the new ids.

    Telegram re-sends updates that were stored but not yet confirmed (a crash between the
    commit and the next getUpdates): those are recognised here and not processed twice.
    """
    if not rows:
        return set()
    ids = [row[0] for row in rows]
    known = set((await session.exec(select(Inbox.update_id).where(col(Inbox.update_id).in_(ids)))).all())
    new_ids: set[int] = set()
    values = []
    for update_id, chat_key, payload in rows:
        if update_id in known or update_id in new_ids:
            continue
        values.append(
            {
                "update_id": update_id,
                "chat_key": chat_key,
                "payload": payload,
                "status": InboxStatus.PENDING,
                "attempts": 0,
                "received_at": now,
            }
        )
        new_ids.add(update_id)
    if values:
        # One Core insert for the batch: the rows are never read back as objects here.
        await session.exec(insert(INBOX), params=values)
    return new_ids


async def mark_done(
    *, session: AsyncSession, update_id: int, now: datetime, payload: str | None = None
) -> None:
    """Committed with the handler's writes and replies: all of them, or none. `payload`
    replaces what was kept (the update without its secrets, bot/intake/redaction.py)."""
    values: dict[str, object] = {"status": InboxStatus.DONE, "processed_at": now, "error": None}
    if payload is not None:
        values["payload"] = payload
    await session.exec(update(INBOX).where(INBOX.c.update_id == update_id).values(**values))


async def prune_done(*, session: AsyncSession, handled_before: datetime) -> int:
    """Handled updates older than the retention period are deleted (failed ones stay for
    admins to see and retry)."""
    result = await session.exec(  # type: ignore[call-overload]
        delete(INBOX).where(INBOX.c.status == InboxStatus.DONE, INBOX.c.processed_at < handled_before)
    )
    return int(result.rowcount or 0)


async def record_failure(
    *, session: AsyncSession, update_id: int, error: str, park: bool, now: datetime
) -> None:
    """Count a failed attempt; `park` gives up on the update (visible to admins as failed)."""
    values: dict[str, object] = {"attempts": col(Inbox.attempts) + 1, "error": error[:4000]}
    if park:
        values.update(status=InboxStatus.FAILED, processed_at=now)
    await session.exec(  # type: ignore[call-overload]
        update(Inbox).where(col(Inbox.update_id) == update_id).values(**values)
    )


async def unfinished(*, session: AsyncSession) -> Sequence[Inbox]:
    """Pending rows in arrival order, for replay at start."""
    return (
        await session.exec(
            select(Inbox).where(Inbox.status == InboxStatus.PENDING).order_by(col(Inbox.update_id))
        )
    ).all()


async def count_attempt_for_pending(*, session: AsyncSession) -> None:
    """At start, count a try for every unfinished row: an update that kills the process
    on every attempt is parked after a bounded number of restarts instead of looping."""
    await session.exec(  # type: ignore[call-overload]
        update(Inbox).where(col(Inbox.status) == InboxStatus.PENDING).values(attempts=col(Inbox.attempts) + 1)
    )


async def park_exhausted(*, session: AsyncSession, max_attempts: int, now: datetime) -> int:
    result = await session.exec(  # type: ignore[call-overload]
        update(Inbox)
        .where(col(Inbox.status) == InboxStatus.PENDING, col(Inbox.attempts) > max_attempts)
        .values(status=InboxStatus.FAILED, processed_at=now, error="gave up after repeated restarts")
    )
    return int(result.rowcount or 0)


async def get_row(*, session: AsyncSession, update_id: int) -> Inbox | None:
    return await session.get(Inbox, update_id)


async def failed_rows(*, session: AsyncSession, limit: int = 20) -> Sequence[Inbox]:
    return (
        await session.exec(
            select(Inbox)
            .where(Inbox.status == InboxStatus.FAILED)
            .order_by(col(Inbox.update_id).desc())
            .limit(limit)
        )
    ).all()


async def requeue_failed(*, session: AsyncSession, update_ids: Sequence[int] | None) -> list[int]:
    """Put parked updates back in the queue (None: all of them); returns the ids requeued.
    The running bot picks them up at its next rescan (or start)."""
    statement = select(Inbox.update_id).where(Inbox.status == InboxStatus.FAILED)
    if update_ids is not None:
        statement = statement.where(col(Inbox.update_id).in_(list(update_ids)))
    found = list((await session.exec(statement)).all())
    if found:
        await session.exec(  # type: ignore[call-overload]
            update(Inbox)
            .where(col(Inbox.update_id).in_(found))
            .values(status=InboxStatus.PENDING, attempts=0, processed_at=None)
        )
    return sorted(found)

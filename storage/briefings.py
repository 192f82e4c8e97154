"""Monthly briefings (giao ban) as staff set them with /briefing, and what the reminder job
needs to find: the briefings coming up, and the units whose usual briefing has no row."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Briefing, JobRun, Unit


async def set_briefing(
    *,
    session: AsyncSession,
    unit_id: int,
    held_at: datetime,
    place: str,
    created_by: int | None,
    month_start: datetime,
    month_end: datetime,
    now: datetime,
) -> tuple[Briefing, list[Briefing]]:
    """Store a unit's briefing; a briefing of the same unit in the same month (from
    `month_start` to before `month_end`) is replaced. Returns it and those it replaced."""
    replaced = list(
        (
            await session.exec(
                select(Briefing).where(
                    Briefing.unit_id == unit_id,
                    col(Briefing.held_at) >= month_start,
                    col(Briefing.held_at) < month_end,
                )
            )
        ).all()
    )
    if replaced:
        await session.exec(  # type: ignore[call-overload]
            delete(Briefing).where(col(Briefing.id).in_([row.id for row in replaced]))
        )
    briefing = Briefing(unit_id=unit_id, held_at=held_at, place=place, created_by=created_by, created_at=now)
    session.add(briefing)
    await session.flush()
    return briefing, replaced


async def get_briefing(*, session: AsyncSession, briefing_id: int) -> Briefing | None:
    return await session.get(Briefing, briefing_id)


async def delete_briefing(*, session: AsyncSession, briefing: Briefing) -> None:
    await session.delete(briefing)
    await session.flush()


async def upcoming(
    *, session: AsyncSession, unit_paths: Sequence[str], after: datetime
) -> list[tuple[Briefing, Unit]]:
    """Briefings set for units inside these subtrees and not yet begun, soonest first."""
    if not unit_paths:
        return []
    statement = (
        select(Briefing, Unit)
        .join(Unit, col(Unit.id) == Briefing.unit_id)
        .where(
            col(Briefing.held_at) > after,
            or_(*[col(Unit.path).startswith(path) for path in unit_paths]),
        )
        .order_by(col(Briefing.held_at), col(Unit.path))
    )
    return [(briefing, unit) for briefing, unit in (await session.exec(statement)).all()]


async def due_for_reminder(
    *, session: AsyncSession, now: datetime, until: datetime
) -> list[tuple[Briefing, Unit]]:
    """Briefings not yet begun that begin by `until`: their reminder is due."""
    statement = (
        select(Briefing, Unit)
        .join(Unit, col(Unit.id) == Briefing.unit_id)
        .where(col(Briefing.held_at) > now, col(Briefing.held_at) <= until)
        .order_by(col(Briefing.held_at), col(Briefing.id))
    )
    return [(briefing, unit) for briefing, unit in (await session.exec(statement)).all()]


async def usual_units(
    *,
    session: AsyncSession,
    month_start: datetime,
    month_end: datetime,
    unit_paths: Sequence[str] | None = None,
) -> list[tuple[Unit, str]]:
    """Units that held a briefing in an earlier month and have none set in this one (from
    `month_start` to before `month_end`), each with the place of its latest briefing: their
    briefing this month is at the usual time, in the usual place. Optionally only the units
    inside these subtrees."""
    latest = (
        select(Briefing.unit_id, func.max(Briefing.held_at).label("held_at"))
        .where(col(Briefing.held_at) < month_start)
        .group_by(col(Briefing.unit_id))
        .subquery()
    )
    this_month = select(Briefing.unit_id).where(
        col(Briefing.held_at) >= month_start, col(Briefing.held_at) < month_end
    )
    statement = (
        select(Unit, Briefing.place)
        .join(latest, latest.c.unit_id == Unit.id)
        .join(Briefing, (col(Briefing.unit_id) == Unit.id) & (col(Briefing.held_at) == latest.c.held_at))
        .where(col(Unit.id).not_in(this_month))
        .order_by(col(Unit.path), col(Briefing.id).desc())
    )
    if unit_paths is not None:
        if not unit_paths:
            return []
        statement = statement.where(or_(*[col(Unit.path).startswith(path) for path in unit_paths]))
    found: dict[int, tuple[Unit, str]] = {}
    for unit, place in (await session.exec(statement)).all():
        assert unit.id is not None
        found.setdefault(unit.id, (unit, place))  # two at the same moment: the later set
    return list(found.values())


async def claimed_subjects(
    *, session: AsyncSession, job: str, subjects: Sequence[str], target: str
) -> set[str]:
    """Which of these subjects a job holds a claim on for `target` (e.g. a usual briefing
    cancelled by staff, or one already reminded)."""
    if not subjects:
        return set()
    statement = select(JobRun.subject).where(
        JobRun.job == job, JobRun.target == target, col(JobRun.subject).in_(list(subjects))
    )
    return set((await session.exec(statement)).all())

"""Scheduled jobs: their rules as set by admins, and the claims that make each run happen once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import JobRun, Schedule


async def claim(
    *, session: AsyncSession, job: str, subject: str, targets: Sequence[str], now: datetime
) -> set[str]:
    """Claim (job, subject, target) for each target; the targets claimed now, not before.

    One INSERT … ON CONFLICT DO NOTHING RETURNING: set-based for 20,000 reminders, and a
    key another process (or an earlier run) holds is simply not returned."""
    if not targets:
        return set()
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite  # type: ignore[union-attr]
    claimed: set[str] = set()
    for start in range(0, len(targets), 1000):
        rows = [
            {"job": job, "subject": subject, "target": target, "claimed_at": now}
            for target in targets[start : start + 1000]
        ]
        statement = (
            dialect.insert(JobRun)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["job", "subject", "target"])
            .returning(col(JobRun.target))
        )
        claimed.update(str(target) for target in (await session.exec(statement)).scalars())  # type: ignore[call-overload]
    return claimed


async def schedules(*, session: AsyncSession) -> dict[str, Schedule]:
    return {row.job: row for row in (await session.exec(select(Schedule))).all()}


async def save_schedule(*, session: AsyncSession, schedule: Schedule) -> None:
    session.add(schedule)
    await session.flush()


async def recent_subjects(*, session: AsyncSession, job: str, since: datetime) -> list[str]:
    """The subjects of a job's runs claimed since then (e.g. the reminders just sent)."""
    statement = select(JobRun.subject).where(JobRun.job == job, col(JobRun.claimed_at) > since).distinct()
    return list((await session.exec(statement)).all())


async def release(*, session: AsyncSession, jobs: Sequence[str], subject: str) -> None:
    """Forget the claims of these jobs for a subject, so they run for it again (a topic
    reopened with a new due time is reminded, called and closed anew)."""
    await session.exec(  # type: ignore[call-overload]
        delete(JobRun).where(col(JobRun.job).in_(list(jobs)), col(JobRun.subject) == subject)
    )


async def recent_claims(*, session: AsyncSession, job: str, since: datetime) -> list[JobRun]:
    """A job's claims since then (a staff member's "remind now", whose held-back part goes later)."""
    statement = select(JobRun).where(JobRun.job == job, col(JobRun.claimed_at) > since)
    return list((await session.exec(statement)).all())

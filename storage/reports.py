"""Drafts, reports and the aggregations behind /summary (all in SQL)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, delete, func, insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Draft,
    Person,
    PersonRole,
    PersonStatus,
    Reachability,
    Report,
    ReportAnswer,
    ReportChannel,
    Role,
    Unit,
)

# The urgency answer that marks a report for staff's and leaders' attention at once.
URGENT = "khan_cap"


async def get_draft(*, session: AsyncSession, draft_id: int) -> Draft | None:
    return await session.get(Draft, draft_id)


async def get_draft_by_slot(*, session: AsyncSession, person_id: int, slot: str) -> Draft | None:
    return (await session.exec(select(Draft).where(Draft.person_id == person_id, Draft.slot == slot))).first()


async def latest_draft(*, session: AsyncSession, person_id: int) -> Draft | None:
    """The conversation a typed answer belongs to: the most recently touched draft."""
    statement = (
        select(Draft)
        .where(Draft.person_id == person_id)
        .order_by(col(Draft.updated_at).desc(), col(Draft.id).desc())
        .limit(1)
    )
    return (await session.exec(statement)).first()


async def save_draft(*, session: AsyncSession, draft: Draft) -> Draft:
    """A new draft is flushed at once (callers show its id in button data)."""
    session.add(draft)
    if draft.id is None:
        await session.flush()
    return draft


async def delete_draft(*, session: AsyncSession, draft: Draft) -> None:
    """At once: a new draft in the same slot may follow in this transaction."""
    if draft.id is None:
        return
    await session.delete(draft)
    await session.flush()


async def get_report(*, session: AsyncSession, report_id: int) -> Report | None:
    return await session.get(Report, report_id)


async def get_private_report(*, session: AsyncSession, person_id: int, topic_id: int) -> Report | None:
    statement = select(Report).where(
        Report.person_id == person_id, Report.topic_id == topic_id, Report.channel == ReportChannel.PRIVATE
    )
    return (await session.exec(statement)).first()


async def get_report_by_update(*, session: AsyncSession, update_id: int) -> Report | None:
    return (await session.exec(select(Report).where(Report.source_update_id == update_id))).first()


async def save_report(
    *, session: AsyncSession, report: Report, choice_values: Iterable[tuple[str, str]]
) -> Report:
    """Insert or replace a report together with its groupable answers (a new report gets
    its number here, which the caller shows)."""
    session.add(report)
    await session.flush()
    assert report.id is not None
    await session.exec(delete(ReportAnswer).where(col(ReportAnswer.report_id) == report.id))
    answers = sorted(set(choice_values))
    if answers:
        await session.exec(
            insert(ReportAnswer),
            params=[{"report_id": report.id, "question_key": key, "value": value} for key, value in answers],
        )
    return report


@dataclass(frozen=True)
class UnitFigures:
    """A unit's reports in a period: full reports (the form, in private) and quick opinions
    (a line in reply to a topic post in a group) are counted apart."""

    unit_id: int
    full: int
    quick: int


@dataclass(frozen=True)
class ReportTotals:
    full: int
    quick: int


@dataclass(frozen=True)
class OptionCount:
    question_key: str
    value: str
    reports: int


def _in_scope(period: str, under_path: str):  # type: ignore[no-untyped-def]
    return (Report.period == period, col(Unit.path).startswith(under_path))


def _is_full():  # type: ignore[no-untyped-def]
    return case((Report.channel == ReportChannel.PRIVATE, 1), else_=0)


def _is_quick():  # type: ignore[no-untyped-def]
    return case((Report.channel == ReportChannel.GROUP_REPLY, 1), else_=0)


async def report_totals(*, session: AsyncSession, period: str, under_path: str) -> ReportTotals:
    """Full reports and quick opinions of a period in a subtree."""
    statement = (
        select(func.sum(_is_full()), func.sum(_is_quick()))
        .join(Unit, col(Unit.id) == Report.unit_id)
        .where(*_in_scope(period, under_path))
    )
    full, quick = (await session.exec(statement)).one()
    return ReportTotals(int(full or 0), int(quick or 0))


async def figures_by_unit(*, session: AsyncSession, period: str, under_path: str) -> list[UnitFigures]:
    statement = (
        select(Report.unit_id, func.sum(_is_full()), func.sum(_is_quick()))
        .join(Unit, col(Unit.id) == Report.unit_id)
        .where(*_in_scope(period, under_path))
        .group_by(col(Report.unit_id))
    )
    return [
        UnitFigures(int(u), int(f or 0), int(q or 0)) for u, f, q in (await session.exec(statement)).all()
    ]


async def option_counts(*, session: AsyncSession, period: str, under_path: str) -> list[OptionCount]:
    statement = (
        select(
            ReportAnswer.question_key, ReportAnswer.value, func.count(func.distinct(ReportAnswer.report_id))
        )
        .join(Report, col(Report.id) == ReportAnswer.report_id)
        .join(Unit, col(Unit.id) == Report.unit_id)
        .where(*_in_scope(period, under_path))
        .group_by(col(ReportAnswer.question_key), col(ReportAnswer.value))
    )
    return [OptionCount(k, v, int(n)) for k, v, n in (await session.exec(statement)).all()]


async def forms_used(*, session: AsyncSession, period: str, under_path: str) -> list[int]:
    statement = (
        select(Report.form_id)
        .join(Unit, col(Unit.id) == Report.unit_id)
        .where(*_in_scope(period, under_path), col(Report.form_id).is_not(None))
        .distinct()
    )
    return [int(form_id) for form_id in (await session.exec(statement)).all() if form_id is not None]


async def latest_texts(
    *, session: AsyncSession, period: str, under_path: str, limit: int = 3
) -> Sequence[Report]:
    statement = (
        select(Report)
        .join(Unit, col(Unit.id) == Report.unit_id)
        .where(*_in_scope(period, under_path), col(Report.text).is_not(None), Report.text != "")
        .order_by(col(Report.submitted_at).desc(), col(Report.id).desc())
        .limit(limit)
    )
    return (await session.exec(statement)).all()


async def picked_reports(
    *, session: AsyncSession, period: str, under_path: str, kind: str, limit: int = 5
) -> tuple[int, Sequence[Report]]:
    """How many reports of a period say something a leader reads one by one, and the latest
    of them: `kind` "proposal" (a proposal to the Party committee) or "urgent" (marked urgent)."""
    condition = (
        col(Report.proposal).is_not(None) & (Report.proposal != "")
        if kind == "proposal"
        else Report.urgency == URGENT
    )
    base = (
        select(Report)
        .join(Unit, col(Unit.id) == Report.unit_id)
        .where(*_in_scope(period, under_path), condition)
    )
    count = (await session.exec(select(func.count()).select_from(base.subquery()))).one()
    rows = await session.exec(
        base.order_by(col(Report.submitted_at).desc(), col(Report.id).desc()).limit(limit)
    )
    return int(count), rows.all()


async def answered_by_question(*, session: AsyncSession, period: str, under_path: str) -> dict[str, int]:
    """How many reports answered each choice question: the denominator of its percentages."""
    statement = (
        select(ReportAnswer.question_key, func.count(func.distinct(ReportAnswer.report_id)))
        .join(Report, col(Report.id) == ReportAnswer.report_id)
        .join(Unit, col(Unit.id) == Report.unit_id)
        .where(*_in_scope(period, under_path))
        .group_by(col(ReportAnswer.question_key))
    )
    return {key: int(count) for key, count in (await session.exec(statement)).all()}


async def collaborator_reporters_by_unit(
    *, session: AsyncSession, period: str, under_path: str
) -> dict[int, int]:
    """Distinct collaborators with at least one full report: unique people, not submissions
    (a quick opinion in a group is counted apart, not as a report of the month)."""
    statement = (
        select(Report.unit_id, func.count(func.distinct(Report.person_id)))
        .join(Unit, col(Unit.id) == Report.unit_id)
        .join(PersonRole, col(PersonRole.person_id) == Report.person_id)
        .where(
            *_in_scope(period, under_path),
            PersonRole.role == Role.COLLABORATOR,
            Report.channel == ReportChannel.PRIVATE,
        )
        .group_by(col(Report.unit_id))
    )
    return {int(u): int(n) for u, n in (await session.exec(statement)).all()}


async def active_collaborators_by_unit(*, session: AsyncSession, under_path: str) -> dict[int, int]:
    statement = (
        select(Person.unit_id, func.count(col(Person.id)))
        .join(Unit, col(Unit.id) == Person.unit_id)
        .join(PersonRole, col(PersonRole.person_id) == Person.id)
        .where(
            Person.status == PersonStatus.ACTIVE,
            PersonRole.role == Role.COLLABORATOR,
            col(Unit.path).startswith(under_path),
        )
        .group_by(col(Person.unit_id))
    )
    return {int(u): int(n) for u, n in (await session.exec(statement)).all() if u is not None}


async def reports_of(*, session: AsyncSession, person_id: int) -> Sequence[Report]:
    """A person's reports, newest first (what /mydata shows them)."""
    return (
        await session.exec(
            select(Report).where(Report.person_id == person_id).order_by(col(Report.submitted_at).desc())
        )
    ).all()


async def drafts_of(*, session: AsyncSession, person_id: int) -> Sequence[Draft]:
    return (await session.exec(select(Draft).where(Draft.person_id == person_id))).all()


async def drafts_in_slot(*, session: AsyncSession, slot: str, person_ids: Sequence[int]) -> dict[int, Draft]:
    """The drafts of these people in one slot (e.g. their unfinished reports on a topic)."""
    found: dict[int, Draft] = {}
    ids = list(person_ids)
    for start in range(0, len(ids), 1000):
        statement = select(Draft).where(
            Draft.slot == slot, col(Draft.person_id).in_(ids[start : start + 1000])
        )
        found.update({draft.person_id: draft for draft in (await session.exec(statement)).all()})
    return found


async def filling_in(*, session: AsyncSession, person_ids: Sequence[int], since: datetime) -> set[int]:
    """Which of these people touched a form (any draft) since then: they are filling it in."""
    found: set[int] = set()
    ids = list(person_ids)
    for start in range(0, len(ids), 1000):
        statement = select(Draft.person_id).where(
            col(Draft.person_id).in_(ids[start : start + 1000]), col(Draft.updated_at) > since
        )
        found.update(int(person_id) for person_id in (await session.exec(statement)).all())
    return found


async def untouched_drafts(
    *, session: AsyncSession, touched_before: datetime, touched_after: datetime, except_slots: Sequence[str]
) -> list[tuple[Draft, Person]]:
    """Drafts last touched between the two times, with their owner, if the owner is an active
    member the bot can still write to (nobody else is reminded of a draft)."""
    statement = (
        select(Draft, Person)
        .join(Person, col(Person.id) == Draft.person_id)
        .where(
            col(Draft.updated_at) < touched_before,
            col(Draft.updated_at) >= touched_after,
            col(Draft.slot).not_in(list(except_slots)),
            Person.status == PersonStatus.ACTIVE,
            Person.reachability == Reachability.ACTIVE,
        )
        .order_by(col(Draft.person_id), col(Draft.updated_at), col(Draft.id))
    )
    return [(draft, person) for draft, person in (await session.exec(statement)).all()]


async def discard_untouched(
    *, session: AsyncSession, touched_before: datetime, except_slots: Sequence[str]
) -> int:
    """Delete the drafts nobody touched since then (one statement); how many went. Nothing
    points at a draft: a button of its old question only finds it gone."""
    result = await session.exec(  # type: ignore[call-overload]
        delete(Draft).where(
            col(Draft.updated_at) < touched_before, col(Draft.slot).not_in(list(except_slots))
        )
    )
    return int(result.rowcount or 0)

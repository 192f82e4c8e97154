"""Drafts, reports and the aggregations behind /summary (all in SQL)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, update
from sqlalchemy import inspect as sa_inspect
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import StagedWrite, begin_write, stage_write
from storage.models import (
    Draft,
    Person,
    PersonRole,
    PersonStatus,
    Report,
    ReportAnswer,
    ReportChannel,
    Role,
    Unit,
)
from storage.prepared import Prepared, first_loaded

DRAFT = Draft.__table__  # type: ignore[attr-defined]
_SELECT_DRAFT = select(DRAFT)
_DRAFT_BY_ID = Prepared(_SELECT_DRAFT.where(DRAFT.c.id == bindparam("draft_id")))
_DRAFT_BY_SLOT = Prepared(
    _SELECT_DRAFT.where(DRAFT.c.person_id == bindparam("person_id"), DRAFT.c.slot == bindparam("slot"))
)
_LATEST_DRAFT = Prepared(
    _SELECT_DRAFT.where(DRAFT.c.person_id == bindparam("person_id"))
    .order_by(DRAFT.c.updated_at.desc(), DRAFT.c.id.desc())
    .limit(1)
)
# Whose draft and for what (`person_id`, `slot`) are fixed when it is created; the rest
# changes as the conversation goes. Writing back only what changes keeps the indexes on
# (person_id) and (person_id, slot) untouched on every press (SQLite rewrites an index entry
# whenever an UPDATE sets one of its columns, even to the same value).
_DRAFT_CHANGING = ("form_id", "topic_id", "definition", "state", "context", "prompt_message_id", "updated_at")
_DRAFT_FIELDS = ("person_id", "slot", *_DRAFT_CHANGING)
_UPDATE_DRAFT = Prepared(
    update(DRAFT)
    .where(DRAFT.c.id == bindparam("draft_id"))
    .values({name: bindparam(f"new_{name}") for name in _DRAFT_CHANGING})
)
_DELETE_DRAFT = delete(DRAFT).where(DRAFT.c.id == bindparam("draft_id"))

# Drafts are read and written with Core statements, not the ORM: a form button loads one,
# changes it and writes it back on every press, and the ORM's identity map and unit of work
# cost several times the statements. A `Draft` returned here belongs to no session; it is
# written by `save_draft` (at commit) and removed by `delete_draft`, never by the session.


async def get_draft(*, session: AsyncSession, draft_id: int) -> Draft | None:
    return await first_loaded(session, Draft, _DRAFT_BY_ID, {"draft_id": draft_id})


async def get_draft_by_slot(*, session: AsyncSession, person_id: int, slot: str) -> Draft | None:
    return await first_loaded(session, Draft, _DRAFT_BY_SLOT, {"person_id": person_id, "slot": slot})


async def latest_draft(*, session: AsyncSession, person_id: int) -> Draft | None:
    """The conversation a typed answer belongs to: the most recently touched draft."""
    return await first_loaded(session, Draft, _LATEST_DRAFT, {"person_id": person_id})


async def save_draft(*, session: AsyncSession, draft: Draft) -> Draft:
    """A new draft is inserted now (for its id); changes to an existing one are written at
    commit, with what the draft holds then. Writing late keeps SQLite's single write lock
    out of the handler's Bot API calls."""
    if draft.id is None:
        await begin_write(session)
        connection = await session.connection()
        values = {name: getattr(draft, name) for name in (*_DRAFT_FIELDS, "created_at")}
        result = await connection.execute(insert(DRAFT).values(values))
        draft.id = int(result.inserted_primary_key[0])
        return draft

    def parameters() -> dict[str, Any]:
        values = {f"new_{name}": getattr(draft, name) for name in _DRAFT_CHANGING}
        return {"draft_id": draft.id, **values}

    stage_write(session, ("draft", draft.id), StagedWrite(_UPDATE_DRAFT, parameters))
    return draft


async def delete_draft(*, session: AsyncSession, draft: Draft) -> None:
    """Now: a new draft in the same slot may follow in this transaction."""
    if draft.id is None:
        return
    stage_write(session, ("draft", draft.id), None)
    await begin_write(session)
    connection = await session.connection()
    await connection.execute(_DELETE_DRAFT, {"draft_id": draft.id})


async def get_report(*, session: AsyncSession, report_id: int) -> Report | None:
    return await session.get(Report, report_id)


REPORT = Report.__table__  # type: ignore[attr-defined]
REPORT_ANSWER = ReportAnswer.__table__  # type: ignore[attr-defined]
_REPORT_FIELDS = tuple(column.key for column in REPORT.columns if column.key != "id")
_PRIVATE_REPORT = Prepared(
    select(REPORT).where(
        REPORT.c.person_id == bindparam("person_id"),
        REPORT.c.topic_id == bindparam("topic_id"),
        REPORT.c.channel == ReportChannel.PRIVATE.value,
    )
)
_INSERT_REPORT = Prepared(
    insert(REPORT).values({name: bindparam(f"new_{name}") for name in _REPORT_FIELDS}).returning(REPORT.c.id)
)
_UPDATE_REPORT = Prepared(
    update(REPORT)
    .where(REPORT.c.id == bindparam("report_id"))
    .values({name: bindparam(f"new_{name}") for name in _REPORT_FIELDS})
)
_DELETE_REPORT_ANSWERS = Prepared(
    delete(REPORT_ANSWER).where(REPORT_ANSWER.c.report_id == bindparam("report_id"))
)
_INSERT_REPORT_ANSWER = Prepared(
    insert(REPORT_ANSWER).values(
        report_id=bindparam("answer_report_id"),
        question_key=bindparam("answer_question_key"),
        value=bindparam("answer_value"),
    )
)

# A collaborator's report is read when they open a topic and when they send it, and written
# once: prepared statements, as drafts are. A `Report` returned by `get_private_report` or
# written by `save_report` belongs to no session; change it through `save_report`.


async def get_private_report(*, session: AsyncSession, person_id: int, topic_id: int) -> Report | None:
    return await first_loaded(
        session, Report, _PRIVATE_REPORT, {"person_id": person_id, "topic_id": topic_id}
    )


async def get_report_by_update(*, session: AsyncSession, update_id: int) -> Report | None:
    return (await session.exec(select(Report).where(Report.source_update_id == update_id))).first()


async def save_report(
    *, session: AsyncSession, report: Report, choice_values: Iterable[tuple[str, str]]
) -> Report:
    """Insert or replace a report together with its groupable answers, at once (a new
    report gets its number here, which the caller shows). `report` must belong to no session
    (new, or from `get_private_report`): it is written field by field, never by the ORM."""
    if sa_inspect(report).session is not None:
        raise ValueError("save_report writes reports that belong to no session")
    await begin_write(session)
    fields = {f"new_{name}": getattr(report, name) for name in _REPORT_FIELDS}
    if report.id is None:
        inserted = await _INSERT_REPORT.first(session, fields)
        assert inserted is not None
        report.id = int(inserted[0])
    else:
        if await _UPDATE_REPORT.execute(session, {"report_id": report.id, **fields}) != 1:
            raise LookupError(f"report {report.id} is not in the database")
        await _DELETE_REPORT_ANSWERS.execute(session, {"report_id": report.id})
    await _INSERT_REPORT_ANSWER.execute_many(
        session,
        [
            {"answer_report_id": report.id, "answer_question_key": key, "answer_value": value}
            for key, value in sorted(set(choice_values))
        ],
    )
    return report


@dataclass(frozen=True)
class UnitFigures:
    unit_id: int
    reports: int
    reporters: int


@dataclass(frozen=True)
class OptionCount:
    question_key: str
    value: str
    reports: int


def _in_scope(period: str, under_path: str):  # type: ignore[no-untyped-def]
    return (Report.period == period, col(Unit.path).startswith(under_path))


async def report_totals(*, session: AsyncSession, period: str, under_path: str) -> tuple[int, int]:
    """(reports, distinct reporters) for a period in a subtree."""
    statement = (
        select(func.count(col(Report.id)), func.count(func.distinct(Report.person_id)))
        .join(Unit, col(Unit.id) == Report.unit_id)
        .where(*_in_scope(period, under_path))
    )
    reports, reporters = (await session.exec(statement)).one()
    return int(reports), int(reporters)


async def figures_by_unit(*, session: AsyncSession, period: str, under_path: str) -> list[UnitFigures]:
    statement = (
        select(Report.unit_id, func.count(col(Report.id)), func.count(func.distinct(Report.person_id)))
        .join(Unit, col(Unit.id) == Report.unit_id)
        .where(*_in_scope(period, under_path))
        .group_by(col(Report.unit_id))
    )
    return [UnitFigures(int(u), int(r), int(p)) for u, r, p in (await session.exec(statement)).all()]


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
    """Distinct collaborators with at least one report: unique people, not submissions."""
    statement = (
        select(Report.unit_id, func.count(func.distinct(Report.person_id)))
        .join(Unit, col(Unit.id) == Report.unit_id)
        .join(PersonRole, col(PersonRole.person_id) == Report.person_id)
        .where(*_in_scope(period, under_path), PersonRole.role == Role.COLLABORATOR)
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

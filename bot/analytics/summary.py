"""The month's figures for a leader's scope: all counting happens in SQL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.forms import FormDefinition, text_for
from bot.units import tree_order
from storage import people, reports
from storage.models import Report, ReportStatus, Unit

URGENCY_QUESTION = "muc_do"
PERIOD_PATTERN = re.compile(r"^\s*(\d{1,2})\s*[/\-.]\s*(\d{4})\s*$")


class PeriodError(ValueError):
    """A /summary argument that is not a month."""


def parse_period(text: str) -> str:
    """'MM/YYYY' (also M/YYYY, MM-YYYY) → 'YYYY-MM'."""
    match = PERIOD_PATTERN.match(text)
    if not match:
        raise PeriodError(text)
    month, year = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12 or not 2000 <= year <= 2100:
        raise PeriodError(text)
    return f"{year:04d}-{month:02d}"


@dataclass(frozen=True)
class OptionFigure:
    value: str
    label: str
    count: int
    percent: float


@dataclass(frozen=True)
class QuestionFigure:
    key: str
    label: str
    multiple: bool
    answered: int
    options: list[OptionFigure]


@dataclass(frozen=True)
class UnitFigure:
    unit_id: int
    name: str
    reports: int  # full reports
    quick: int  # quick opinions in a group
    reporters: int  # collaborators with a full report
    active: int

    @property
    def rate(self) -> float | None:
        return self.reporters / self.active if self.active else None


@dataclass(frozen=True)
class Excerpt:
    unit_name: str
    text: str
    submitted_at: datetime
    report_id: int = 0
    late: bool = False  # sent after its topic's due time


@dataclass(frozen=True)
class Picked:
    """Reports a leader reads one by one (proposals, urgent ones): how many, and the latest."""

    count: int
    latest: list[Excerpt]


@dataclass(frozen=True)
class Summary:
    """`reports` and `reporters` are full reports (the form): the percentages of each question
    are of them, and so is the response rate; quick opinions in groups are counted apart."""

    period: str
    scope_name: str
    reports: int
    reporters: int
    active: int
    units: list[UnitFigure]
    questions: list[QuestionFigure]
    urgency: list[OptionFigure]
    excerpts: list[Excerpt]
    quick: int = 0
    proposals: Picked = Picked(0, [])
    urgent: Picked = Picked(0, [])

    @property
    def rate(self) -> float | None:
        return self.reporters / self.active if self.active else None


def percent(count: int, total: int) -> float:
    """One decimal, rounded half up; multi-choice percentages may add up to more than 100."""
    return int(count * 1000 / total + 0.5) / 10 if total else 0.0


async def build_summary(
    *,
    session: AsyncSession,
    period: str,
    scope: Unit | None,
    forms: list[FormDefinition],
    locale: str,
) -> Summary:
    """Figures for one period over a unit's subtree (None: the whole organisation)."""
    path = scope.path if scope else "/"
    totals = await reports.report_totals(session=session, period=period, under_path=path)
    by_unit = {
        row.unit_id: row
        for row in await reports.figures_by_unit(session=session, period=period, under_path=path)
    }
    reporters = await reports.collaborator_reporters_by_unit(session=session, period=period, under_path=path)
    active = await reports.active_collaborators_by_unit(session=session, under_path=path)
    units = []
    for unit in tree_order(await people.list_units(session=session, under_path=path)):
        assert unit.id is not None
        if unit.id not in by_unit and unit.id not in active:
            continue
        row = by_unit.get(unit.id)
        units.append(
            UnitFigure(
                unit_id=unit.id,
                name=unit.name,
                reports=row.full if row else 0,
                quick=row.quick if row else 0,
                reporters=reporters.get(unit.id, 0),
                active=active.get(unit.id, 0),
            )
        )

    counts: dict[tuple[str, str], int] = {
        (row.question_key, row.value): row.reports
        for row in await reports.option_counts(session=session, period=period, under_path=path)
    }
    answered = await reports.answered_by_question(session=session, period=period, under_path=path)
    questions: list[QuestionFigure] = []
    urgency: list[OptionFigure] = []
    seen: set[str] = set()
    for form in forms:
        for question in form.questions:
            if question.key in seen or question.key not in answered:
                continue
            if question.type not in ("choice", "multi_choice", "yes_no"):
                continue
            seen.add(question.key)
            total = answered[question.key]
            options = [
                OptionFigure(
                    value=option.value,
                    label=text_for(option.label, locale),
                    count=counts.get((question.key, option.value), 0),
                    percent=percent(counts.get((question.key, option.value), 0), total),
                )
                for option in question.choices()
            ]
            if question.key == URGENCY_QUESTION:
                urgency = options
                continue
            questions.append(
                QuestionFigure(
                    key=question.key,
                    label=text_for(question.label, locale),
                    multiple=question.type == "multi_choice",
                    answered=total,
                    options=options,
                )
            )

    unit_names = {unit.id: unit.name for unit in await people.list_units(session=session, under_path=path)}

    def excerpt(report: Report, text: str | None) -> Excerpt:
        return Excerpt(
            unit_name=unit_names.get(report.unit_id, ""),
            text=text or "",
            submitted_at=report.submitted_at,
            report_id=report.id or 0,
            late=report.status == ReportStatus.LATE,
        )

    async def picked(kind: str) -> Picked:
        count, rows = await reports.picked_reports(session=session, period=period, under_path=path, kind=kind)
        return Picked(count, [excerpt(row, row.proposal if kind == "proposal" else row.text) for row in rows])

    return Summary(
        period=period,
        scope_name=scope.name if scope else "",
        reports=totals.full,
        reporters=sum(reporters.values()),
        active=sum(active.values()),
        units=units,
        questions=questions,
        urgency=urgency,
        excerpts=[
            excerpt(row, row.text)
            for row in await reports.latest_texts(session=session, period=period, under_path=path)
        ],
        quick=totals.quick,
        proposals=await picked("proposal"),
        urgent=await picked("urgent"),
    )

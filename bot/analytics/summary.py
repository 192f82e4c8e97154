"""The month's figures for a leader's scope: all counting happens in SQL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.forms import FormDefinition, text_for
from storage import people, reports
from storage.models import Unit

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
    reports: int
    reporters: int
    active: int

    @property
    def rate(self) -> float | None:
        return self.reporters / self.active if self.active else None


@dataclass(frozen=True)
class Excerpt:
    unit_name: str
    text: str
    submitted_at: datetime


@dataclass(frozen=True)
class Summary:
    period: str
    scope_name: str
    reports: int
    reporters: int
    active: int
    units: list[UnitFigure]
    questions: list[QuestionFigure]
    urgency: list[OptionFigure]
    excerpts: list[Excerpt]

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
    total_reports, _reporters = await reports.report_totals(session=session, period=period, under_path=path)
    by_unit = {
        row.unit_id: row
        for row in await reports.figures_by_unit(session=session, period=period, under_path=path)
    }
    reporters = await reports.collaborator_reporters_by_unit(session=session, period=period, under_path=path)
    active = await reports.active_collaborators_by_unit(session=session, under_path=path)
    units = []
    for unit in await people.list_units(session=session, under_path=path):
        assert unit.id is not None
        if unit.id not in by_unit and unit.id not in active:
            continue
        row = by_unit.get(unit.id)
        units.append(
            UnitFigure(
                unit_id=unit.id,
                name=unit.name,
                reports=row.reports if row else 0,
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

    unit_names = {figure.unit_id: figure.name for figure in units}
    excerpts = [
        Excerpt(unit_name=unit_names.get(row.unit_id, ""), text=row.text or "", submitted_at=row.submitted_at)
        for row in await reports.latest_texts(session=session, period=period, under_path=path)
    ]
    return Summary(
        period=period,
        scope_name=scope.name if scope else "",
        reports=total_reports,
        reporters=sum(reporters.values()),
        active=sum(active.values()),
        units=units,
        questions=questions,
        urgency=urgency,
        excerpts=excerpts,
    )

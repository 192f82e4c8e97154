"""Form definitions: what a questionnaire asks, validated once when it is loaded."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

LocalizedText = dict[str, str]
QuestionType = Literal["choice", "multi_choice", "text", "number", "date", "deadline", "yes_no", "attachment"]
CHOICE_TYPES = ("choice", "multi_choice", "yes_no")

YES_NO_OPTIONS: tuple[tuple[str, LocalizedText], ...] = (
    ("yes", {"vi": "Có", "en": "Yes"}),
    ("no", {"vi": "Không", "en": "No"}),
)


def text_for(localized: LocalizedText, locale: str) -> str:
    """The text in a locale, falling back to Vietnamese (always present)."""
    return localized.get(locale) or localized["vi"]


def _localized(value: Any) -> Any:
    """YAML convenience: a plain string means Vietnamese text."""
    if isinstance(value, str):
        return {"vi": value}
    return value


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Option(_Frozen):
    value: str = Field(pattern=r"^[a-z0-9_]{1,48}$")
    label: LocalizedText

    _label = field_validator("label", mode="before")(_localized)

    @field_validator("label")
    @classmethod
    def _has_vietnamese(cls, value: LocalizedText) -> LocalizedText:
        if not value.get("vi"):
            raise ValueError("every text needs a Vietnamese ('vi') version")
        return value


class ShowIf(_Frozen):
    """Ask a question only when an earlier answer equals / includes given values."""

    question: str
    equals: str | None = None
    any_of: list[str] | None = None

    @model_validator(mode="after")
    def _one_condition(self) -> ShowIf:
        if (self.equals is None) == (self.any_of is None):
            raise ValueError("show_if needs exactly one of 'equals' or 'any_of'")
        return self

    def values(self) -> list[str]:
        return [self.equals] if self.equals is not None else list(self.any_of or [])

    def holds(self, answer: Any) -> bool:
        wanted = set(self.values())
        if isinstance(answer, list):
            return bool(wanted & set(answer))
        return answer in wanted


def _every_attachment_kind() -> list[Literal["photo", "document"]]:
    return ["photo", "document"]


class Question(_Frozen):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")
    type: QuestionType
    label: LocalizedText
    # What the review screen and a stored report show beside the answer, where the label is a
    # question ("How long is the link valid?" → "Valid for").
    short_label: LocalizedText | None = None
    help: LocalizedText | None = None
    required: bool = True
    options: list[Option] = Field(default_factory=list)
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=1)
    pattern: str | None = None
    pattern_hint: LocalizedText | None = None
    format: Literal["phone_vn"] | None = None
    min: float | None = None
    max: float | None = None
    integer: bool = False
    allow_past: bool = True
    allow_future: bool = True
    allow_today: bool = True
    accept: list[Literal["photo", "document"]] = Field(default_factory=_every_attachment_kind)
    max_selections: int | None = Field(default=None, ge=1)
    show_if: ShowIf | None = None
    input_hint: Literal["contact"] | None = None

    @property
    def review_label(self) -> LocalizedText:
        return self.short_label or self.label

    _loc = field_validator("label", "short_label", "help", "pattern_hint", mode="before")(_localized)

    @model_validator(mode="after")
    def _consistent(self) -> Question:
        for text in (self.label, self.short_label, self.help, self.pattern_hint):
            if text is not None and not text.get("vi"):
                raise ValueError(f"{self.key}: every text needs a Vietnamese ('vi') version")
        if self.type in ("choice", "multi_choice"):
            if len(self.options) < 2:
                raise ValueError(f"{self.key}: a choice question needs at least two options")
            values = [option.value for option in self.options]
            if len(set(values)) != len(values):
                raise ValueError(f"{self.key}: option values must be unique")
        elif self.options:
            raise ValueError(f"{self.key}: only choice questions have options")
        if self.min_length is not None and self.max_length is not None and self.min_length > self.max_length:
            raise ValueError(f"{self.key}: min_length is greater than max_length")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"{self.key}: min is greater than max")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as error:
                raise ValueError(f"{self.key}: the pattern does not compile: {error}") from error
        if self.format is not None and self.type != "text":
            raise ValueError(f"{self.key}: format applies to text questions only")
        if not self.accept:
            raise ValueError(f"{self.key}: accept must list at least one kind")
        return self

    def choices(self) -> list[Option]:
        """The options a person picks from (yes/no questions have two implicit ones)."""
        if self.type == "yes_no":
            return [Option(value=value, label=label) for value, label in YES_NO_OPTIONS]
        return list(self.options)


class FormDefinition(_Frozen):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    version: int = Field(default=1, ge=1)
    title: LocalizedText
    description: LocalizedText | None = None
    questions: list[Question]

    _loc = field_validator("title", "description", mode="before")(_localized)
    # Question key -> index, for the lookups every button press makes.
    _positions: dict[str, int] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> FormDefinition:
        if not self.title.get("vi"):
            raise ValueError("the title needs a Vietnamese ('vi') version")
        if not self.questions:
            raise ValueError("a form needs at least one question")
        seen: dict[str, Question] = {}
        for question in self.questions:
            if question.key in seen:
                raise ValueError(f"question key {question.key!r} appears twice")
            condition = question.show_if
            if condition is not None:
                source = seen.get(condition.question)
                if source is None:
                    raise ValueError(f"{question.key}: show_if must refer to an earlier question")
                if source.type not in CHOICE_TYPES:
                    raise ValueError(f"{question.key}: show_if must refer to a choice question")
                known = {option.value for option in source.choices()}
                unknown = [value for value in condition.values() if value not in known]
                if unknown:
                    raise ValueError(f"{question.key}: show_if refers to unknown options {unknown}")
            seen[question.key] = question
        self._positions = {question.key: index for index, question in enumerate(self.questions)}
        return self

    def question(self, key: str) -> Question:
        return self.questions[self._positions[key]]

    def position(self, key: str) -> int:
        """Where a question stands in the form (raises KeyError for an unknown key)."""
        return self._positions[key]

    def has_question(self, key: str) -> bool:
        return key in self._positions

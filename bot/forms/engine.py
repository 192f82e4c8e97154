"""The questionnaire engine: a pure state machine, no Telegram, no database, no clock.

`apply(form, state, event, today=...)` returns the next state, or the same state with a
`FormError` whose code the UI translates. States are immutable and JSON round-trip, so a
draft in the database resumes exactly where it was.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal

from bot.forms import words
from bot.forms.deadlines import DeadlineProblem, format_deadline, parse_deadline
from bot.forms.schema import CHOICE_TYPES, FormDefinition, Option, Question
from bot.forms.validators import normalize_text, normalize_vn_phone, parse_date, parse_number, text_length

Status = Literal["asking", "review", "submitted", "cancelled"]
JSONValue = Any

# A date further back than this is refused as a slip of the keyboard.
OLDEST_DATE = timedelta(days=5 * 365)
# A choice with more options than this (a province's 120 communes) is shown a page at a
# time, and typed words search it; its options keep their numbers on every page.
PAGE_SIZE = 10


@dataclass(frozen=True)
class Attachment:
    kind: Literal["photo", "document"]
    file_id: str
    file_unique_id: str
    file_name: str | None = None
    mime_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind,
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
        }
        if self.file_name is not None:
            data["file_name"] = self.file_name
        if self.mime_type is not None:
            data["mime_type"] = self.mime_type
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Attachment:
        return cls(
            kind=data["kind"],
            file_id=data["file_id"],
            file_unique_id=data["file_unique_id"],
            file_name=data.get("file_name"),
            mime_type=data.get("mime_type"),
        )


@dataclass(frozen=True)
class FormError:
    code: str
    params: dict[str, str | int | float] = field(default_factory=dict)


@dataclass(frozen=True)
class FormState:
    status: Status
    current: str | None
    answers: dict[str, JSONValue] = field(default_factory=dict)
    selection: tuple[str, ...] = ()
    history: tuple[str, ...] = ()
    editing: bool = False
    step: int = 0
    # Where a long list of options is (PAGE_SIZE): the page shown, and the words searched.
    page: int = 0
    query: str = ""

    def to_json(self) -> dict[str, Any]:
        data = {
            "status": self.status,
            "current": self.current,
            "answers": dict(self.answers),
            "selection": list(self.selection),
            "history": list(self.history),
            "editing": self.editing,
            "step": self.step,
        }
        if self.page or self.query:
            data |= {"page": self.page, "query": self.query}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FormState:
        return cls(
            status=data["status"],
            current=data.get("current"),
            answers=dict(data.get("answers") or {}),
            selection=tuple(data.get("selection") or ()),
            history=tuple(data.get("history") or ()),
            editing=bool(data.get("editing", False)),
            step=int(data.get("step", 0)),
            page=int(data.get("page", 0)),
            query=str(data.get("query", "")),
        )


# Events ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    value: str | Attachment


@dataclass(frozen=True)
class Choose:
    option: str


@dataclass(frozen=True)
class Toggle:
    option: str


@dataclass(frozen=True)
class Done:
    pass


@dataclass(frozen=True)
class Skip:
    pass


@dataclass(frozen=True)
class Back:
    pass


@dataclass(frozen=True)
class Cancel:
    pass


@dataclass(frozen=True)
class Edit:
    key: str


@dataclass(frozen=True)
class Submit:
    pass


@dataclass(frozen=True)
class Page:
    """Show another page of a long list of options (0-based)."""

    page: int


@dataclass(frozen=True)
class Search:
    """Show only the options whose names contain these words ("" shows them all again)."""

    text: str


Event = Answer | Choose | Toggle | Done | Skip | Back | Cancel | Edit | Submit | Page | Search


@dataclass(frozen=True)
class Outcome:
    state: FormState
    error: FormError | None = None


class _Refused(Exception):
    def __init__(self, code: str, **params: str | int | float) -> None:
        super().__init__(code)
        self.error = FormError(code, dict(params))


# Queries --------------------------------------------------------------------------------


def question(form: FormDefinition, key: str) -> Question:
    return form.question(key)


def is_visible(form: FormDefinition, item: Question, answers: dict[str, Any]) -> bool:
    condition = item.show_if
    if condition is None:
        return True
    source = form.question(condition.question)
    if not is_visible(form, source, answers):
        return False
    return condition.question in answers and condition.holds(answers[condition.question])


def visible_questions(form: FormDefinition, answers: dict[str, Any]) -> list[Question]:
    return [item for item in form.questions if is_visible(form, item, answers)]


def missing_required(form: FormDefinition, answers: dict[str, Any]) -> list[str]:
    return [
        item.key for item in visible_questions(form, answers) if item.required and item.key not in answers
    ]


def is_paged(item: Question) -> bool:
    return item.type in CHOICE_TYPES and len(item.choices()) > PAGE_SIZE


def listed_options(item: Question, query: str) -> list[tuple[int, Option]]:
    """The options (with their 1-based numbers in the whole list) whose name in any language
    contains the searched words, ignoring case and diacritics; all of them for no words."""
    numbered = list(enumerate(item.choices(), start=1))
    wanted = words.fold(query)
    if not wanted:
        return numbered
    return [
        (number, option)
        for number, option in numbered
        if any(wanted in words.fold(label) for label in option.label.values())
    ]


@dataclass(frozen=True)
class OptionPage:
    options: list[tuple[int, Option]]
    page: int  # 0-based
    pages: int
    matches: int  # options matching the search, on every page


def option_page(item: Question, state: FormState) -> OptionPage:
    """The options on screen: all of a short list, one page of a long one."""
    if not is_paged(item):
        return OptionPage(list(enumerate(item.choices(), start=1)), 0, 1, len(item.choices()))
    listed = listed_options(item, state.query)
    pages = max(1, -(-len(listed) // PAGE_SIZE))
    page = min(max(state.page, 0), pages - 1)
    return OptionPage(listed[page * PAGE_SIZE : (page + 1) * PAGE_SIZE], page, pages, len(listed))


def progress(form: FormDefinition, state: FormState) -> tuple[int, int]:
    """(1-based position of the current question among the visible ones, how many are visible)."""
    visible = visible_questions(form, state.answers)
    keys = [item.key for item in visible]
    if state.current in keys:
        return keys.index(state.current) + 1, len(keys)
    return len(keys), len(keys)


def validate_answers(
    form: FormDefinition, answers: dict[str, Any], *, today: date, now: datetime | None = None
) -> list[FormError]:
    """Re-check a stored answer set: each value valid, nothing hidden answered, nothing missing."""
    errors: list[FormError] = []
    visible = {item.key for item in visible_questions(form, answers)}
    for key, value in answers.items():
        if not form.has_question(key) or key not in visible:
            errors.append(FormError("unknown_option", {"option": key}))
            continue
        try:
            _check_stored(form.question(key), value, today, now)
        except _Refused as refused:
            errors.append(refused.error)
    missing = missing_required(form, answers)
    if missing:
        errors.append(FormError("incomplete", {"missing": ",".join(missing)}))
    return errors


# Transitions ----------------------------------------------------------------------------


def start(form: FormDefinition, *, answers: dict[str, Any] | None = None) -> FormState:
    """A fresh state asking the first visible question (prefilled answers are kept)."""
    kept = _prune(form, dict(answers or {}))
    first = visible_questions(form, kept)[0]
    return FormState(status="asking", current=first.key, answers=kept, selection=_preselect(first, kept))


def apply(
    form: FormDefinition, state: FormState, event: Event, *, today: date, now: datetime | None = None
) -> Outcome:
    """The next state; on a refusal the state is returned unchanged with the reason.

    `now` (aware, in the organisation's time zone) is needed only by deadline questions."""
    try:
        new = _transition(form, state, event, today, now)
    except _Refused as refused:
        return Outcome(state=state, error=refused.error)
    if (new.page or new.query) and (new.current != state.current or new.status != state.status):
        new = replace(new, page=0, query="")  # a list is browsed afresh at each question
    return Outcome(state=replace(new, step=state.step + 1))


def _transition(
    form: FormDefinition, state: FormState, event: Event, today: date, now: datetime | None
) -> FormState:
    if state.status in ("submitted", "cancelled"):
        raise _Refused("wrong_state")
    if isinstance(event, Cancel):
        return replace(state, status="cancelled", current=None, selection=())
    if state.status == "review":
        return _in_review(form, state, event)
    assert state.current is not None
    current = form.question(state.current)
    if isinstance(event, Back):
        return _back(form, state)
    if isinstance(event, Skip):
        if current.required:
            raise _Refused("not_optional")
        answers = dict(state.answers)
        answers.pop(current.key, None)
        return _advance(form, state, answers)
    if isinstance(event, Page | Search):
        return _browse(current, state, event)
    if (
        isinstance(event, Answer)
        and current.type == "multi_choice"
        and is_paged(current)
        and not _numbers(event.value)
    ):
        return _typed_in_long_list(current, state, event.value)
    if isinstance(event, Answer):
        try:
            value = _parse(current, event.value, today, now)
        except _Refused as refused:
            if refused.error.code != "expected_choice" or not is_paged(current):
                raise
            if isinstance(event.value, str) and normalize_text(event.value):
                return _browse(current, state, Search(event.value))
            raise
        return _advance(form, state, {**state.answers, current.key: value})
    if isinstance(event, Choose):
        if current.type not in ("choice", "yes_no"):
            raise _Refused("wrong_state")
        if event.option not in {option.value for option in current.choices()}:
            raise _Refused("unknown_option", option=event.option)
        return _advance(form, state, {**state.answers, current.key: event.option})
    if isinstance(event, Toggle):
        if current.type != "multi_choice":
            raise _Refused("wrong_state")
        values = [option.value for option in current.choices()]
        if event.option not in values:
            raise _Refused("unknown_option", option=event.option)
        selected = set(state.selection) ^ {event.option}
        if current.max_selections is not None and len(selected) > current.max_selections:
            raise _Refused("too_many", max=current.max_selections)
        return replace(state, selection=tuple(value for value in values if value in selected))
    if isinstance(event, Done):
        if current.type != "multi_choice":
            raise _Refused("wrong_state")
        if not state.selection:
            if current.required:
                raise _Refused("required")
            answers = dict(state.answers)
            answers.pop(current.key, None)
            return _advance(form, state, answers)
        return _advance(form, state, {**state.answers, current.key: list(state.selection)})
    raise _Refused("wrong_state")  # Edit and Submit belong to the review screen


def _browse(item: Question, state: FormState, event: Page | Search) -> FormState:
    """Page through or search a long list; what is chosen stays as it is."""
    if not is_paged(item):
        raise _Refused("wrong_state")
    if isinstance(event, Search):
        text = normalize_text(event.text)
        if text and not listed_options(item, text):
            raise _Refused("no_match", text=text)
        return replace(state, query=text, page=0)
    pages = option_page(item, state).pages
    if not 0 <= event.page < pages:
        raise _Refused("no_page", page=event.page + 1, pages=pages)
    return replace(state, page=event.page)


def _numbers(raw: str | Attachment) -> bool:
    return isinstance(raw, str) and bool(words.read(normalize_text(raw)).numbers)


def _typed_in_long_list(item: Question, state: FormState, raw: str | Attachment) -> FormState:
    """Typed at a long list of several choices, other than numbers (which are the whole
    answer, as on Zalo): a name adds that option to what is chosen on every page, and part
    of a name searches. A name never answers the question and drops what was ticked."""
    if isinstance(raw, Attachment):
        raise _Refused("expected_choice")
    text = normalize_text(raw)
    wanted = text.casefold()
    for option in item.choices():
        if any(
            unicodedata.normalize("NFC", label).strip().casefold() == wanted
            for label in option.label.values()
        ):
            values = [choice.value for choice in item.choices()]
            selected = set(state.selection) | {option.value}
            if item.max_selections is not None and len(selected) > item.max_selections:
                raise _Refused("too_many", max=item.max_selections)
            return replace(state, selection=tuple(value for value in values if value in selected))
    if not text:
        raise _Refused("expected_choice")
    return _browse(item, state, Search(text))


def _in_review(form: FormDefinition, state: FormState, event: Event) -> FormState:
    if isinstance(event, Submit):
        missing = missing_required(form, state.answers)
        if missing:
            raise _Refused("incomplete", missing=",".join(missing))
        return replace(state, status="submitted", current=None, selection=())
    if isinstance(event, Edit):
        visible = {item.key for item in visible_questions(form, state.answers)}
        if not form.has_question(event.key) or event.key not in visible:
            raise _Refused("unknown_option", option=event.key)
        target = form.question(event.key)
        return replace(
            state,
            status="asking",
            current=target.key,
            selection=_preselect(target, state.answers),
            history=(*state.history, "__review__"),
            editing=True,
        )
    if isinstance(event, Back):
        last = visible_questions(form, state.answers)[-1]
        return replace(
            state,
            status="asking",
            current=last.key,
            selection=_preselect(last, state.answers),
            history=state.history[:-1] if state.history and state.history[-1] == last.key else state.history,
            editing=False,
        )
    raise _Refused("wrong_state")


def _back(form: FormDefinition, state: FormState) -> FormState:
    history = list(state.history)
    visible = {item.key for item in visible_questions(form, state.answers)}
    while history:
        previous = history.pop()
        if previous == "__review__":
            return replace(
                state, status="review", current=None, selection=(), history=tuple(history), editing=False
            )
        if previous in visible:
            target = form.question(previous)
            return replace(
                state, current=previous, selection=_preselect(target, state.answers), history=tuple(history)
            )
    raise _Refused("no_previous")


def _advance(form: FormDefinition, state: FormState, answers: dict[str, Any]) -> FormState:
    """Store the answer, then ask the next visible question, or show the review."""
    assert state.current is not None
    answers = _prune(form, answers)
    history = (*state.history, state.current)
    visible = visible_questions(form, answers)
    if state.editing:
        missing = [item for item in visible if item.required and item.key not in answers]
        if missing:
            return replace(
                state,
                current=missing[0].key,
                answers=answers,
                selection=_preselect(missing[0], answers),
                history=history,
            )
        trimmed = tuple(key for key in history if key != "__review__")
        return FormState(
            status="review", current=None, answers=answers, history=trimmed, editing=False, step=state.step
        )
    position = form.position(state.current)
    for item in visible:
        if form.position(item.key) > position:
            return replace(
                state, current=item.key, answers=answers, selection=_preselect(item, answers), history=history
            )
    return replace(state, status="review", current=None, answers=answers, selection=(), history=history)


def _prune(form: FormDefinition, answers: dict[str, Any]) -> dict[str, Any]:
    """Drop answers to questions that are no longer asked (show_if turned false)."""
    while True:
        visible = {item.key for item in visible_questions(form, answers)}
        kept = {key: value for key, value in answers.items() if key in visible}
        if kept == answers:
            return kept
        answers = kept


def _preselect(item: Question, answers: dict[str, Any]) -> tuple[str, ...]:
    if item.type == "multi_choice" and isinstance(answers.get(item.key), list):
        return tuple(answers[item.key])
    return ()


# Parsing and validating one answer ------------------------------------------------------


def _parse(item: Question, raw: str | Attachment, today: date, now: datetime | None) -> JSONValue:
    if item.type == "attachment":
        if not isinstance(raw, Attachment):
            raise _Refused("expected_attachment")
        if raw.kind not in item.accept:
            raise _Refused("attachment_kind", accepted=",".join(item.accept))
        return raw.to_json()
    if isinstance(raw, Attachment):
        if item.type in ("choice", "multi_choice", "yes_no"):
            raise _Refused("expected_choice")
        raise _Refused("expected_text")
    text = normalize_text(raw)
    if item.type in ("choice", "yes_no"):
        return _match_option(item, text)
    if item.type == "multi_choice":
        return _match_options(item, text)
    if not text:
        raise _Refused("required")
    if item.type == "number":
        number = parse_number(text)
        if number is None:
            raise _Refused("not_a_number")
        _check_number(item, number)
        return number
    if item.type == "date":
        day = parse_date(
            text, today, past=not item.allow_future, either=item.allow_future and item.allow_past
        )
        if day is None:
            raise _Refused("bad_date")
        _check_date(item, day, today)
        return day.isoformat()
    if item.type == "deadline":
        return _deadline(text, now).isoformat()
    return _check_text(item, text)


def _deadline(text: str, now: datetime | None) -> datetime:
    if now is None:
        raise _Refused("deadline_unrecognised")
    moment = parse_deadline(text, now)
    if isinstance(moment, DeadlineProblem):
        raise _Refused(f"deadline_{moment.code}", **moment.params)
    return moment


def _match_options(item: Question, text: str) -> list[str]:
    """Typed text for a multi-choice: option numbers ("1 3", "1,3") or one option's label;
    the whole selection at once (on a channel without buttons there is nothing to toggle)."""
    options = item.choices()
    typed = words.read(text)
    if typed.numbers:
        for number in typed.numbers:
            if not 1 <= number <= len(options):
                raise _Refused("number_out_of_range", number=number, count=len(options))
        chosen = {options[number - 1].value for number in typed.numbers}
        values = [option.value for option in options if option.value in chosen]
    else:
        values = [_match_option(item, text)]
    if item.max_selections is not None and len(values) > item.max_selections:
        raise _Refused("too_many", max=item.max_selections)
    return values


def _match_option(item: Question, text: str) -> str:
    """Typed text for a choice: an option label in any language, or its number."""
    wanted = text.casefold()
    options = item.choices()
    if text.isdecimal() and 1 <= int(text) <= len(options):  # "¹" is a digit int() refuses
        return options[int(text) - 1].value
    for option in options:
        if any(
            unicodedata.normalize("NFC", label).strip().casefold() == wanted
            for label in option.label.values()
        ):
            return option.value
    if text.isdecimal():  # a number that is neither an option's number nor its label
        raise _Refused("number_out_of_range", number=int(text), count=len(options))
    raise _Refused("expected_choice")


def _check_text(item: Question, text: str) -> str:
    if item.format == "phone_vn":
        phone = normalize_vn_phone(text)
        if phone is None:
            raise _Refused("invalid_phone")
        return phone
    length = text_length(text)
    if item.min_length is not None and length < item.min_length:
        raise _Refused("too_short", min=item.min_length, length=length)
    if item.max_length is not None and length > item.max_length:
        raise _Refused("too_long", max=item.max_length, length=length)
    if item.pattern is not None and not re.fullmatch(item.pattern, text, flags=re.DOTALL):
        raise _Refused("pattern")
    return text


def _check_number(item: Question, number: int | float) -> None:
    if item.integer and not isinstance(number, int):
        raise _Refused("not_integer")
    if item.min is not None and number < item.min:
        raise _Refused("below_min", min=_plain(item.min))
    if item.max is not None and number > item.max:
        raise _Refused("above_max", max=_plain(item.max))


def _plain(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _check_date(item: Question, day: date, today: date) -> None:
    if day < today - OLDEST_DATE:  # 01/01/1900 for when an incident happened is a slip
        raise _Refused("date_too_old", value=day.strftime("%d/%m/%Y"), years=OLDEST_DATE.days // 365)
    if day > today and not item.allow_future:
        raise _Refused("date_in_future")
    if day < today and not item.allow_past:
        raise _Refused("date_in_past")
    if day == today and not item.allow_today:
        raise _Refused("date_today_not_allowed")


def _check_stored(item: Question, value: Any, today: date, now: datetime | None = None) -> None:
    """A stored answer is valid for its question (used by validate_answers and tests)."""
    if item.type in ("choice", "yes_no"):
        if value not in {option.value for option in item.choices()}:
            raise _Refused("unknown_option", option=str(value))
    elif item.type == "multi_choice":
        values = [option.value for option in item.choices()]
        if not isinstance(value, list) or not value or any(v not in values for v in value):
            raise _Refused("unknown_option", option=str(value))
        if len(set(value)) != len(value):
            raise _Refused("unknown_option", option=str(value))
        if item.max_selections is not None and len(value) > item.max_selections:
            raise _Refused("too_many", max=item.max_selections)
    elif item.type == "attachment":
        if not isinstance(value, dict) or value.get("kind") not in item.accept:
            raise _Refused("expected_attachment")
    elif item.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Refused("not_a_number")
        _check_number(item, value)
    elif item.type == "date":
        day = date.fromisoformat(value) if isinstance(value, str) else None
        if day is None:
            raise _Refused("bad_date")
        _check_date(item, day, today)
    elif item.type == "deadline":
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise _Refused("deadline_unrecognised")
        if now is not None and moment <= now:
            raise _Refused("deadline_in_past", value=format_deadline(moment))
    else:
        if not isinstance(value, str) or not value:
            raise _Refused("required")
        if _check_text(item, value) != value:
            raise _Refused("pattern")

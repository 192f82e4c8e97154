"""Properties of the engine over random forms and random sequences of events."""

from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.forms import (
    Answer,
    Attachment,
    Back,
    Cancel,
    Choose,
    Done,
    Edit,
    FormDefinition,
    FormState,
    Skip,
    Submit,
    Toggle,
    apply,
    load_builtin_forms,
    missing_required,
    start,
    validate_answers,
    visible_questions,
)

TODAY = date(2026, 11, 20)
OPTION_VALUES = ["a", "b", "c", "d"]
TYPES = ["choice", "multi_choice", "text", "number", "date", "yes_no", "attachment"]


@st.composite
def forms(draw: st.DrawFn) -> FormDefinition:
    count = draw(st.integers(min_value=1, max_value=7))
    questions: list[dict[str, Any]] = []
    for index in range(count):
        kind = draw(st.sampled_from(TYPES))
        question: dict[str, Any] = {
            "key": f"q{index}",
            "type": kind,
            "label": f"Câu {index}",
            "required": draw(st.booleans()),
        }
        if kind in ("choice", "multi_choice"):
            size = draw(st.integers(min_value=2, max_value=4))
            question["options"] = [{"value": v, "label": v.upper()} for v in OPTION_VALUES[:size]]
            if kind == "multi_choice" and draw(st.booleans()):
                question["max_selections"] = draw(st.integers(min_value=1, max_value=size))
        if kind == "text":
            low = draw(st.integers(min_value=0, max_value=4))
            question["min_length"] = low
            question["max_length"] = low + draw(st.integers(min_value=1, max_value=6))
        if kind == "number":
            question["min"] = -5
            question["max"] = 50
            question["integer"] = draw(st.booleans())
        if kind == "date":
            question["allow_future"] = draw(st.booleans())
            question["allow_past"] = draw(st.booleans())
        earlier = [q for q in questions if q["type"] in ("choice", "multi_choice", "yes_no")]
        if earlier and draw(st.booleans()):
            source = draw(st.sampled_from(earlier))
            values = [o["value"] for o in source.get("options", [])] or ["yes", "no"]
            question["show_if"] = {
                "question": source["key"],
                "any_of": draw(st.lists(st.sampled_from(values), min_size=1, max_size=2)),
            }
        questions.append(question)
    return FormDefinition.model_validate({"key": "p", "title": "P", "questions": questions})


ATTACHMENTS = st.builds(
    Attachment,
    kind=st.sampled_from(["photo", "document"]),
    file_id=st.text("abc", min_size=1, max_size=3),
    file_unique_id=st.just("u"),
)
TYPED = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "1",
            "2",
            "A",
            "b",
            "yes",
            "Có",
            "12",
            "-3",
            "1,5",
            "99",
            "20/11/2026",
            "21/11/2026",
            "19/11/2026",
            "31/02/2026",
            "  ",
            "0912345678",
        ]
    ),
)
EVENTS = st.one_of(
    st.builds(Answer, st.one_of(TYPED, ATTACHMENTS)),
    st.builds(Choose, st.sampled_from([*OPTION_VALUES, "yes", "no", "zz"])),
    st.builds(Toggle, st.sampled_from([*OPTION_VALUES, "zz"])),
    st.just(Done()),
    st.just(Skip()),
    st.just(Back()),
    st.just(Cancel()),
    st.builds(Edit, st.sampled_from(["q0", "q1", "q2", "q3", "q6", "nope"])),
    st.just(Submit()),
)


def _check_sequence(form: FormDefinition, events: list[Any]) -> None:
    state = start(form)
    for event in events:
        outcome = apply(form, state, event, today=TODAY)
        if outcome.error is not None:
            assert outcome.state == state
            if state.status in ("submitted", "cancelled"):
                assert outcome.error.code == "wrong_state"
        else:
            assert state.status not in ("submitted", "cancelled")
            assert outcome.state.step == state.step + 1
            previous, state = state, outcome.state
            if state.status == "submitted":
                assert previous.status == "review"
                assert missing_required(form, state.answers) == []
        assert FormState.from_json(state.to_json()) == state
        visible = {q.key for q in visible_questions(form, state.answers)}
        assert set(state.answers) <= visible
        problems = [e for e in validate_answers(form, state.answers, today=TODAY) if e.code != "incomplete"]
        assert problems == []
        if state.status == "asking":
            assert state.current in visible


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(form=forms(), events=st.lists(EVENTS, max_size=40))
def test_random_forms_and_events(form: FormDefinition, events: list[Any]) -> None:
    _check_sequence(form, events)


BUILTIN = load_builtin_forms()


@settings(max_examples=150, deadline=None)
@given(key=st.sampled_from(sorted(BUILTIN)), events=st.lists(EVENTS, max_size=60))
def test_builtin_forms_under_random_events(key: str, events: list[Any]) -> None:
    _check_sequence(BUILTIN[key], events)

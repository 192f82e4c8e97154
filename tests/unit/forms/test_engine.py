from datetime import date

import pytest

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
    progress,
    start,
)

TODAY = date(2026, 11, 20)
PHOTO = Attachment(kind="photo", file_id="f1", file_unique_id="u1")


def _form() -> FormDefinition:
    return FormDefinition.model_validate(
        {
            "key": "t",
            "title": "T",
            "questions": [
                {
                    "key": "kind",
                    "type": "choice",
                    "label": "Loại",
                    "options": [
                        {"value": "a", "label": {"vi": "Một", "en": "One"}},
                        {"value": "b", "label": "Hai"},
                    ],
                },
                {
                    "key": "detail",
                    "type": "text",
                    "label": "Chi tiết",
                    "min_length": 3,
                    "max_length": 10,
                    "show_if": {"question": "kind", "equals": "b"},
                },
                {
                    "key": "tags",
                    "type": "multi_choice",
                    "label": "Nhãn",
                    "max_selections": 2,
                    "options": [
                        {"value": "x", "label": "X"},
                        {"value": "y", "label": "Y"},
                        {"value": "z", "label": "Z"},
                    ],
                },
                {"key": "count", "type": "number", "label": "Số", "integer": True, "min": 1, "max": 100},
                {"key": "when", "type": "date", "label": "Ngày", "allow_future": False},
                {"key": "note", "type": "text", "label": "Ghi chú", "required": False},
                {
                    "key": "proof",
                    "type": "attachment",
                    "label": "Ảnh",
                    "required": False,
                    "accept": ["photo"],
                },
            ],
        }
    )


def _run(form: FormDefinition, *events: object) -> FormState:
    state = start(form)
    for event in events:
        outcome = apply(form, state, event, today=TODAY)  # type: ignore[arg-type]
        assert outcome.error is None, (event, outcome.error)
        state = outcome.state
    return state


def _error(form: FormDefinition, state: FormState, event: object) -> str:
    outcome = apply(form, state, event, today=TODAY)  # type: ignore[arg-type]
    assert outcome.error is not None
    assert outcome.state == state
    return outcome.error.code


def test_happy_path_to_submission() -> None:
    form = _form()
    state = _run(
        form,
        Choose("a"),
        Toggle("x"),
        Toggle("z"),
        Done(),
        Answer("12"),
        Answer("01/11/2026"),
        Skip(),
        Skip(),
    )
    assert state.status == "review"
    assert state.answers == {"kind": "a", "tags": ["x", "z"], "count": 12, "when": "2026-11-01"}
    state = apply(form, state, Submit(), today=TODAY).state
    assert state.status == "submitted"


def test_show_if_asks_and_prunes() -> None:
    form = _form()
    state = _run(form, Choose("b"))
    assert state.current == "detail"
    state = _run(form, Choose("b"), Answer("abcd"), Back(), Back())
    assert state.current == "kind"
    state = apply(form, state, Choose("a"), today=TODAY).state
    assert "detail" not in state.answers and state.current == "tags"


def test_each_refusal_has_its_code() -> None:
    form = _form()
    at_kind = start(form)
    assert _error(form, at_kind, Answer("ba")) == "expected_choice"
    assert _error(form, at_kind, Choose("c")) == "unknown_option"
    assert _error(form, at_kind, Skip()) == "not_optional"
    assert _error(form, at_kind, Back()) == "no_previous"
    assert _error(form, at_kind, Toggle("x")) == "wrong_state"
    assert _error(form, at_kind, Answer(PHOTO)) == "expected_choice"
    assert _error(form, at_kind, Submit()) == "wrong_state"
    at_detail = _run(form, Choose("b"))
    assert _error(form, at_detail, Answer("ab")) == "too_short"
    assert _error(form, at_detail, Answer("a" * 11)) == "too_long"
    assert _error(form, at_detail, Answer("   ")) == "required"
    assert _error(form, at_detail, Answer(PHOTO)) == "expected_text"
    at_tags = _run(form, Choose("a"))
    assert _error(form, at_tags, Done()) == "required"
    assert _error(form, at_tags, Answer("w")) == "expected_choice"
    assert _error(form, at_tags, Answer("1 4")) == "number_out_of_range"
    assert _error(form, at_tags, Answer("1 2 3")) == "too_many"
    assert _error(form, at_kind, Answer("3")) == "number_out_of_range"
    two = _run(form, Choose("a"), Toggle("x"), Toggle("y"))
    assert _error(form, two, Toggle("z")) == "too_many"
    at_count = _run(form, Choose("a"), Toggle("x"), Done())
    assert _error(form, at_count, Answer("mười")) == "not_a_number"
    assert _error(form, at_count, Answer("1,5")) == "not_integer"
    assert _error(form, at_count, Answer("0")) == "below_min"
    assert _error(form, at_count, Answer("101")) == "above_max"
    at_when = _run(form, Choose("a"), Toggle("x"), Done(), Answer("5"))
    assert _error(form, at_when, Answer("32/11/2026")) == "bad_date"
    assert _error(form, at_when, Answer("21/11/2026")) == "date_in_future"
    at_proof = _run(form, Choose("a"), Toggle("x"), Done(), Answer("5"), Answer("20/11/2026"), Skip())
    assert _error(form, at_proof, Answer("text")) == "expected_attachment"
    doc = Attachment(kind="document", file_id="d", file_unique_id="du", file_name="a.pdf")
    assert _error(form, at_proof, Answer(doc)) == "attachment_kind"


def test_typed_label_or_number_selects_an_option() -> None:
    form = _form()
    assert apply(form, start(form), Answer("one"), today=TODAY).state.answers["kind"] == "a"
    assert apply(form, start(form), Answer(" MỘT "), today=TODAY).state.answers["kind"] == "a"
    assert apply(form, start(form), Answer("2"), today=TODAY).state.answers["kind"] == "b"


def test_review_edit_returns_to_review_and_asks_newly_required() -> None:
    form = _form()
    state = _run(
        form, Choose("a"), Toggle("x"), Done(), Answer("5"), Answer("20/11/2026"), Skip(), Answer(PHOTO)
    )
    assert state.status == "review"
    state = _run_from(form, state, Edit("count"), Answer("7"))
    assert state.status == "review" and state.answers["count"] == 7
    state = _run_from(form, state, Edit("kind"), Choose("b"))
    assert state.status == "asking" and state.current == "detail" and state.editing
    state = _run_from(form, state, Answer("chi tiết"))
    assert state.status == "review" and state.answers["detail"] == "chi tiết"
    assert _error(form, state, Edit("nope")) == "unknown_option"
    assert _error(form, state, Answer("x")) == "wrong_state"


def test_back_from_an_edit_returns_to_review() -> None:
    form = _form()
    state = _run(form, Choose("a"), Toggle("x"), Done(), Answer("5"), Answer("20/11/2026"), Skip(), Skip())
    state = _run_from(form, state, Edit("count"), Back())
    assert state.status == "review"


def test_a_multi_choice_takes_several_numbers_or_one_label_typed_at_once() -> None:
    form = _form()
    at_tags = _run(form, Choose("a"))
    for typed, expected in [("3 1", ["x", "z"]), ("1,3", ["x", "z"]), ("Y", ["y"]), ("2, 2", ["y"])]:
        result = apply(form, at_tags, Answer(typed), today=TODAY)
        assert result.error is None and result.state.answers["tags"] == expected
        assert result.state.current == "count" and result.state.step == at_tags.step + 1


def test_multi_choice_is_preselected_when_asked_again() -> None:
    form = _form()
    state = _run(form, Choose("a"), Toggle("y"), Toggle("x"), Done(), Back())
    assert state.current == "tags" and state.selection == ("x", "y")


def test_cancel_and_after() -> None:
    form = _form()
    state = _run(form, Choose("a"), Cancel())
    assert state.status == "cancelled"
    assert _error(form, state, Choose("a")) == "wrong_state"
    assert _error(form, state, Cancel()) == "wrong_state"


def test_incomplete_submit_is_refused() -> None:
    form = _form()
    state = _run(form, Choose("a"), Toggle("x"), Done(), Answer("5"), Answer("20/11/2026"), Skip(), Skip())
    broken = FormState(status="review", current=None, answers={"kind": "a"}, step=state.step)
    assert _error(form, broken, Submit()) == "incomplete"


def test_state_round_trips_through_json() -> None:
    form = _form()
    state = _run(form, Choose("a"), Toggle("x"))
    assert FormState.from_json(state.to_json()) == state


def test_progress_counts_visible_questions() -> None:
    form = _form()
    assert progress(form, start(form)) == (1, 6)
    assert progress(form, _run(form, Choose("b"))) == (2, 7)


def test_phone_question() -> None:
    form = FormDefinition.model_validate(
        {
            "key": "r",
            "title": "R",
            "questions": [{"key": "phone", "type": "text", "format": "phone_vn", "label": "SĐT"}],
        }
    )
    assert _error(form, start(form), Answer("12345")) == "invalid_phone"
    assert apply(form, start(form), Answer("+84 912 345 678"), today=TODAY).state.answers == {
        "phone": "0912345678"
    }


@pytest.mark.parametrize("key", ["monthly_opinion", "incident"])
def test_builtin_forms_run_to_submission(key: str) -> None:
    form = load_builtin_forms()[key]
    state = start(form)
    while state.status == "asking":
        question = form.question(state.current or "")
        if question.type in ("choice", "yes_no"):
            event: object = Choose(question.choices()[0].value)
        elif question.type == "multi_choice":
            state = apply(form, state, Toggle(question.choices()[0].value), today=TODAY).state
            event = Done()
        elif question.type == "date":
            event = Answer("01/11/2026")
        elif not question.required:
            event = Skip()
        else:
            event = Answer("Người dân phấn khởi với chủ trương mới của tỉnh.")
        outcome = apply(form, state, event, today=TODAY)  # type: ignore[arg-type]
        assert outcome.error is None, outcome.error
        state = outcome.state
    assert apply(form, state, Submit(), today=TODAY).state.status == "submitted"


def _run_from(form: FormDefinition, state: FormState, *events: object) -> FormState:
    for event in events:
        outcome = apply(form, state, event, today=TODAY)  # type: ignore[arg-type]
        assert outcome.error is None, (event, outcome.error)
        state = outcome.state
    return state


def test_a_typed_number_is_an_options_number_then_a_label_then_refused() -> None:
    form = FormDefinition.model_validate(
        {
            "key": "n",
            "title": "N",
            "questions": [
                {
                    "key": "size",
                    "type": "choice",
                    "label": "Số hộ",
                    "options": [{"value": "ten", "label": "10"}, {"value": "twenty", "label": "20"}],
                }
            ],
        }
    )
    state = start(form)
    assert apply(form, state, Answer("2"), today=TODAY).state.answers["size"] == "twenty"
    assert apply(form, state, Answer("10"), today=TODAY).state.answers["size"] == "ten"
    refused = apply(form, state, Answer("30"), today=TODAY).error
    assert refused is not None and refused.code == "number_out_of_range"

"""Long lists of options (a province's 120 communes): pages, search, numbers kept."""

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from bot.forms import Answer, Choose, Done, FormDefinition, FormState, Page, Search, Toggle, apply, start
from bot.forms.engine import PAGE_SIZE, option_page

TODAY = date(2026, 12, 7)
NAMES = [f"Xã Bình {index}" if index % 3 == 0 else f"Phường Hòa {index}" for index in range(1, 121)]


def _form(kind: str = "multi_choice", count: int = 120) -> FormDefinition:
    return FormDefinition.model_validate(
        {
            "key": "units",
            "title": "Đơn vị",
            "questions": [
                {
                    "key": "targets",
                    "type": kind,
                    "label": "Chọn đơn vị",
                    "options": [
                        {"value": f"u{index}", "label": name} for index, name in enumerate(NAMES[:count], 1)
                    ],
                },
                {"key": "note", "type": "text", "label": "Ghi chú"},
            ],
        }
    )


def _apply(form: FormDefinition, state: FormState, event: object) -> FormState:
    outcome = apply(form, state, event, today=TODAY)  # type: ignore[arg-type]
    assert outcome.error is None, outcome.error
    return outcome.state


def test_a_long_list_is_shown_a_page_at_a_time_with_its_numbers_kept() -> None:
    form = _form()
    state = start(form)
    question = form.question("targets")
    first = option_page(question, state)
    assert (first.page, first.pages, first.matches) == (0, 12, 120)
    assert [number for number, _ in first.options] == list(range(1, PAGE_SIZE + 1))
    state = _apply(form, state, Page(3))
    shown = option_page(question, state)
    assert [number for number, _ in shown.options] == list(range(31, 41))
    # a choice on another page stays chosen while paging
    state = _apply(form, state, Toggle("u35"))
    state = _apply(form, state, Page(11))
    assert state.selection == ("u35",)
    assert option_page(question, state).options[-1][0] == 120


def test_a_page_that_does_not_exist_is_refused_and_changes_nothing() -> None:
    form = _form()
    state = start(form)
    for page in (-1, 12, 99):
        outcome = apply(form, state, Page(page), today=TODAY)
        assert outcome.error is not None and outcome.error.code == "no_page"
        assert outcome.error.params == {"page": page + 1, "pages": 12}
        assert outcome.state == state


def test_typed_words_search_the_list_ignoring_case_and_diacritics() -> None:
    form = _form()
    state = _apply(form, start(form), Answer("binh"))
    shown = option_page(form.question("targets"), state)
    assert state.query == "binh" and state.page == 0
    assert shown.matches == 40
    assert all("Bình" in option.label["vi"] for _, option in shown.options)
    # numbers typed after a search still mean the options' own numbers
    state = _apply(form, state, Answer("3 6"))
    assert state.answers["targets"] == ["u3", "u6"] and state.current == "note"
    assert (state.page, state.query) == (0, "")  # the next question starts afresh


def test_a_search_with_no_match_is_refused_and_the_list_stays() -> None:
    form = _form()
    state = _apply(form, start(form), Page(2))
    outcome = apply(form, state, Answer("Đà Lạt"), today=TODAY)
    assert outcome.error is not None and outcome.error.code == "no_match"
    assert outcome.error.params == {"text": "Đà Lạt"}
    assert outcome.state == state


def test_show_all_again_and_a_full_name_still_chooses() -> None:
    form = _form("choice")
    state = _apply(form, start(form), Search("hòa 1"))
    assert option_page(form.question("targets"), state).matches > 1
    state = _apply(form, state, Search(""))
    assert state.query == "" and option_page(form.question("targets"), state).matches == 120
    state = _apply(form, state, Answer("Phường Hòa 100"))
    assert state.answers["targets"] == "u100"


def test_a_short_list_is_not_paged_and_unknown_words_are_refused_as_before() -> None:
    form = _form("choice", count=PAGE_SIZE)
    state = start(form)
    assert option_page(form.question("targets"), state).pages == 1
    outcome = apply(form, state, Page(0), today=TODAY)
    assert outcome.error is not None and outcome.error.code == "wrong_state"
    outcome = apply(form, state, Answer("Bình"), today=TODAY)
    assert outcome.error is not None and outcome.error.code == "expected_choice"


def test_paging_state_survives_a_restart() -> None:
    form = _form()
    state = _apply(form, _apply(form, start(form), Search("hòa")), Page(2))
    assert FormState.from_json(state.to_json()) == state
    # a draft stored before paging existed has no page or search
    assert FormState.from_json({"status": "asking", "current": "targets"}).page == 0


@given(
    st.lists(
        st.one_of(st.integers(-2, 14).map(Page), st.sampled_from(["", "bình", "hòa 1", "x"]).map(Search))
    )
)
def test_browsing_never_changes_what_is_chosen_or_answered(events: list[Page | Search]) -> None:
    form = _form()
    state = _apply(form, start(form), Toggle("u7"))
    for event in events:
        outcome = apply(form, state, event, today=TODAY)
        if outcome.error is None:
            assert outcome.state.selection == ("u7",) and outcome.state.answers == {}
            shown = option_page(form.question("targets"), outcome.state)
            assert 0 <= shown.page < shown.pages
            assert 0 < len(shown.options) <= PAGE_SIZE
        else:
            assert outcome.state == state
        state = outcome.state
    done = _apply(form, state, Done())
    assert done.answers["targets"] == ["u7"]


def test_a_full_name_typed_adds_to_what_is_chosen_and_keeps_the_rest() -> None:
    """A person ticks units on several pages, then types one's full name: it is added, and
    nothing ticked is lost (typing the name used to answer with that unit alone)."""
    form = _form()
    state = _apply(form, _apply(form, start(form), Toggle("u3")), Page(5))
    state = _apply(form, state, Toggle("u55"))
    state = _apply(form, state, Answer("phường hòa 100"))
    assert state.selection == ("u3", "u55", "u100") and state.current == "targets"
    assert _apply(form, state, Done()).answers["targets"] == ["u3", "u55", "u100"]


def test_choose_on_any_page() -> None:
    form = _form("choice")
    state = _apply(form, start(form), Page(11))
    assert _apply(form, state, Choose("u2")).answers["targets"] == "u2"

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.forms.validators import normalize_vn_phone, parse_date, parse_number, text_length


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("25/11/2026", date(2026, 11, 25)),
        ("5/1/2027", date(2027, 1, 5)),
        ("05-01-2027", date(2027, 1, 5)),
        (" 29.02.2028 ", date(2028, 2, 29)),
    ],
)
def test_dates(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text", ["31/11/2026", "29/02/2027", "25/11/26", "2026-11-25", "25/11-2026", "hôm nay", ""]
)
def test_not_dates(text: str) -> None:
    assert parse_date(text) is None


@pytest.mark.parametrize(
    "text", ["0912345678", "091 234 5678", "091.234.5678", "+84912345678", "84912345678", "(+84) 912-345-678"]
)
def test_phone_forms_normalise(text: str) -> None:
    assert normalize_vn_phone(text) == "0912345678"


def test_landline() -> None:
    assert normalize_vn_phone("024 3825 1234") == "02438251234"


@pytest.mark.parametrize(
    "text", ["012345678", "0112345678", "091234567", "09123456789", "+1 912345678", "abc", ""]
)
def test_not_phones(text: str) -> None:
    assert normalize_vn_phone(text) is None


@pytest.mark.parametrize(
    ("text", "expected"), [("12", 12), ("-3", -3), ("1,5", 1.5), ("1.5", 1.5), ("10.000", 10000), ("2,0", 2)]
)
def test_numbers(text: str, expected: float) -> None:
    assert parse_number(text) == expected


@pytest.mark.parametrize("text", ["", "mười", "1,2,3", "1e5", "--1"])
def test_not_numbers(text: str) -> None:
    assert parse_number(text) is None


def test_length_counts_characters_not_code_points() -> None:
    composed = "Nguyễn"
    decomposed = "Nguye\u0302\u0303n"
    assert text_length(composed) == text_length(decomposed) == 6


def test_phone_digits_of_any_script_are_stored_as_ascii() -> None:
    from bot.forms.validators import normalize_vn_phone

    assert normalize_vn_phone("０９１２ ３４５ ６７８") == "0912345678"  # full-width, from a phone keyboard
    assert normalize_vn_phone("٠٩١٢٣٤٥٦٧٨") == "0912345678"
    assert normalize_vn_phone("09１2") is None


def test_invisible_formatting_is_removed_and_length_is_in_code_points() -> None:
    from bot.forms.validators import normalize_text, text_length

    assert normalize_text("\u202eNguyễn\u200b Văn\u2066 An\ufeff") == "Nguyễn Văn An"
    assert normalize_text("\u200b\u200b\u202e") == ""  # a name made of nothing visible is empty
    assert normalize_text("👨\u200d👩\u200d👧") == "👨\u200d👩\u200d👧"  # an emoji sequence keeps its joiners
    zalgo = "A" + "\u0301" * 300
    assert text_length(zalgo) == len(normalize_text(zalgo)) > 255  # counted as the column counts
    assert text_length("Nguyễn") == 6  # NFC: one code point per Vietnamese letter


def test_a_registration_name_with_a_joiner_is_refused() -> None:
    from datetime import date

    from bot.forms import Answer, apply, start
    from bot.forms.schema import FormDefinition

    form = FormDefinition.model_validate(
        {
            "key": "r",
            "title": "R",
            "questions": [
                {
                    "key": "full_name",
                    "type": "text",
                    "label": "Họ và tên",
                    "min_length": 4,
                    "max_length": 100,
                    "pattern": r"[^\d<>@#$%^&*_=+{}\[\]|\\/~`!?;:\"\u200d]+",
                }
            ],
        }
    )
    state = start(form)
    refused = apply(form, state, Answer("Lan\u200d\u200d\u200d"), today=date(2026, 1, 1)).error
    assert refused is not None and refused.code == "pattern"
    accepted = apply(form, state, Answer("\u202eLan Anh"), today=date(2026, 1, 1))
    assert accepted.error is None and accepted.state.answers["full_name"] == "Lan Anh"


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)), st.booleans())
def test_a_date_without_its_year_is_the_nearest_on_the_allowed_side(today: date, past: bool) -> None:
    for day, month in ((31, 12), (1, 1), (today.day, today.month), (29, 2)):
        found = parse_date(f"{day}/{month}", today, past=past)
        assert found is not None and (found.day, found.month) == (day, month)
        assert (found <= today) if past else (found >= today)
        assert abs((found - today).days) <= (8 * 366 if (day, month) == (29, 2) else 366)
    assert parse_date("31/02", today) is None
    assert parse_date("31/12") is None  # without today there is no year to assume


def test_a_date_without_its_year_where_both_sides_are_allowed_is_this_years() -> None:
    today = date(2026, 3, 20)
    assert parse_date("15/3", today, either=True) == date(2026, 3, 15)
    assert parse_date("15/3", today) == date(2027, 3, 15)  # only the future allowed
    assert parse_date("25/3", today, past=True) == date(2025, 3, 25)  # only the past
    assert parse_date("29/2", today, either=True) == date(2028, 2, 29)  # none this year: the next

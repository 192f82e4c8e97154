"""Typed words and numbers on Zalo mean what the buttons mean on Telegram."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.forms.words import fold, is_acknowledgement, read, report_request


@pytest.mark.parametrize(
    ("typed", "control"),
    [
        ("quay lại", "back"),
        ("Quay lai", "back"),
        ("/quaylai", None),
        ("/quay lại", "back"),
        ("QUAY LẠI.", "back"),
        ("bỏ qua", "skip"),
        ("bo qua", "skip"),
        ("Hủy", "cancel"),
        ("/huy", "cancel"),
        ("xong", "done"),
        ("gửi", "submit"),
        ("Gui", "submit"),
        ("back", "back"),
    ],
)
def test_control_words_with_and_without_diacritics(typed: str, control: str | None) -> None:
    assert read(typed).control == control


@pytest.mark.parametrize(
    ("typed", "numbers"),
    [("2", (2,)), ("1 3", (1, 3)), ("1,3", (1, 3)), ("1, 3 ,4", (1, 3, 4)), (" 7 ", (7,)), ("1;2", (1, 2))],
)
def test_numbers_one_or_several(typed: str, numbers: tuple[int, ...]) -> None:
    assert read(typed).numbers == numbers


@pytest.mark.parametrize(
    ("typed", "edit"), [("sửa 3", 3), ("Sua 12", 12), ("/sửa 2", 2), ("sửa câu 4", 4), ("edit 1", 1)]
)
def test_edit_with_a_number(typed: str, edit: int) -> None:
    assert read(typed).edit == edit


@pytest.mark.parametrize(
    "typed", ["Người dân đồng tình", "12 hộ dân", "sửa", "2h", "25/12/2026", "0912345678"]
)
def test_anything_else_is_text(typed: str) -> None:
    assert read(typed).is_text


def test_acknowledgement_and_report_words() -> None:
    assert (
        is_acknowledgement("Đã nhận") and is_acknowledgement("da nhan") and not is_acknowledgement("nhận xét")
    )
    assert (
        report_request("báo cáo 12") == "12"
        and report_request("Bao cao #7") == "7"
        and report_request("báo cáo k2") == "K2"
        and report_request("báo cáo") is None
    )


@given(st.text(max_size=40))
def test_reading_never_fails_and_folding_is_stable(text: str) -> None:
    typed = read(text)
    assert typed.is_text or typed.control or typed.edit is not None or typed.numbers
    assert fold(fold(text)) == fold(text)


@given(
    st.lists(st.integers(min_value=0, max_value=999), min_size=1, max_size=6),
    st.sampled_from([" ", ",", ", ", " , "]),
)
def test_any_list_of_numbers_reads_back(numbers: list[int], separator: str) -> None:
    assert read(separator.join(str(n) for n in numbers)).numbers == tuple(numbers)

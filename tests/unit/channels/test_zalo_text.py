"""Zalo's side of a screen: our HTML as plain text, parts within 2000 characters, numbers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.channels.zalo_text import MAX_TEXT, plain, render, split
from bot.i18n import create_i18n
from bot.ui import AckButton, Choice, LangButton


def test_our_html_reads_as_plain_text() -> None:
    assert plain("<b>Câu 1/3.</b> Họ &amp; tên <i>(bắt buộc)</i>") == "Câu 1/3. Họ & tên (bắt buộc)"
    assert plain('Mở <a href="https://t.me/x">liên kết</a>') == "Mở liên kết (https://t.me/x)"
    assert plain('<a href="https://a.b">https://a.b</a>') == "https://a.b"
    assert plain("a &lt;b&gt; c") == "a <b> c"


def test_a_long_text_is_cut_at_paragraphs_then_lines_then_spaces() -> None:
    paragraph = ("Ý kiến của bà con về việc sáp nhập xã. " * 30).strip()
    parts = split("\n\n".join([paragraph] * 4))
    assert len(parts) == 4 and all(part == paragraph for part in parts)
    assert split("x" * 4500) == ["x" * 2000, "x" * 2000, "x" * 500]


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=9000))
def test_every_part_fits_and_nothing_but_spacing_is_lost(text: str) -> None:
    parts = split(text)
    assert all(1 <= len(part) <= MAX_TEXT for part in parts)
    assert "".join("".join(parts).split()) == "".join(text.split()) or parts == ["…"]


def test_choices_are_numbered_for_an_answer_and_named_for_a_push() -> None:
    i18n = create_i18n("vi")
    payload = {
        "text": "<b>Chọn ngôn ngữ:</b>",
        "choices": [[Choice(label="Tiếng Việt", data=LangButton(code="vi").pack()).to_json()]],
    }
    with i18n.context(), i18n.use_locale("vi"):
        [part], menu = render(payload, asked=True)
        assert part["text"] == "Chọn ngôn ngữ:\n\n1. Tiếng Việt\nTrả lời bằng số, ví dụ: 1." and part["plain"]
        assert menu is not None and menu.options == ["lg:vi"]
        push = {
            "text": "Khẩn",
            "choices": [[Choice(label="✅ Đã nhận", data=AckButton(topic=3).pack()).to_json()]],
        }
        [part], menu = render(push, asked=False)
        assert menu is None and "“đã nhận”" in part["text"]
        [part], _menu = render(push, asked=False, group=True)
        assert part["text"] == "Khẩn"  # a group post says what to type itself

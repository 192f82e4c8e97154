"""Long texts split for Telegram: within the limit, at boundaries, with valid markup."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.delivery.splitting import split_caption, split_html, visible_length

TAGS = ("b", "i", "u", "code")


class TagChecker(HTMLParser):
    """Fails on a closing tag that does not match the innermost open one."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.balanced = True
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.balanced = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check(part: str) -> str:
    checker = TagChecker()
    checker.feed(part)
    checker.close()
    assert checker.balanced and not checker.stack, part
    return "".join(checker.text)


def words_of(text: str) -> list[str]:
    return re.sub(r"<[^>]+>", " ", text).replace("&amp;", "&").split()


def test_short_text_comes_back_whole() -> None:
    text = "<b>Chủ đề</b>\n\nNội dung &amp; hướng dẫn."
    assert split_html(text) == [text]


def test_paragraphs_first_then_lines_then_spaces() -> None:
    text = "Đoạn một có vài từ.\n\nĐoạn hai dài hơn một chút nữa.\nDòng hai của đoạn hai."
    assert split_html(text, 30) == [
        "Đoạn một có vài từ.",
        "Đoạn hai dài hơn một chút nữa.",
        "Dòng hai của đoạn hai.",
    ]
    assert split_html("một hai ba bốn năm sáu", 10) == ["một hai ba", "bốn năm", "sáu"]


def test_open_tags_are_closed_and_reopened() -> None:
    parts = split_html('<b>đầu <a href="https://x.vn/?a=1&amp;b=2">liên kết dài dài</a> cuối</b>', 12)
    assert parts[0].startswith("<b>") and parts[0].endswith("</b>")
    assert all(check(part) for part in parts)
    assert any(part.startswith('<b><a href="https://x.vn/?a=1&amp;b=2">') for part in parts[1:])


def test_emoji_count_twice_and_entities_once() -> None:
    assert visible_length("😀") == 2 and visible_length("&amp;") == 1 and visible_length("<b>ệ</b>") == 1
    parts = split_html("😀 " * 10, 6)
    assert all(visible_length(part) <= 6 for part in parts) and "".join(parts).count("😀") == 10


def test_a_word_longer_than_the_limit_is_cut_but_not_inside_an_entity() -> None:
    parts = split_html("x" * 9 + "&amp;" + "y" * 9, 10)
    assert parts == ["x" * 9 + "&amp;", "y" * 9]


def test_caption_keeps_what_fits_and_sends_the_rest() -> None:
    caption = "<b>Vấn đề</b>\n\n" + "nội dung " * 200
    first, rest = split_caption(caption, 1024)
    assert visible_length(first) <= 1024 and first.startswith("<b>Vấn đề</b>")
    assert rest and all(visible_length(part) <= 4096 for part in rest)
    assert words_of(first) + [w for part in rest for w in words_of(part)] == words_of(caption)
    assert split_caption("ngắn") == ("ngắn", [])


word = st.text(alphabet="aăâbcdđeêghiklmnoôơpqrstuưvxyÁàẠệ😀&<>", min_size=1, max_size=12).map(
    lambda w: w.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
)


@st.composite
def documents(draw: st.DrawFn) -> str:
    paragraphs = []
    for _ in range(draw(st.integers(1, 8))):
        lines = []
        for _ in range(draw(st.integers(1, 4))):
            words = draw(st.lists(word, min_size=1, max_size=25))
            tag = draw(st.sampled_from((None, *TAGS)))
            line = " ".join(words)
            lines.append(f"<{tag}>{line}</{tag}>" if tag else line)
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


@settings(max_examples=200)
@given(documents(), st.integers(min_value=20, max_value=400))
def test_any_document_splits_within_the_limit_with_valid_markup(text: str, limit: int) -> None:
    parts = split_html(text, limit)
    for part in parts:
        assert visible_length(part) <= limit
        check(part)
    # The words come out in order; none is cut when every word fits.
    if all(visible_length(w) <= limit for w in words_of(text)):
        assert [w for part in parts for w in words_of(part)] == words_of(text)

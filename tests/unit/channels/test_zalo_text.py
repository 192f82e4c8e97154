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


def test_zalo_update_ids_follow_the_events_time_and_are_the_same_for_the_same_event() -> None:
    from bot.channels.zalo import ZALO_UPDATE_BASE, zalo_update_id

    base = 1_765_000_000_000
    ids = [zalo_update_id(f"m{n}", base + n) for n in range(50)]
    assert ids == sorted(ids) and len(set(ids)) == 50  # a chat's events replay in order
    assert zalo_update_id("m7", base + 7) == ids[7]
    assert all(ZALO_UPDATE_BASE <= i < 1 << 62 for i in ids)
    assert zalo_update_id("x", 0) >= ZALO_UPDATE_BASE  # a date before 2025 is clamped


def test_an_event_with_a_malformed_chat_or_sender_is_refused_as_unreadable() -> None:
    import pytest

    from bot.channels.zalo_api import parse_event

    message = {"message_id": "m1", "chat": "nhóm", "from": {"id": "u"}, "date": 1, "text": "hi"}
    with pytest.raises(ValueError):
        parse_event({"event_name": "message.text.received", "message": message})
    ok = parse_event(
        {
            "event_name": "message.image.received",
            "message": {**message, "chat": {"id": "c"}, "photo_url": "https://zalo.example/a.jpg"},
        }
    )
    assert ok.message is not None and ok.message.photo_url == "https://zalo.example/a.jpg"


def test_the_zalo_webhook_path_cannot_be_telegrams() -> None:
    import pytest
    from pydantic import ValidationError

    from bot.config import Settings

    with pytest.raises(ValidationError):
        Settings(  # type: ignore[call-arg]
            _env_file=None,
            webhook_url="https://bot.example.org/webhook",
            webhook_secret="telegram-secret-1",
            zalo_webhook_url="https://bot.example.org/webhook",
            zalo_webhook_secret="zalo-secret-123",
        )
    with pytest.raises(ValidationError):
        Settings(
            _env_file=None, zalo_webhook_url="https://b.example/zalo", zalo_webhook_secret="mật-khẩu-dài"
        )  # type: ignore[call-arg]

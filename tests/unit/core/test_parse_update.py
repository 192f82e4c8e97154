"""Parsing updates for the handlers: aiogram reads the JSON the inbox keeps, untouched."""

from __future__ import annotations

import copy

from aiogram import Bot

from bot.intake.processor import parse_update

BOT = Bot("1:test")
KEYBOARD = {"inline_keyboard": [[{"text": "Đồng tình", "callback_data": "f:1:2:c:0"}]]}
PRESS = {
    "update_id": 10,
    "callback_query": {
        "id": "q1",
        "from": {"id": 5, "is_bot": False, "first_name": "An"},
        "chat_instance": "c",
        "data": "f:1:2:c:0",
        "message": {
            "message_id": 7,
            "date": 1_700_000_000,
            "chat": {"id": 5, "type": "private", "first_name": "An"},
            "text": "Câu 2/10",
            "reply_markup": KEYBOARD,
        },
    },
}


def test_a_button_press_parses_in_full_and_leaves_the_json_whole() -> None:
    raw = copy.deepcopy(PRESS)
    update = parse_update(raw, BOT)
    assert raw == PRESS  # what the inbox stores is untouched
    query = update.callback_query
    assert query is not None and query.data == "f:1:2:c:0" and query.from_user.id == 5
    assert query.message is not None and query.message.message_id == 7 and query.message.chat.id == 5
    assert query.message.reply_markup is not None  # type: ignore[union-attr]


def test_other_updates_parse_in_full() -> None:
    raw = {
        "update_id": 11,
        "message": {
            "message_id": 8,
            "date": 1_700_000_000,
            "chat": {"id": 5, "type": "private", "first_name": "An"},
            "text": "xin chào",
            "reply_markup": KEYBOARD,
        },
    }
    update = parse_update(raw, BOT)
    assert update.message is not None and update.message.reply_markup is not None

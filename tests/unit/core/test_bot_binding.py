"""aiogram objects built after `bind_bot_in_one_call` know their Bot exactly as before."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.methods import EditMessageText, SendMessage
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message, TelegramObject, Update
from pydantic import PrivateAttr

from bot.telegram import bind_bot_in_one_call

BOT = Bot("1:test")
MESSAGE = {
    "message_id": 7,
    "date": 1_700_000_000,
    "chat": {"id": 5, "type": "private", "first_name": "An"},
    "from": {"id": 5, "is_bot": False, "first_name": "An"},
    "text": "<b>xin chào</b> & chào",
}


class OwnPostInit(TelegramObject):
    """A type that sets its own private state: it must keep its own `model_post_init`."""

    value: int
    _doubled: int = PrivateAttr(default=0)

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        self._doubled = self.value * 2


def test_it_changes_aiograms_classes_once() -> None:
    bind_bot_in_one_call()
    assert bind_bot_in_one_call() == 0
    assert Message.model_post_init is not OwnPostInit.model_post_init


def test_every_nested_object_gets_the_bot_from_the_context() -> None:
    bind_bot_in_one_call()
    update = Update.model_validate({"update_id": 1, "message": MESSAGE}, context={"bot": BOT})
    message = update.message
    assert update.bot is BOT and message is not None and message.bot is BOT
    assert message.chat.bot is BOT and message.from_user is not None and message.from_user.bot is BOT
    assert message.text == "<b>xin chào</b> & chào" and message.chat.id == 5


def test_objects_built_without_a_context_have_no_bot_until_bound() -> None:
    bind_bot_in_one_call()
    button = InlineKeyboardButton(text="Đồng tình", callback_data="f:1:2:c:0")
    markup = InlineKeyboardMarkup(inline_keyboard=[[button]])
    assert button.bot is None and markup.bot is None
    assert markup.as_(BOT).bot is BOT
    assert markup.model_dump(exclude_none=True) == {
        "inline_keyboard": [[{"text": "Đồng tình", "callback_data": "f:1:2:c:0"}]]
    }
    constructed = Message.model_construct(**MESSAGE)
    assert constructed.bot is None
    copy = Message.model_validate(MESSAGE, context={"bot": BOT}).model_copy()
    assert copy.bot is BOT


def test_methods_keep_their_bot_and_fields() -> None:
    bind_bot_in_one_call()
    method = SendMessage(chat_id=5, text="xin chào").as_(BOT)
    assert method.bot is BOT and method.chat_id == 5
    edit = EditMessageText(chat_id=5, message_id=7, text="mới")
    assert edit.bot is None and edit.text == "mới"


def test_a_type_with_its_own_post_init_keeps_it() -> None:
    bind_bot_in_one_call()
    item = OwnPostInit.model_validate({"value": 4}, context={"bot": BOT})
    assert item._doubled == 8 and item.bot is BOT

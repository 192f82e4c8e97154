"""The bot's HTTP session: its cheaper request encoding sends what aiogram would, and calls
made with `result_unused()` still succeed, fail and deliver exactly as before."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import (
    BanChatMember,
    EditMessageText,
    SendMessage,
    SendPhoto,
    SetMyCommands,
    TelegramMethod,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    LinkPreviewOptions,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
)
from aiohttp import FormData
from aiohttp.payload import BytesPayload

from bot.config import Settings
from bot.sandbox import SandboxClient, SandboxServer
from bot.telegram import JsonAiohttpSession, create_bot, result_unused

KEYBOARD = InlineKeyboardMarkup(
    inline_keyboard=[
        [InlineKeyboardButton(text="Kinh tế – đời sống ✓", callback_data="f:1:2:t:0")],
        [InlineKeyboardButton(text="<b>&</b>", url="https://example.org/?a=1&b=2")],
    ]
)

METHODS: list[TelegramMethod[Any]] = [
    SendMessage(chat_id=5, text="<b>Chào</b> bạn", reply_markup=KEYBOARD),
    SendMessage(chat_id=5, text="x", reply_markup=ReplyKeyboardRemove(), disable_notification=True),
    SendMessage(
        chat_id=-100,
        text="y",
        reply_markup=ReplyKeyboardMarkup(
            keyboard=[[KeyboardButton(text="📱", request_contact=True)]], resize_keyboard=True
        ),
        reply_parameters=ReplyParameters(message_id=7),
        link_preview_options=LinkPreviewOptions(url="https://example.org"),
    ),
    EditMessageText(chat_id=5, message_id=9, text="Câu 2/10", reply_markup=KEYBOARD),
    SetMyCommands(
        commands=[BotCommand(command="help", description="Trợ giúp")], scope=BotCommandScopeChat(chat_id=5)
    ),
    BanChatMember(chat_id=-100, user_id=5, until_date=datetime(2030, 1, 2, 3, 4, tzinfo=UTC)),
]


def aiogram_body(session: BaseSession, bot: Bot, method: TelegramMethod[Any]) -> dict[str, Any]:
    """What aiogram's own encoder makes of a method (its multipart fields, as JSON values)."""
    files: dict[str, Any] = {}
    body = {}
    for key, value in method.model_dump(warnings=False).items():
        prepared = session.prepare_value(value, bot=bot, files=files, _dumps_json=False)
        if prepared is not None:
            body[key] = prepared
    return body


@pytest.fixture
async def bot(sandbox: SandboxServer) -> AsyncIterator[Bot]:
    instance = create_bot(Settings(telegram_api_url=sandbox.base_url), token="1:test")
    yield instance
    await instance.session.close()


@pytest.mark.parametrize("method", METHODS, ids=lambda m: type(m).__name__)
async def test_json_body_is_what_aiogram_would_send(bot: Bot, method: TelegramMethod[Any]) -> None:
    session = bot.session
    assert isinstance(session, JsonAiohttpSession)
    payload = session.build_form_data(bot, method)
    assert isinstance(payload, BytesPayload) and payload.content_type == "application/json"
    sent = json.loads(payload._value)
    expected = json.loads(json.dumps(aiogram_body(session, bot, method)))
    assert sent == expected
    assert sent.get("parse_mode", "HTML") == "HTML"  # the bot's default, resolved


async def test_uploads_keep_multipart(bot: Bot) -> None:
    photo = SendPhoto(chat_id=5, photo=BufferedInputFile(b"\x89PNG", filename="a.png"), caption="ảnh")
    assert isinstance(bot.session.build_form_data(bot, photo), FormData)


@dataclass
class Started:
    """A bot of the bot's own kind on the sandbox, and a person who has opened it."""

    bot: Bot
    token: str
    user_id: int


@pytest.fixture
async def started(sandbox: SandboxServer, sandbox_client: SandboxClient) -> AsyncIterator[Started]:
    info = await sandbox_client.create_bot(username="session_bot")
    instance = create_bot(Settings(telegram_api_url=sandbox.base_url), token=info.token)
    user = await sandbox_client.create_user(first_name="An")
    await sandbox_client.send_message(info.token, user.id, "/start")
    yield Started(instance, info.token, user.id)
    await instance.session.close()


async def test_result_unused_edits_deliver_and_errors_still_raise(
    started: Started, sandbox_client: SandboxClient
) -> None:
    bot, user_id = started.bot, started.user_id
    sent = await bot.send_message(user_id, "một", reply_markup=KEYBOARD)
    with result_unused():
        assert await bot.edit_message_text("hai", chat_id=user_id, message_id=sent.message_id) is True
        # A call whose result cannot be True is read in full.
        again = await bot.send_message(user_id, "ba")
        assert isinstance(again, Message) and again.text == "ba"
        with pytest.raises(TelegramBadRequest, match="message to edit not found"):
            await bot.edit_message_text("bốn", chat_id=user_id, message_id=99999)
    shown = await sandbox_client.message(user_id, sent.message_id)
    assert shown["text"] == "hai" and "reply_markup" not in shown
    edited = await bot.edit_message_text("năm", chat_id=user_id, message_id=sent.message_id)
    assert isinstance(edited, Message) and edited.text == "năm"  # outside: the message, as aiogram gives it


async def test_sent_messages_are_read_without_their_keyboard_and_errors_are_aiograms(
    started: Started, sandbox_client: SandboxClient
) -> None:
    bot, user_id = started.bot, started.user_id
    sent = await bot.send_message(user_id, "<b>Câu 1/10</b>", reply_markup=KEYBOARD)
    assert isinstance(sent, Message)
    assert (sent.chat.id, sent.text, sent.reply_markup) == (user_id, "Câu 1/10", None)
    shown = await sandbox_client.message(user_id, sent.message_id)
    assert len(shown["reply_markup"]["inline_keyboard"]) == 2  # the user still has the buttons
    edited = await bot.edit_message_text(
        "Câu 2/10", chat_id=user_id, message_id=sent.message_id, reply_markup=KEYBOARD
    )
    assert isinstance(edited, Message) and edited.message_id == sent.message_id
    # Answers that are not a sent message are read whole.
    chat = await bot.get_chat(user_id)
    assert chat.id == user_id
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(user_id, "")
    stranger = await sandbox_client.create_user(first_name="Lạ")
    await sandbox_client.block_bot(started.token, stranger.id)
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(stranger.id, "xin chào")

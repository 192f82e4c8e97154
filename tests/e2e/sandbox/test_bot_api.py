"""A real aiogram Bot against the sandbox over HTTP: shapes, errors, limits, faults, polling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReactionTypeEmoji,
)

from bot.sandbox import BotInfo, SandboxClient, SandboxError, SandboxServer


@pytest.fixture
async def bot_info(sandbox_client: SandboxClient) -> BotInfo:
    return await sandbox_client.create_bot(username="api_test_bot")


@pytest.fixture
async def bot(sandbox: SandboxServer, bot_info: BotInfo) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(sandbox.base_url))
    instance = Bot(bot_info.token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    yield instance
    await instance.session.close()


async def _started_user(client: SandboxClient, info: BotInfo, name: str = "An") -> int:
    user = await client.create_user(first_name=name)
    await client.send_message(info.token, user.id, "/start")
    return user.id


async def test_get_me_and_unknown_token(sandbox: SandboxServer, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.is_bot and me.username == "api_test_bot"
    stranger = Bot("1:nope", session=AiohttpSession(api=TelegramAPIServer.from_base(sandbox.base_url)))
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await stranger.get_me()
    finally:
        await stranger.session.close()


async def test_long_polling_and_offset_confirmation(
    sandbox_client: SandboxClient, bot_info: BotInfo, bot: Bot
) -> None:
    user = await sandbox_client.create_user(first_name="Bình")
    assert await bot.get_updates(timeout=0) == []
    waiting = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    started = asyncio.get_running_loop().time()
    await sandbox_client.send_message(bot_info.token, user.id, "/start abc")
    updates = await waiting
    assert asyncio.get_running_loop().time() - started < 1.0
    assert updates[0].message is not None and updates[0].message.text == "/start abc"
    assert updates[0].message.entities is not None and updates[0].message.entities[0].type == "bot_command"
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [updates[0].update_id]  # not confirmed yet
    confirmed = await bot.get_updates(offset=updates[0].update_id + 1, timeout=0)
    assert confirmed == []


async def test_messages_edits_reactions_and_keyboards(
    sandbox_client: SandboxClient, bot_info: BotInfo, bot: Bot
) -> None:
    user_id = await _started_user(sandbox_client, bot_info)
    keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Có", callback_data="yes")]])
    sent = await bot.send_message(user_id, "<b>Xin chào</b> &amp; chúc mừng", reply_markup=keyboard)
    assert sent.text == "Xin chào & chúc mừng"
    pressed = await sandbox_client.press_button(bot_info.token, user_id, user_id, sent.message_id, "Có")
    updates = await bot.get_updates(timeout=1)
    query = updates[-1].callback_query
    assert query is not None and query.data == "yes" and query.id == pressed.callback_query_id
    assert await bot.answer_callback_query(query.id, text="OK")
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query.id)
    edited = await bot.edit_message_text("Đã sửa", chat_id=user_id, message_id=sent.message_id)
    assert edited.text == "Đã sửa"  # type: ignore[union-attr]
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Đã sửa", chat_id=user_id, message_id=sent.message_id)
    await bot.set_message_reaction(user_id, sent.message_id, reaction=[ReactionTypeEmoji(emoji="👍")])
    state = await sandbox_client.message(user_id, sent.message_id)
    assert state["reactions"] == ["👍"] and "reply_markup" not in state
    kinds = [e["kind"] for e in await sandbox_client.events(chat_id=user_id) if e["kind"] != "user_message"]
    assert kinds == ["send", "answer_callback", "edit", "reaction"]
    assert await bot.delete_message(user_id, sent.message_id)


async def test_telegram_errors(sandbox_client: SandboxClient, bot_info: BotInfo, bot: Bot) -> None:
    user_id = await _started_user(sandbox_client, bot_info)
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(user_id, "a" * 4097)
    await bot.send_message(user_id, "a" * 4096)
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(user_id, "Tom & Jerry")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(user_id, "<b>chưa đóng")
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(user_id, " ")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(999, "x")
    silent = await sandbox_client.create_user(first_name="Chưa mở")
    with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
        await bot.send_message(silent.id, "x")
    await sandbox_client.block_bot(bot_info.token, user_id)
    with pytest.raises(TelegramForbiddenError, match="blocked by the user"):
        await bot.send_message(user_id, "x")
    bad_button = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="d" * 65)]]
    )
    other = await _started_user(sandbox_client, bot_info, "Khác")
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(other, "x", reply_markup=bad_button)
    with pytest.raises(TelegramNotFound):
        await bot.session.make_request(bot, _UnknownMethod())  # type: ignore[arg-type]


async def test_groups_migration_and_membership(
    sandbox_client: SandboxClient, bot_info: BotInfo, bot: Bot
) -> None:
    owner = await sandbox_client.create_user(first_name="Chủ")
    chat = await sandbox_client.create_group(title="Nhóm", member_ids=[owner.id])
    with pytest.raises(TelegramForbiddenError, match="not a member"):
        await bot.send_message(chat.id, "x")
    await sandbox_client.add_bot_to_group(chat.id, bot_info.token, owner.id)
    updates = await bot.get_updates(timeout=1)
    assert (
        updates[0].my_chat_member is not None and updates[0].my_chat_member.new_chat_member.status == "member"
    )
    post = await bot.send_message(chat.id, "Chủ đề")
    reply = await sandbox_client.send_message(
        bot_info.token, owner.id, "Trả lời", chat_id=chat.id, reply_to_message_id=post.message_id
    )
    assert reply.message is not None and reply.message["reply_to_message"]["message_id"] == post.message_id
    assert (await bot.get_chat_member(chat.id, owner.id)).status == "creator"
    new_id, _ = await sandbox_client.migrate_group(chat.id)
    with pytest.raises(TelegramMigrateToChat) as error:
        await bot.send_message(chat.id, "x")
    assert error.value.migrate_to_chat_id == new_id
    await bot.send_message(new_id, "ở siêu nhóm")


async def test_uploads_commands_and_deep_links(
    sandbox_client: SandboxClient, bot_info: BotInfo, bot: Bot
) -> None:
    user_id = await _started_user(sandbox_client, bot_info)
    photo = await bot.send_photo(user_id, BufferedInputFile(b"\x89PNG fake", filename="a.png"), caption="Ảnh")
    assert photo.photo and photo.caption == "Ảnh"
    again = await bot.send_photo(user_id, photo.photo[-1].file_id)
    assert again.photo is not None
    document = await bot.send_document(user_id, BufferedInputFile(b"%PDF", filename="bc.pdf"))
    assert document.document is not None and document.document.file_name == "bc.pdf"
    with pytest.raises(TelegramBadRequest, match="caption is too long"):
        await bot.send_photo(user_id, photo.photo[-1].file_id, caption="x" * 1025)
    assert await bot.set_my_commands(
        [BotCommand(command="start", description="Bắt đầu")], scope=BotCommandScopeChat(chat_id=user_id)
    )
    commands = await bot.get_my_commands(scope=BotCommandScopeChat(chat_id=user_id))
    assert [c.command for c in commands] == ["start"]
    link = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text="Báo cáo", url=f"https://t.me/{bot_info.username}?start=report_7")]
        ]
    )
    message = await bot.send_message(user_id, "Chủ đề", reply_markup=link)
    await bot.get_updates(offset=(await bot.get_updates(timeout=0))[-1].update_id + 1, timeout=0)
    opened = await sandbox_client.press_button(
        bot_info.token, user_id, user_id, message.message_id, "Báo cáo"
    )
    assert opened.message is not None and opened.message["text"] == "/start report_7"
    with pytest.raises(SandboxError, match="no inline button"):
        await sandbox_client.press_button(bot_info.token, user_id, user_id, message.message_id, "Không có")


async def test_rate_limits_and_faults_over_http(
    sandbox_client: SandboxClient, bot_info: BotInfo, bot: Bot
) -> None:
    user_id = await _started_user(sandbox_client, bot_info)
    await sandbox_client.configure(per_chat_per_second=1)
    for text in ("một", "hai", "ba"):  # a short burst is allowed
        await bot.send_message(user_id, text)
    with pytest.raises(TelegramRetryAfter) as error:
        await bot.send_message(user_id, "bốn")
    assert error.value.retry_after == 3
    await sandbox_client.configure(per_chat_per_second=None, error_rate=1.0, error_kinds=["500"], seed=3)
    with pytest.raises(TelegramServerError):
        await bot.send_message(user_id, "ba")
    await sandbox_client.configure(error_rate=0.0)
    stats = await sandbox_client.stats()
    assert stats["http_429"] == 1 and stats["faults"] == 1
    texts = [m.get("text") for m in await sandbox_client.chat_messages(user_id) if m["from"]["is_bot"]]
    assert texts == ["một", "hai", "ba"]  # failed sends leave nothing behind


async def test_wait_events_returns_early_and_times_out(
    sandbox_client: SandboxClient, bot_info: BotInfo, bot: Bot
) -> None:
    user_id = await _started_user(sandbox_client, bot_info)
    after = await sandbox_client.last_seq()
    waiter = asyncio.create_task(sandbox_client.wait_events(user_id, after, count=1, wait_seconds=5))
    await asyncio.sleep(0.05)
    await bot.send_message(user_id, "đến rồi")
    events = await waiter
    assert events[0]["text"] == "đến rồi"
    with pytest.raises(TimeoutError):
        await sandbox_client.wait_events(user_id, events[0]["seq"], count=1, wait_seconds=0.2)


class _UnknownMethod:
    """A method name the sandbox does not know must be a 404, not a silent success."""

    __api_method__ = "sendTelepathy"
    __returning__ = bool

    def model_dump(self, **_: object) -> dict[str, object]:
        return {}

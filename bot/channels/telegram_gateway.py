"""Telegram as the sender's channel: a row's payload as Bot API calls through aiogram, and
aiogram's errors in the sender's words (bot/delivery/gateway.py)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import PinChatMessage, TelegramMethod
from aiogram.types import FSInputFile, Message

from bot.channels import telegram_calls
from bot.channels.callback_signing import CallbackSigner
from bot.delivery import payloads
from bot.delivery.gateway import (
    ChatMoved,
    Outage,
    Refused,
    RetryAfter,
    TargetLookup,
    Unreachable,
)
from bot.delivery.limits import Pacer, sender_call
from bot.delivery.media import MediaStore, is_media
from storage.models import Channel
from storage.outbox import PendingRow

log = logging.getLogger(__name__)

UNREACHABLE_HINTS = (
    "chat not found",
    "user is deactivated",
    "bot was blocked",
    "bot was kicked",
    "bot can't initiate conversation",
    "have no rights to send",
    "not enough rights",
)
# An edit of a message that is gone or too old: the screen is sent as a new message instead.
CANNOT_EDIT_HINTS = (
    "message can't be edited",
    "message to edit not found",
    "message_id_invalid",
    "message identifier is not specified",
)
NOT_MODIFIED = "message is not modified"
PHOTO_REFUSED = (
    "wrong file identifier",
    "failed to get http url content",
    "wrong type of the web page content",
)


class TelegramGateway:
    channel = Channel.TELEGRAM
    can_edit = True

    def __init__(
        self,
        *,
        bot: Bot,
        pacer: Pacer,
        signer: CallbackSigner | None = None,
        request_timeout: float = 15.0,
        media: MediaStore | None = None,
    ) -> None:
        self.bot = bot
        self.media = media
        self.pacer = pacer
        self.signer = signer
        self.request_timeout = request_timeout

    async def carry_out(self, row: PendingRow, target: TargetLookup, *, bulk: bool) -> int | None:
        async with _translated():
            with sender_call(bulk=bulk):
                return await self._carry_out(row, target)

    async def _call(self, method: TelegramMethod[Any]) -> Any:
        return await self.bot(method, request_timeout=int(self.request_timeout))

    def _uploading(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A photo the bot made (the /summary chart) goes up from the disk; if the file is
        gone, the text goes alone."""
        photo = payload.get("photo")
        if not is_media(photo):
            return payload
        path = self.media.path(photo) if self.media is not None else None
        if path is None:
            log.warning("photo %s is gone; sending the text alone", photo)
            return {key: value for key, value in payload.items() if key != "photo"}
        return {**payload, "photo": FSInputFile(path, filename="chart.png")}

    async def _carry_out(self, row: PendingRow, target_of: TargetLookup) -> int | None:
        payload, chat_id = self._uploading(row.payload), row.chat_id
        op = payload.get("op")
        if op is None:
            try:
                return _message_id(
                    await self._call(telegram_calls.send_method(chat_id, payload, self.signer))
                )
            except TelegramBadRequest as error:
                if not payload.get("photo") or not any(
                    hint in error.message.lower() for hint in PHOTO_REFUSED
                ):
                    raise
                # A photo Telegram cannot take (a Zalo photo's address it cannot fetch): the
                # text still goes, without it.
                log.warning("photo refused in %s (%s); sending the text alone", chat_id, error.message)
                text_only = {key: value for key, value in payload.items() if key != "photo"}
                return _message_id(
                    await self._call(telegram_calls.send_method(chat_id, text_only, self.signer))
                )
        if op == payloads.EDIT:
            target = await target_of(payload)
            if target is None:  # the message it was to replace never arrived
                return _message_id(
                    await self._call(telegram_calls.send_method(chat_id, payload, self.signer))
                )
            try:
                await self._call(telegram_calls.edit_method(chat_id, target, payload, self.signer))
            except TelegramBadRequest as error:
                text = error.message.lower()
                if NOT_MODIFIED in text:
                    return target
                if not any(hint in text for hint in CANNOT_EDIT_HINTS):
                    raise
                return _message_id(
                    await self._call(telegram_calls.send_method(chat_id, payload, self.signer))
                )
            return target
        if op == payloads.CLEAR:
            target = await target_of(payload)
            if target is not None:
                try:
                    await self._call(telegram_calls.clear_method(chat_id, target))
                except TelegramBadRequest as error:  # gone, too old or already bare: nothing to do
                    text = error.message.lower()
                    if NOT_MODIFIED not in text and not any(hint in text for hint in CANNOT_EDIT_HINTS):
                        raise
            return None
        if op == payloads.REACT:
            try:
                await self._call(telegram_calls.react_method(chat_id, payload))
            except TelegramBadRequest as error:
                log.info("reaction refused in %s (%s); answering with a reply", chat_id, error.message)
                reply = payloads.message(payload["fallback"], reply_to=int(payload["message_id"]))
                return _message_id(await self._call(telegram_calls.send_method(chat_id, reply)))
            return None
        if op == payloads.MENU:
            await self._call(telegram_calls.menu_method(chat_id, payload))
            return None
        raise ValueError(f"unknown outbox operation {op!r}")

    async def pin(self, chat_id: int, message_id: int) -> None:
        try:
            await self.pacer.acquire_chat(chat_id)
            with sender_call(bulk=True):
                await self.bot(
                    PinChatMessage(chat_id=chat_id, message_id=message_id, disable_notification=False)
                )
        except TelegramRetryAfter as error:
            self.pacer.penalize(error.retry_after, chat_id)
            log.warning("could not pin in %s: %s", chat_id, error.message)
        except TelegramAPIError as error:
            log.warning("could not pin in %s: %s", chat_id, error.message)

    async def show(self, chat_id: int, payload: dict[str, Any], message_id: int | None) -> int | None:
        payload = self._uploading(payload)
        async with _translated():
            if message_id is None:
                return _message_id(await self.bot(telegram_calls.send_method(chat_id, payload, self.signer)))
            try:
                await self.bot(telegram_calls.edit_method(chat_id, message_id, payload, self.signer))
            except TelegramBadRequest as error:
                text = error.message.lower()
                if NOT_MODIFIED in text:
                    return message_id
                if any(hint in text for hint in CANNOT_EDIT_HINTS) or "not found" in text:
                    # deleted by the person: show it anew
                    return _message_id(
                        await self.bot(telegram_calls.send_method(chat_id, payload, self.signer))
                    )
                raise
            return message_id


@asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    """aiogram's errors as the sender's."""
    try:
        yield
    except TelegramRetryAfter as error:
        raise RetryAfter(error.message, float(error.retry_after)) from error
    except TelegramMigrateToChat as error:
        raise ChatMoved(error.message, error.migrate_to_chat_id) from error
    except TelegramForbiddenError as error:
        # "blocked by the user" is a choice; "can't initiate conversation" means they never
        # opened the bot (RapidPro's blocked / stopped).
        text = error.message.lower()
        raise Unreachable(error.message, blocked="blocked" in text or "kicked" in text) from error
    except TelegramBadRequest as error:
        if any(hint in error.message.lower() for hint in UNREACHABLE_HINTS):
            raise Unreachable(error.message, blocked=False) from error
        raise Refused(error.message) from error
    except (TelegramNetworkError, TelegramServerError, TimeoutError) as error:
        raise Outage(str(error) or type(error).__name__) from error
    except TelegramAPIError as error:  # an answer aiogram could not read (an HTML error page)
        raise Outage(error.message) from error


def _message_id(result: Any) -> int | None:
    return result.message_id if isinstance(result, Message) else None

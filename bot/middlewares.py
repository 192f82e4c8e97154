"""Per-update context: who is acting, in which language, and the services bundle."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.flags import get_flag
from aiogram.types import CallbackQuery, MaybeInaccessibleMessage, Message, TelegramObject, Update, User
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.access import Actor, Permission, load_actor, refusal_text
from bot.channels.callback_signing import CallbackSigner
from bot.channels.telegram import answer_text
from bot.conversation import Services
from bot.i18n import client_locale, normalize_locale, use_board_name
from bot.intake.flood import FloodScope
from bot.intake.processor import belongs_to_a_chat, chat_key
from bot.ui import expired_text, use_channel
from storage.addresses import channel_of
from storage.models import Channel


class UpdateContextMiddleware(BaseMiddleware):
    """Outer update middleware: puts `actor` and `services` in the handler data and runs the
    handler in the person's language (/lang), else the organisation's default.

    One middleware rather than one per concern: it runs for every update, and each layer of
    aiogram's middleware chain adds its own calls around the handler.
    """

    def __init__(self, i18n: I18n, admin_ids: frozenset[int]) -> None:
        self.i18n = i18n
        self.admin_ids = admin_ids

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None and isinstance(event, Update) and (event.message is not None or event.callback_query):
            # A message with no sender (a channel's post relayed, an anonymous form of a
            # group admin without a user): nobody to answer or to check, so it is ignored
            # rather than failing in the handlers and ending in an apology.
            return None
        actor = None
        if user is not None and not user.is_bot:
            actor = await load_actor(session=data["session"], user=user, admin_ids=self.admin_ids)
        data["actor"] = actor
        # On the update observer the event itself is the Update (event_update is set later).
        update = event if isinstance(event, Update) else data.get("event_update")
        data["services"] = Services(
            session=data["session"],
            replies=data["replies"],
            settings=data["settings"],
            clock=data["clock"],
            forms=data["forms"],
            i18n=data["i18n"],
            bot_username=data["bot_username"],
            delivery=data["delivery"],
            media=data.get("media"),
            update_id=update.update_id if isinstance(update, Update) else 0,
        )
        chosen = actor.locale if actor is not None else None
        locale = normalize_locale(
            chosen or client_locale(user.language_code if user else None), self.i18n.default_locale
        )
        key = chat_key(update) if isinstance(update, Update) else 0
        channel = channel_of(key) if belongs_to_a_chat(key) else Channel.TELEGRAM
        with (
            self.i18n.context(),
            self.i18n.use_locale(locale),
            use_channel(channel),
            use_board_name(data["settings"].board_name),
        ):
            notice: FloodScope | None = data.get("flood_notice")
            if notice is not None and isinstance(update, Update):
                await _tell_flooded(data["services"], update, notice, data["settings"].flood_mute_seconds)
                return None
            return await handler(event, data)


async def _tell_flooded(services: Services, update: Update, scope: FloodScope, mute_seconds: float) -> None:
    """The one answer to the update that went over the flood limit (bot/intake/flood.py);
    what follows it until the pause ends is not read at all."""
    minutes = max(1, math.ceil(mute_seconds / 60))
    if scope is FloodScope.CHAT:
        text = _(
            "This group is sending the bot more messages than it can read. Messages sent here in "
            "the next {minutes} min will not be read; please send them again after that."
        ).format(minutes=minutes)
    else:
        text = _(
            "You are sending messages faster than the bot can read them. Your messages in the next "
            "{minutes} min will not be read; please send them again after that."
        ).format(minutes=minutes)
    if update.callback_query is not None:
        services.replies.answer_callback(update.callback_query.id, text, alert=True)
    elif update.message is not None:
        await answer_text(services, update.message, text, quote=True)


class AccessMiddleware(BaseMiddleware):
    """Inner middleware: enforces the handler's `permission` flag, answering a refusal."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        permission: Permission | None = get_flag(data, "permission")
        if permission is None:
            return await handler(event, data)
        actor: Actor | None = data.get("actor")
        if actor is not None and actor.allows(permission):
            return await handler(event, data)
        text = refusal_text(permission, actor)
        services: Services = data["services"]
        if isinstance(event, CallbackQuery):
            services.replies.answer_callback(event.id, text, alert=True)
        elif isinstance(event, Message):
            await answer_text(services, event, text, quote=True)
        return None


class SignedCallbackMiddleware(BaseMiddleware):
    """Outer callback middleware: a press counts only if its data carries the mark the bot
    made for this chat (bot/channels/callback_signing.py) and the message it was pressed on
    still shows that very button; otherwise it is refused as an expired button and nothing
    else happens. The message in a callback comes from Telegram's copy, not from the client,
    so the second check binds a press to the purpose of the message it acts on: signed data
    from the person's own form, replayed "on" the board's post in the same chat, is refused.
    Zalo's presses are read from menus the bot keeps itself, so they carry no mark."""

    def __init__(self, signer: CallbackSigner) -> None:
        self.signer = signer

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, CallbackQuery):
            return await handler(event, data)
        message = event.message
        chat_id = message.chat.id if message is not None else event.from_user.id
        if channel_of(chat_id) is Channel.ZALO:
            return await handler(event, data)
        verified = self.signer.verify(chat_id, event.data or "")
        if verified is None or not _shown_on(message, event.data or ""):
            services: Services = data["services"]
            services.replies.answer_callback(event.id, expired_text(), alert=True)
            return None
        return await handler(event.model_copy(update={"data": verified}), data)


def _shown_on(message: MaybeInaccessibleMessage | None, data: str) -> bool:
    """Whether the pressed message carries a button with this data. A message Telegram no
    longer shows the bot (InaccessibleMessage) cannot be edited either; the signature alone
    decides there."""
    if not isinstance(message, Message):
        return True
    markup = message.reply_markup
    if markup is None:
        return False
    return any(button.callback_data == data for row in markup.inline_keyboard for button in row)

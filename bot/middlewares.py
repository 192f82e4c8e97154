"""Per-update context: the person's language and the services bundle handlers receive."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update
from aiogram.utils.i18n import I18n, I18nMiddleware

from bot.access import Actor
from bot.conversation import Services
from bot.i18n import normalize_locale


class LocaleMiddleware(I18nMiddleware):
    """The person's chosen language (/lang), else the organisation's default: Vietnamese."""

    def __init__(self, i18n: I18n) -> None:
        super().__init__(i18n=i18n)

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        actor: Actor | None = data.get("actor")
        return normalize_locale(actor.locale if actor else None, self.i18n.default_locale)


class ServicesMiddleware(BaseMiddleware):
    """Bundles the session, bot and shared services into one `services` argument."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        # On the update observer the event itself is the Update (event_update is set later).
        update = event if isinstance(event, Update) else data.get("event_update")
        data["services"] = Services(
            session=data["session"],
            bot=data["bot"],
            settings=data["settings"],
            clock=data["clock"],
            forms=data["forms"],
            i18n=data["i18n"],
            bot_username=data["bot_username"],
            delivery=data["delivery"],
            update_id=update.update_id if isinstance(update, Update) else 0,
        )
        return await handler(event, data)

"""Per-update context: who is acting, in which language, and the services bundle."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update, User
from aiogram.utils.i18n import I18n

from bot.access import load_actor
from bot.conversation import Services
from bot.i18n import normalize_locale


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
        actor = None
        if user is not None and not user.is_bot:
            actor = await load_actor(session=data["session"], user=user, admin_ids=self.admin_ids)
        data["actor"] = actor
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
        locale = normalize_locale(actor.locale if actor else None, self.i18n.default_locale)
        with self.i18n.context(), self.i18n.use_locale(locale):
            return await handler(event, data)

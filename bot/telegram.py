"""The Bot for whichever Bot API server the settings name, built through aiogram's public API.

JSON goes through `storage.jsoncodec` (orjson) by aiogram's own `json_loads`/`json_dumps`
hooks of the HTTP session: every update and every answer is decoded once and every request
encoded once, and orjson does each several times faster than the standard library.
"""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import LinkPreviewOptions

from bot.config import Settings
from storage import jsoncodec


def create_bot(settings: Settings, token: str | None = None) -> Bot:
    """A Bot for whichever Bot API server TELEGRAM_API_URL names (Telegram, self-hosted, sandbox)."""
    session = AiohttpSession(
        api=TelegramAPIServer.from_base(settings.telegram_api_url),
        json_loads=jsoncodec.loads,
        json_dumps=jsoncodec.dumps,
    )
    return Bot(
        token or settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(
            parse_mode=ParseMode.HTML, link_preview=LinkPreviewOptions(is_disabled=True)
        ),
    )

"""Webhook intake: the update is committed to the inbox before Telegram gets its 200."""

from __future__ import annotations

import hmac
import logging

from aiogram import Bot
from aiohttp import web

from bot.config import TELEGRAM_WEBHOOK_PATH
from bot.intake.poller import Intake
from storage import jsoncodec

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

log = logging.getLogger(__name__)


def create_webhook_app(
    *, bot: Bot, intake: Intake, secret: str, path: str = TELEGRAM_WEBHOOK_PATH
) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        # as bytes: a header that is not ASCII is a wrong secret (401), not an error (500)
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "surrogateescape")
        if not secret or not hmac.compare_digest(given, secret.encode("utf-8")):
            return web.Response(status=401, text="wrong secret token")
        try:
            raw = await request.json(loads=jsoncodec.loads)
        except ValueError:
            return web.Response(status=400, text="not JSON")
        if not isinstance(raw, dict) or not isinstance(raw.get("update_id"), int):
            return web.Response(status=400, text="not an update")
        try:
            await intake.accept([raw])
        except Exception:  # Telegram sends it again later: nothing is lost by refusing now
            log.exception("could not store update %s; asking Telegram to send it again", raw["update_id"])
            return web.Response(status=503, text="try again later")
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post(path, receive)
    return app

"""The peer of bench/broadcast.py: aiogram-broadcaster (PyPI) sending one text to many chats.

Configured as its documentation suggests for Telegram's limit: a `SimpleInterval` of
1/limit seconds between messages and its retry-after handler registered. Prints one JSON
line: how long it took and its peak memory.

    python bench/peer_broadcaster.py TOKEN API_URL CHATS_FILE LIMIT_PER_SECOND TEXT
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from pathlib import Path

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram_broadcaster import Broadcaster
from aiogram_broadcaster.contents import TextContent
from aiogram_broadcaster.intervals import SimpleInterval
from aiogram_broadcaster.utils.retry_after_handler import setup_retry_after_handler


async def run(token: str, api_url: str, chats: list[int], limit: float, text: str) -> dict[str, float]:
    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api_url)))
    broadcaster = Broadcaster(bot)
    setup_retry_after_handler(broadcaster.event)
    mailer = await broadcaster.create_mailer(
        chats=chats, content=TextContent(text=text), interval=SimpleInterval(interval=1 / limit)
    )
    started = time.perf_counter()
    await mailer.start()
    seconds = time.perf_counter() - started
    await bot.session.close()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "peak_rss_mb": peak_kb / 1024}


def main() -> None:
    token, api_url, chats_file, limit, text = sys.argv[1:6]
    chats = [int(line) for line in Path(chats_file).read_text().split()]
    print(json.dumps(asyncio.run(run(token, api_url, chats, float(limit), text))))


if __name__ == "__main__":
    main()

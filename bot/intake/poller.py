"""Long polling that writes the inbox before confirming (reliability rule 1).

The offset that confirms a batch is sent only with the next getUpdates, after the batch
is committed: a crash in between makes the Bot API send the batch again, and the inbox
recognises what it already holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiogram import Bot
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.types import Update

from bot.clock import Clock
from bot.intake.processor import InboxItem, InboxProcessor, chat_key
from storage import inbox
from storage.db import SessionFactory, begin_write

log = logging.getLogger(__name__)


class Intake:
    """Stores updates (from polling or the webhook) and hands the new ones to the processor."""

    def __init__(self, *, session_factory: SessionFactory, processor: InboxProcessor, clock: Clock) -> None:
        self.session_factory = session_factory
        self.processor = processor
        self.clock = clock

    async def accept(self, updates: Sequence[Update]) -> int:
        if not updates:
            return 0
        rows = [
            (update.update_id, chat_key(update), update.model_dump_json(by_alias=True, exclude_none=True))
            for update in updates
        ]
        async with self.session_factory() as session:
            await begin_write(session)
            new_ids = await inbox.store_updates(session=session, rows=rows, now=self.clock.now())
            await session.commit()
        for update, (_, key, _payload) in zip(updates, rows, strict=True):
            if update.update_id in new_ids:
                self.processor.submit(InboxItem(update=update, chat_key=key))
        return len(new_ids)


class Poller:
    def __init__(
        self,
        *,
        bot: Bot,
        intake: Intake,
        timeout: int,
        allowed_updates: list[str] | None = None,
        limit: int = 100,
    ) -> None:
        self.bot = bot
        self.intake = intake
        self.timeout = timeout
        self.allowed_updates = allowed_updates
        self.limit = limit
        self._stopped = asyncio.Event()

    def stop(self) -> None:
        self._stopped.set()

    async def run(self) -> None:
        offset: int | None = None
        failures = 0
        while not self._stopped.is_set():
            try:
                updates = await self.bot.get_updates(
                    offset=offset,
                    timeout=self.timeout,
                    limit=self.limit,
                    allowed_updates=self.allowed_updates,
                )
            except TelegramRetryAfter as error:
                await asyncio.sleep(error.retry_after)
                continue
            except (TelegramNetworkError, TelegramServerError) as error:
                failures += 1
                delay = min(30.0, 0.5 * 2 ** min(failures, 6))
                log.warning("getUpdates failed (%s); retrying in %.1fs", error, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            if not updates:
                continue
            await self.intake.accept(updates)
            offset = updates[-1].update_id + 1

"""Long polling that writes the inbox before confirming (reliability rule 1).

The offset that confirms a batch is sent only with the next getUpdates, after the batch
is committed: a crash in between makes the Bot API send the batch again, and the inbox
recognises what it already holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, ClassVar

from aiogram import Bot
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import GetUpdates
from aiogram.types import Update

from bot.clock import Clock
from bot.intake.processor import InboxItem, InboxProcessor, chat_key, own_key, parse_update
from storage import inbox, jsoncodec
from storage.db import SessionFactory, begin_write

log = logging.getLogger(__name__)


RawUpdate = dict[str, Any]


class GetRawUpdates(GetUpdates):
    """getUpdates whose answer stays the JSON the Bot API sent: the inbox keeps it as it
    came (DESIGN: raw JSON), and each update is parsed once, by the intake."""

    __returning__: ClassVar[Any] = list[dict[str, Any]]


class Intake:
    """Stores updates (from polling or the webhook) and hands the new ones to the processor."""

    def __init__(self, *, session_factory: SessionFactory, processor: InboxProcessor, clock: Clock) -> None:
        self.session_factory = session_factory
        self.processor = processor
        self.clock = clock

    async def accept(self, raw_updates: Sequence[RawUpdate]) -> int:
        """Commit the updates to the inbox, then queue the ones not seen before.

        An update aiogram cannot read is stored all the same and parked as failed with the
        reason (visible to admins), rather than confirmed to Telegram and lost.
        """
        if not raw_updates:
            return 0
        rows: list[tuple[int, int, str]] = []
        parsed: dict[int, Update] = {}
        unreadable: dict[int, str] = {}
        bot = self.processor.bot
        for raw in raw_updates:
            update_id = int(raw["update_id"])
            payload = jsoncodec.dumps(raw)
            try:
                update = parse_update(raw, bot)
            except ValueError as error:
                unreadable[update_id] = f"unreadable update: {error}"
                rows.append((update_id, own_key(update_id), payload))
                continue
            parsed[update_id] = update
            rows.append((update_id, chat_key(update), payload))
        now = self.clock.now()
        async with self.session_factory() as session:
            await begin_write(session)
            new_ids = await inbox.store_updates(session=session, rows=rows, now=now)
            for update_id, error in unreadable.items():
                if update_id in new_ids:
                    await inbox.record_failure(
                        session=session, update_id=update_id, error=error, park=True, now=now
                    )
            await session.commit()
        for update_id, key, _payload in rows:
            if update_id in new_ids and update_id in parsed:
                self.processor.submit(InboxItem(update=parsed[update_id], chat_key=key))
        if unreadable:
            log.error("parked %d update(s) that could not be read", len(unreadable))
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
                updates = await self.bot(
                    GetRawUpdates(
                        offset=offset,
                        timeout=self.timeout,
                        limit=self.limit,
                        allowed_updates=self.allowed_updates,
                    )
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
            offset = int(updates[-1]["update_id"]) + 1

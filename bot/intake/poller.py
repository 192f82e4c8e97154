"""Long polling that writes the inbox before confirming (reliability rule 1).

The offset that confirms a batch is sent only with the next getUpdates, after the batch
is committed: a crash in between makes the Bot API send the batch again, and the inbox
recognises what it already holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any, ClassVar, cast

from aiogram import Bot
from aiogram.enums import ChatType
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramConflictError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import GetUpdates
from aiogram.types import Update

from bot.clock import Clock
from bot.intake.flood import ADMIT, Admission, FloodGuard, FloodScope
from bot.intake.processor import InboxItem, InboxProcessor, chat_key, own_key, parse_update
from storage import inbox, jsoncodec
from storage.addresses import is_group
from storage.db import SessionFactory

log = logging.getLogger(__name__)


RawUpdate = dict[str, Any]


class GetRawUpdates(GetUpdates):
    """getUpdates whose answer stays the JSON the Bot API sent: the inbox keeps it as it
    came (DESIGN: raw JSON), and each update is parsed once, by the intake."""

    __returning__: ClassVar[Any] = list[dict[str, Any]]


class Intake:
    """Stores updates (from polling or the webhook) and hands the new ones to the processor."""

    def __init__(
        self,
        *,
        session_factory: SessionFactory,
        processor: InboxProcessor,
        clock: Clock,
        flood: FloodGuard | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.processor = processor
        self.clock = clock
        self.flood = flood

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
        notices: dict[int, FloodScope] = {}
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
            key = chat_key(update)
            admission = self._admission(update)
            if not admission.admit:
                continue  # muted: neither stored nor handled (it is confirmed with the batch)
            if admission.notice is not None:
                notices[update_id] = admission.notice
            parsed[update_id] = update
            rows.append((update_id, key, payload))
        now = self.clock.now()
        async with self.session_factory() as session:
            new_ids = await inbox.store_updates(session=session, rows=rows, now=now)
            for update_id, reason in unreadable.items():
                if update_id in new_ids:
                    await inbox.record_failure(
                        session=session, update_id=update_id, error=reason, park=True, now=now
                    )
            await session.commit()
        for update_id, key, _payload in rows:
            if update_id in new_ids and update_id in parsed:
                self.processor.submit(
                    InboxItem(update=parsed[update_id], chat_key=key, flood_notice=notices.get(update_id))
                )
        if unreadable:
            log.error("parked %d update(s) that could not be read", len(unreadable))
        return len(new_ids)

    def _admission(self, update: Update) -> Admission:
        if self.flood is None:
            return ADMIT
        counted = _addressed_to_the_bot(update)
        if counted is None:
            return ADMIT
        sender, group = counted
        return self.flood.admit(update_id=update.update_id, sender=sender, group=group)


def _addressed_to_the_bot(update: Update) -> tuple[int, int | None] | None:
    """(sender, group) of an update that asks the bot for something: a press, a private
    message, or in a group a command, a "#N" answer or a reply to the bot. Anything else
    (what members say to each other in a group the bot administers, joins and leaves, a group
    becoming a supergroup, the bot blocked) is taken as it comes and never counted: limiting it
    would mute people for talking among themselves, or lose a change the bot must record."""
    query = update.callback_query
    if query is not None:
        chat = query.message.chat.id if query.message is not None else None
        return query.from_user.id, chat if chat is not None and is_group(chat) else None
    message = update.message
    if message is None or message.from_user is None or message.from_user.is_bot:
        return None
    if message.chat.type == ChatType.PRIVATE:
        return message.from_user.id, None
    said = message.text or message.caption or ""
    replied = message.reply_to_message
    to_the_bot = replied is not None and replied.from_user is not None and replied.from_user.is_bot
    if said.startswith(("/", "#")) or to_the_bot:
        return message.from_user.id, message.chat.id
    return None


class Poller:
    def __init__(
        self,
        *,
        bot: Bot,
        intake: Intake,
        timeout: int,
        allowed_updates: list[str] | None = None,
        limit: int = 100,
        max_backoff: float = 30.0,
    ) -> None:
        self.bot = bot
        self.max_backoff = max_backoff
        self.intake = intake
        self.timeout = timeout
        self.allowed_updates = allowed_updates
        self.limit = limit
        self._stopped = asyncio.Event()

    def stop(self) -> None:
        self._stopped.set()

    async def run(self) -> None:
        """Poll until `stop()`. Nothing else ends this loop: every error is logged and waited
        out with backoff (network errors, 5xx, an HTML error page from a proxy, a 409 from a
        second instance polling, a database that cannot take the updates), and the batch
        that could not be stored is fetched again, since its offset was not confirmed."""
        offset: int | None = None
        failures = 0
        while not self._stopped.is_set():
            try:
                # GetRawUpdates answers the raw JSON; mypy sees GetUpdates' list[Update].
                updates = cast(
                    list[RawUpdate],
                    await self.bot(
                        GetRawUpdates(
                            offset=offset,
                            timeout=self.timeout,
                            limit=self.limit,
                            allowed_updates=self.allowed_updates,
                        )
                    ),
                )
                if updates:
                    await self.intake.accept(updates)
                    offset = int(updates[-1]["update_id"]) + 1
            except asyncio.CancelledError:
                raise
            except TelegramRetryAfter as error:
                await self._pause(float(error.retry_after))
                continue
            except Exception as error:
                failures += 1
                delay = min(self.max_backoff, 0.5 * 2 ** min(failures - 1, 8))
                self._log_failure(error, delay)
                await self._pause(delay)
                continue
            failures = 0

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once on `stop()`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), timeout=seconds)

    @staticmethod
    def _log_failure(error: Exception, delay: float) -> None:
        if isinstance(error, TelegramConflictError):
            log.warning(
                "getUpdates: another instance is polling with this token (%s); retrying in %.1fs",
                error,
                delay,
            )
        elif isinstance(
            error, TelegramNetworkError | TelegramServerError | ClientDecodeError | TelegramAPIError
        ):
            log.warning("getUpdates failed (%s: %s); retrying in %.1fs", type(error).__name__, error, delay)
        else:  # the database, or a bug: with the traceback
            log.exception("could not take updates in; retrying in %.1fs", delay)

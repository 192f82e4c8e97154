"""The sender: drains the outbox at Telegram's pace, retries what can be retried, and
records what became of every message.

Rows go out in id order per chat, one in flight per chat, many chats at once. A row is
marked sent in its own transaction right after Telegram accepted it, so a kill loses no
recipient and repeats at most the messages that were in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
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
from aiogram.methods import PinChatMessage, SendMessage, SendPhoto, TelegramMethod
from aiogram.types import InlineKeyboardMarkup, Message

from bot.clock import Clock
from bot.delivery.limits import Pacer, bulk_call
from storage import outbox, people, topics
from storage.db import SessionFactory
from storage.models import OutboxStatus, Reachability, TopicPost
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


def is_group_chat(chat_id: int) -> bool:
    return chat_id < 0


class Sender:
    """One per process. `wake()` after queueing; `run()` until `stop()`."""

    def __init__(
        self,
        *,
        bot: Bot,
        session_factory: SessionFactory,
        pacer: Pacer,
        clock: Clock,
        max_attempts: int = 5,
        retry_base_seconds: float = 1.0,
        request_timeout: float = 15.0,
        max_in_flight: int = 8,
        batch_size: int = 1000,
        rescan_seconds: float = 15.0,
        on_wake: Callable[[], None] | None = None,
    ) -> None:
        self.bot = bot
        self.session_factory = session_factory
        self.pacer = pacer
        self.clock = clock
        self.max_attempts = max_attempts
        self.retry_base_seconds = retry_base_seconds
        self.request_timeout = request_timeout
        self.max_in_flight = max_in_flight
        self.batch_size = batch_size
        self.rescan_seconds = rescan_seconds
        self.on_wake = on_wake
        self._queue: dict[int, PendingRow] = {}
        # When each queued row may go, on the event loop's monotonic clock: backoff must
        # not depend on wall-clock jumps (or on a frozen clock in tests).
        self._due: dict[int, float] = {}
        self._in_flight: dict[int, asyncio.Task[None]] = {}  # chat id → its one send
        self._in_flight_ids: set[int] = set()
        self._finished_meanwhile: set[int] | None = None
        self._last_id = 0
        self._last_rescan = 0.0
        self._wake = asyncio.Event()
        self._stopping = False
        self.sent_count = 0

    def wake(self) -> None:
        """New rows were committed (or a broadcast changed): look now, and show progress."""
        self._wake.set()
        if self.on_wake is not None:
            self.on_wake()

    def forget(self, broadcast_id: int) -> None:
        """A broadcast was cancelled: drop its queued rows (those in flight finish)."""
        for row_id in [key for key, row in self._queue.items() if row.broadcast_id == broadcast_id]:
            del self._queue[row_id]
            self._due.pop(row_id, None)

    def idle(self) -> bool:
        return not self._queue and not self._in_flight

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping:
                await self._refill(loop.time())
                next_due = self._dispatch()
                self._wake.clear()
                timeout = 1.0 if next_due is None else max(0.005, min(1.0, next_due))
                waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._wake.wait())]
                waiters.extend(self._in_flight.values())
                await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                waiters[0].cancel()
        finally:
            tasks = list(self._in_flight.values())
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def _refill(self, now: float) -> None:
        rescan = now - self._last_rescan >= self.rescan_seconds
        if len(self._queue) >= self.batch_size // 2 and not rescan:
            return
        after_id = 0 if rescan else self._last_id
        # Sends that finish while the query runs were read as pending: they must not be
        # queued again (that would send them twice).
        self._finished_meanwhile = set()
        try:
            async with self.session_factory() as session:
                rows = await outbox.pending_rows(session=session, after_id=after_id, limit=self.batch_size)
            finished = self._finished_meanwhile
        finally:
            self._finished_meanwhile = None
        if rescan:
            self._last_rescan = now
        added = False
        for row in rows:
            if row.id in self._queue or row.id in self._in_flight_ids or row.id in finished:
                continue
            if len(self._queue) >= self.batch_size * 2:
                break
            self._queue[row.id] = row
            self._due[row.id] = now + max(0.0, (row.not_before - self.clock.now()).total_seconds())
            self._last_id = max(self._last_id, row.id)
            added = True
        if added and rescan:
            self._queue = dict(sorted(self._queue.items()))

    def _dispatch(self) -> float | None:
        """Start sends for rows that may go now; returns seconds until the next one may."""
        now = asyncio.get_running_loop().time()
        blocked: set[int] = set(self._in_flight)
        next_due: float | None = None
        for row in list(self._queue.values()):
            if len(self._in_flight) >= self.max_in_flight:
                return 0.05 if next_due is None else min(next_due, 0.05)
            if row.chat_id in blocked:
                continue
            blocked.add(row.chat_id)  # later rows for this chat wait for this one
            wait = max(self._due.get(row.id, now), self.pacer.ready_at(row.chat_id)) - now
            if wait > 0.02:
                next_due = wait if next_due is None else min(next_due, wait)
                continue
            del self._queue[row.id]
            self._due.pop(row.id, None)
            self._in_flight_ids.add(row.id)
            self._in_flight[row.chat_id] = asyncio.create_task(self._send(row))
        return next_due

    async def _send(self, row: PendingRow) -> None:
        try:
            await self._attempt(row)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug must not stop the sender; the row is retried later
            log.exception("outbox row %s failed unexpectedly", row.id)
            await self._retry(row, "internal error", count=True)
        finally:
            self._in_flight.pop(row.chat_id, None)
            self._in_flight_ids.discard(row.id)
            if self._finished_meanwhile is not None:
                self._finished_meanwhile.add(row.id)
            self._wake.set()

    async def _attempt(self, row: PendingRow) -> None:
        await self.pacer.acquire_chat(row.chat_id)
        try:
            with bulk_call():
                message = await self.bot(build_method(row), request_timeout=int(self.request_timeout))
        except TelegramRetryAfter as error:
            self.pacer.penalize(error.retry_after, row.chat_id)
            await self._retry(row, error.message, count=False, delay=float(error.retry_after))
        except TelegramMigrateToChat as error:
            await self._migrate(row, error.migrate_to_chat_id)
        except TelegramForbiddenError as error:
            # "blocked by the user" is a choice; "can't initiate conversation" means they never
            # opened the bot (RapidPro's blocked / stopped).
            blocked = "blocked" in error.message.lower() or "kicked" in error.message.lower()
            await self._unreachable(
                row, error.message, Reachability.BLOCKED if blocked else Reachability.STOPPED
            )
        except TelegramBadRequest as error:
            if any(hint in error.message.lower() for hint in UNREACHABLE_HINTS):
                await self._unreachable(row, error.message, Reachability.STOPPED)
            else:
                await self._finish(row, OutboxStatus.FAILED, error=error.message)
        except (TelegramNetworkError, TelegramServerError, TimeoutError) as error:
            await self._retry(row, str(error) or type(error).__name__, count=True)
        except TelegramAPIError as error:
            await self._retry(row, error.message, count=True)
        else:
            await self._sent(row, message)

    async def _sent(self, row: PendingRow, message: Any) -> None:
        message_id = message.message_id if isinstance(message, Message) else None
        async with self.session_factory() as session:
            await outbox.set_row(
                session=session,
                row_id=row.id,
                status=OutboxStatus.SENT,
                sent_at=self.clock.now(),
                message_id=message_id,
                attempts=row.attempts + 1,
                error=None,
            )
            if row.topic_id is not None and row.chat_group_id is not None and message_id is not None:
                await topics.add_post(
                    session=session,
                    post=TopicPost(
                        topic_id=row.topic_id,
                        chat_group_id=row.chat_group_id,
                        telegram_chat_id=row.chat_id,
                        message_id=message_id,
                    ),
                )
            await session.commit()
        self.sent_count += 1
        if row.payload.get("pin") and message_id is not None:
            await self._pin(row, message_id)

    async def _pin(self, row: PendingRow, message_id: int) -> None:
        """Pinning is best effort: a group that did not make the bot an admin still got the post."""
        try:
            await self.pacer.acquire_chat(row.chat_id)
            with bulk_call():
                await self.bot(
                    PinChatMessage(chat_id=row.chat_id, message_id=message_id, disable_notification=False)
                )
        except TelegramRetryAfter as error:
            self.pacer.penalize(error.retry_after, row.chat_id)
            log.warning("could not pin in %s: %s", row.chat_id, error.message)
        except TelegramAPIError as error:
            log.warning("could not pin in %s: %s", row.chat_id, error.message)

    async def _retry(self, row: PendingRow, error: str, *, count: bool, delay: float | None = None) -> None:
        attempts = row.attempts + (1 if count else 0)
        if count and attempts >= self.max_attempts:
            await self._finish(row, OutboxStatus.FAILED, error=error, attempts=attempts)
            return
        if delay is None:
            # Exponential backoff with full jitter: retries from many rows do not line up.
            delay = self.retry_base_seconds * 2 ** (attempts - 1) * (0.5 + random.random())
        not_before = self.clock.now() + timedelta(seconds=delay)
        async with self.session_factory() as session:
            still_pending = await outbox.set_row(
                session=session, row_id=row.id, attempts=attempts, not_before=not_before, error=error[:1000]
            )
            await session.commit()
        if still_pending and not self._stopping:
            self._requeue(row, attempts=attempts, not_before=not_before, delay=delay)

    def _requeue(
        self,
        row: PendingRow,
        *,
        attempts: int,
        not_before: datetime,
        delay: float = 0.0,
        chat_id: int | None = None,
    ) -> None:
        updated = PendingRow(
            id=row.id,
            broadcast_id=row.broadcast_id,
            chat_id=row.chat_id if chat_id is None else chat_id,
            person_id=row.person_id,
            chat_group_id=row.chat_group_id,
            topic_id=row.topic_id,
            payload=row.payload,
            attempts=attempts,
            not_before=not_before,
        )
        self._queue[row.id] = updated
        self._queue = dict(sorted(self._queue.items()))
        self._due[row.id] = max(self._due.get(row.id, 0.0), asyncio.get_running_loop().time() + delay)

    async def _migrate(self, row: PendingRow, new_chat_id: int) -> None:
        """The group became a supergroup: rebind it and send there (this row and the queued ones)."""
        async with self.session_factory() as session:
            await people.move_group(session=session, old_chat_id=row.chat_id, new_chat_id=new_chat_id)
            await outbox.move_chat(session=session, old_chat_id=row.chat_id, new_chat_id=new_chat_id)
            await session.commit()
        for queued in list(self._queue.values()):
            if queued.chat_id == row.chat_id:
                self._requeue(
                    queued, attempts=queued.attempts, not_before=queued.not_before, chat_id=new_chat_id
                )
        self._requeue(row, attempts=row.attempts, not_before=self.clock.now(), chat_id=new_chat_id)

    async def _unreachable(self, row: PendingRow, error: str, reachability: Reachability) -> None:
        async with self.session_factory() as session:
            await outbox.set_row(
                session=session,
                row_id=row.id,
                status=OutboxStatus.UNREACHABLE,
                error=error[:1000],
                attempts=row.attempts + 1,
            )
            if row.person_id is not None:
                await outbox.set_reachability(
                    session=session, person_id=row.person_id, reachability=reachability
                )
            await session.commit()
        # Later parts of the same long message cannot arrive either.
        for key, queued in list(self._queue.items()):
            if queued.chat_id == row.chat_id and queued.broadcast_id == row.broadcast_id:
                del self._queue[key]
                self._due.pop(key, None)
                async with self.session_factory() as session:
                    await outbox.set_row(
                        session=session, row_id=key, status=OutboxStatus.UNREACHABLE, error=error[:1000]
                    )
                    await session.commit()

    async def _finish(
        self, row: PendingRow, status: OutboxStatus, *, error: str, attempts: int | None = None
    ) -> None:
        async with self.session_factory() as session:
            await outbox.set_row(
                session=session,
                row_id=row.id,
                status=status,
                error=error[:1000],
                attempts=row.attempts + 1 if attempts is None else attempts,
            )
            await session.commit()


def build_method(row: PendingRow) -> TelegramMethod[Any]:
    payload = row.payload
    markup = payload.get("reply_markup")
    reply_markup = InlineKeyboardMarkup.model_validate(markup) if markup else None
    if payload.get("photo"):
        return SendPhoto(
            chat_id=row.chat_id,
            photo=payload["photo"],
            caption=payload.get("text"),
            reply_markup=reply_markup,
        )
    return SendMessage(chat_id=row.chat_id, text=payload["text"], reply_markup=reply_markup)

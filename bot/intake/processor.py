"""Feeds inbox rows to the Dispatcher: in order per chat, concurrently across chats.

Each update is one short transaction: the handler reads and decides, and its writes, the
update's done-mark and its replies (outbox rows) commit together; only then does anything
go out (the replies are handed to the sender, a pressed button's query is answered). A
crash before the commit replays the update with nothing sent; after it, nothing is redone.

An update whose handling fails is retried with backoff. A database that is locked, full or
gone is waited out over minutes (`retry_horizon`); any other error is a bug in handling
that update, retried a few times (`max_attempts`) before it is parked as failed, so one
poison update never wedges its chat, the intake or a restart. Parked updates are visible
(`dlxh inbox failed`) and go back to the queue with `dlxh inbox retry`: the processor
rescans the inbox for pending rows it does not hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import traceback
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import Update
from sqlalchemy.exc import SQLAlchemyError

from bot.clock import Clock
from bot.delivery.replies import CallbackAnswer, ReplyQueue
from bot.intake.flood import FloodScope
from bot.intake.redaction import redacted_payload
from storage import inbox, jsoncodec
from storage.db import SessionFactory
from storage.outbox import PendingRow

log = logging.getLogger(__name__)

ParkedHook = Callable[[Update, str], Awaitable[None]]
RowsHook = Callable[[list[PendingRow]], None]


@dataclass
class InboxItem:
    update: Update
    chat_key: int
    attempts: int = 0
    # Set on the update that found its sender or group over the flood limit: it is answered
    # with the notice of that scope instead of being handled (bot/intake/flood.py).
    flood_notice: FloodScope | None = None


def parse_update(raw: dict[str, Any], bot: Bot) -> Update:
    """The Update aiogram handlers get, from the JSON the Bot API sent."""
    return Update.model_validate(raw, context={"bot": bot})


def chat_key(update: Update) -> int:
    """The ordering key: the chat an update belongs to (or its sender, or itself)."""
    event = update.event
    chat = getattr(event, "chat", None)
    if chat is None:
        message = getattr(event, "message", None)
        chat = getattr(message, "chat", None)
    if chat is not None:
        return int(chat.id)
    user = getattr(event, "from_user", None)
    if user is not None:
        return int(user.id)
    return own_key(update.update_id)


# Keys below this belong to no chat: far under any chat address (Telegram's are within
# 2**53, Zalo's within 2**57, storage/addresses.py); with update ids below 2**62 (Zalo's
# are the highest) every key still fits a signed 64-bit column.
OWN_KEYS_BELOW = -(1 << 62)


def own_key(update_id: int) -> int:
    """The ordering key of an update that belongs to no chat (or could not be read)."""
    return OWN_KEYS_BELOW - update_id


def belongs_to_a_chat(key: int) -> bool:
    return key > OWN_KEYS_BELOW


def is_transient(error: BaseException) -> bool:
    """Errors of the surroundings, not of the update: the database (locked, full, gone, its
    pool exhausted) or the network. They are waited out; anything else is a bug."""
    return isinstance(error, SQLAlchemyError | OSError | TimeoutError)


def _describe(error: BaseException) -> str:
    """What is stored with a failed attempt: the error, then where it happened."""
    summary = "".join(traceback.format_exception_only(error)).strip()
    trace = "".join(traceback.format_tb(error.__traceback__, limit=-8))
    return f"{summary}\n{trace}"


class InboxProcessor:
    def __init__(
        self,
        *,
        dispatcher: Dispatcher,
        bot: Bot,
        session_factory: SessionFactory,
        clock: Clock,
        on_replies: RowsHook | None = None,
        on_parked: ParkedHook | None = None,
        max_attempts: int = 5,
        max_restarts: int = 3,
        retry_first: float = 1.0,
        retry_max: float = 60.0,
        retry_horizon: float = 900.0,
        concurrency: int = 32,
        rescan_seconds: float = 30.0,
        callback_attempts: int = 3,
    ) -> None:
        self.dispatcher = dispatcher
        self.bot = bot
        self.session_factory = session_factory
        self.clock = clock
        self.on_replies = on_replies
        self.on_parked = on_parked
        self.max_attempts = max_attempts
        self.max_restarts = max_restarts
        self.retry_first = retry_first
        self.retry_max = retry_max
        self.retry_horizon = retry_horizon
        self.rescan_seconds = rescan_seconds
        self.callback_attempts = callback_attempts
        self._queues: dict[int, deque[InboxItem]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._known: set[int] = set()  # update ids queued or being handled here
        self._answers: dict[int, asyncio.Task[None]] = {}  # update id → its callback answer
        self._slots = asyncio.Semaphore(concurrency)
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._closed = asyncio.Event()
        self._rescan_task: asyncio.Task[None] | None = None

    def submit(self, item: InboxItem) -> None:
        """Queue an update that is already committed to the inbox (once, however often it
        is submitted)."""
        update_id = item.update.update_id
        if self._closing or update_id in self._known:
            return
        self._known.add(update_id)
        queue = self._queues.setdefault(item.chat_key, deque())
        queue.append(item)
        self._idle.clear()
        if item.chat_key not in self._workers:
            self._workers[item.chat_key] = asyncio.create_task(self._run_chat(item.chat_key))

    def holds(self, update_id: int) -> bool:
        """Whether this update is queued here, being handled, or its query being answered."""
        return update_id in self._known or update_id in self._answers

    async def replay(self) -> int:
        """At start: count a restart for every unfinished row, park those that failed on
        every restart (an update that kills the process), queue the rest."""
        async with self.session_factory() as session:
            await inbox.count_attempt_for_pending(session=session)
            parked = await inbox.park_exhausted(
                session=session, max_attempts=self.max_restarts, now=self.clock.now()
            )
            await session.commit()
        if parked:
            log.warning("parked %d update(s) that failed on every restart", parked)
        return await self.rescan()

    def start_rescanning(self) -> None:
        """Pick up, every `rescan_seconds`, rows put back by `dlxh inbox retry` (or left
        pending by a database that failed while an update was being parked)."""
        if self._rescan_task is None:
            self._rescan_task = asyncio.create_task(self._rescan_loop())

    async def _rescan_loop(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.rescan_seconds)
            try:
                found = await self.rescan()
            except Exception:
                log.exception("could not rescan the inbox; trying again later")
                continue
            if found:
                log.info("queued %d pending update(s) found in the inbox", found)

    async def rescan(self) -> int:
        """Queue every pending row that is not held here, oldest first."""
        async with self.session_factory() as session:
            rows = await inbox.unfinished(session=session)
        queued = 0
        for row in rows:
            if row.update_id in self._known:
                continue
            try:
                update = parse_update(jsoncodec.loads(row.payload), self.bot)
            except ValueError as error:
                await self._record_failure(row.update_id, f"unreadable update: {error}", park=True)
                continue
            self.submit(InboxItem(update=update, chat_key=row.chat_key))
            queued += 1
        return queued

    async def wait_idle(self) -> None:
        """Until every queued update is handled and every pressed button answered."""
        while True:
            await self._idle.wait()
            if not self._answers:
                return
            await asyncio.gather(*self._answers.values(), return_exceptions=True)

    async def close(self) -> None:
        """Stop taking work and let the updates being handled finish."""
        self._closing = True
        self._closed.set()
        if self._rescan_task is not None:
            self._rescan_task.cancel()
        for queue in self._queues.values():
            while len(queue) > 1:
                self._known.discard(queue.pop().update.update_id)
        tasks = [*self._workers.values(), *self._answers.values()]
        if self._rescan_task is not None:
            tasks.append(self._rescan_task)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _run_chat(self, key: int) -> None:
        queue = self._queues[key]
        try:
            while queue:
                item = queue[0]
                async with self._slots:
                    try:
                        await self._process(item)
                    except Exception:  # a bug here must not end the chat's worker
                        log.exception("update %s could not be processed", item.update.update_id)
                queue.popleft()
                self._known.discard(item.update.update_id)
        finally:
            del self._workers[key]
            if not queue:
                self._queues.pop(key, None)
            if not self._workers:
                self._idle.set()

    async def _process(self, item: InboxItem) -> None:
        update_id = item.update.update_id
        loop = asyncio.get_running_loop()
        first_failure: float | None = None
        while True:
            error = await self._attempt(item.update, item.flood_notice)
            if error is None:
                return
            text, transient = error
            item.attempts += 1
            now = loop.time()
            first_failure = now if first_failure is None else first_failure
            if transient:
                park = now - first_failure >= self.retry_horizon
            else:
                park = item.attempts >= self.max_attempts
            log.error(
                "update %s failed (attempt %d%s): %s",
                update_id,
                item.attempts,
                ", parked" if park else "",
                text.splitlines()[0][:500],
            )
            await self._record_failure(update_id, text, park=park)
            if park:
                if self.on_parked is not None:
                    try:
                        await self.on_parked(item.update, text)
                    except Exception:  # telling people is best effort; the row is parked anyway
                        log.exception("could not tell anyone about update %s", update_id)
                return
            delay = min(self.retry_max, self.retry_first * 2 ** (item.attempts - 1))
            # A shutdown does not wait out the backoff (up to the retry horizon): the update
            # stays pending in the inbox and is tried again after the restart.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), timeout=delay * (0.5 + random.random()))
            if self._closing:
                log.warning("update %s left pending for the next start", update_id)
                return

    async def _attempt(
        self, update: Update, flood_notice: FloodScope | None = None
    ) -> tuple[str, bool] | None:
        """One try at an update: (error, transient) or None once it is committed."""
        try:
            async with self.session_factory() as session:
                replies = ReplyQueue(session=session, update_id=update.update_id, now=self.clock.now())
                await self.dispatcher.feed_update(
                    self.bot, update, session=session, replies=replies, flood_notice=flood_notice
                )
                await replies.write()
                await inbox.mark_done(
                    session=session,
                    update_id=update.update_id,
                    now=self.clock.now(),
                    payload=redacted_payload(update),
                )
                await session.commit()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the session's exit rolled back whatever was begun
            return _describe(error), is_transient(error)
        self._after_commit(update, replies)
        return None

    def _after_commit(self, update: Update, replies: ReplyQueue) -> None:
        if replies.rows and self.on_replies is not None:
            self.on_replies(replies.rows)
        answer = replies.callback
        if answer is None and update.callback_query is not None:
            answer = CallbackAnswer(query_id=update.callback_query.id)
        if answer is not None:
            update_id = update.update_id
            task = asyncio.create_task(self._answer_callback(answer))
            self._answers[update_id] = task
            task.add_done_callback(lambda _task: self._answers.pop(update_id, None))

    async def _answer_callback(self, answer: CallbackAnswer) -> None:
        """Stops the button's spinner (and shows its alert): best effort, a few quick tries,
        since Telegram refuses an answer after some seconds."""
        for attempt in range(self.callback_attempts):
            try:
                await self.bot.answer_callback_query(
                    answer.query_id, text=answer.text, show_alert=answer.alert
                )
                return
            except TelegramRetryAfter as error:
                if error.retry_after > 5:
                    break
                await asyncio.sleep(error.retry_after)
            except (TelegramNetworkError, TelegramServerError) as error:
                log.info("callback %s not answered yet: %s", answer.query_id, error)
                await asyncio.sleep(0.5 * 2**attempt)
            except TelegramAPIError as error:  # too old, or answered already (a replay)
                log.info("callback %s not answered: %s", answer.query_id, error)
                return
            except Exception:
                log.exception("callback %s not answered", answer.query_id)
                return
        log.info("gave up answering callback %s", answer.query_id)

    async def _record_failure(self, update_id: int, error: str, *, park: bool) -> None:
        """Best effort: with the database down this fails too, and the row stays pending
        (the rescan or a restart brings it back)."""
        try:
            async with self.session_factory() as session:
                await inbox.record_failure(
                    session=session, update_id=update_id, error=error, park=park, now=self.clock.now()
                )
                await session.commit()
        except Exception as failure:
            log.error("could not record the failure of update %s: %s", update_id, failure)

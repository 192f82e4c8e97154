"""Feeds inbox rows to the Dispatcher: in order per chat, concurrently across chats.

Each update runs in one transaction with its "done" mark, so a crash either keeps both the
handler's writes and the mark or neither (and the row is replayed at start). A failing
update is retried a bounded number of times, then parked as failed: one poison update never
wedges its chat, the intake or a restart.
"""

from __future__ import annotations

import asyncio
import logging
import random
import traceback
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.clock import Clock
from storage import inbox, jsoncodec
from storage.db import (
    SessionFactory,
    begin_write,
    commit,
    discard_direct,
    leftover_on_driver,
    rollback,
    run_directly,
)

log = logging.getLogger(__name__)

FailureHook = Callable[[Update, str], Awaitable[None]]


@dataclass
class InboxItem:
    update: Update
    chat_key: int
    attempts: int = 0


def parse_update(raw: dict[str, Any], bot: Bot) -> Update:
    """The Update aiogram handlers get, from the JSON the Bot API sent.

    The keyboard of the message under a pressed button is left out: no handler reads it (a
    screen's state is in its draft), and with a form's dozen buttons it was half the cost of
    parsing a button press. The inbox keeps the JSON whole.
    """
    query = raw.get("callback_query")
    if (
        isinstance(query, dict)
        and isinstance(query.get("message"), dict)
        and "reply_markup" in query["message"]
    ):
        message = {key: value for key, value in query["message"].items() if key != "reply_markup"}
        raw = {**raw, "callback_query": {**query, "message": message}}
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


# Keys below this belong to no chat: far under any Telegram chat id (supergroups are -100…).
OWN_KEYS_BELOW = -(10**15)


def own_key(update_id: int) -> int:
    """The ordering key of an update that belongs to no chat (or could not be read)."""
    return OWN_KEYS_BELOW - update_id


def belongs_to_a_chat(key: int) -> bool:
    return key > OWN_KEYS_BELOW


def _describe(error: BaseException) -> str:
    """What is stored with a failed attempt: the error, then where it happened."""
    summary = "".join(traceback.format_exception_only(error)).strip()
    return f"{summary}\n{traceback.format_exc(limit=8)}"


async def _close_quietly(connection: AsyncConnection) -> None:
    """A connection that cannot even close is dropped all the same (with a log line)."""
    try:
        await connection.close()
    except Exception:
        log.exception("could not close an intake connection")


class InboxProcessor:
    def __init__(
        self,
        *,
        dispatcher: Dispatcher,
        bot: Bot,
        session_factory: SessionFactory,
        clock: Clock,
        engine: AsyncEngine | None = None,
        max_attempts: int = 3,
        concurrency: int = 32,
        retry_delay: float = 0.5,
        on_failure: FailureHook | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.bot = bot
        self.session_factory = session_factory
        self.clock = clock
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.on_failure = on_failure
        self.engine = engine
        self._idle_connections: list[AsyncConnection] = []
        self._queues: dict[int, deque[InboxItem]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False

    def submit(self, item: InboxItem) -> None:
        """Queue an update that is already committed to the inbox."""
        if self._closing:
            return
        queue = self._queues.setdefault(item.chat_key, deque())
        queue.append(item)
        self._idle.clear()
        if item.chat_key not in self._workers:
            self._workers[item.chat_key] = asyncio.create_task(self._run_chat(item.chat_key))

    async def replay(self) -> int:
        """Queue every unfinished row, oldest first (called once at start)."""
        now = self.clock.now()
        async with self.session_factory() as session:
            await begin_write(session)
            await inbox.count_attempt_for_pending(session=session)
            parked = await inbox.park_exhausted(session=session, max_attempts=self.max_attempts, now=now)
            rows = await inbox.unfinished(session=session)
            await session.commit()
        if parked:
            log.warning("parked %d update(s) that failed on every restart", parked)
        for row in rows:
            try:
                update = parse_update(jsoncodec.loads(row.payload), self.bot)
            except ValueError as error:
                await self._record_failure(row.update_id, f"unreadable update: {error}", park=True)
                continue
            # The start-up count above is not a real attempt at handling it.
            self.submit(InboxItem(update=update, chat_key=row.chat_key, attempts=max(row.attempts - 1, 0)))
        return len(rows)

    @property
    def kept_connections(self) -> int:
        """Connections kept open for the next updates (see `_take_connection`)."""
        return len(self._idle_connections)

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def close(self) -> None:
        """Stop taking work and let the updates being processed finish."""
        self._closing = True
        for queue in self._queues.values():
            while len(queue) > 1:
                queue.pop()
        workers = list(self._workers.values())
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)
        connections, self._idle_connections = self._idle_connections, []
        for connection in connections:
            await _close_quietly(connection)

    async def _run_chat(self, key: int) -> None:
        queue = self._queues[key]
        try:
            while queue:
                item = queue[0]
                async with self._slots:
                    await self._process(item)
                queue.popleft()
        finally:
            del self._workers[key]
            if not queue:
                self._queues.pop(key, None)
            if not self._workers:
                self._idle.set()

    async def _process(self, item: InboxItem) -> None:
        update_id = item.update.update_id
        while True:
            error = await self._attempt(item.update)
            if error is None:
                return
            item.attempts += 1
            park = item.attempts >= self.max_attempts
            log.error(
                "update %s failed (attempt %d): %s", update_id, item.attempts, error.splitlines()[0][:500]
            )
            await self._record_failure(update_id, error, park=park)
            if park:
                if self.on_failure is not None:
                    try:
                        await self.on_failure(item.update, error)
                    except Exception:  # the apology is best effort; the row is parked anyway
                        log.exception("could not tell the user about update %s", update_id)
                return
            await asyncio.sleep(self.retry_delay * 2 ** (item.attempts - 1) * (0.5 + random.random()))

    async def _attempt(self, update: Update) -> str | None:
        connection: AsyncConnection | None = None
        try:
            connection = await self._take_connection()
            return await self._attempt_on(update, connection)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # no connection, or the rollback itself failed
            return _describe(error)
        finally:
            await self._give_back(connection)

    async def _take_connection(self) -> AsyncConnection | None:
        """A connection kept open between updates (at most one per concurrent update).

        Checking a connection out of the engine's pool and back for every update cost about
        as much as the update's own statements; a session bound to a kept connection starts
        and ends its transaction on it the same way.
        """
        if self.engine is None:
            return None
        if self._idle_connections:
            return self._idle_connections.pop()
        return await self.engine.connect()

    async def _give_back(self, connection: AsyncConnection | None) -> None:
        if connection is None:
            return
        # A connection that lost its database, or whose transaction did not end (the attempt
        # was cancelled half-way, perhaps while its driver waited on its thread for SQLite's
        # lock), is not reused: closing it rolls back and frees it.
        if (
            self._closing
            or connection.closed
            or connection.invalidated
            or connection.in_transaction()
            or leftover_on_driver(connection)
        ):
            await _close_quietly(connection)
            return
        self._idle_connections.append(connection)

    async def _attempt_on(self, update: Update, connection: AsyncConnection | None) -> str | None:
        bind = {} if connection is None else {"bind": connection}
        async with self.session_factory(**bind) as session:
            if connection is not None:
                run_directly(session, connection)
            try:
                result = await self.dispatcher.feed_update(self.bot, update, session=session)
                if isinstance(result, TelegramMethod):
                    await self.bot(result)
                await begin_write(session)
                await inbox.mark_done(session=session, update_id=update.update_id, now=self.clock.now())
                await commit(session)
                return None
            except asyncio.CancelledError:
                raise
            except Exception as error:
                await rollback(session)
                return _describe(error)
            finally:
                # Cancelled half-way, or a commit that failed: nothing is left open on the
                # driver, and the write gate is free for the next update.
                discard_direct(session)

    async def _record_failure(self, update_id: int, error: str, *, park: bool) -> None:
        async with self.session_factory() as session:
            await begin_write(session)
            await inbox.record_failure(
                session=session, update_id=update_id, error=error, park=park, now=self.clock.now()
            )
            await session.commit()

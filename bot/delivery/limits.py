"""Telegram's rate limits as token buckets, shared by every call the bot makes.

Telegram allows about 30 messages a second per bot, one a second per chat (with short
bursts) and 20 a minute per group, and answers 429 with `retry_after` above that. Bulk
messages are spaced evenly (a bucket with a burst of one) instead of sent in bursts that
then collect 429s.

Answers to what a person just did are not made to wait for an even slot: they go at once
while the last second has room under the global limit (and take the next bulk slot with
them, so the total stays under it), and they pay no per-chat bucket (a person pressing
buttons is not made to wait a second per press; Telegram allows such short bursts). They
queue apart from bulk calls, so an answer never waits behind a broadcast's sleeping call,
and while people are being answered bulk calls leave the answers some headroom in the
second (when nobody is, broadcasts get the whole rate).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

# Methods that Telegram counts as messages (what the limits are about).
PACED_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendMediaGroup",
        "copyMessage",
        "forwardMessage",
        "editMessageText",
        "editMessageCaption",
        "editMessageReplyMarkup",
        "pinChatMessage",
    }
)

_bulk: ContextVar[bool] = ContextVar("dlxh_bulk_call", default=False)
_sender: ContextVar[bool] = ContextVar("dlxh_sender_call", default=False)


@contextlib.contextmanager
def sender_call(*, bulk: bool) -> Iterator[None]:
    """Marks calls made by the sender, which handles 429s itself (the middleware must not);
    `bulk` ones are paced evenly, answers go while the last second has room."""
    bulk_token = _bulk.set(bulk)
    sender_token = _sender.set(True)
    try:
        yield
    finally:
        _bulk.reset(bulk_token)
        _sender.reset(sender_token)


class TokenBucket:
    """A bucket of one token, handed out by reservation: each caller is told the moment its
    token is ready, in arrival order, so waiting callers are served fairly and messages are
    evenly spaced (Telegram punishes bursts, not averages)."""

    __slots__ = ("interval", "next_free")

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self.next_free = float("-inf")  # the earliest moment the next token may be used

    def ready_at(self, now: float) -> float:
        return max(self.next_free, now)

    def reserve(self, now: float) -> float:
        """Take the next token; returns the moment it may be used."""
        moment = self.ready_at(now)
        self.next_free = moment + self.interval
        return moment

    def block_until(self, moment: float) -> None:
        self.next_free = max(self.next_free, moment)


# Pace a little under each limit: requests leave evenly spaced but arrive with jitter, and
# Telegram counts arrivals. 1 % below a chat's limit keeps its arrivals inside every window.
SAFETY = 0.99
# The bot's whole rate keeps 2 % of the second (at least one call) free: about 20 ms of
# jitter its arrivals may have (a pause of the event loop bunches calls that had left
# evenly) before they meet Telegram's global limit, whose 429 stops everything for a second.
GLOBAL_SAFETY = 0.98
STALL_SECONDS = 0.05
# While an answer is waiting or went out in the last second, bulk calls keep this many of
# the second's slots free for answers: they come in bursts, and a slot a broadcast took is
# one an answer waits for.
ANSWER_HEADROOM = 3
# This many chats meeting a 429 within this many seconds is taken as the global limit.
GLOBAL_429_CHATS = 3
GLOBAL_429_WINDOW = 2.0


class Pacer:
    """The global bucket plus one bucket per chat (groups: per-minute rate)."""

    def __init__(
        self,
        *,
        global_per_second: float,
        per_chat_per_second: float,
        per_group_per_minute: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        # The even pace and the count allowed in any second agree, so the window never has
        # to hold back what the pace let go (which would send calls in clumps).
        self.window_capacity = max(1, int(global_per_second * GLOBAL_SAFETY))
        self.global_bucket = TokenBucket(self.window_capacity)
        # Answers leave a slot of the second free: they go the moment they are ready, often
        # several at once, and arrive with the most jitter (a second at the limit here can
        # be a second over it at Telegram's end).
        self.answer_capacity = max(1, self.window_capacity - 1)
        self.bulk_capacity_beside_answers = max(1, self.answer_capacity - ANSWER_HEADROOM)
        self.per_chat_per_second = per_chat_per_second * SAFETY
        self.per_group_per_second = per_group_per_minute / 60.0 * SAFETY
        self.clock = clock
        self.sleep = sleep
        self._chats: dict[int, TokenBucket] = {}
        self._window: deque[float] = deque()  # when the calls of the last second went
        self._recent_429: deque[tuple[float, int | None]] = deque()
        self._calls = 0
        self._last_answer = float("-inf")
        self._answers_waiting = 0
        self._bulk_lock = asyncio.Lock()
        self._answer_lock = asyncio.Lock()

    def _chat_bucket(self, chat_id: int) -> TokenBucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            rate = self.per_group_per_second if chat_id < 0 else self.per_chat_per_second
            bucket = self._chats[chat_id] = TokenBucket(rate)
        return bucket

    def ready_at(self, chat_id: int) -> float:
        """When a bulk message to this chat could go (without reserving it)."""
        now = self.clock()
        bucket = self._chats.get(chat_id)
        return bucket.ready_at(now) if bucket is not None else now

    async def acquire_global(self, *, bulk: bool = True) -> None:
        """Callers of a kind queue on their lock (in order). Bulk tokens are spaced from the
        moment the previous one was actually taken, so a stalled event loop resumes at the
        same pace instead of firing the backlog as a burst; answers go as soon as the last
        second has room. Either way no second holds more calls than the limit."""
        if not bulk:
            self._answers_waiting += 1
            try:
                async with self._answer_lock:
                    await self._wait_for_window(bulk=False)
                    woke = self.clock()
                    self._last_answer = woke
                    bucket = self.global_bucket  # the answer took a slot: the bulk pace moves on by one
                    bucket.next_free = max(bucket.next_free, woke) + bucket.interval
                    self._window.append(woke)
            finally:
                self._answers_waiting -= 1
            return
        async with self._bulk_lock:
            bucket = self.global_bucket
            now = self.clock()
            moment = bucket.ready_at(now)
            if moment > now:
                await self.sleep(moment - now)
            await self._wait_for_window(bulk=True)
            woke = self.clock()
            # Waking a little late is normal (timer granularity) and must not slow the pace;
            # being late by more than a few tokens' worth is a stall, and the pace restarts
            # from now instead of catching up in a burst.
            stalled = woke - moment > max(STALL_SECONDS, 3 * bucket.interval)
            bucket.next_free = (woke if stalled else max(moment, bucket.next_free)) + bucket.interval
            self._window.append(woke)

    def _bulk_capacity(self) -> int:
        """An answer waiting, or one in the last second, keeps bulk calls off the headroom
        (otherwise a broadcast that fills every second would starve the answers)."""
        answering = self._answers_waiting > 0 or self.clock() - self._last_answer < 1.0
        return self.bulk_capacity_beside_answers if answering else self.window_capacity

    async def _wait_for_window(self, *, bulk: bool) -> None:
        while True:
            now = self.clock()
            while self._window and self._window[0] <= now - 1.0:
                self._window.popleft()
            capacity = self._bulk_capacity() if bulk else self.answer_capacity
            if len(self._window) < capacity:
                return
            # Until a slot frees, or (bulk beside answers) until the headroom is no longer kept.
            wake_at = self._window[0] + 1.0
            headroom_ends = self._last_answer + 1.0
            if bulk and now < headroom_ends:
                wake_at = min(wake_at, headroom_ends)
            await self.sleep(wake_at - now + 0.001)

    async def acquire_chat(self, chat_id: int) -> None:
        """A bulk message's turn in its chat."""
        now = self.clock()
        delay = self._chat_bucket(chat_id).reserve(now) - now
        self._prune(now)
        if delay > 0:
            await self.sleep(delay)

    def penalize(self, retry_after: float, chat_id: int | None = None) -> None:
        """A 429 names no scope. One chat's 429 pauses that chat: one person's burst must not
        stall everyone's answers. 429s in several chats at once (or one without a chat) mean
        the bot as a whole went too fast, and the whole bot pauses for `retry_after`."""
        now = self.clock()
        until = now + retry_after
        if chat_id is not None:
            self._chat_bucket(chat_id).block_until(until)
        while self._recent_429 and self._recent_429[0][0] <= now - GLOBAL_429_WINDOW:
            self._recent_429.popleft()
        self._recent_429.append((now, chat_id))
        chats = {chat for _moment, chat in self._recent_429}
        if chat_id is None or len(chats) >= GLOBAL_429_CHATS:
            self.global_bucket.block_until(until)

    def _prune(self, now: float) -> None:
        """Forget idle chats now and then, so ten thousand recipients leave no residue."""
        self._calls += 1
        if self._calls % 1024:
            return
        idle = [chat for chat, bucket in self._chats.items() if bucket.next_free < now - 60]
        for chat in idle:
            del self._chats[chat]

    def tracked_chats(self) -> int:
        return len(self._chats)


class RateLimitMiddleware(BaseRequestMiddleware):
    """Every message-sending call waits for the global bucket. An immediate answer that
    still meets a 429 waits `retry_after` once and tries again, up to `max_wait` seconds."""

    def __init__(self, pacer: Pacer, *, max_wait: float = 10.0) -> None:
        self.pacer = pacer
        self.max_wait = max_wait

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if method.__api_method__ not in PACED_METHODS:
            return await make_request(bot, method)
        await self.pacer.acquire_global(bulk=_bulk.get())
        try:
            return await make_request(bot, method)
        except TelegramRetryAfter as error:
            chat_id = getattr(method, "chat_id", None)
            self.pacer.penalize(error.retry_after, chat_id if isinstance(chat_id, int) else None)
            if _sender.get() or error.retry_after > self.max_wait:
                raise
            await self.pacer.sleep(error.retry_after)
            await self.pacer.acquire_global()
            return await make_request(bot, method)

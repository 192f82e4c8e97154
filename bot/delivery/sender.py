"""The sender: carries out the outbox at each channel's pace, retries what can be retried,
and records what became of every row.

Each channel is a `Gateway` (bot/delivery/gateway.py) with its own limits; the rules below
are the same for all of them.

Rows of a chat are carried out in id order, many chats at once. Answers to what people just
did (rows of no broadcast) go first and are handed over right after their update commits
(`push`); taking an answered question's buttons away (tidying: nobody waits for it) and then
broadcasts fill the rest of the global rate. A chat has at most one answer and one paced
call (tidying or broadcast) going, and a paced row waits for its chat's earlier answers. A row is marked done right
after the channel accepted it, before its chat's next row goes; the marks of calls that finish
together are written in one transaction (group commit), so a kill loses nothing and repeats
at most the calls whose marks were not written yet (a message whose answer was lost is sent
again: at most one duplicate per chat).

Nothing stops the sender but `stop()`. Network errors and 5xx back off every chat (an outage
is everyone's), a row keeps being retried until its horizon (`reply_horizon`,
`bulk_horizon`) and only then is marked failed; a database that fails while a result is
recorded is retried from memory, and the row is not sent again meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from bot.clock import Clock
from bot.delivery import payloads
from bot.delivery.gateway import ChatMoved, Gateway, Outage, Refused, RetryAfter, Unreachable
from storage import outbox, people, topics
from storage.addresses import channel_of
from storage.db import SessionFactory
from storage.models import Channel, OutboxStatus, Reachability, TopicPost
from storage.outbox import PendingRow, SentMark

log = logging.getLogger(__name__)

# Calls failing in a row (network, 5xx) before every chat backs off.
OUTAGE_AFTER_FAILURES = 3
REMEMBERED_MESSAGE_IDS = 4096


def is_tidying(row: PendingRow) -> bool:
    """Taking an answered question's buttons away: the person already has their answer."""
    return row.broadcast_id is None and row.payload.get("op") == payloads.CLEAR


def is_paced(row: PendingRow) -> bool:
    """Evenly spaced in the room answers leave (broadcasts, tidying), not sent at once."""
    return row.is_bulk or is_tidying(row)


@dataclass
class _PendingMark:
    row: PendingRow
    mark: SentMark
    done: asyncio.Future[None]


class Sender:
    """One per process. `push()` or `wake()` after committing rows; `run()` until `stop()`."""

    def __init__(
        self,
        *,
        gateways: Mapping[Channel, Gateway],
        session_factory: SessionFactory,
        clock: Clock,
        reply_horizon: float = 3600.0,
        bulk_horizon: float = 6 * 3600.0,
        retry_base_seconds: float = 1.0,
        retry_max_seconds: float = 60.0,
        max_in_flight: int | Mapping[Channel, int] = 8,
        max_answers_in_flight: int = 32,
        batch_size: int = 1000,
        rescan_seconds: float = 15.0,
        on_wake: Callable[[], None] | None = None,
    ) -> None:
        self.gateways = dict(gateways)
        self.session_factory = session_factory
        self.clock = clock
        self.reply_horizon = reply_horizon
        self.bulk_horizon = bulk_horizon
        self.retry_base_seconds = retry_base_seconds
        self.retry_max_seconds = retry_max_seconds
        # Paced calls in flight, per channel: each waits for its own channel's pace, so one
        # channel's slow calls never hold the other's back.
        self.max_in_flight = (
            dict(max_in_flight)
            if isinstance(max_in_flight, Mapping)
            else {channel: max_in_flight for channel in self.gateways}
        )
        self.max_answers_in_flight = max_answers_in_flight
        self.batch_size = batch_size
        self.rescan_seconds = rescan_seconds
        self.on_wake = on_wake
        # Rows waiting, in id order: answers, tidying (see `is_tidying`), bulk (broadcasts).
        self._answers: dict[int, PendingRow] = {}
        self._tidying: dict[int, PendingRow] = {}
        self._bulk: dict[int, PendingRow] = {}
        # When each queued row may go, on the event loop's monotonic clock: backoff must
        # not depend on wall-clock jumps (or on a frozen clock in tests).
        self._due: dict[int, float] = {}
        # (chat id, paced) → the call in flight: a chat has at most one answer and one paced
        # call (tidying or bulk) going, so an answer never waits for a paced call that is
        # waiting for its slot of the global rate.
        self._in_flight: dict[tuple[int, bool], asyncio.Task[None]] = {}
        self._in_flight_ids: set[int] = set()
        self._paced_in_flight: dict[Channel, int] = {channel: 0 for channel in Channel}
        self._finished_meanwhile: set[int] | None = None
        # Results the channel gave that the database has not taken yet (it failed): written
        # again each round; their rows are neither queued nor sent meanwhile.
        self._unrecorded: dict[int, Callable[[], Awaitable[None]]] = {}
        self._message_ids: OrderedDict[int, int] = OrderedDict()  # row id → the message it made
        self._marks: list[_PendingMark] = []  # "sent" marks waiting for the next group commit
        self._marking: asyncio.Task[None] | None = None
        # The outbox is read when someone committed rows without handing them over (`wake`),
        # when a long broadcast has more rows than were read, and every `rescan_seconds`;
        # each channel through its own cursor, so that a slower channel's backlog never
        # keeps a faster one's rows from being read.
        self._refill_wanted = True
        # Every channel, set up or not: rows for one without a gateway (its token removed)
        # are read too, retried and in the end failed, rather than left pending for ever.
        self._cursor: dict[Channel, int] = {channel: 0 for channel in Channel}
        self._more_pending: dict[Channel, bool] = {channel: False for channel in Channel}
        self._bulk_queued: Counter[Channel] = Counter()
        self._outage_until = 0.0
        self._outage_failures = 0
        self._last_rescan = float("-inf")
        self._wake = asyncio.Event()
        self._stopping = False
        self.sent_count = 0

    # ------------------------------------------------------------------ the outside

    def wake(self) -> None:
        """New rows were committed (or a broadcast changed): read the outbox now, and show
        progress."""
        self._refill_wanted = True
        self._wake.set()
        if self.on_wake is not None:
            self.on_wake()

    def push(self, rows: list[PendingRow]) -> None:
        """Rows just committed (the answers to an update): queued without reading them back."""
        now = asyncio.get_running_loop().time()
        for row in rows:
            self._enqueue(row, now)
        self._wake.set()

    def forget(self, broadcast_id: int) -> None:
        """A broadcast was cancelled: drop its queued rows (those in flight finish)."""
        for row_id in [key for key, row in self._bulk.items() if row.broadcast_id == broadcast_id]:
            self._bulk_queued[channel_of(self._bulk.pop(row_id).chat_id)] -= 1
            self._due.pop(row_id, None)

    def idle(self) -> bool:
        return not (
            self._answers or self._tidying or self._bulk or self._in_flight or self._unrecorded or self._marks
        )

    def holds(self, row_id: int) -> bool:
        return (
            row_id in self._answers
            or row_id in self._tidying
            or row_id in self._bulk
            or row_id in self._in_flight_ids
            or row_id in self._unrecorded
        )

    def _queues(self) -> tuple[dict[int, PendingRow], ...]:
        return (self._answers, self._tidying, self._bulk)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        try:
            while not self._stopping:
                try:
                    await self._record_unrecorded()
                    await self._refill(loop.time())
                    failures = 0
                except Exception:  # the database: log, back off, go on
                    failures += 1
                    delay = min(30.0, 0.5 * 2 ** min(failures, 6))
                    log.exception("the sender could not read or write the outbox; retrying in %.1fs", delay)
                    await self._sleep_or_wake(delay)
                    continue
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
            if self._marking is not None:  # the marks of calls that went out
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._marking
            try:  # a last try at what the database did not take: each one left is sent again later
                await self._record_unrecorded()
            except Exception:
                log.error(
                    "stopping with %d result(s) unrecorded; they will be sent again", len(self._unrecorded)
                )

    async def _sleep_or_wake(self, delay: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=delay)

    # ------------------------------------------------------------------ queueing

    def _enqueue(self, row: PendingRow, now: float, *, requeue: bool = False) -> None:
        """Queue a row in id order (`requeue`: the row being carried out, to try again)."""
        if not requeue and self.holds(row.id):
            return
        queue = self._bulk if row.is_bulk else self._tidying if is_tidying(row) else self._answers
        if queue is self._bulk and row.id not in queue:
            self._bulk_queued[channel_of(row.chat_id)] += 1
        if queue and row.id < next(reversed(queue)):
            queue[row.id] = row
            ordered = dict(sorted(queue.items()))
            queue.clear()
            queue.update(ordered)
        else:
            queue[row.id] = row
        self._due[row.id] = now + max(0.0, (row.not_before - self.clock.now()).total_seconds())

    async def _refill(self, now: float) -> None:
        rescan = now - self._last_rescan >= self.rescan_seconds
        wanted = self._refill_wanted
        channels = [
            channel
            for channel in self._cursor
            if rescan
            or ((wanted or self._more_pending[channel]) and self._bulk_queued[channel] < self.batch_size // 2)
        ]
        if not channels:
            return
        # A wake() while the query runs asks for another read; a channel skipped now (its
        # window full) is read once it has room, not only at the next rescan.
        self._refill_wanted = wanted and len(channels) < len(self._cursor)
        # Calls that finish while the query runs were read as pending: they must not be
        # queued again (that would carry them out twice).
        self._finished_meanwhile = set()
        read: list[tuple[Channel, list[PendingRow]]] = []
        try:
            async with self.session_factory() as session:
                for channel in channels:
                    after_id = 0 if rescan else self._cursor[channel]
                    rows = await outbox.pending_rows(
                        session=session, after_id=after_id, limit=self.batch_size, channel=channel
                    )
                    read.append((channel, rows))
            finished = self._finished_meanwhile
        except Exception:
            self._refill_wanted = True  # the read failed: the next round reads again
            raise
        finally:
            self._finished_meanwhile = None
        if rescan:
            self._last_rescan = now
        for channel, rows in read:
            self._more_pending[channel] = len(rows) >= self.batch_size
            for row in rows:
                self._cursor[channel] = max(self._cursor[channel], row.id)
                if row.id in finished:
                    continue
                if row.is_bulk and self._bulk_queued[channel] >= self.batch_size * 2:
                    continue  # read again at the next rescan
                self._enqueue(row, now)

    def _dispatch(self) -> float | None:
        """Start the calls that may go now (answers first); returns seconds until the next."""
        now = asyncio.get_running_loop().time()
        if now < self._outage_until:
            return self._outage_until - now
        # Answers wait for the chat's answer in flight; paced rows wait for any call of their
        # chat, and for its queued answers (an earlier row may make the message a later
        # one refers to).
        answering = {chat for chat, paced in self._in_flight if not paced}
        busy_chats = {chat for chat, _paced in self._in_flight}
        next_due: float | None = None

        # The channels paced rows may be waiting for: once all of them are saturated, nothing
        # later in a paced queue can go.
        sending = set(self.gateways) | {channel for channel, queued in self._bulk_queued.items() if queued}

        def consider(queue: dict[int, PendingRow], paced: bool) -> float | None:
            nonlocal next_due
            blocked = busy_chats if paced else answering
            full = False
            saturated: set[Channel] = set()  # channels with every paced slot taken
            for row in list(queue.values()):
                if row.chat_id in blocked:
                    continue
                # later rows for this chat wait for this one
                answering.add(row.chat_id)
                busy_chats.add(row.chat_id)
                if full:  # every queued answer still holds its chat's paced rows back
                    continue
                channel = channel_of(row.chat_id)
                gateway = self.gateways.get(channel)
                answers_in_flight = len(self._in_flight) - sum(self._paced_in_flight.values())
                if paced and channel in saturated:
                    continue
                if paced and self._paced_in_flight[channel] >= self.max_in_flight.get(channel, 1):
                    saturated.add(channel)
                    if saturated >= sending:
                        return 0.05  # nothing paced can go, and nothing comes after paced rows
                    continue
                if not paced and answers_in_flight >= self.max_answers_in_flight:
                    full = True
                    continue
                wait = self._due.get(row.id, now) - now
                if row.is_bulk and gateway is not None:
                    wait = max(wait, gateway.pacer.ready_at(row.chat_id) - now)
                if wait > 0.02:
                    next_due = wait if next_due is None else min(next_due, wait)
                    continue
                del queue[row.id]
                if queue is self._bulk:
                    self._bulk_queued[channel] -= 1
                self._due.pop(row.id, None)
                self._in_flight_ids.add(row.id)
                if paced:
                    self._paced_in_flight[channel] += 1
                self._in_flight[(row.chat_id, paced)] = asyncio.create_task(self._send(row))
            return 0.05 if full or saturated else None

        for queue, paced in ((self._answers, False), (self._tidying, True), (self._bulk, True)):
            busy = consider(queue, paced)
            if busy is not None:
                next_due = busy if next_due is None else min(next_due, busy)
        return next_due

    # ------------------------------------------------------------------ one call

    async def _send(self, row: PendingRow) -> None:
        try:
            await self._attempt(row)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug must not stop the sender; the row is retried later
            log.exception("outbox row %s failed unexpectedly", row.id)
            await self._retry(row, "internal error")
        finally:
            self._in_flight.pop((row.chat_id, is_paced(row)), None)
            self._in_flight_ids.discard(row.id)
            if is_paced(row):
                self._paced_in_flight[channel_of(row.chat_id)] -= 1
            if self._finished_meanwhile is not None:
                self._finished_meanwhile.add(row.id)
            self._wake.set()

    def _expired(self, row: PendingRow) -> bool:
        horizon = self.bulk_horizon if row.is_bulk else self.reply_horizon
        return self.clock.now() - row.created_at > timedelta(seconds=horizon)

    async def _attempt(self, row: PendingRow) -> None:
        if self._expired(row):
            error = f"not delivered within {self._horizon_text(row)}"
            if row.error:
                error += f"; last error: {row.error}"
            await self._finish(row, OutboxStatus.FAILED, error=error)
            return
        gateway = self.gateways.get(channel_of(row.chat_id))
        if gateway is None:  # its token was removed: kept until its horizon, in case it comes back
            await self._retry(row, f"the {channel_of(row.chat_id)} channel is not set up")
            return
        if row.is_bulk and payloads.is_message(row.payload):
            await gateway.pacer.acquire_chat(row.chat_id)
        try:
            message_id = await gateway.carry_out(row, self._target, bulk=is_paced(row))
        except RetryAfter as error:
            gateway.pacer.penalize(error.retry_after, row.chat_id)
            await self._retry(row, error.message, count=False, delay=error.retry_after)
        except ChatMoved as error:
            await self._migrate(row, error.new_chat_id)
        except Unreachable as error:
            reachability = Reachability.BLOCKED if error.blocked else Reachability.STOPPED
            await self._unreachable(row, error.message, reachability)
        except Refused as error:
            await self._finish(row, OutboxStatus.FAILED, error=error.message)
        except Outage as error:
            self._outage()
            await self._retry(row, error.message)
        else:
            self._outage_failures = 0
            await self._sent(row, message_id)

    def _horizon_text(self, row: PendingRow) -> str:
        seconds = self.bulk_horizon if row.is_bulk else self.reply_horizon
        return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds:g} s"

    def _outage(self) -> None:
        """Several calls failing in a row, with no success between them, is an outage, and
        every chat waits: a failing Bot API is failing for all of them. A failure here and
        there (a 5xx among successes) only delays its own row."""
        self._outage_failures += 1
        if self._outage_failures < OUTAGE_AFTER_FAILURES:
            return
        exponent = self._outage_failures - OUTAGE_AFTER_FAILURES
        delay = min(self.retry_max_seconds, self.retry_base_seconds * 2 ** min(exponent, 30))
        self._outage_until = max(self._outage_until, asyncio.get_running_loop().time() + delay)

    async def _target(self, payload: dict[str, Any]) -> int | None:
        """The message an edit or a clear is about: given, or made by an earlier row."""
        if payload.get("message_id") is not None:
            return int(payload["message_id"])
        ref = int(payload["ref"])
        if ref in self._message_ids:
            return self._message_ids[ref]
        async with self.session_factory() as session:
            return await outbox.sent_message_id(session=session, row_id=ref)

    # ------------------------------------------------------------------ results

    async def _sent(self, row: PendingRow, message_id: int | None) -> None:
        self.sent_count += 1
        if message_id is not None:
            self._message_ids[row.id] = message_id
            if len(self._message_ids) > REMEMBERED_MESSAGE_IDS:
                self._message_ids.popitem(last=False)
        mark = SentMark(
            row_id=row.id, message_id=message_id, attempts=row.attempts + 1, sent_at=self.clock.now()
        )
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._marks.append(_PendingMark(row=row, mark=mark, done=done))
        if self._marking is None:
            self._marking = asyncio.create_task(self._write_marks())
        await done  # the chat's next row waits until this one is recorded (or kept to be)
        if row.payload.get("pin") and message_id is not None:
            gateway = self.gateways.get(channel_of(row.chat_id))
            if gateway is not None:
                await gateway.pin(row.chat_id, message_id)

    async def _write_marks(self) -> None:
        """Group commit: the marks that came in while the last write ran go in one
        transaction. A database that fails keeps them in memory (`_unrecorded`)."""
        try:
            while self._marks:
                batch, self._marks = self._marks, []
                try:
                    await self._write_batch(batch)
                except Exception as error:
                    log.error(
                        "could not record %d sent row(s) (kept until the database is back): %s",
                        len(batch),
                        error,
                    )
                    for pending in batch:
                        self._unrecorded[pending.row.id] = functools.partial(self._write_batch, [pending])
                for pending in batch:
                    if not pending.done.done():
                        pending.done.set_result(None)
        finally:
            self._marking = None

    async def _write_batch(self, batch: list[_PendingMark]) -> None:
        async with self.session_factory() as session:
            await outbox.mark_sent(session=session, marks=[pending.mark for pending in batch])
            for pending in batch:
                row, message_id = pending.row, pending.mark.message_id
                if row.topic_id is not None and row.chat_group_id is not None and message_id is not None:
                    await topics.add_post(
                        session=session,
                        post=TopicPost(
                            topic_id=row.topic_id,
                            chat_group_id=row.chat_group_id,
                            chat_id=row.chat_id,
                            message_id=message_id,
                        ),
                    )
            await session.commit()

    async def _record(self, row: PendingRow, write: Callable[[], Awaitable[None]]) -> None:
        """Write a result now, or keep it (and hold its row) until the database takes it."""
        try:
            await write()
        except Exception as error:
            log.error("could not record outbox row %s (kept until the database is back): %s", row.id, error)
            self._unrecorded[row.id] = write

    async def _record_unrecorded(self) -> None:
        for row_id, write in list(self._unrecorded.items()):
            await write()  # raises while the database is still failing: the loop backs off
            del self._unrecorded[row_id]

    async def _retry(
        self, row: PendingRow, error: str, *, count: bool = True, delay: float | None = None
    ) -> None:
        attempts = row.attempts + (1 if count else 0)
        if delay is None:
            # Exponential backoff with full jitter, capped: retries from many rows do not
            # line up, and a row is tried at least every `retry_max_seconds`.
            delay = min(self.retry_max_seconds, self.retry_base_seconds * 2 ** max(0, attempts - 1))
            delay *= 0.5 + random.random()
        not_before = self.clock.now() + timedelta(seconds=delay)
        retried = replace(row, attempts=attempts, not_before=not_before, error=error)

        async def write() -> None:
            async with self.session_factory() as session:
                await outbox.set_row(
                    session=session,
                    row_id=row.id,
                    attempts=attempts,
                    not_before=not_before,
                    error=error[:1000],
                )
                await session.commit()

        try:
            await write()
        except Exception as failure:  # the attempt is counted again next time; nothing is lost
            log.error("could not record a retry of outbox row %s: %s", row.id, failure)
        if not self._stopping:
            self._enqueue(retried, asyncio.get_running_loop().time(), requeue=True)
            self._due[row.id] = asyncio.get_running_loop().time() + delay

    async def _migrate(self, row: PendingRow, new_chat_id: int) -> None:
        """The group became a supergroup: rebind it and send there (this row and the queued ones)."""
        async with self.session_factory() as session:
            await people.move_group(session=session, old_chat_id=row.chat_id, new_chat_id=new_chat_id)
            await outbox.move_chat(session=session, old_chat_id=row.chat_id, new_chat_id=new_chat_id)
            await session.commit()
        now = asyncio.get_running_loop().time()
        for queue in self._queues():
            for key, queued in list(queue.items()):
                if queued.chat_id == row.chat_id:
                    queue[key] = replace(queued, chat_id=new_chat_id)
        self._enqueue(replace(row, chat_id=new_chat_id), now, requeue=True)

    async def _unreachable(self, row: PendingRow, error: str, reachability: Reachability) -> None:
        # Later rows for the same chat cannot arrive either.
        later = [
            key
            for queue in self._queues()
            for key, queued in list(queue.items())
            if queued.chat_id == row.chat_id
        ]
        for key in later:
            for queue in self._queues():
                dropped = queue.pop(key, None)
                if dropped is not None and queue is self._bulk:
                    self._bulk_queued[channel_of(dropped.chat_id)] -= 1
            self._due.pop(key, None)

        async def write() -> None:
            async with self.session_factory() as session:
                for row_id in [row.id, *later]:
                    await outbox.set_row(
                        session=session, row_id=row_id, status=OutboxStatus.UNREACHABLE, error=error[:1000]
                    )
                if row.person_id is not None:
                    await outbox.set_reachability(
                        session=session, person_id=row.person_id, reachability=reachability
                    )
                await session.commit()

        await self._record(row, write)

    async def _finish(self, row: PendingRow, status: OutboxStatus, *, error: str) -> None:
        async def write() -> None:
            async with self.session_factory() as session:
                await outbox.set_row(
                    session=session,
                    row_id=row.id,
                    status=status,
                    error=error[:1000],
                    attempts=row.attempts + 1,
                )
                await session.commit()

        await self._record(row, write)

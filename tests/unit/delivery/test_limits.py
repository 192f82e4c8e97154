"""Token buckets and the pacer, on a fake clock: the limits hold over every window."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest

from bot.delivery.limits import Pacer, TokenBucket


class FakeTime:
    """A clock that sleeping advances, so pacing is checked without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


def test_bucket_spaces_reservations_evenly() -> None:
    bucket = TokenBucket(rate=10)
    moments = [bucket.reserve(5.0) for _ in range(5)]
    assert moments == pytest.approx([5.0, 5.1, 5.2, 5.3, 5.4])
    bucket.block_until(20.0)
    assert bucket.reserve(6.0) == 20.0


def test_bucket_does_not_save_up_a_burst() -> None:
    bucket = TokenBucket(rate=1)
    bucket.reserve(0.0)
    # After a long idle spell the next token is available now, but only one.
    assert bucket.reserve(100.0) == 100.0
    assert bucket.reserve(100.0) == 101.0


def count_max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_bulk_sends_respect_every_limit_and_reach_the_global_rate() -> None:
    clock = FakeTime()
    pacer = Pacer(
        global_per_second=30, per_chat_per_second=1, per_group_per_minute=20, clock=clock, sleep=clock.sleep
    )
    sent: dict[int, list[float]] = defaultdict(list)
    everything: list[float] = []
    chats = [*range(1, 301), -1, -2, -3]
    order = [chats[n % len(chats)] for n in range(1000)]
    start = clock()

    async def send(chat: int) -> None:
        await pacer.acquire_chat(chat)
        await pacer.acquire_global()
        sent[chat].append(clock())
        everything.append(clock())

    for chat in order:  # one at a time, as the fake clock is shared
        await send(chat)
    assert count_max_in_window(everything, 1.0) <= 30
    for chat, times in sent.items():
        if chat < 0:
            assert count_max_in_window(times, 60.0) <= 20
        else:
            assert count_max_in_window(times, 1.0) <= 1
    rate = len(everything) / (clock() - start)
    assert rate >= 0.95 * pacer.window_capacity


async def test_one_chats_429_pauses_that_chat_only() -> None:
    clock = FakeTime()
    pacer = Pacer(
        global_per_second=30, per_chat_per_second=1, per_group_per_minute=20, clock=clock, sleep=clock.sleep
    )
    pacer.penalize(5, chat_id=42)
    before = clock()
    await pacer.acquire_global()
    assert clock() == before  # everyone else goes on
    assert pacer.ready_at(42) >= before + 5
    assert pacer.ready_at(43) == clock()


async def test_429s_in_several_chats_at_once_pause_the_bot() -> None:
    clock = FakeTime()
    pacer = Pacer(
        global_per_second=30, per_chat_per_second=1, per_group_per_minute=20, clock=clock, sleep=clock.sleep
    )
    for chat in (1, 2, 3):
        pacer.penalize(5, chat_id=chat)
    before = clock()
    await pacer.acquire_global()
    assert clock() - before == pytest.approx(5)
    pacer.penalize(7)  # no chat named: the bot's limit
    before = clock()
    await pacer.acquire_global()
    assert clock() - before == pytest.approx(7)


async def test_idle_chats_are_forgotten() -> None:
    clock = FakeTime()
    pacer = Pacer(
        global_per_second=1000, per_chat_per_second=1, per_group_per_minute=20, clock=clock, sleep=clock.sleep
    )
    for chat in range(5000):
        await pacer.acquire_chat(chat)
        clock.now += 0.05
    assert pacer.tracked_chats() < 2500


async def test_limiter_serves_concurrent_callers_in_order() -> None:
    pacer = Pacer(global_per_second=200, per_chat_per_second=1, per_group_per_minute=20)
    order: list[int] = []

    async def call(n: int) -> None:
        await pacer.acquire_global()
        order.append(n)

    await asyncio.gather(*(call(n) for n in range(20)))
    assert order == list(range(20))


async def test_answers_go_at_once_while_the_second_has_room_and_never_exceed_the_limit() -> None:
    """Twenty answers at the same moment all go at once (a burst of twenty people pressing
    /report is answered in one round trip); forty answers mixed with bulk sends never put
    more than the limit into any second."""
    clock = FakeTime()
    pacer = Pacer(
        global_per_second=30, per_chat_per_second=1, per_group_per_minute=20, clock=clock, sleep=clock.sleep
    )
    start = clock.now
    moments = []
    for _ in range(20):
        await pacer.acquire_global(bulk=False)
        moments.append(clock.now)
    assert moments == [start] * 20

    everything = list(moments)
    for index in range(200):
        await pacer.acquire_global(bulk=index % 5 != 0)
        everything.append(clock.now)
    assert count_max_in_window(everything, 1.0) <= pacer.window_capacity <= 30
    # The answers' slots were taken from the bulk pace, not added to it.
    assert (everything[-1] - start) >= (len(everything) - pacer.window_capacity) / 30


async def test_an_answer_does_not_wait_behind_a_sleeping_bulk_call() -> None:
    pacer = Pacer(global_per_second=4, per_chat_per_second=1, per_group_per_minute=20)
    await pacer.acquire_global()  # the next bulk token is a quarter of a second away
    loop = asyncio.get_running_loop()
    bulk = asyncio.create_task(pacer.acquire_global())
    await asyncio.sleep(0)  # the bulk call now holds its queue, sleeping for its token
    started = loop.time()
    await pacer.acquire_global(bulk=False)
    assert loop.time() - started < 0.1
    assert not bulk.done()
    await bulk


async def test_bulk_keeps_headroom_for_answers_only_while_people_are_answered() -> None:
    clock = FakeTime()
    pacer = Pacer(
        global_per_second=30, per_chat_per_second=1, per_group_per_minute=20, clock=clock, sleep=clock.sleep
    )
    # Nobody is being answered: a broadcast gets the whole window.
    bulk_only = []
    for _ in range(120):
        await pacer.acquire_global()
        bulk_only.append(clock.now)
    assert count_max_in_window(bulk_only, 1.0) == pacer.window_capacity
    # An answer went out: for the next second bulk calls leave it headroom.
    clock.now += 2.0
    await pacer.acquire_global(bulk=False)
    answered_at = clock.now
    beside = []
    while clock.now < answered_at + 0.999:
        await pacer.acquire_global()
        beside.append(clock.now)
    in_that_second = [moment for moment in beside if moment < answered_at + 1.0]
    assert len(in_that_second) + 1 <= pacer.bulk_capacity_beside_answers < pacer.window_capacity


async def test_a_broadcast_filling_every_second_does_not_starve_an_answer() -> None:
    pacer = Pacer(global_per_second=100, per_chat_per_second=1, per_group_per_minute=20)
    loop = asyncio.get_running_loop()

    async def broadcast() -> None:
        for _ in range(300):  # three seconds of bulk calls at the whole rate
            await pacer.acquire_global()

    sending = asyncio.create_task(broadcast())
    await asyncio.sleep(1.2)  # the window is full of bulk calls now
    started = loop.time()
    await pacer.acquire_global(bulk=False)
    waited = loop.time() - started
    assert not sending.done()
    assert waited < 0.2
    await sending

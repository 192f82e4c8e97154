"""Failing updates: a poison update is retried a bounded number of times, parked, and never
wedges its chat; a database that fails is waited out and then the update is parked; a
cancelled update leaves nothing behind."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message, Update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import SystemClock
from bot.intake.poller import GetRawUpdates, Intake
from bot.intake.processor import InboxProcessor
from bot.sandbox import BotInfo, SandboxClient, SandboxServer
from storage import inbox
from storage.db import SessionFactory, create_engine, create_session_factory, upgrade_database
from storage.models import Inbox, InboxStatus


async def _database(path: Path) -> tuple[AsyncEngine, SessionFactory]:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await upgrade_database(engine)
    return engine, create_session_factory(engine)


def _bot(sandbox: SandboxServer, info: BotInfo) -> Bot:
    """A plain aiogram Bot on the sandbox: the intake must work with any session."""
    return Bot(info.token, session=AiohttpSession(api=TelegramAPIServer.from_base(sandbox.base_url)))


def _processor(
    dispatcher: Dispatcher, bot: Bot, factory: SessionFactory, **options: float
) -> tuple[InboxProcessor, dict[int, str]]:
    """A processor that retries at once and records each update it parks (update id -> error)."""
    parked: dict[int, str] = {}

    async def on_parked(update: Update, error: str) -> None:
        parked[update.update_id] = error

    options = {"retry_first": 0.01, "retry_max": 0.02, **options}
    processor = InboxProcessor(
        dispatcher=dispatcher,
        bot=bot,
        session_factory=factory,
        clock=SystemClock(),
        on_parked=on_parked,
        **options,  # type: ignore[arg-type]
    )
    return processor, parked


def _intake(
    sandbox: SandboxServer, info: BotInfo, router: Router, factory: SessionFactory
) -> tuple[Bot, InboxProcessor, Intake]:
    """The intake for `router`'s handlers, after which any other text is taken and ignored."""

    @router.message(F.text)
    async def ignore(message: Message) -> None:
        return None

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    bot = _bot(sandbox, info)
    processor, _parked = _processor(dispatcher, bot, factory, max_attempts=3)
    return bot, processor, Intake(session_factory=factory, processor=processor, clock=SystemClock())


async def test_poison_update_is_parked_and_later_updates_go_through(
    sandbox: SandboxServer, sandbox_client: SandboxClient, tmp_path: Path
) -> None:
    info = await sandbox_client.create_bot(username="poison_bot")
    user = await sandbox_client.create_user(first_name="Ba")
    engine, factory = await _database(tmp_path / "p.db")
    seen: list[str] = []
    router = Router()

    @router.message(F.text)
    async def handle(message: Message) -> None:
        seen.append(message.text or "")
        if message.text == "boom":
            raise RuntimeError("this update always fails")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    bot = _bot(sandbox, info)
    processor, apologies = _processor(dispatcher, bot, factory, max_attempts=3)
    intake = Intake(session_factory=factory, processor=processor, clock=SystemClock())
    try:
        await sandbox_client.send_message(info.token, user.id, "trước")
        await sandbox_client.send_message(info.token, user.id, "boom")
        await sandbox_client.send_message(info.token, user.id, "sau")
        updates = await bot(GetRawUpdates(timeout=1))
        assert await intake.accept(updates) == 3
        assert await intake.accept(updates) == 0  # redelivered after a crash: recognised, not redone
        await processor.wait_idle()
    finally:
        await processor.close()
        await bot.session.close()

    assert seen == ["trước", "boom", "boom", "boom", "sau"]
    async with factory() as session:
        rows = {row.update_id: row for row in (await session.exec(select(Inbox))).all()}
    await engine.dispose()
    ids = [update["update_id"] for update in updates]
    poison = rows[ids[1]]
    assert (poison.status, poison.attempts) == (InboxStatus.FAILED, 3)
    assert "this update always fails" in (poison.error or "")
    assert rows[ids[0]].status == rows[ids[2]].status == InboxStatus.DONE
    assert list(apologies) == [ids[1]]
    assert "this update always fails" in apologies[ids[1]]
    assert json.loads(rows[ids[0]].payload) == updates[0]  # kept as the Bot API sent it


async def test_unfinished_rows_are_replayed_at_start(
    sandbox: SandboxServer, sandbox_client: SandboxClient, tmp_path: Path
) -> None:
    info = await sandbox_client.create_bot(username="replay_bot")
    user = await sandbox_client.create_user(first_name="Tư")
    engine, factory = await _database(tmp_path / "r.db")
    bot = _bot(sandbox, info)
    seen: list[str] = []
    router = Router()

    @router.message(F.text)
    async def handle(message: Message) -> None:
        seen.append(message.text or "")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    try:
        await sandbox_client.send_message(info.token, user.id, "một")
        await sandbox_client.send_message(info.token, user.id, "hai")
        updates = await bot.get_updates(timeout=1)
        # Stored, then the process "died" before processing: nothing was submitted.
        async with factory() as session:
            await inbox.store_updates(
                session=session,
                rows=[
                    (u.update_id, u.message.chat.id, u.model_dump_json(by_alias=True, exclude_none=True))
                    for u in updates
                ],  # type: ignore[union-attr]
                now=SystemClock().now(),
            )
            await session.commit()
        fresh = InboxProcessor(dispatcher=dispatcher, bot=bot, session_factory=factory, clock=SystemClock())
        assert await fresh.replay() == 2
        await fresh.wait_idle()
        await fresh.close()
    finally:
        await bot.session.close()
    async with factory() as session:
        statuses = {row.status for row in (await session.exec(select(Inbox))).all()}
    await engine.dispose()
    assert seen == ["một", "hai"]
    assert statuses == {InboxStatus.DONE}


async def test_an_update_aiogram_cannot_read_is_kept_and_parked(
    sandbox: SandboxServer, sandbox_client: SandboxClient, tmp_path: Path
) -> None:
    info = await sandbox_client.create_bot(username="unreadable_bot")
    engine, factory = await _database(tmp_path / "u.db")
    bot = _bot(sandbox, info)
    handled: list[int] = []
    router = Router()

    @router.message()
    async def handle(message: Message) -> None:
        handled.append(message.message_id)

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    processor = InboxProcessor(dispatcher=dispatcher, bot=bot, session_factory=factory, clock=SystemClock())
    intake = Intake(session_factory=factory, processor=processor, clock=SystemClock())
    broken = {"update_id": 41, "message": {"message_id": "not a number", "chat": "?"}}
    try:
        assert await intake.accept([broken]) == 1
        await processor.wait_idle()
        assert await intake.accept([broken]) == 0  # sent again: already parked, not retried
    finally:
        await processor.close()
        await bot.session.close()
    async with factory() as session:
        row = (await session.exec(select(Inbox).where(Inbox.update_id == 41))).one()
    await engine.dispose()
    assert handled == []
    assert row.status == InboxStatus.FAILED and "unreadable update" in (row.error or "")
    assert json.loads(row.payload) == broken


async def test_an_update_with_a_lone_surrogate_is_stored_and_handled(
    sandbox: SandboxServer, sandbox_client: SandboxClient, tmp_path: Path
) -> None:
    """Text that is not valid Unicode (half of an emoji's UTF-16 pair) is refused by the fast
    JSON encoder and by SQLite's UTF-8; the update is still stored, replayable and handled."""
    info = await sandbox_client.create_bot(username="surrogate_bot")
    engine, factory = await _database(tmp_path / "s.db")
    bot = _bot(sandbox, info)
    handled: list[str] = []
    router = Router()

    @router.message()
    async def handle(message: Message) -> None:
        handled.append(message.text or "")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    processor = InboxProcessor(dispatcher=dispatcher, bot=bot, session_factory=factory, clock=SystemClock())
    intake = Intake(session_factory=factory, processor=processor, clock=SystemClock())
    text = "nửa emoji \ud83d"
    update = {
        "update_id": 42,
        "message": {
            "message_id": 1,
            "date": 1_700_000_000,
            "chat": {"id": 9, "type": "private", "first_name": "An"},
            "text": text,
        },
    }
    try:
        assert await intake.accept([update]) == 1
        await processor.wait_idle()
    finally:
        await processor.close()
        await bot.session.close()
    async with factory() as session:
        row = (await session.exec(select(Inbox).where(Inbox.update_id == 42))).one()
    await engine.dispose()
    assert handled == [text]
    assert row.status == InboxStatus.DONE
    assert json.loads(row.payload) == update


async def test_a_database_that_cannot_be_opened_is_waited_out_then_the_update_is_parked(
    sandbox: SandboxServer, sandbox_client: SandboxClient, tmp_path: Path
) -> None:
    """The processor's database cannot be opened: every attempt fails with the reason and is
    retried (not counted against the attempts a bug gets) until the horizon; then the update
    is set aside, its person told, and the chat's worker goes on. The failure could not be
    recorded either, so the stored row stays pending for the next rescan or restart."""
    info = await sandbox_client.create_bot(username="noconn_bot")
    user = await sandbox_client.create_user(first_name="Năm")
    engine, factory = await _database(tmp_path / "n.db")
    unreachable = create_engine(f"sqlite+aiosqlite:///{tmp_path}")  # a folder, not a database
    bot = _bot(sandbox, info)
    processor, parked = _processor(
        Dispatcher(), bot, create_session_factory(unreachable), max_attempts=2, retry_horizon=0.3
    )
    intake = Intake(session_factory=factory, processor=processor, clock=SystemClock())
    try:
        await sandbox_client.send_message(info.token, user.id, "alô")
        updates = await bot(GetRawUpdates(timeout=1))
        assert await intake.accept(updates) == 1
        await asyncio.wait_for(processor.wait_idle(), timeout=10)
    finally:
        await processor.close()
        await bot.session.close()
        await unreachable.dispose()
    async with factory() as session:
        row = (await session.exec(select(Inbox))).one()
    await engine.dispose()
    assert row.status == InboxStatus.PENDING
    assert list(parked) == [row.update_id]
    assert "unable to open database file" in parked[row.update_id]


async def test_an_update_cancelled_half_way_leaves_nothing_behind(
    sandbox: SandboxServer, sandbox_client: SandboxClient, tmp_path: Path
) -> None:
    """An update's task cancelled after a write (here: its own done mark): the write is
    undone, the connection is free, and the next update commits only its own work."""
    info = await sandbox_client.create_bot(username="cancel_bot")
    first = await sandbox_client.create_user(first_name="Sáu")
    second = await sandbox_client.create_user(first_name="Bảy")
    engine, factory = await _database(tmp_path / "c.db")
    router = Router()

    @router.message(F.text == "dừng")
    async def cancelled_half_way(message: Message, session: AsyncSession, event_update: Update) -> None:
        await inbox.mark_done(session=session, update_id=event_update.update_id, now=datetime.now(UTC))
        raise asyncio.CancelledError  # as when the task is cancelled at its next await

    bot, processor, intake = _intake(sandbox, info, router, factory)
    try:
        await sandbox_client.send_message(info.token, first.id, "dừng")
        cancelled = await bot(GetRawUpdates(timeout=1))
        assert await intake.accept(cancelled) == 1
        await asyncio.wait_for(processor.wait_idle(), timeout=10)
        await sandbox_client.send_message(info.token, second.id, "tiếp")
        later = await bot(GetRawUpdates(offset=cancelled[-1]["update_id"] + 1, timeout=1))
        # A connection left in its transaction would hold this update (and its intake) forever.
        assert await asyncio.wait_for(intake.accept(later), timeout=10) == 1
        await asyncio.wait_for(processor.wait_idle(), timeout=10)
    finally:
        try:
            await asyncio.wait_for(processor.close(), timeout=10)  # a stuck worker fails the test
        finally:
            await bot.session.close()
    async with factory() as session:
        statuses = {row.update_id: row.status for row in (await session.exec(select(Inbox))).all()}
    await engine.dispose()
    assert statuses == {
        cancelled[0]["update_id"]: InboxStatus.PENDING,
        later[0]["update_id"]: InboxStatus.DONE,
    }


async def test_an_update_cancelled_while_its_driver_waits_for_the_lock(
    sandbox: SandboxServer, sandbox_client: SandboxClient, tmp_path: Path
) -> None:
    """Another process holds SQLite's write lock, so the update's transaction waits on its
    connection's worker thread; the update's task is cancelled meanwhile. The event loop
    never stops, nothing of the update is committed, and the next update goes through."""
    info = await sandbox_client.create_bot(username="lockwait_bot")
    first = await sandbox_client.create_user(first_name="Tám")
    second = await sandbox_client.create_user(first_name="Chín")
    path = tmp_path / "w.db"
    engine, factory = await _database(path)
    waiting = asyncio.Event()
    worker: list[asyncio.Task[object]] = []
    router = Router()

    @router.message(F.text == "chờ")
    async def waits_for_the_lock(message: Message, session: AsyncSession, event_update: Update) -> None:
        task = asyncio.current_task()
        assert task is not None
        worker.append(task)
        waiting.set()
        await inbox.mark_done(session=session, update_id=event_update.update_id, now=datetime.now(UTC))

    bot, processor, intake = _intake(sandbox, info, router, factory)
    longest_gap = 0.0
    beating = True

    async def heartbeat() -> None:
        nonlocal longest_gap
        loop = asyncio.get_running_loop()
        last = loop.time()
        while beating:
            await asyncio.sleep(0.01)
            now = loop.time()
            longest_gap, last = max(longest_gap, now - last), now

    try:
        await sandbox_client.send_message(info.token, first.id, "chờ")
        stuck = await bot(GetRawUpdates(timeout=1))
        assert await intake.accept(stuck) == 1
        other_process = sqlite3.connect(path, isolation_level=None)
        other_process.execute("BEGIN IMMEDIATE")  # SQLite's write lock, held elsewhere
        try:
            await asyncio.wait_for(waiting.wait(), timeout=10)
            await asyncio.sleep(0.3)  # the write is now waiting on the worker thread
            beats = asyncio.create_task(heartbeat())
            worker[0].cancel()
            await asyncio.sleep(1.5)
        finally:
            other_process.execute("ROLLBACK")
            other_process.close()
        await asyncio.wait_for(processor.wait_idle(), timeout=10)
        beating = False
        await beats
        assert longest_gap < 0.5, f"the event loop stood still for {longest_gap:.2f} s"
        await sandbox_client.send_message(info.token, second.id, "tiếp")
        later = await bot(GetRawUpdates(offset=stuck[-1]["update_id"] + 1, timeout=1))
        assert await asyncio.wait_for(intake.accept(later), timeout=10) == 1
        await asyncio.wait_for(processor.wait_idle(), timeout=10)
    finally:
        beating = False
        try:
            await asyncio.wait_for(processor.close(), timeout=10)
        finally:
            await bot.session.close()
    async with factory() as session:
        statuses = {row.update_id: row.status for row in (await session.exec(select(Inbox))).all()}
    await engine.dispose()
    assert statuses == {stuck[0]["update_id"]: InboxStatus.PENDING, later[0]["update_id"]: InboxStatus.DONE}

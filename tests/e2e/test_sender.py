"""The sender against the sandbox, without the dispatcher: supergroup migration, 429s and
failures that never end, each checked in what was delivered and what is stored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiogram import Bot
from sqlmodel import select

from bot.channels.telegram_gateway import TelegramGateway
from bot.clock import FrozenClock
from bot.config import Settings
from bot.delivery import payloads
from bot.delivery.limits import Pacer, RateLimitMiddleware
from bot.delivery.sender import Sender
from bot.delivery.service import Delivery, Outgoing, Recipient
from bot.i18n import create_i18n
from bot.sandbox import SandboxClient, SandboxServer
from bot.telegram import create_bot
from bot.ui import Choice
from storage import people
from storage.db import SessionFactory, create_engine, create_session_factory, upgrade_database
from storage.models import Channel, ChatGroup, Outbox, OutboxStatus
from storage.outbox import PendingRow


@dataclass
class Rig:
    client: SandboxClient
    bot: Bot
    token: str
    sessions: SessionFactory
    delivery: Delivery
    pacer: Pacer
    clock: FrozenClock

    def sender(self, **options: float) -> Sender:
        return Sender(
            gateways={Channel.TELEGRAM: TelegramGateway(bot=self.bot, pacer=self.pacer)},
            session_factory=self.sessions,
            clock=self.clock,
            **options,  # type: ignore[arg-type]
        )

    async def queue(self, key: str, recipients: list[Recipient], text: str) -> None:
        async with self.sessions() as session:
            await self.delivery.deliver(
                session, key=key, recipients=recipients, render=lambda _r: Outgoing(text=text)
            )
            await session.commit()

    async def rows(self) -> list[Outbox]:
        async with self.sessions() as session:
            return list((await session.exec(select(Outbox).order_by(Outbox.id))).all())

    async def drain(self, sender: Sender, limit: float = 20.0) -> None:
        task = asyncio.create_task(sender.run())
        deadline = asyncio.get_running_loop().time() + limit
        try:
            while any(row.status == OutboxStatus.PENDING for row in await self.rows()) or not sender.idle():
                assert asyncio.get_running_loop().time() < deadline, "the sender did not finish"
                await asyncio.sleep(0.05)
        finally:
            sender.stop()
            await task


@pytest.fixture
async def rig(sandbox: SandboxServer, sandbox_client: SandboxClient, tmp_path: Path) -> AsyncIterator[Rig]:
    info = await sandbox_client.create_bot(username="sender_test_bot")
    settings = Settings(_env_file=None, bot_token=info.token, telegram_api_url=sandbox.base_url)  # type: ignore[call-arg]
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'sender.db'}")
    await upgrade_database(engine)
    bot = create_bot(settings)
    pacer = Pacer(global_per_second=200, per_chat_per_second=50, per_group_per_minute=600)
    bot.session.middleware(RateLimitMiddleware(pacer))
    clock = FrozenClock(datetime(2026, 11, 10, 3, 0, tzinfo=UTC))
    sessions = create_session_factory(engine)
    yield Rig(
        client=sandbox_client,
        bot=bot,
        token=info.token,
        sessions=sessions,
        delivery=Delivery(i18n=create_i18n("vi"), clock=clock),
        pacer=pacer,
        clock=clock,
    )
    await bot.session.close()
    await engine.dispose()


async def test_a_migrated_group_is_followed_and_rebound(rig: Rig) -> None:
    member = await rig.client.create_user(first_name="Thành viên")
    chat = await rig.client.create_group("Nhóm cũ", [member.id])
    await rig.client.add_bot_to_group(chat.id, rig.token, member.id)
    async with rig.sessions() as session:
        unit = await people.create_unit(session=session, code="X", name="Xã")
        group = ChatGroup(chat_id=chat.id, title="Nhóm cũ", unit_id=unit.id or 0)
        session.add(group)
        await session.commit()
    new_id, _updates = await rig.client.migrate_group(chat.id)  # the bot has not seen it yet
    await rig.queue(
        "notice:1", [Recipient(chat_id=chat.id, locale="vi", chat_group_id=group.id)], "Thông báo"
    )
    await rig.drain(rig.sender())

    [row] = await rig.rows()
    assert (row.status, row.chat_id) == (OutboxStatus.SENT, new_id)
    assert [m.get("text") for m in await rig.client.chat_messages(new_id)][-1] == "Thông báo"
    async with rig.sessions() as session:
        rebound = (await session.exec(select(ChatGroup))).one()
    assert rebound.chat_id == new_id


async def test_429_waits_retry_after_and_loses_nothing(rig: Rig) -> None:
    user = await rig.client.create_user(first_name="Người nhận", started=[rig.token])
    # The sandbox allows one message a second to a chat (three at once); our pacer (wrongly)
    # allows 50.
    await rig.client.configure(per_chat_per_second=1)
    for n in range(5):
        await rig.queue(f"notice:{n}", [Recipient(chat_id=user.id, locale="vi")], f"Tin số {n}")
    await rig.client.reset_stats()
    await rig.drain(rig.sender())

    assert (await rig.client.stats())["http_429"] >= 1
    assert [m["text"] for m in await rig.client.chat_messages(user.id)] == [
        "Tin số 0",
        "Tin số 1",
        "Tin số 2",
        "Tin số 3",
        "Tin số 4",
    ]
    assert {row.status for row in await rig.rows()} == {OutboxStatus.SENT}


async def test_endless_server_errors_are_retried_until_the_horizon_then_failed(rig: Rig) -> None:
    user = await rig.client.create_user(first_name="Người nhận", started=[rig.token])
    await rig.client.configure(error_rate=1.0, error_kinds=["502"], seed=1)
    await rig.queue("notice:x", [Recipient(chat_id=user.id, locale="vi")], "Không tới được")
    sender = rig.sender(reply_horizon=3600, retry_base_seconds=0.01, retry_max_seconds=0.05)
    task = asyncio.create_task(rig.drain(sender))
    # However many attempts fail, the row stays pending while its hour lasts ...
    deadline = asyncio.get_running_loop().time() + 10
    while (await rig.rows())[0].attempts < 5:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    assert (await rig.rows())[0].status == OutboxStatus.PENDING
    # ... and is given up once it is over, with the last error kept.
    rig.clock.advance(timedelta(hours=1, seconds=1))
    await task

    [row] = await rig.rows()
    assert row.status == OutboxStatus.FAILED and row.attempts >= 5
    assert "not delivered within 1 h" in (row.error or "") and "Bad Gateway" in (row.error or "")
    assert await rig.client.chat_messages(user.id) == []


async def test_a_long_text_goes_out_in_order_in_parts(rig: Rig) -> None:
    user = await rig.client.create_user(first_name="Người đọc", started=[rig.token])
    paragraphs = [f"<b>Mục {n}</b>\n" + ("nội dung dài " * 60).strip() for n in range(12)]
    await rig.queue("long:1", [Recipient(chat_id=user.id, locale="vi")], "\n\n".join(paragraphs))
    await rig.drain(rig.sender())

    texts = [m["text"] for m in await rig.client.chat_messages(user.id)]
    assert len(texts) == 3 and all(len(text) <= 4096 for text in texts)
    assert "\n\n".join(texts) == "\n\n".join(p.replace("<b>", "").replace("</b>", "") for p in paragraphs)


async def test_an_answer_does_not_wait_for_a_tidying_call_of_its_chat(rig: Rig) -> None:
    """Taking an old question's buttons away waits for room in the global rate; the person's
    next answer in the same chat goes meanwhile, and the buttons go when there is room."""
    person = await rig.client.create_user(first_name="Cộng tác viên", started=[rig.token])
    sender = rig.sender()
    task = asyncio.create_task(sender.run())
    now = rig.clock.now()

    async def commit(*payloads_: dict[str, object]) -> list[Outbox]:
        async with rig.sessions() as session:
            rows = [
                Outbox(chat_id=person.id, payload=dict(payload), not_before=now, created_at=now)
                for payload in payloads_
            ]
            session.add_all(rows)
            await session.commit()
        sender.push([PendingRow.of(row) for row in rows])
        return rows

    try:
        question = payloads.message("Câu 1", [[Choice(label="Có", data="yes")]])
        after = await rig.client.last_seq()
        await commit(question)
        [sent] = await rig.client.wait_events(person.id, after, kinds=["send"])
        # No room for paced calls for the next two seconds (as at the peak of a busy hour).
        rig.pacer.global_bucket.block_until(time.monotonic() + 2.0)
        after = await rig.client.last_seq()
        await commit(payloads.clear(message_id=sent["message_id"]))
        await asyncio.sleep(0.2)  # the tidying call is under way, waiting for its slot
        started = time.monotonic()
        await commit(payloads.message("Câu 2"))
        [answer] = await rig.client.wait_events(person.id, after, kinds=["send", "edit"])
        assert answer["kind"] == "send" and answer["text"] == "Câu 2"
        assert time.monotonic() - started < 1.0
        [tidied] = await rig.client.wait_events(person.id, answer["seq"], kinds=["edit"])
        assert tidied["buttons_only"] and tidied["message_id"] == sent["message_id"]
        assert not tidied.get("reply_markup")
    finally:
        sender.stop()
        await task
    assert {row.status for row in await rig.rows()} == {OutboxStatus.SENT}


async def test_a_server_error_here_and_there_delays_only_its_own_message(rig: Rig) -> None:
    """One 500 among successes is not an outage: the other chats' messages go on at once
    (several failures in a row, as in an outage, do pause every chat: tests/faults)."""
    users = [await rig.client.create_user(first_name=f"Người {n}", started=[rig.token]) for n in range(12)]
    await rig.client.configure(error_rate=1.0, error_kinds=["500"], fault_budget=1)
    await rig.queue("notice:mixed", [Recipient(chat_id=u.id, locale="vi") for u in users], "Thông báo")
    sender = rig.sender(retry_base_seconds=3.0, max_answers_in_flight=2)
    started = time.monotonic()
    task = asyncio.create_task(sender.run())
    try:
        delivered = 0
        while delivered < len(users) - 1:
            assert time.monotonic() - started < 2.0, "the other chats waited for one chat's 500"
            await asyncio.sleep(0.05)
            delivered = sum(1 for row in await rig.rows() if row.status == OutboxStatus.SENT)
    finally:
        sender.stop()
        await task
    assert (await rig.client.stats())["faults"] == 1


async def test_a_clear_waits_for_the_queued_answer_that_makes_its_message(rig: Rig) -> None:
    """With answers at their limit, an answer that is still queued holds back the tidying
    of its chat: a clear of the message it will make must not go first (and find nothing)."""
    other = await rig.client.create_user(first_name="Người khác", started=[rig.token])
    third = await rig.client.create_user(first_name="Người thứ ba", started=[rig.token])
    person = await rig.client.create_user(first_name="Cộng tác viên", started=[rig.token])
    await rig.client.configure(latency_ms=300)  # the other chat's answer stays in flight a while
    sender = rig.sender(max_answers_in_flight=1)
    now = rig.clock.now()
    async with rig.sessions() as session:
        first = Outbox(chat_id=other.id, payload=payloads.message("Trả lời"), not_before=now, created_at=now)
        waiting = Outbox(
            chat_id=third.id, payload=payloads.message("Trả lời"), not_before=now, created_at=now
        )
        question = Outbox(
            chat_id=person.id,
            payload=payloads.message("Câu 1", [[Choice(label="Có", data="yes")]]),
            not_before=now,
            created_at=now,
        )
        session.add_all([first, waiting, question])
        await session.flush()
        clear = Outbox(
            chat_id=person.id, payload=payloads.clear(ref=question.id), not_before=now, created_at=now
        )
        session.add(clear)
        await session.commit()
    sender.push([PendingRow.of(row) for row in (first, waiting, question, clear)])
    await rig.drain(sender)

    [shown] = await rig.client.chat_messages(person.id)
    assert shown["text"] == "Câu 1"
    assert not shown.get("reply_markup"), "the question kept buttons that the clear was to take away"

"""Outages end with nothing lost and nothing twice, and the bot never stops answering.

Each test breaks one thing the bot depends on (the Bot API, its answers, the database)
while people use it through the sandbox, then mends it, and checks what people saw and
what is stored. Long outages run on a fast clock: the horizons that decide when to give up
read the bot's clock, which the test moves on, while the backoff between tries is capped
low so that the test takes seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from bot.sandbox import SandboxClient, SandboxServer
from storage import inbox
from storage.models import Draft, Inbox, InboxStatus, Outbox, OutboxStatus, Report, Role
from tests.e2e.flows import publish_topic, this_month, topic_post_id
from tests.e2e.harness import Persona, World, make_world

pytestmark = pytest.mark.slow

GROUP = "CTV Huyện Bình Minh"
FAST = {
    "delivery_retry_seconds": 0.05,
    "delivery_retry_max_seconds": 0.3,
    "intake_retry_seconds": 0.05,
    "intake_retry_max_seconds": 0.3,
}


@pytest.fixture
async def world(
    sandbox: SandboxServer, sandbox_client: SandboxClient, tmp_path: Path
) -> AsyncIterator[World]:
    # SQLite whatever TEST_DATABASE says: two of these tests lock and fill its file.
    built = await make_world(
        sandbox_client,
        sandbox.base_url,
        tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        database_busy_timeout_ms=100,
        **FAST,
    )
    yield built
    await built.app.stop()


async def _org(world: World, collaborators: int = 4) -> dict[str, Persona]:
    staff = await world.person_named("Trần Cán Bộ")
    await world.seed_member(staff, unit="TINH", role=Role.STAFF)
    people = {"staff": staff}
    for index in range(1, collaborators + 1):
        person = await world.person_named(f"CTV {index}")
        await world.seed_member(person, unit="HUYEN_A", full_name=f"Cộng tác viên {index}")
        await person.send("/help")
        people[f"ctv{index}"] = person
    await world.group(GROUP, [staff, people["ctv1"]], unit="HUYEN_A")
    return people


async def _handled(world: World, update_id: int, limit: float = 20.0) -> None:
    """Until the update's own work is committed (its answers may still be waiting)."""
    deadline = asyncio.get_running_loop().time() + limit
    while True:
        async with world.sessions() as session:
            row = await inbox.get_row(session=session, update_id=update_id)
        if row is not None and row.status == InboxStatus.DONE:
            return
        assert asyncio.get_running_loop().time() < deadline, f"update {update_id} was not handled"
        await asyncio.sleep(0.02)


async def _types(world: World, person: Persona, text: str) -> int:
    result = await world.client.send_message(world.bot_token, person.user_id, text)
    assert result.update_id is not None
    await _handled(world, result.update_id)
    return result.update_id


async def _from_bot(world: World, chat_id: int) -> list[dict[str, Any]]:
    """The bot's messages in a chat, oldest first (the chat also holds what people wrote)."""
    return [m for m in await world.client.chat_messages(chat_id) if m.get("from", {}).get("is_bot")]


def _no_repeats(messages: list[dict[str, Any]]) -> None:
    """No message appears twice in a row in a chat (a repeated prompt or post)."""
    texts = [str(m.get("text") or m.get("caption") or "") for m in messages]
    repeats = [a for a, b in itertools.pairwise(texts) if a == b and a]
    assert repeats == [], repeats


async def test_polling_survives_a_conflict_and_an_html_error_page(world: World) -> None:
    """A 409 (a second instance polling) and a proxy's HTML 502 page, one after the other:
    the poller logs each, backs off and goes on answering."""
    person = await world.person_named("Ba")
    await world.client.configure(next_get_updates=["409", "html_502", "500"])
    reply = await person.send("/help")
    assert "Hello" in reply.text or "Xin chào" in reply.text
    assert world.app.poller is not None and world.app._poll_task is not None
    assert not world.app._poll_task.done()
    again = await person.send("/help")
    assert again.text == reply.text


async def test_twenty_simultaneous_reports_are_answered_together(world: World) -> None:
    """20 collaborators send /report at the same moment over a 100 ms Bot API: no update
    holds the database while its answer travels, so the answers are on the wire together
    (they were sent one after another when each update waited for its own, one in flight).
    The bound is loose on purpose: how many arrive in one poll depends on the machine's load."""
    people = []
    for index in range(20):
        person = await world.person_named(f"Người {index}")
        await world.seed_member(person, unit="HUYEN_A")
        people.append(person)
    await world.client.configure(latency_ms=100)
    await world.client.reset_stats()
    sent = await asyncio.gather(
        *(world.client.send_message(world.bot_token, p.user_id, "/report") for p in people)
    )
    for result in sent:
        await world.settle(result.update_id or 0)
    stats = await world.client.stats()
    assert stats["max_in_flight"].get("sendMessage", 0) >= 5, stats["max_in_flight"]
    for person in people:
        first = (await world.client.chat_messages(person.user_id))[-1]
        assert "Câu 1/" in first["text"], first["text"]
    async with world.sessions() as session:
        drafts = (await session.exec(select(Draft))).all()
    assert len(drafts) == 20


@pytest.mark.parametrize("minutes", [1, 10], ids=["60s", "10min"])
async def test_a_bot_api_outage_loses_nothing_and_repeats_nothing(world: World, minutes: int) -> None:
    """The Bot API answers 500/502 to every sending call for `minutes` (on the bot's clock)
    while a topic is being delivered, a collaborator fills a report and someone asks for
    help. When it is back, every recipient has the topic once, the report is stored, every
    answer arrived once and in order, and nothing was marked failed."""
    org = await _org(world, collaborators=4)
    ctv = org["ctv2"]
    await ctv.send("/report")
    await world.client.configure(global_per_second=30, per_chat_per_second=1, per_group_per_minute=20)
    await publish_topic(org["staff"])
    before = {p.user_id: len(await _from_bot(world, p.user_id)) for p in org.values()}

    await world.client.configure(error_rate=1.0, error_kinds=["500", "502"], seed=3)
    # During the outage: a report typed and pressed to its end, someone asking for help.
    await _types(world, ctv, "Người dân phản ánh việc giải phóng mặt bằng chậm, cần giải thích rõ")
    await _types(world, ctv, "Phường Bình Minh")
    await _types(world, ctv, "01/11/2026")
    help_update = await _types(world, org["ctv3"], "/help")
    world.clock.advance(timedelta(minutes=minutes))
    await asyncio.sleep(1.5)  # the sender keeps trying, capped at 0.3 s between tries
    async with world.sessions() as session:
        waiting = (await session.exec(select(Outbox).where(Outbox.status == OutboxStatus.PENDING))).all()
    assert waiting, "the answers wait while the Bot API is down"
    await world.client.configure(error_rate=0.0)
    await world.settle(help_update)
    await world.delivered()

    async with world.sessions() as session:
        statuses = Counter((await session.exec(select(Outbox.status))).all())
        draft = (await session.exec(select(Draft).where(col(Draft.person_id).is_not(None)))).all()
    assert set(statuses) == {OutboxStatus.SENT}, statuses
    [report_draft] = [d for d in draft if d.slot == "report:adhoc"]
    assert set(report_draft.state["answers"]) == {"su_viec", "dia_ban", "thoi_gian"}
    questions = [
        m["text"] for m in (await world.client.chat_messages(ctv.user_id)) if "Câu " in str(m.get("text"))
    ]
    assert [q.split(".")[0].split("Câu ")[-1] for q in questions][-4:] == ["1/9", "2/9", "3/9", "4/9"], (
        questions
    )
    help_messages = (await _from_bot(world, org["ctv3"].user_id))[before[org["ctv3"].user_id] :]
    assert len(help_messages) == 1 and "/report" in help_messages[0]["text"]
    for person in org.values():
        _no_repeats(await _from_bot(world, person.user_id))
    _no_repeats(await _from_bot(world, world.groups[GROUP]))


async def test_a_topic_broadcast_through_an_outage_reaches_everyone_once(world: World) -> None:
    """The outage starts while a topic is going out to 40 people at Telegram's pace."""
    org = await _org(world, collaborators=40)
    await world.client.configure(global_per_second=30, per_chat_per_second=1, per_group_per_minute=20)
    staff = org["staff"]
    await staff.send("/topic")
    await staff.send("Sáp nhập đơn vị hành chính cấp xã")
    await staff.send("Nắm bắt dư luận về việc sắp xếp đơn vị hành chính cấp xã trên địa bàn.")
    await staff.press("Báo cáo tình hình dư luận xã hội định kỳ")
    await staff.press(this_month(world))
    await staff.press("Tất cả đơn vị trong phạm vi phụ trách")
    await staff.send("25/11/2026")
    await staff.press("📢 Ngay bây giờ")
    await staff.press("📢 Đăng")
    await asyncio.sleep(0.3)  # some have it, most do not yet
    await world.client.configure(error_rate=1.0, error_kinds=["500", "502"], seed=5)
    world.clock.advance(timedelta(minutes=10))
    await asyncio.sleep(1.5)
    await world.client.configure(error_rate=0.0)
    await world.delivered(limit=60)

    stats = await world.client.stats()
    for key in (f"ctv{n}" for n in range(1, 41)):
        user_id = org[key].user_id
        topic_posts = [m for m in await _from_bot(world, user_id) if str(m.get("text", "")).startswith("📢")]
        assert len(topic_posts) == 1, (key, len(topic_posts))
    assert stats["faults"] > 0
    async with world.sessions() as session:
        statuses = Counter(
            (await session.exec(select(Outbox.status).where(col(Outbox.broadcast_id).is_not(None)))).all()
        )
    assert statuses == {OutboxStatus.SENT: 41}, statuses


async def test_the_replies_failing_never_undo_a_group_reply(world: World) -> None:
    """The reaction and every message fail while a collaborator replies to the topic post:
    the quick report is stored all the same, and the 👍 comes once Telegram is back."""
    org = await _org(world, collaborators=2)
    await publish_topic(org["staff"])
    group_id = world.groups[GROUP]
    post_id = await topic_post_id(world, group_id)
    await world.client.configure(
        error_rate=1.0, error_kinds=["500"], fault_methods=["setMessageReaction", "sendMessage"], seed=1
    )
    result = await world.client.send_message(
        world.bot_token,
        org["ctv1"].user_id,
        "Bà con đồng tình",
        chat_id=group_id,
        reply_to_message_id=post_id,
    )
    assert result.update_id is not None
    await _handled(world, result.update_id)
    reports = await world.reports()
    assert [r.text for r in reports] == ["Bà con đồng tình"]
    await world.client.configure(error_rate=0.0)
    await world.settle(result.update_id)
    events = await world.client.events(chat_id=group_id)
    assert [e for e in events if e.get("kind") == "reaction"], "the 👍 arrives after the outage"


async def test_a_database_locked_by_another_process_is_waited_out(world: World, tmp_path: Path) -> None:
    """Another process holds SQLite's write lock for a while (here 3 s, with a 100 ms busy
    timeout, as a 60 s lock is with the default 10 s): updates that arrive meanwhile cannot
    even be stored; the poller backs off and goes on, and once the lock is gone every one is
    handled once and answered once."""
    people = [await world.person_named(f"Khách {n}") for n in range(3)]
    other = sqlite3.connect(tmp_path / "bot.db", isolation_level=None, timeout=5)
    other.execute("BEGIN IMMEDIATE")
    try:
        sent = [await world.client.send_message(world.bot_token, p.user_id, "/help") for p in people]
        await asyncio.sleep(3.0)
        assert world.app._poll_task is not None and not world.app._poll_task.done()
    finally:
        other.execute("ROLLBACK")
        other.close()
    for result in sent:
        await world.settle(result.update_id or 0)
    for person in people:
        assert len(await _from_bot(world, person.user_id)) == 1
    async with world.sessions() as session:
        rows = (await session.exec(select(Inbox))).all()
    assert {row.update_id for row in rows} >= {r.update_id for r in sent}
    assert all(row.status == InboxStatus.DONE for row in rows)


async def test_a_full_disk_is_waited_out(world: World, caplog: pytest.LogCaptureFixture) -> None:
    """SQLite answers "database or disk is full" (the file may not grow: its page limit is
    set to its size) while people write; when there is room again, everything they sent is
    handled once and answered once."""
    caplog.set_level(logging.WARNING)
    people = [await world.person_named(f"Khách {n}") for n in range(4)]
    engine = world.app.engine
    assert engine is not None
    async with engine.connect() as connection:
        pages = (await connection.exec_driver_sql("PRAGMA page_count")).scalar_one()
        await connection.exec_driver_sql(f"PRAGMA max_page_count={pages}")
    sent = []
    for person in people:
        for _ in range(5):
            sent.append(
                await world.client.send_message(world.bot_token, person.user_id, "xin chào " + "x" * 3000)
            )
    await asyncio.sleep(2.0)
    assert "database or disk is full" in caplog.text
    async with engine.connect() as connection:
        await connection.exec_driver_sql("PRAGMA max_page_count=1073741823")
    for result in sent:
        await world.settle(result.update_id or 0)
    async with world.sessions() as session:
        rows = (await session.exec(select(Inbox))).all()
        stored_reports = (await session.exec(select(Report))).all()
    assert {row.update_id for row in rows} >= {r.update_id for r in sent}
    assert all(row.status == InboxStatus.DONE for row in rows)
    assert stored_reports == []
    for person in people:
        assert len(await _from_bot(world, person.user_id)) == 5


async def test_a_send_telegram_carried_out_but_answered_500_is_repeated_once(world: World) -> None:
    """Telegram delivers the answer but its reply to the bot is lost (a 500 after the send):
    the bot cannot know, so it sends again. The person sees that answer twice, never more,
    and the row ends as sent."""
    person = await world.person_named("Ba")
    await world.client.configure(
        error_rate=1.0, error_kinds=["late_500"], fault_methods=["sendMessage"], fault_budget=1, seed=1
    )
    reply = await person.send("/help")
    assert len(reply.messages) == 2 and reply.texts[0] == reply.texts[1]
    async with world.sessions() as session:
        [row] = (await session.exec(select(Outbox).where(Outbox.update_id == reply.update_id))).all()
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 2)


async def test_a_screen_that_cannot_be_edited_is_sent_anew(world: World) -> None:
    """The message under a pressed button can no longer be edited (too old, say): the next
    screen comes as a new message at once, instead of retries and an apology."""
    person = await world.person_named("Ba")
    await world.seed_member(person, unit="HUYEN_A")
    await person.send("/lang")
    await world.client.configure(
        error_rate=1.0, error_kinds=["400"], fault_methods=["editMessageText"], fault_budget=1, seed=1
    )
    reply = await person.press("🇬🇧 English")
    sent = [e for e in reply.events if e["kind"] == "send"]
    assert [e["text"] for e in sent] == ["Language set to English."]
    assert (await world.person(person)).locale == "en"  # type: ignore[union-attr]


async def test_stopping_does_not_wait_out_an_update_in_backoff(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An update whose handler meets a failing disk is retried with backoff for up to the
    retry horizon (15 min by default). SIGTERM must not wait that out: the bot stops at once,
    the update stays pending in the inbox, and the next start handles it."""
    import handlers.start
    from bot.app import Application

    person = await world.person_named("Khách")
    failing = asyncio.Event()

    def disk_fails(actor: Any) -> str:
        failing.set()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(handlers.start, "help_text", disk_fails)
    sent = await world.client.send_message(world.bot_token, person.user_id, "/help")
    await asyncio.wait_for(failing.wait(), timeout=10)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await world.app.stop()
    assert loop.time() - started < 5, "stopping waited for the backoff"
    async with world.sessions() as session:
        row = await inbox.get_row(session=session, update_id=sent.update_id or 0)
    assert row is not None and row.status == InboxStatus.PENDING and row.attempts >= 1

    monkeypatch.undo()
    world.app = Application(settings=world.app.settings, clock=world.clock)
    await world.app.start()
    await world.settle(sent.update_id or 0)
    assert len(await _from_bot(world, person.user_id)) == 1

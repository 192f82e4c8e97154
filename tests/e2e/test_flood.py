"""Issue 18, defect 3: one person (or one group) sending fast gets one notice and then
silence for a while; nothing of theirs piles up, and everyone else is answered as usual."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import select

from bot.sandbox import SandboxClient, SandboxServer
from storage.models import Inbox, Report, Role
from tests.e2e.flows import publish_topic, topic_post_id
from tests.e2e.harness import Persona, World, drop_database, make_world

BURST = 5
GROUP_BURST = 8
MUTE_SECONDS = 3.0
PERSON_NOTICE = (
    "Đồng chí đang gửi tin nhắn nhanh hơn mức bot có thể đọc. Các tin nhắn của đồng chí trong "
    "1 phút tới sẽ không được đọc; xin gửi lại sau đó."
)


async def flooding_world(
    sandbox: SandboxServer, client: SandboxClient, tmp_path: Path, **limits: float
) -> AsyncIterator[World]:
    built = await make_world(client, sandbox.base_url, tmp_path, flood_mute_seconds=MUTE_SECONDS, **limits)
    yield built
    await built.app.stop()
    await drop_database(built.app.settings.database_url)


@pytest.fixture
async def world(
    sandbox: SandboxServer, sandbox_client: SandboxClient, tmp_path: Path
) -> AsyncIterator[World]:
    async for built in flooding_world(
        sandbox, sandbox_client, tmp_path, flood_person_burst=BURST, flood_person_per_minute=6
    ):
        yield built


@pytest.fixture
async def group_world(
    sandbox: SandboxServer, sandbox_client: SandboxClient, tmp_path: Path
) -> AsyncIterator[World]:
    """A group's limit alone (a person's is out of reach: staff publish the topic first)."""
    async for built in flooding_world(
        sandbox, sandbox_client, tmp_path, flood_chat_burst=GROUP_BURST, flood_chat_per_minute=6
    ):
        yield built


async def inbox_rows(world: World, chat_id: int) -> int:
    async with world.sessions() as session:
        return len((await session.exec(select(Inbox).where(Inbox.chat_key == chat_id))).all())


async def test_a_flooding_person_gets_one_notice_then_silence_and_others_are_answered(world: World) -> None:
    flooder = await world.person_named("Nhanh")
    other = await world.person_named("Bình")
    await world.seed_member(flooder, unit="HUYEN_A")
    await world.seed_member(other, unit="HUYEN_A")
    await asyncio.gather(
        *(world.client.send_message(world.bot_token, flooder.user_id, f"tin {n}") for n in range(40))
    )
    answer = await other.send("/help")
    assert "Đồng chí có thể" in answer.text, "another person is answered while the flood goes on"
    await world.quiet()
    await world.delivered()
    texts = [
        m.get("text", "") for m in await world.client.chat_messages(flooder.user_id) if m["from"]["is_bot"]
    ]
    assert texts.count(PERSON_NOTICE) == 1, texts
    assert len(texts) == BURST + 1, "one answer for each update taken, and the notice"
    notice = next(
        m for m in await world.client.chat_messages(flooder.user_id) if m.get("text") == PERSON_NOTICE
    )
    assert "reply_to_message" in notice, "the notice answers the message that went over the limit"
    assert await inbox_rows(world, flooder.user_id) == BURST + 1, "the muted updates are not stored"

    await asyncio.sleep(MUTE_SECONDS + 0.2)  # the pause is over: they are read again
    again = await flooder.send("/help")
    assert "Đồng chí có thể" in again.text


async def test_a_flooded_group_gets_one_notice_and_its_members_are_still_answered_in_private(
    group_world: World,
) -> None:
    world = group_world
    staff = await world.person_named("Cán bộ")
    await world.seed_member(staff, unit="TINH", role=Role.STAFF)
    members: list[Persona] = []
    for index in range(4):
        member = await world.person_named(f"Thành viên {index}")
        await world.seed_member(member, unit="HUYEN_A")
        members.append(member)
    group = await world.group("Nhóm đông", [staff, *members], unit="HUYEN_A")
    await publish_topic(staff)
    post = await topic_post_id(world, group)
    # members talking among themselves, faster than the group's limit: not asking the bot
    # anything, it is not counted (the bot, an admin to pin posts, sees all of it)
    for n in range(GROUP_BURST + 4):
        await world.client.send_message(world.bot_token, members[n % 4].user_id, f"chào {n}", chat_id=group)
    await world.quiet()
    before = await inbox_rows(world, group)
    await asyncio.gather(
        *(
            world.client.send_message(
                world.bot_token, member.user_id, f"ý kiến {n}", chat_id=group, reply_to_message_id=post
            )
            for n in range(4)
            for member in members
        )
    )
    await world.quiet()
    await world.delivered()
    notices = [
        m
        for m in await world.client.chat_messages(group)
        if "Nhóm này đang gửi cho bot nhiều tin nhắn hơn mức bot có thể đọc" in m.get("text", "")
    ]
    assert len(notices) == 1
    assert await inbox_rows(world, group) - before == GROUP_BURST + 1
    async with world.sessions() as session:
        assert len((await session.exec(select(Report))).all()) == GROUP_BURST
    reply = await members[0].send("/help")  # their private chat is not muted
    assert "Đồng chí có thể" in reply.text

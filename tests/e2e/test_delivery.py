"""Bulk delivery through the sandbox with Telegram's limits on and faults injected:
everyone reachable gets exactly one message, staff watch one progress message, the
unreachable are listed, and a delivery can be stopped half-way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from bot.sandbox import SandboxClient, SandboxServer
from bot.sandbox.client import SandboxError
from storage import people
from storage.models import Channel, Outbox, OutboxStatus, Person, PersonStatus, Reachability, Role
from tests.e2e.flows import publish_topic, this_month
from tests.e2e.harness import Persona, World, drop_database, make_world

LIMITS = {"global_per_second": 30, "per_chat_per_second": 1, "per_group_per_minute": 20}


@pytest.fixture
async def world(
    sandbox: SandboxServer, sandbox_client: SandboxClient, tmp_path: Path
) -> AsyncIterator[World]:
    built = await make_world(
        sandbox_client,
        sandbox.base_url,
        tmp_path,
        global_rate_per_second=LIMITS["global_per_second"],
        per_chat_rate_per_second=LIMITS["per_chat_per_second"],
        per_group_rate_per_minute=LIMITS["per_group_per_minute"],
        delivery_retry_seconds=0.2,
        progress_edit_seconds=1.0,
    )
    yield built
    await built.app.stop()
    await drop_database(built.app.settings.database_url)


async def seed_collaborators(world: World, count: int, *, never_started: int) -> list[int]:
    """`count` registered collaborators in the two districts; the last `never_started` of
    them never opened the bot (Telegram refuses to write to them)."""
    user_ids = []
    for index in range(count):
        started = [world.bot_token] if index < count - never_started else []
        user = await world.client.create_user(first_name=f"Người {index:03d}", started=started)
        user_ids.append(user.id)
    async with world.sessions() as session:
        for index, user_id in enumerate(user_ids):
            unit = world.units["HUYEN_A" if index % 2 else "HUYEN_B"]
            person = Person(
                chat_id=user_id,
                full_name=f"Cộng tác viên số {index:03d}",
                unit_id=unit.id,
                status=PersonStatus.ACTIVE,
                registered_at=world.clock.now(),
            )
            await people.add_person(session=session, person=person)
            await people.grant_role(session=session, person=person, role=Role.COLLABORATOR, unit_id=unit.id)
        await session.commit()
    return user_ids


def topic_messages(messages: list[dict]) -> list[dict]:
    return [m for m in messages if str(m.get("text", "")).startswith("📢 Chủ đề định hướng")]


async def test_publish_reaches_everyone_once_under_limits_and_faults(
    world: World, org: dict[str, Persona]
) -> None:
    user_ids = await seed_collaborators(world, 200, never_started=10)
    await world.client.configure(
        **LIMITS, error_rate=0.05, error_kinds=["500", "502", "timeout"], timeout_seconds=0.3, seed=7
    )
    await world.client.reset_stats()

    reply = await publish_topic(org["staff"])
    assert "Đang gửi tới 1 nhóm và 204 cộng tác viên" in reply.text

    stats = await world.client.stats()
    assert stats["faults"] > 0  # faults really were injected
    # Every reachable collaborator got the topic exactly once; the others nothing.
    for user_id in user_ids[:190] + [org[f"ctv{n}"].user_id for n in range(1, 5)]:
        assert len(topic_messages(await world.client.chat_messages(user_id))) == 1, user_id
    for user_id in user_ids[190:]:
        with pytest.raises(SandboxError, match="chat not found"):  # nothing ever reached them
            await world.client.chat_messages(user_id)
    # One progress message, ended with the right counts and a button listing the unreached.
    staff_chat = await world.client.chat_messages(org["staff"].user_id)
    progress = [m for m in staff_chat if str(m.get("text", "")).startswith("📤 Đợt gửi số 1")]
    assert len(progress) == 1
    text = progress[0]["text"]
    assert "Đã gửi: 195 · Lỗi: 0 · Không liên lạc được: 10 · Còn lại: 0" in text, text
    assert "✅ Hoàn tất: 195/205 nơi đã nhận được." in text
    async with world.sessions() as session:
        statuses = dict(
            (
                await session.exec(
                    select(Outbox.status, func.count())
                    .where(col(Outbox.broadcast_id).is_not(None))
                    .group_by(Outbox.status)
                )
            ).all()
        )
        unreachable = (
            await session.exec(select(func.count()).where(Person.reachability == Reachability.STOPPED))
        ).one()
    assert statuses == {OutboxStatus.SENT: 195, OutboxStatus.UNREACHABLE: 10}
    assert unreachable == 10

    listing = await org["staff"].press("👥 Chưa nhận được (10)")
    assert "Chưa nhận được đợt gửi số 1" in listing.text
    for index in range(190, 200):
        assert f"Cộng tác viên số {index:03d}" in listing.text
    assert "chưa mở bot hoặc đã chặn bot" in listing.text


async def test_staff_stop_a_delivery_half_way(world: World, org: dict[str, Persona]) -> None:
    await seed_collaborators(world, 200, never_started=0)
    slow = {**LIMITS, "global_per_second": 10}
    await world.client.configure(**slow)
    world.app.sender.gateways[Channel.TELEGRAM].pacer.global_bucket.interval = 1 / 10  # type: ignore[union-attr]
    staff = org["staff"]
    await staff.send("/topic")
    await staff.send("Chủ đề dừng giữa chừng")
    await staff.send("Nắm bắt tình hình dư luận về việc điều chỉnh giá điện sinh hoạt trên địa bàn.")
    await staff.press("Báo cáo tình hình dư luận xã hội định kỳ")
    await staff.press(this_month(world))
    await staff.press("Tất cả đơn vị trong phạm vi phụ trách")
    await staff.send("25/11/2026")
    await staff.press("📢 Ngay bây giờ")
    await staff.press("📢 Đăng")
    progress = await staff.wait_for_text("📤 Đợt gửi số 1")
    assert "⛔ Dừng gửi" in str(progress["reply_markup"])
    stopped = await staff.press("⛔ Dừng gửi")
    assert any("Đã dừng đợt gửi số 1" in alert for alert in stopped.alerts), stopped.alerts
    await world.delivered()

    async with world.sessions() as session:
        statuses = dict(
            (
                await session.exec(
                    select(Outbox.status, func.count())
                    .where(col(Outbox.broadcast_id).is_not(None))
                    .group_by(Outbox.status)
                )
            ).all()
        )
    assert statuses[OutboxStatus.CANCELLED] > 50 and statuses[OutboxStatus.SENT] > 0
    assert sum(statuses.values()) == 205 and set(statuses) == {OutboxStatus.SENT, OutboxStatus.CANCELLED}
    final = [
        m for m in await world.client.chat_messages(staff.user_id) if "Đợt gửi số 1" in str(m.get("text"))
    ]
    assert "⛔ Đã dừng" in final[-1]["text"]
    assert f"{statuses[OutboxStatus.CANCELLED]} tin không gửi" in final[-1]["text"]

    listing = await staff.send("/broadcasts")
    assert "Các đợt gửi gần đây" in listing.text and "đã dừng" in listing.text


async def test_broadcasts_are_for_staff_and_their_own(world: World, org: dict[str, Persona]) -> None:
    reply = await org["ctv1"].send("/broadcasts")
    assert "chỉ dành cho cán bộ Ban Tuyên giáo" in reply.text
    reply = await org["staff"].send("/broadcasts")
    assert "Chưa có đợt gửi nào" in reply.text
    await publish_topic(org["staff"])
    reply = await org["district_staff"].send("/broadcasts")
    assert "Chưa có đợt gửi nào" in reply.text  # not theirs
    district = org["district_staff"]
    # a button of someone else's broadcast, marked for their chat but on no message of theirs
    forged = await district.press_data(
        world.signed(district.user_id, "bc:1:x"), message_id=await district.last_message_id()
    )
    assert forged.alerts == ["Nút này đã hết hiệu lực. Gõ /start để tiếp tục từ chỗ đang dừng."]
    listing = await org["staff"].send("/broadcasts")
    assert "Số 1 ·" in listing.text and "đã xong" in listing.text, listing.text


async def test_two_people_with_the_same_name_are_both_listed_as_not_reached(
    world: World, org: dict[str, Persona]
) -> None:
    """Issue 18: the not-reached list merged two people who share a name."""
    async with world.sessions() as session:
        for phone in ("0912000001", "0912000002"):
            user = await world.client.create_user(first_name="Lan", started=[])
            person = Person(
                chat_id=user.id,
                full_name="Nguyễn Thị Lan",
                phone=phone,
                unit_id=world.units["HUYEN_A"].id,
                status=PersonStatus.ACTIVE,
                registered_at=world.clock.now(),
            )
            await people.add_person(session=session, person=person)
            await people.grant_role(
                session=session, person=person, role=Role.COLLABORATOR, unit_id=person.unit_id
            )
        await session.commit()
    await publish_topic(org["staff"])
    listing = await org["staff"].press("👥 Chưa nhận được (2)")
    assert "• Nguyễn Thị Lan (0912000001) — Huyện Bình Minh" in listing.text
    assert "• Nguyễn Thị Lan (0912000002) — Huyện Bình Minh" in listing.text

"""Issue 20's month, end to end: December 2026 runs itself, from a topic scheduled on 28/11
to the briefing reminder on 04/01/2027, with the scheduler ticking on the injected clock;
once straight through, and once with the bot down from the 19th to the 21st (and restarted
twice). Invalid schedule settings are refused with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlmodel import select

from bot.config import Settings
from storage.models import Topic, TopicStatus
from tests.e2e.flows import GUIDANCE, fill_monthly, send_urgent
from tests.e2e.harness import Persona, World, ZaloPersona

GROUP = "CTV Huyện Bình Minh"
PLACE = "Hội trường UBND tỉnh"


def _vn(day: int, hour: int, minute: int = 0, *, month: int = 12, year: int = 2026) -> datetime:
    """A local time in Vietnam (UTC+7), as UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=7)


async def _texts(persona: Persona | ZaloPersona, prefix: str) -> list[str]:
    if isinstance(persona, ZaloPersona):
        messages = await persona.bot_messages()
    else:
        messages = await persona.world.client.chat_messages(persona.user_id)
    return [str(m.get("text", "")) for m in messages if str(m.get("text", "")).startswith(prefix)]


async def _run_until(world: World, moment: datetime) -> list[str]:
    """The scheduler ticking every three hours, and at `moment`: the jobs that acted. (The
    real one ticks every minute; a job firing early would show at the ticks between.)"""
    runner = world.app.job_runner
    assert runner is not None
    done: list[str] = []
    while world.clock.current < moment:
        world.clock.current = min(world.clock.current + timedelta(hours=3), moment)
        done += await runner.tick()
    await world.delivered()
    return done


REMINDER = "⏰ Nhắc việc: chủ đề số 1"


@pytest.mark.parametrize("down_19_to_21", [False, True], ids=["running", "down-19th-to-21st"])
async def test_a_month_runs_itself(world: World, org: dict[str, Persona], down_19_to_21: bool) -> None:
    staff, leader, district = org["staff"], org["leader"], org["district_staff"]
    ctv1, ctv2, ctv3, ctv4 = (org[f"ctv{n}"] for n in range(1, 5))
    for persona in (staff, leader, district):
        await persona.send("/help")
    lan = await world.member("zalo", "Lan", unit="HUYEN_A", full_name="Zalo Lan")
    group = world.groups[GROUP]
    world.clock.current = _vn(28, 7, month=11)

    # 28/11: no topic for December yet; staff are told at 08:00 and schedule it
    assert "topic_warning" in await _run_until(world, _vn(28, 8, month=11))
    assert len(await _texts(staff, "🗓 Tỉnh An Phú chưa có chủ đề tháng 12/2026")) == 1
    world.clock.current = _vn(28, 15, month=11)
    await staff.send("/topic")
    await staff.send("Sáp nhập đơn vị hành chính cấp xã")
    await staff.send(GUIDANCE)
    await staff.press("Báo cáo tình hình dư luận xã hội định kỳ")
    await staff.press("12/2026 (tháng sau)")
    await staff.press("Tất cả đơn vị trong phạm vi phụ trách")
    await staff.send("31/12/2026")
    await staff.press("🗓 Lên lịch lúc 08:00 01/12/2026")
    scheduled = await staff.press("🗓 Lên lịch")
    assert "sẽ được đăng lúc 08:00 01/12/2026" in scheduled.text

    # 01/12 08:00: published, in the group and to each collaborator on both channels
    assert "publish_scheduled" in await _run_until(world, _vn(1, 8))
    posts = [m for m in await world.client.chat_messages(group) if str(m.get("text", "")).startswith("📢")]
    assert len(posts) == 1 and "Chủ đề định hướng tháng 12/2026" in posts[0]["text"]
    for persona in (ctv1, ctv2, ctv3, ctv4, lan):
        assert len(await _texts(persona, "📢 Chủ đề định hướng tháng 12/2026")) == 1

    # 02/12: the briefing of January, on the usual 5th at 08:00
    world.clock.current = _vn(2, 10)
    await staff.send("/briefing")
    await staff.press("Tỉnh An Phú")
    await staff.press("Ngày khác")
    await staff.send("05/01/2027")
    await staff.press("08:00 (giờ thường lệ)")
    await staff.send(PLACE)
    saved = await staff.press("💾 Lưu")
    assert "05/01/2027" in saved.text and PLACE in saved.text

    # 05/12: two collaborators report
    world.clock.current = _vn(5, 10)
    for persona in (ctv1, ctv4):
        chat = group if persona is ctv1 else None
        if chat is not None:
            await persona.press("📝 Gửi báo cáo", chat_id=chat)
        else:
            await persona.press("📝 Gửi báo cáo")
        await fill_monthly(persona, content="Người dân đồng tình với chủ trương sáp nhập xã.")
        await persona.press("✅ Gửi báo cáo")
    assert len(await world.reports()) == 2

    # 10/12: an urgent matter from 10:00 to 18:00; re-pushed to the silent at 14:00, then the
    # status, and the escalation of the units below 60%
    world.clock.current = _vn(10, 10)
    await send_urgent(staff, deadline="18:00 10/12", choose=("Huyện Bình Minh", "Huyện Hòa Thuận"))
    await staff.press("🚨 Gửi")
    await world.delivered()
    await ctv1.press("✅ Đã nhận")
    await lan.send("đã nhận")
    assert "urgent_repush" in await _run_until(world, _vn(10, 14))
    assert [len(await _texts(p, "🔔 Nhắc lại")) for p in (ctv1, ctv2, ctv3, ctv4, lan)] == [0, 1, 1, 1, 0]
    done = await _run_until(world, _vn(10, 18))
    assert "urgent_deadline" in done and "urgent_escalation" in done
    [escalation] = await _texts(staff, "⚠️ Vấn đề đột xuất số K1")
    assert "• Huyện Bình Minh: 50% (2/4)" in escalation and "• Huyện Hòa Thuận: 0% (0/1)" in escalation

    if down_19_to_21:
        await _run_until(world, _vn(19, 12))
        await world.app.stop()
        world.clock.current = _vn(21, 10)
        await world.app.start()  # the tick at start: the 20th's reminder, once
        await world.delivered()
        await world.app.stop()
        await world.app.start()  # a second restart changes nothing
        await world.delivered()
        for persona in (ctv2, ctv3, lan):
            [reminder] = await _texts(persona, REMINDER)
            assert "Hạn báo cáo: 23:59 31/12/2026 (còn 10 ngày)." in reminder
    else:
        # 20/12 09:00: the silent are reminded; ctv2, in the middle of a form, after it ends
        await _run_until(world, _vn(20, 8, 58))
        await ctv2.send("/report")
        await ctv2.send("Tranh chấp đất đai kéo dài tại thôn 3, nhiều hộ kiến nghị")
        assert "reminders" in await _run_until(world, _vn(20, 9))
        for persona in (ctv3, lan):
            [reminder] = await _texts(persona, REMINDER)
            assert "Hạn báo cáo: 23:59 31/12/2026 (còn 11 ngày)." in reminder
        assert await _texts(ctv2, REMINDER) == []
        world.clock.current = _vn(20, 9, 5)
        await ctv2.send("/cancel")
        await _run_until(world, _vn(20, 9, 6))
        assert len(await _texts(ctv2, REMINDER)) == 1
    assert await _texts(ctv1, REMINDER) == [] and await _texts(ctv4, REMINDER) == []

    # 25/12 09:00: again, the silent only
    assert "reminders" in await _run_until(world, _vn(25, 9))
    assert [len(await _texts(p, REMINDER)) for p in (ctv1, ctv2, ctv3, ctv4, lan)] == [0, 2, 2, 0, 2]

    # 29/12 17:00, two days before (23:59 on the 29th, at night): the roll-call
    assert "roll_calls" in await _run_until(world, _vn(29, 17))
    [roll_call] = await _texts(staff, "📋 Điểm danh: chủ đề số 1")
    assert "Tỉnh An Phú: 2/5 cộng tác viên đã gửi báo cáo." in roll_call
    assert "✅ Đã gửi: Cộng tác viên 1" in roll_call and "Zalo Lan" in roll_call
    [own] = await _texts(district, "📋 Điểm danh")
    assert "✅ Đã gửi: Cộng tác viên 4" in own

    # 30/12 17:00: the last reminder, the day before; 01/01/2027 00:00: closed; at 07:00 the
    # month's summary to the leader, and the units behind
    assert "due_reminders" in await _run_until(world, _vn(30, 17))
    assert [len(await _texts(p, REMINDER)) for p in (ctv1, ctv2, ctv3, ctv4, lan)] == [0, 3, 3, 0, 3]
    assert "close_topics" in await _run_until(world, _vn(1, 0, month=1, year=2027))
    async with world.sessions() as session:
        topic = (await session.exec(select(Topic).where(Topic.kind == "monthly"))).one()
    assert topic.status == TopicStatus.CLOSED
    assert await _texts(leader, "📕") == []  # not at midnight
    assert "close_topics" in await _run_until(world, _vn(1, 7, month=1, year=2027))
    [closed] = await _texts(leader, "📕 Chủ đề số 1")
    assert "Số báo cáo đầy đủ nhận được: 2" in closed
    [behind] = await _texts(leader, "⚠️ Chủ đề số 1")
    assert "tỉ lệ cộng tác viên của Tỉnh An Phú đã gửi báo cáo là 40%" in behind
    assert "Huyện Bình Minh (25%)" in behind

    # 04/01/2027 08:00: the briefing reminder in the group
    assert "briefing_reminders" in await _run_until(world, _vn(4, 8, month=1, year=2027))
    reminders = [
        str(m.get("text", ""))
        for m in await world.client.chat_messages(group)
        if str(m.get("text", "")).startswith("📅")
    ]
    assert len(reminders) == 1 and "05/01/2027" in reminders[0] and PLACE in reminders[0]

    # Nothing went twice: each collaborator's pushes, counted once more after another restart
    await world.app.stop()
    await world.app.start()
    await world.delivered()
    assert [len(await _texts(p, REMINDER)) for p in (ctv1, ctv2, ctv3, ctv4, lan)] == [0, 3, 3, 0, 3]
    assert len(await _texts(staff, "📋 Điểm danh")) == 1
    assert len(await _texts(leader, "📕 Chủ đề số 1")) == 1


@pytest.mark.parametrize(
    ("setting", "value", "reason"),
    [
        ("schedule_reminders", "32 09:00", "is not a schedule"),
        ("schedule_reminders", "20 25:00", "is not a schedule"),
        ("schedule_housekeeping", "fifth monday 08:00", "is not a schedule"),
        ("schedule_briefing", "ngày 5", "is not a schedule"),
    ],
)
def test_invalid_schedule_settings_are_refused_with_a_reason(setting: str, value: str, reason: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(**{setting: value})  # type: ignore[arg-type]
    assert reason in str(refused.value) and value in str(refused.value)


async def test_a_leader_or_collaborator_cannot_change_a_schedule(
    world: World, org: dict[str, Persona]
) -> None:
    await org["leader"].send("/help")
    for persona in (org["leader"], org["ctv1"]):
        refused = await persona.send("/schedule pause reminders")
        assert "chỉ dành cho quản trị viên" in refused.text
    runner = world.app.job_runner
    assert runner is not None
    assert not next(state for state in await runner.states() if state.info.name == "reminders").paused

"""Issue 20, a monthly topic's own cycle: scheduled publishing (and changing or cancelling it),
the warning of a month without a topic, the roll-call before the due time with its "remind
now", the leader told of the units behind at the due time, and reopening a closed topic.
Driven through the sandbox with the injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from storage.models import Role, Topic, TopicStatus
from tests.e2e.flows import GUIDANCE, fill_monthly, publish_topic
from tests.e2e.harness import Persona, World, ZaloPersona

GROUP = "CTV Huyện Bình Minh"


def _vn(day: int, hour: int, minute: int = 0, *, month: int = 11) -> datetime:
    """A local time in Vietnam (UTC+7), as UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=7)


async def _texts(persona: Persona | ZaloPersona) -> list[str]:
    """What the bot has written to the person in private, oldest first."""
    if isinstance(persona, ZaloPersona):
        return [str(m.get("text", "")) for m in await persona.bot_messages()]
    return [str(m.get("text", "")) for m in await persona.world.client.chat_messages(persona.user_id)]


async def _starting(persona: Persona | ZaloPersona, prefix: str) -> list[str]:
    return [text for text in await _texts(persona) if text.startswith(prefix)]


async def _topic(world: World) -> Topic:
    async with world.sessions() as session:
        return (await session.exec(select(Topic))).one()


async def _report(world: World, collaborator: Persona) -> None:
    await collaborator.press("📝 Gửi báo cáo", chat_id=world.groups[GROUP])
    await fill_monthly(collaborator, content="Người dân đồng tình với chủ trương sáp nhập xã.")
    await collaborator.press("✅ Gửi báo cáo")


async def _runner_tick(world: World) -> list[str]:
    runner = world.app.job_runner
    assert runner is not None
    done = await runner.tick()
    await world.delivered()
    return done


async def test_a_topic_scheduled_on_the_28th_is_published_on_the_1st_at_8_and_only_then(
    world: World, org: dict[str, Persona]
) -> None:
    staff, ctv = org["staff"], org["ctv1"]
    world.clock.current = _vn(28, 15)
    await staff.send("/topic")
    await staff.send("Chủ đề tháng Mười hai")
    await staff.send(GUIDANCE)
    await staff.press("Báo cáo tình hình dư luận xã hội định kỳ")
    await staff.press("12/2026 (tháng sau)")
    await staff.press("Tất cả đơn vị trong phạm vi phụ trách")
    reply = await staff.send("20/12/2026")
    assert "Khi nào đăng chủ đề?" in reply.text
    # the default, one tap away: the 1st of next month at 08:00
    preview = await staff.press("🗓 Lên lịch lúc 08:00 01/12/2026")
    assert "Thời điểm đăng: 🗓 Lên lịch lúc 08:00 01/12/2026" in preview.text, preview.text
    scheduled = await staff.press("🗓 Lên lịch")
    assert "🗓 Chủ đề số 1 “Chủ đề tháng Mười hai” sẽ được đăng lúc 08:00 01/12/2026." in scheduled.text
    await world.delivered()
    topic = await _topic(world)
    assert (topic.status, topic.scheduled_for, topic.published_at, topic.period) == (
        TopicStatus.SCHEDULED,
        _vn(1, 8, month=12),
        None,
        "2026-12",
    )
    group_posts = lambda messages: [m for m in messages if str(m.get("text", "")).startswith("📢")]  # noqa: E731
    assert group_posts(await world.client.chat_messages(world.groups[GROUP])) == []
    # nobody can report on it yet
    early = await ctv.send("/start r1")
    assert "Chủ đề tháng Mười hai" not in early.text
    listed = await staff.send("/topics")
    assert "Đã lên lịch" in listed.text
    assert "Số 1 “Chủ đề tháng Mười hai”: đăng lúc 08:00 01/12/2026, hạn 20/12/2026" in listed.text

    world.clock.current = _vn(1, 7, 59, month=12)
    assert "publish_scheduled" not in await _runner_tick(world)
    world.clock.current = _vn(1, 8, month=12)
    assert "publish_scheduled" in await _runner_tick(world)
    [post] = group_posts(await world.client.chat_messages(world.groups[GROUP]))
    assert "Chủ đề định hướng tháng 12/2026" in post["text"] and "Chủ đề tháng Mười hai" in post["text"]
    [direct] = await _starting(ctv, "📢 Chủ đề định hướng tháng 12/2026")
    assert "Hạn gửi báo cáo: 20/12/2026" in direct
    [told] = await _starting(staff, "🗓 Chủ đề số 1 “Chủ đề tháng Mười hai”, lên lịch lúc 08:00 01/12/2026")
    assert "đã được đăng" in told
    topic = await _topic(world)
    assert (topic.status, topic.published_at) == (TopicStatus.PUBLISHED, _vn(1, 8, month=12))
    # a restart, or a second process: published once
    world.clock.current = _vn(1, 8, 5, month=12)
    assert "publish_scheduled" not in await _runner_tick(world)
    assert len(group_posts(await world.client.chat_messages(world.groups[GROUP]))) == 1
    await _report(world, ctv)
    assert len(await world.reports()) == 1


async def test_a_scheduled_topic_is_moved_and_cancelled_and_impossible_times_are_refused(
    world: World, org: dict[str, Persona]
) -> None:
    staff = org["staff"]
    # published after its due date: refused at the preview, nothing stored
    await staff.send("/topic")
    await staff.send("Chủ đề lên lịch sai")
    await staff.send(GUIDANCE)
    await staff.press("Báo cáo tình hình dư luận xã hội định kỳ")
    await staff.press("11/2026 (tháng này)")
    await staff.press("Tất cả đơn vị trong phạm vi phụ trách")
    await staff.send("15/11/2026")
    await staff.press("🗓 Lên lịch vào thời gian khác")
    bad = await staff.send("sáng mai")
    assert bad.text.startswith("⚠️"), bad.text
    await staff.send("08:00 20/11")
    refused = await staff.press("🗓 Lên lịch")
    assert any("sau hạn báo cáo" in alert for alert in refused.alerts), refused.alerts
    async with world.sessions() as session:
        assert (await session.exec(select(Topic))).all() == []
    await staff.send("/cancel")

    await publish_topic(staff, due="30/11/2026", at="08:00 20/11")
    topic = await _topic(world)
    assert (topic.status, topic.scheduled_for) == (TopicStatus.SCHEDULED, _vn(20, 8))
    await staff.send("/topics")
    asked = await staff.press("🕘 Đổi giờ số 1")
    assert "Thời gian đăng mới" in asked.text
    await staff.send("08:00 05/12")  # after its due date
    refused = await staff.press("🗓 Lưu")
    assert any("sau hạn báo cáo" in alert for alert in refused.alerts), refused.alerts
    assert (await _topic(world)).scheduled_for == _vn(20, 8)
    await staff.send("/topics")
    await staff.press("🕘 Đổi giờ số 1")
    await staff.send("14h 15/11")
    moved = await staff.press("🗓 Lưu")
    assert (
        "🗓 Chủ đề số 1 “Sáp nhập đơn vị hành chính cấp xã” sẽ được đăng lúc 14:00 15/11/2026." in moved.text
    )
    assert (await _topic(world)).scheduled_for == _vn(15, 14)

    older = await staff.send("/topics")
    await staff.send("/topics")
    cancelled = await staff.press("✖ Hủy số 1")
    assert "✖ Đã hủy chủ đề số 1" in cancelled.text
    assert (await _topic(world)).status == TopicStatus.CANCELLED
    again = await staff.press("✖ Hủy số 1", message_id=older.last["message_id"])  # an older list
    assert any("vừa thay đổi" in alert for alert in again.alerts), again.alerts
    world.clock.current = _vn(15, 14, 1)
    assert "publish_scheduled" not in await _runner_tick(world)
    assert await _starting(org["ctv1"], "📢") == []
    # a collaborator has no /topics
    refused_list = await org["ctv1"].send("/topics")
    assert "Chủ đề" not in refused_list.text and refused_list.text


async def test_staff_of_a_unit_without_a_topic_for_next_month_are_told_three_days_before(
    world: World, org: dict[str, Persona]
) -> None:
    staff, district = org["staff"], org["district_staff"]
    for persona in (staff, district, org["leader"]):
        await persona.send("/help")
    world.clock.current = _vn(27, 10)
    # Huyện Hòa Thuận has its December topic (scheduled); the province has none of its own
    await district.send("/topic")
    await district.send("Chủ đề tháng Mười hai của huyện")
    await district.send(GUIDANCE)
    await district.press("Báo cáo tình hình dư luận xã hội định kỳ")
    await district.press("12/2026 (tháng sau)")
    await district.send("20/12/2026")
    await district.press("🗓 Lên lịch lúc 08:00 01/12/2026")
    scheduled = await district.press("🗓 Lên lịch")
    assert "sẽ được đăng lúc 08:00 01/12/2026" in scheduled.text
    world.clock.current = _vn(27, 8)
    assert "topic_warning" not in await _runner_tick(world)  # four days before: not yet
    world.clock.current = _vn(28, 8)
    assert "topic_warning" in await _runner_tick(world)
    [warning] = await _starting(staff, "🗓 Tỉnh An Phú chưa có chủ đề tháng 12/2026")
    assert "Tháng mới bắt đầu từ ngày 01/12/2026" in warning
    assert await _starting(district, "🗓 Huyện Hòa Thuận chưa có") == []
    assert await _starting(org["leader"], "🗓") == [] and await _starting(org["ctv1"], "🗓") == []
    world.clock.current = _vn(29, 8)
    assert "topic_warning" not in await _runner_tick(world)  # told once
    assert len(await _starting(staff, "🗓 Tỉnh An Phú chưa có")) == 1
    wizard = await staff.press("📝 Soạn chủ đề")
    assert "Câu 1/" in wizard.text


async def test_two_days_before_the_due_time_staff_get_the_roll_call_and_remind_the_silent_now(
    world: World, org: dict[str, Persona]
) -> None:
    district = org["district_staff"]
    for persona in (district, org["leader"]):
        await persona.send("/help")
    zalo_staff = await world.member("zalo", "Cán bộ Bình Minh", unit="HUYEN_A", role=Role.STAFF)
    await publish_topic(org["staff"], due="25/11/2026")
    await _report(world, org["ctv1"])
    # two days before 23:59 on the 25th is at night: the roll-call goes at 17:00 that day
    world.clock.current = _vn(23, 16, 59)
    assert "roll_calls" not in await _runner_tick(world)
    world.clock.current = _vn(23, 17)
    assert "roll_calls" in await _runner_tick(world)

    [province] = await _starting(org["staff"], "📋 Điểm danh: chủ đề số 1")
    assert "Tỉnh An Phú: 1/4 cộng tác viên đã gửi báo cáo." in province
    assert "• Huyện Hòa Thuận: 0/1 (0%)" in province and "• Huyện Bình Minh: 1/3 (33%)" in province
    assert "Cộng tác viên 2" not in province  # the district's staff have the names
    [own] = await _starting(district, "📋 Điểm danh")
    assert "Huyện Hòa Thuận: 0/1" in own and "⏳ Chưa gửi: Cộng tác viên 4" in own
    [on_zalo] = await _starting(zalo_staff, "📋 Điểm danh")
    assert (
        "✅ Đã gửi: Cộng tác viên 1" in on_zalo and "⏳ Chưa gửi: Cộng tác viên 2, Cộng tác viên 3" in on_zalo
    )
    assert "Để nhắc ngay những người chưa gửi, đồng chí trả lời “nhắc 1”." in on_zalo
    assert await _starting(org["leader"], "📋") == []

    reminded = await zalo_staff.send("nhắc 1")
    assert "🔔 Đã nhắc 2 cộng tác viên chưa gửi báo cáo." in reminded.text
    await world.delivered()
    assert [len(await _starting(org[name], "⏰")) for name in ("ctv1", "ctv2", "ctv3", "ctv4")] == [
        0,
        1,
        1,
        0,
    ]
    pressed = await district.press("🔔 Nhắc ngay 1 người chưa gửi")
    assert any("Đã nhắc 1 cộng tác viên" in alert for alert in pressed.alerts), pressed.alerts
    await world.delivered()
    assert len(await _starting(org["ctv4"], "⏰")) == 1
    again = await district.press("🔔 Nhắc ngay 1 người chưa gửi")
    assert any("Không còn ai cần nhắc" in alert for alert in again.alerts), again.alerts
    world.clock.current = _vn(24, 9)
    assert "roll_calls" not in await _runner_tick(world)  # once per topic
    assert len(await _starting(district, "📋")) == 1


async def test_at_the_due_time_the_leader_hears_which_units_are_behind(
    world: World, org: dict[str, Persona]
) -> None:
    await org["leader"].send("/help")
    await publish_topic(org["staff"], due="25/11/2026")
    await _report(world, org["ctv1"])
    world.clock.current = _vn(26, 0, 1)
    assert "close_topics" in await _runner_tick(world)  # closed; the leader is told in the morning
    assert await _starting(org["leader"], "⚠️") == []
    world.clock.current = _vn(26, 7)
    assert "close_topics" in await _runner_tick(world)
    [behind] = await _starting(org["leader"], "⚠️ Chủ đề số 1")
    assert "tỉ lệ cộng tác viên của Tỉnh An Phú đã gửi báo cáo là 25%, dưới mức 60%" in behind
    assert "Các đơn vị chậm: Huyện Hòa Thuận (0%), Huyện Bình Minh (33%)." in behind
    assert await _starting(org["staff"], "⚠️") == []  # staff have the roll-call and the summary


async def test_staff_reopen_a_closed_topic_with_a_new_due_date(world: World, org: dict[str, Persona]) -> None:
    staff = org["staff"]
    await publish_topic(staff, due="25/11/2026")
    world.clock.current = _vn(26, 9)
    assert "close_topics" in await _runner_tick(world)
    assert (await _topic(world)).status == TopicStatus.CLOSED
    listed = await staff.send("/topics")
    assert "Số 1 “Sáp nhập đơn vị hành chính cấp xã”: đã kết thúc ngày 25/11/2026" in listed.text
    await staff.press("🔓 Mở lại số 1")
    past = await staff.send("20/11/2026")
    assert "Ngày không được ở quá khứ" in past.text
    assert (await _topic(world)).status == TopicStatus.CLOSED
    review = await staff.send("05/12/2026")
    assert "Cộng tác viên chưa gửi báo cáo sẽ được nhắc." in review.text
    reopened = await staff.press("🔓 Mở lại")
    assert (
        "🔓 Chủ đề số 1 “Sáp nhập đơn vị hành chính cấp xã” được mở lại đến hết ngày 05/12/2026."
        in reopened.text
    )
    assert "Đã nhắc 4 cộng tác viên chưa gửi báo cáo." in reopened.text
    await world.delivered()
    topic = await _topic(world)
    assert (topic.status, topic.due_at) == (
        TopicStatus.PUBLISHED,
        _vn(5, 23, 59, month=12) + timedelta(seconds=59),
    )
    [reminder] = await _starting(org["ctv3"], "⏰")
    assert "23:59 05/12/2026" in reminder
    await _report(world, org["ctv3"])
    assert [report.status for report in await world.reports()] == ["new"]  # on time again
    world.clock.current = _vn(6, 0, 1, month=12)
    assert "close_topics" in await _runner_tick(world)  # and it closes again at its new time
    assert (await _topic(world)).status == TopicStatus.CLOSED


async def test_a_topic_whose_job_fails_is_retried_and_does_not_hold_up_the_others(
    world: World, org: dict[str, Persona], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault test: the roll-call of topic 1 fails (a bug, a row it cannot read); topic 2's goes
    at its time all the same, and topic 1's at the next tick after the fault is gone."""
    from schedules import jobs

    await org["staff"].send("/help")
    await publish_topic(org["staff"], title="Chủ đề thứ nhất", due="25/11/2026")
    await publish_topic(org["staff"], title="Chủ đề thứ hai", due="25/11/2026")
    real = jobs.send_roll_calls

    async def failing_for_the_first(session, plan, topic, *, now):  # type: ignore[no-untyped-def]
        if topic.number == 1:
            raise RuntimeError("cannot read this topic")
        return await real(session, plan, topic, now=now)

    monkeypatch.setattr(jobs, "send_roll_calls", failing_for_the_first)
    world.clock.current = _vn(23, 17)
    assert "roll_calls" in await _runner_tick(world)
    calls = await _starting(org["staff"], "📋 Điểm danh")
    assert [("số 2" in text, "số 1" in text) for text in calls] == [(True, False)]
    monkeypatch.setattr(jobs, "send_roll_calls", real)
    world.clock.current = _vn(23, 17, 1)
    assert "roll_calls" in await _runner_tick(world)
    assert len(await _starting(org["staff"], "📋 Điểm danh: chủ đề số 1")) == 1
    assert len(await _starting(org["staff"], "📋 Điểm danh: chủ đề số 2")) == 1


async def test_on_zalo_staff_schedule_list_and_cancel_a_topic_by_numbers(
    world: World, org: dict[str, Persona]
) -> None:
    staff = await world.member("zalo", "Cán bộ Zalo", unit="TINH", role=Role.STAFF)
    assert isinstance(staff, ZaloPersona)
    await staff.send("/topic")
    await staff.send("Chủ đề lên lịch trên Zalo")
    await staff.send(GUIDANCE)
    await staff.press("Báo cáo tình hình dư luận xã hội định kỳ")
    await staff.press("11/2026 (tháng này)")
    await staff.press("Tất cả đơn vị trong phạm vi phụ trách")
    asked = await staff.send("30/11/2026")
    assert "2. 🗓 Lên lịch lúc 08:00 01/12/2026" in asked.text  # beyond the due date: refused below
    await staff.press("🗓 Lên lịch vào thời gian khác")
    await staff.send("08:00 20/11")
    scheduled = await staff.send("gửi")
    assert "sẽ được đăng lúc 08:00 20/11/2026" in scheduled.text
    listed = await staff.send("/topics")
    assert "Số 1 “Chủ đề lên lịch trên Zalo”: đăng lúc 08:00 20/11/2026, hạn 30/11/2026" in listed.text
    assert "2. ✖ Hủy số 1" in listed.text
    cancelled = await staff.send("2")
    assert "✖ Đã hủy chủ đề số 1" in cancelled.text
    assert (await _topic(world)).status == TopicStatus.CANCELLED

"""Issue 20, item 5: an urgent matter after it is sent. The silent get it once more at
half-time, the staff get its status at the deadline, and a unit still below the threshold is
named to the staff of the unit above; each once, after a restart too, and nothing at all
after long downtime. The clock is injected: the world starts at 10:00 on 10/11/2026 in Hà Nội."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select

from bot.scheduling import JobRunner
from schedules.jobs import RUNS
from storage.models import Acknowledgement, Broadcast, JobRun, Person, Role, Topic
from tests.e2e.flows import send_urgent
from tests.e2e.harness import Persona, World, ZaloPersona, button_texts

BOTH = ("Huyện Bình Minh", "Huyện Hòa Thuận")
URGENT_JOBS = ("urgent_repush", "urgent_deadline", "urgent_escalation")


def _vn(hour: int, minute: int = 0, day: int = 10) -> datetime:
    """A local time in Vietnam (UTC+7) in November 2026, as UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC) - timedelta(hours=7)


async def _messages(persona: Persona | ZaloPersona) -> list[dict[str, Any]]:
    if isinstance(persona, ZaloPersona):
        return await persona.bot_messages()
    return list(await persona.world.client.chat_messages(persona.user_id))


async def _starting(persona: Persona | ZaloPersona, prefix: str) -> list[dict[str, Any]]:
    return [m for m in await _messages(persona) if str(m.get("text", "")).startswith(prefix)]


async def _texts(persona: Persona | ZaloPersona, prefix: str) -> list[str]:
    return [str(m["text"]) for m in await _starting(persona, prefix)]


async def _claims(world: World) -> list[tuple[str, str]]:
    async with world.sessions() as session:
        rows = (await session.exec(select(JobRun).where(JobRun.job.in_(URGENT_JOBS)))).all()  # type: ignore[attr-defined]
    return sorted((row.job, row.subject) for row in rows)


async def _send(world: World, staff: Persona, *, choose: tuple[str, ...] | None, deadline: str) -> Topic:
    await send_urgent(staff, deadline=deadline, choose=choose)
    sent = await staff.press("🚨 Gửi")
    assert "Đang gửi vấn đề đột xuất số K1" in sent.text
    await world.delivered()
    async with world.sessions() as session:
        return (await session.exec(select(Topic))).one()


async def _tick(world: World) -> list[str]:
    runner = world.app.job_runner
    assert runner is not None
    done = await runner.tick()
    await world.delivered()
    return [name for name in done if name in URGENT_JOBS]


async def test_the_silent_are_re_pushed_at_half_time_and_the_deadline_brings_status_and_escalation(
    world: World, org: dict[str, Persona]
) -> None:
    staff, district_staff, leader = org["staff"], org["district_staff"], org["leader"]
    ctv1, ctv2, ctv3, ctv4 = (org[f"ctv{n}"] for n in range(1, 5))
    await leader.send("/help")  # reachable, to show that leaders of a unit above are not told
    await district_staff.send("/help")
    zalo = await world.member("zalo", "Lan", unit="HUYEN_A", full_name="Zalo Lan")
    zalo_staff = await world.member("zalo", "Cán bộ Zalo", unit="HUYEN_A", role=Role.STAFF)
    async with world.sessions() as session:  # the district staff of Hòa Thuận reads English
        person = (await session.exec(select(Person).where(Person.chat_id == district_staff.user_id))).one()
        person.locale = "en"
        session.add(person)
        await session.commit()
    topic = await _send(world, staff, choose=BOTH, deadline="18:00 10/11")  # sent at 10:00
    assert await _tick(world) == []
    # Bình Minh: 4 collaborators (3 on Telegram, 1 on Zalo); Hòa Thuận: 1.
    await ctv1.press("✅ Đã nhận")  # confirms before half-time

    world.clock.current = _vn(13, 59)
    assert await _tick(world) == []
    world.clock.current = _vn(14)  # half-way from 10:00 to 18:00
    assert await _tick(world) == ["urgent_repush"]
    assert await _starting(ctv1, "🔔") == []  # confirmed: not pushed again
    for persona in (ctv2, ctv3, ctv4):
        [again] = await _starting(persona, "🔔")
        assert again["text"].startswith(
            "🔔 Nhắc lại: đồng chí chưa xác nhận vấn đề đột xuất này; còn 4 giờ đến hạn phản ánh."
        )
        assert "🚨 VẤN ĐỀ ĐỘT XUẤT (số K1)" in again["text"]
        assert "⏰ Hạn phản ánh: 18:00 10/11/2026." in again["text"]
        assert button_texts(again) == ["✅ Đã nhận", "📝 Báo cáo"]
    [on_zalo] = await _texts(zalo, "🔔")
    assert "🚨 VẤN ĐỀ ĐỘT XUẤT (số K1)" in on_zalo and "“đã nhận”" in on_zalo  # what to type
    for persona in (staff, leader, district_staff):  # staff and leaders are not collaborators
        assert await _starting(persona, "🔔") == []
    assert await _tick(world) == []  # once per matter
    world.clock.current = _vn(15)
    assert await _tick(world) == []
    assert [len(await _starting(p, "🔔")) for p in (ctv2, ctv3, ctv4, zalo)] == [1, 1, 1, 1]

    # The re-push's ✅ and the typed word on Zalo confirm the matter, as the original's do.
    pressed = await ctv2.press("✅ Đã nhận")
    assert pressed.alerts == ["✅ Cảm ơn đồng chí, đã ghi nhận đồng chí nhận được thông tin."]
    typed = await zalo.send("đã nhận")
    assert "đã ghi nhận đồng chí nhận được thông tin" in typed.text
    async with world.sessions() as session:
        acks = (await session.exec(select(Acknowledgement))).all()
        repushes = (await session.exec(select(Broadcast).where(Broadcast.title.startswith("🔁")))).all()  # type: ignore[attr-defined]
    assert len(acks) == 3 and {ack.topic_id for ack in acks} == {topic.id}
    assert [(b.kind, b.topic_id, b.total) for b in repushes] == [("urgent", topic.id, 4)]

    # Bình Minh is at 3 of 4 (75%), Hòa Thuận at 0 of 1: below 60%.
    world.clock.current = _vn(17, 59)
    assert await _tick(world) == []
    world.clock.current = _vn(18)
    assert await _tick(world) == ["urgent_deadline", "urgent_escalation"]
    # The sender (province staff): the whole status, and the escalation for the province.
    [status] = await _texts(staff, "⏰ Đã đến hạn phản ánh vấn đề đột xuất số K1. Tình hình tiếp nhận:")
    assert "Huyện Bình Minh: 4 cộng tác viên · ✅ đã nhận 3 · 📝 đã báo cáo 0 · 🔕 chưa phản hồi 1" in status
    assert "Huyện Hòa Thuận: 1 cộng tác viên · ✅ đã nhận 0 · 📝 đã báo cáo 0 · 🔕 chưa phản hồi 1" in status
    assert "Cộng tác viên 3 — Huyện Bình Minh" in status and "Cộng tác viên 4 — Huyện Hòa Thuận" in status
    [escalation] = await _texts(staff, "⚠️")
    assert escalation.startswith("⚠️ Vấn đề đột xuất số K1 “")
    assert (
        "đến hạn lúc 18:00 10/11/2026, các đơn vị sau chưa đạt 60% (tỉ lệ cộng tác viên đã xác nhận"
        in escalation
    )
    assert "• Huyện Hòa Thuận: 0% (0/1)" in escalation
    assert "Huyện Bình Minh" not in escalation  # above the threshold
    assert "/urgent_status K1 cho biết những ai chưa phản hồi." in escalation
    # The staff of each target unit: their own unit's status, in their language and channel.
    [english] = await _texts(district_staff, "⏰")
    assert english.startswith("⏰ The deadline of urgent matter No. K1 has come. Where it stands:")
    assert "Huyện Hòa Thuận: 1 collaborator · ✅ received 0" in english
    assert "Huyện Bình Minh" not in english
    [on_zalo_staff] = await _texts(zalo_staff, "⏰ Đã đến hạn")
    assert "Huyện Bình Minh: 4 cộng tác viên" in on_zalo_staff and "Hòa Thuận" not in on_zalo_staff
    # Nobody else hears of it: the district staff's unit has no unit behind under it, and
    # the province's leader is not its staff.
    for persona in (district_staff, zalo_staff, leader):
        assert await _starting(persona, "⚠️") == []
    assert await _starting(leader, "⏰") == []
    for persona in (ctv1, ctv2, ctv3, ctv4):
        assert await _starting(persona, "⏰ Đã đến hạn") == [] and await _starting(persona, "⚠️") == []

    # Nothing twice: another tick, a restart, a second runner.
    assert await _tick(world) == []
    await world.app.stop()
    await world.app.start()
    await world.delivered()
    runner = world.app.job_runner
    assert runner is not None
    other = JobRunner(context=runner.context, session_factory=world.app.session_factory, runs=RUNS)  # type: ignore[arg-type]
    world.clock.current = _vn(19)
    assert [name for name in await other.tick() if name in URGENT_JOBS] == []
    await world.delivered()
    assert len(await _starting(staff, "⏰ Đã đến hạn")) == 1 and len(await _starting(staff, "⚠️")) == 1
    assert len(await _starting(district_staff, "⏰")) == 1
    assert [len(await _starting(p, "🔔")) for p in (ctv2, ctv3, ctv4, zalo)] == [1, 1, 1, 1]
    subject = str(topic.id)
    assert await _claims(world) == [
        ("urgent_deadline", subject),
        ("urgent_escalation", subject),
        ("urgent_repush", subject),
    ]


async def test_a_top_unit_behind_is_named_to_its_own_leader(world: World, org: dict[str, Persona]) -> None:
    """The province has no unit above it: its leader hears that it is behind (its staff
    already have the status; leaders have no /urgent_status, so it is not offered)."""
    staff, leader = org["staff"], org["leader"]
    await leader.send("/help")
    await _send(world, staff, choose=None, deadline="12:00 10/11")  # all: the province
    await org["ctv1"].press("✅ Đã nhận")  # 1 of 4: 25%
    world.clock.current = _vn(12)  # the first tick since sending is at the deadline: no re-push
    assert await _tick(world) == ["urgent_deadline", "urgent_escalation"]
    [told] = await _texts(leader, "⚠️")
    assert "• Tỉnh An Phú: 25% (1/4)" in told and "/urgent_status" not in told
    assert await _starting(staff, "⚠️") == []  # nobody above the province
    [status] = await _texts(staff, "⏰ Đã đến hạn")
    assert "Huyện Bình Minh: 3 cộng tác viên · ✅ đã nhận 1" in status
    assert await _starting(leader, "⏰ Đã đến hạn") == []


async def test_nothing_is_sent_for_a_matter_whose_deadline_passed_days_ago(
    world: World, org: dict[str, Persona]
) -> None:
    """The bot was down from before half-time until two days after the deadline: no re-push
    (the matter is no longer open), no status, no escalation; the deadline is marked done."""
    staff = org["staff"]
    await org["leader"].send("/help")
    await org["district_staff"].send("/help")
    topic = await _send(world, staff, choose=BOTH, deadline="18:00 10/11")
    await world.app.stop()
    world.clock.current = _vn(9, day=12)
    await world.app.start()  # the tick at start
    await world.delivered()
    assert await _tick(world) == []
    for name in ("ctv1", "ctv2", "ctv3", "ctv4"):
        assert await _starting(org[name], "🔔") == []
    for name in ("staff", "district_staff", "leader"):
        assert await _starting(org[name], "⏰") == [] and await _starting(org[name], "⚠️") == []
    subject = str(topic.id)
    assert await _claims(world) == [("urgent_deadline", subject), ("urgent_escalation", subject)]


async def test_after_downtime_over_half_time_the_re_push_goes_once_at_start(
    world: World, org: dict[str, Persona]
) -> None:
    await _send(world, org["staff"], choose=BOTH, deadline="18:00 10/11")
    await world.app.stop()
    world.clock.current = _vn(17, 30)  # down from 10:00 to 17:30: half an hour is left
    await world.app.start()
    await world.delivered()
    [again] = await _texts(org["ctv4"], "🔔")
    assert "còn 30 phút đến hạn phản ánh" in again
    await world.app.stop()
    await world.app.start()  # a second restart sends nothing
    await world.delivered()
    assert len(await _starting(org["ctv4"], "🔔")) == 1
    assert await _starting(org["staff"], "⏰ Đã đến hạn") == []  # not yet the deadline

"""Issue 20, item 7: staff set the monthly briefing (giao ban) with /briefing, on Telegram and
on Zalo, and BRIEFING_REMINDER_HOURS_BEFORE before it each bound group of the unit's subtree
gets one reminder; groups elsewhere get nothing. The clock is injected: the world starts at
10:00 on Tuesday 10/11/2026 in Vietnam, and the usual briefing is the 5th at 08:00."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from bot.sandbox.client import SandboxClient
from storage import people
from storage.models import Audit, Briefing, Draft, JobRun, Role
from tests.e2e.harness import Persona, Reply, World, ZaloPersona

PLACE = "Hội trường UBND huyện Bình Minh"
SAVED = "Đã đặt lịch giao ban của Huyện Bình Minh"


def _vn(day: int, hour: int, minute: int = 0, month: int = 11, year: int = 2026) -> datetime:
    """A local time in Vietnam (UTC+7), as UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=7)


async def _group_reminders(client: SandboxClient, chat_id: int) -> list[str]:
    return [
        str(m.get("text", ""))
        for m in await client.chat_messages(chat_id)
        if str(m.get("text", "")).startswith("📅")
    ]


async def _zalo_group_reminders(world: World, group: str) -> list[str]:
    return [
        str(m.get("text", ""))
        for m in await world.client.zalo_messages(group)
        if m["from"] == "bot" and str(m.get("text", "")).startswith("📅")
    ]


async def _briefings(world: World) -> list[Briefing]:
    async with world.sessions() as session:
        return list((await session.exec(select(Briefing).order_by(Briefing.id))).all())


async def _audit(world: World) -> list[str]:
    async with world.sessions() as session:
        rows = (await session.exec(select(Audit).where(Audit.action.startswith("briefing.")))).all()  # type: ignore[attr-defined]
        return [row.action for row in rows]


async def _tick(world: World) -> list[str]:
    runner = world.app.job_runner
    assert runner is not None
    done = await runner.tick()
    await world.delivered()
    return done


async def _set_usual(staff: Persona, *, unit: str | None = "Huyện Bình Minh", place: str = PLACE) -> Reply:
    """/briefing for the usual day and time (05/12/2026 08:00), up to the review."""
    await staff.send("/briefing")
    if unit is not None:
        await staff.press(unit)
    await staff.press("Thứ Bảy, 05/12/2026 (ngày thường lệ)")
    await staff.press("08:00 (giờ thường lệ)")
    return await staff.send(place)


async def _other_groups(world: World) -> tuple[int, str]:
    """A Telegram group of Huyện Hòa Thuận (outside Huyện Bình Minh) and a Zalo group of a
    commune under Huyện Bình Minh (inside it)."""
    async with world.sessions() as session:
        commune = await people.create_unit(
            session=session, code="XA_A1", name="Xã An Bình", parent=world.units["HUYEN_A"]
        )
        await session.commit()
    world.units["XA_A1"] = commune
    outsider = await world.person_named("Người Hòa Thuận")
    other = await world.group("CTV Huyện Hòa Thuận", [outsider], unit="HUYEN_B")
    zalo_member = await world.zalo_person("Thành viên Zalo")
    zalo_group = await world.zalo_group("CTV Xã An Bình", [zalo_member], unit="XA_A1")
    return other, zalo_group


async def test_staff_set_the_briefing_and_the_subtree_s_groups_are_reminded_once(
    world: World, org: dict[str, Persona]
) -> None:
    staff = org["staff"]
    other_group, zalo_group = await _other_groups(world)
    own_group = world.groups["CTV Huyện Bình Minh"]
    opened = await staff.send("/briefing")
    assert (
        "Chưa có lịch giao ban nào. Buổi giao ban thường lệ là Thứ Bảy, ngày 05/12/2026, lúc 08:00"
        in opened.text
    )
    assert {"Tỉnh An Phú", "Huyện Bình Minh", "Huyện Hòa Thuận", "Xã An Bình"} <= set(opened.buttons())
    await staff.press("Huyện Bình Minh")
    await staff.press("Thứ Bảy, 05/12/2026 (ngày thường lệ)")
    await staff.press("08:00 (giờ thường lệ)")
    review = await staff.send(PLACE)
    assert "Kiểm tra lịch giao ban" in review.text
    assert f"Huyện Bình Minh: Thứ Bảy, ngày 05/12/2026, lúc 08:00, tại {PLACE}" in review.text
    assert "sẽ được nhắc trước 24 giờ" in review.text
    saved = await staff.press("💾 Lưu")
    assert f"{SAVED}: Thứ Bảy, ngày 05/12/2026, lúc 08:00, tại {PLACE}." in saved.text
    assert "2 nhóm đã đăng ký sẽ được nhắc vào Thứ Sáu, ngày 04/12/2026, lúc 08:00." in saved.text
    [briefing] = await _briefings(world)
    assert (briefing.unit_id, briefing.held_at, briefing.place) == (
        world.units["HUYEN_A"].id,
        _vn(5, 8, month=12),
        PLACE,
    )
    assert await _audit(world) == ["briefing.set"]

    world.clock.current = _vn(4, 7, 59, month=12)  # a minute before the reminder's time
    assert "briefing_reminders" not in await _tick(world)
    assert await _group_reminders(world.client, own_group) == []
    world.clock.current = _vn(4, 8, 1, month=12)
    assert "briefing_reminders" in await _tick(world)
    [reminder] = await _group_reminders(world.client, own_group)
    assert reminder.startswith("📅 Lịch giao ban hằng tháng của Huyện Bình Minh")
    assert "Thời gian: Thứ Bảy, ngày 05/12/2026, lúc 08:00" in reminder
    assert f"Địa điểm: {PLACE}" in reminder
    assert "thường lệ" not in reminder  # set by staff, not the usual one
    [on_zalo] = await _zalo_group_reminders(world, zalo_group)  # a commune under the district
    assert "05/12/2026" in on_zalo and PLACE in on_zalo
    assert await _group_reminders(world.client, other_group) == []  # outside the unit
    assert await _group_reminders(world.client, org["ctv1"].user_id) == []  # groups only

    world.clock.advance(timedelta(hours=3))
    assert "briefing_reminders" not in await _tick(world)  # once per briefing
    assert len(await _group_reminders(world.client, own_group)) == 1
    await world.app.stop()
    await world.app.start()  # a restart inside the window sends nothing again
    await world.delivered()
    assert len(await _group_reminders(world.client, own_group)) == 1
    assert len(await _zalo_group_reminders(world, zalo_group)) == 1


async def test_changing_the_briefing_before_its_reminder_moves_the_reminder(
    world: World, org: dict[str, Persona]
) -> None:
    staff = org["staff"]
    own_group = world.groups["CTV Huyện Bình Minh"]
    await _set_usual(staff)
    await staff.press("💾 Lưu")
    opened = await staff.send("/briefing")
    assert "Sắp tới:" in opened.text
    assert f"Huyện Bình Minh: Thứ Bảy, ngày 05/12/2026, lúc 08:00, tại {PLACE}" in opened.text
    await staff.press("Đặt hoặc thay đổi lịch giao ban")
    await staff.press("Huyện Bình Minh")
    await staff.press("Ngày khác")
    await staff.send("10/12/2026")
    await staff.press("Giờ khác")
    await staff.send("14h30")
    await staff.send("Phòng họp số 2")
    saved = await staff.press("💾 Lưu")
    assert f"{SAVED}: Thứ Năm, ngày 10/12/2026, lúc 14:30, tại Phòng họp số 2." in saved.text
    assert "Lịch này thay lịch đã đặt trước đó (Thứ Bảy, ngày 05/12/2026, lúc 08:00)." in saved.text
    [briefing] = await _briefings(world)  # the month's earlier one is replaced
    assert briefing.held_at == _vn(10, 14, 30, month=12)

    world.clock.current = _vn(4, 8, 1, month=12)  # the old time: nothing (nor a usual one)
    await _tick(world)
    assert await _group_reminders(world.client, own_group) == []
    world.clock.current = _vn(9, 14, 31, month=12)
    assert "briefing_reminders" in await _tick(world)
    [reminder] = await _group_reminders(world.client, own_group)
    assert "Thời gian: Thứ Năm, ngày 10/12/2026, lúc 14:30" in reminder
    assert "Địa điểm: Phòng họp số 2" in reminder


async def test_bad_input_gets_a_clear_message_and_stores_nothing(
    world: World, org: dict[str, Persona]
) -> None:
    staff = org["staff"]
    await staff.send("/briefing")
    await staff.press("Huyện Bình Minh")
    await staff.press("Ngày khác")
    past = await staff.send("01/11/2026")
    assert "Ngày không được ở quá khứ." in past.text
    today = await staff.send("10/11/2026")  # today: allowed as a day, the time decides
    assert "Giao ban lúc mấy giờ?" in today.text
    await staff.press("Giờ khác")
    for unreadable in ("25:00", "sáng mai", "8h75"):
        refused = await staff.send(unreadable)
        assert "Xin nhập giờ và phút, ví dụ 08:00, 8h hoặc 14h30." in refused.text, unreadable
    place_question = await staff.send("8h")  # 08:00 today: already passed at 10:00
    assert "Buổi giao ban tổ chức ở đâu?" in place_question.text
    empty = await staff.send("   ")
    assert "Câu hỏi này cần được trả lời." in empty.text
    too_long = await staff.send("Hội trường " + "A" * 250)
    assert "Quá dài: tối đa 255 ký tự (đồng chí đã viết 261)." in too_long.text
    review = await staff.send(PLACE)
    assert "Thứ Ba, ngày 10/11/2026, lúc 08:00" in review.text
    refused = await staff.press("💾 Lưu")
    assert "Thứ Ba, ngày 10/11/2026, lúc 08:00 đã qua: đồng chí hãy đổi ngày hoặc giờ." in (
        refused.text + "\n".join(refused.alerts)
    )
    assert await _briefings(world) == [] and await _audit(world) == []
    # the wizard is still there: a later time is saved
    await staff.press("✏️ 5")
    await staff.send("17h")
    saved = await staff.press("💾 Lưu")
    assert f"{SAVED}: Thứ Ba, ngày 10/11/2026, lúc 17:00, tại {PLACE}." in saved.text
    assert "1 nhóm đã đăng ký sẽ được nhắc ngay." in saved.text
    assert "briefing_reminders" in await _tick(world)  # inside the 24 hours: at once
    assert len(await _group_reminders(world.client, world.groups["CTV Huyện Bình Minh"])) == 1


async def test_a_collaborator_and_a_leader_are_refused(world: World, org: dict[str, Persona]) -> None:
    for name in ("ctv1", "leader"):
        refused = await org[name].send("/briefing")
        assert refused.texts == [
            "Xin lỗi, lệnh này chỉ dành cho cán bộ Ban Tuyên giáo và Dân vận Tỉnh ủy."
        ], refused.texts
    async with world.sessions() as session:
        assert (await session.exec(select(Draft).where(Draft.slot == "briefing"))).all() == []
    assert await _briefings(world) == []


async def test_staff_on_zalo_set_the_briefing_of_their_only_unit(
    world: World, org: dict[str, Persona]
) -> None:
    staff = await world.member("zalo", "Cán bộ Zalo", unit="HUYEN_B", role=Role.STAFF)
    assert isinstance(staff, ZaloPersona)
    hoa_thuan = await world.group("CTV Huyện Hòa Thuận", [org["ctv4"]], unit="HUYEN_B")
    opened = await staff.send("/briefing")
    assert "Giao ban vào ngày nào?" in opened.text  # one unit: not asked
    assert "1. Thứ Bảy, 05/12/2026 (ngày thường lệ)" in opened.text
    await staff.press("Thứ Bảy, 05/12/2026 (ngày thường lệ)")
    await staff.press("Giờ khác")
    bad = await staff.send("mười giờ")
    assert "Xin nhập giờ và phút" in bad.text
    await staff.send("7h30")
    review = await staff.send("Nhà văn hóa huyện Hòa Thuận")
    assert "“gửi”" in review.text
    saved = await staff.press("💾 Lưu")
    assert "Đã đặt lịch giao ban của Huyện Hòa Thuận: Thứ Bảy, ngày 05/12/2026, lúc 07:30" in saved.text
    [briefing] = await _briefings(world)
    assert (briefing.unit_id, briefing.held_at) == (world.units["HUYEN_B"].id, _vn(5, 7, 30, month=12))

    world.clock.current = _vn(4, 7, 31, month=12)
    assert "briefing_reminders" in await _tick(world)
    [reminder] = await _group_reminders(world.client, hoa_thuan)
    assert "Nhà văn hóa huyện Hòa Thuận" in reminder and "lúc 07:30" in reminder
    assert await _group_reminders(world.client, world.groups["CTV Huyện Bình Minh"]) == []


async def test_a_briefing_already_begun_after_downtime_is_not_reminded(
    world: World, org: dict[str, Persona]
) -> None:
    staff = org["staff"]
    await staff.send("/briefing")
    await staff.press("Huyện Bình Minh")
    await staff.press("Ngày khác")
    await staff.send("12/11/2026")
    await staff.press("Giờ khác")
    await staff.send("9h")
    await staff.send(PLACE)
    await staff.press("💾 Lưu")
    world.clock.current = _vn(11, 8)  # an hour before the reminder's time
    await world.app.stop()
    world.clock.current = _vn(12, 10)  # back after the briefing began
    await world.app.start()
    await world.delivered()
    assert await _group_reminders(world.client, world.groups["CTV Huyện Bình Minh"]) == []
    async with world.sessions() as session:
        assert (await session.exec(select(JobRun).where(JobRun.job == "briefing_reminders"))).all() == []


async def test_a_month_with_none_set_has_the_usual_briefing_in_the_last_place_unless_cancelled(
    world: World, org: dict[str, Persona]
) -> None:
    staff = org["staff"]
    own_group = world.groups["CTV Huyện Bình Minh"]
    other_group = await world.group("CTV Huyện Hòa Thuận", [org["ctv4"]], unit="HUYEN_B")
    await staff.send("/briefing")
    await staff.press("Huyện Bình Minh")
    await staff.press("Ngày khác")
    await staff.send("12/11/2026")
    await staff.press("Giờ khác")
    await staff.send("9h")
    await staff.send(PLACE)
    await staff.press("💾 Lưu")
    world.clock.current = _vn(11, 9, 1)
    await _tick(world)
    assert len(await _group_reminders(world.client, own_group)) == 1

    # December: nothing set; the district held one before, so its usual one, in its place
    world.clock.current = _vn(4, 8, 1, month=12)
    assert "briefing_reminders" in await _tick(world)
    reminders = await _group_reminders(world.client, own_group)
    assert len(reminders) == 2
    assert "Thời gian: Thứ Bảy, ngày 05/12/2026, lúc 08:00" in reminders[-1]
    assert f"Địa điểm: {PLACE}" in reminders[-1] and "(Ngày, giờ và địa điểm thường lệ.)" in reminders[-1]
    assert await _group_reminders(world.client, other_group) == []  # never set one: nothing
    await _tick(world)
    assert len(await _group_reminders(world.client, own_group)) == 2

    # January's usual one is shown, and cancelled: no reminder then
    world.clock.current = _vn(6, 9, month=12)
    opened = await staff.send("/briefing")
    usual = (
        "Huyện Bình Minh: Thứ Ba, ngày 05/01/2027, lúc 08:00, tại " + PLACE + " (ngày và địa điểm thường lệ)"
    )
    assert usual in opened.text
    await staff.press("🗑 Hủy: Huyện Bình Minh, Thứ Ba, ngày 05/01/2027, lúc 08:00")
    cancelled = await staff.press("🗑 Hủy buổi giao ban")
    assert (
        "Đã hủy buổi giao ban của Huyện Bình Minh vào Thứ Ba, ngày 05/01/2027, lúc 08:00." in cancelled.text
    )
    assert await _audit(world) == ["briefing.set", "briefing.cancel"]
    world.clock.current = _vn(4, 8, 1, month=1, year=2027)
    await _tick(world)
    assert len(await _group_reminders(world.client, own_group)) == 2
    opened = await staff.send("/briefing")
    assert "Chưa có lịch giao ban nào." in opened.text  # January has none now

"""Issue 19: a province of 120 communes and wards. Every list of units pages or searches
instead of stopping at the first few: the wizards' choice of units, /setup, /summary and
/urgent_status."""

from __future__ import annotations

import re

from sqlmodel import select

from bot.clock import period_of
from bot.delivery.splitting import MESSAGE_LIMIT, utf16_length
from bot.forms.words import fold
from storage import people, reports
from storage.models import Person, PersonStatus, Report, Role, TopicTarget, Unit
from tests.e2e.flows import GUIDANCE, this_month
from tests.e2e.harness import Persona, World, ZaloPersona

STEMS = [
    "An Bình",
    "An Hòa",
    "An Khánh",
    "An Lạc",
    "An Nhơn",
    "An Phước",
    "Bình An",
    "Bình Chánh",
    "Bình Đông",
    "Bình Minh",
    "Bình Phú",
    "Bình Thạnh",
    "Cẩm Giang",
    "Cát Tiên",
    "Đại Lộc",
    "Đông Hòa",
    "Đồng Xuân",
    "Gia Lộc",
    "Hải Châu",
    "Hòa Bình",
    "Hòa Hiệp",
    "Hòa Thuận",
    "Hưng Long",
    "Khánh Hòa",
    "Kim Sơn",
    "Lạc Long",
    "Long Điền",
    "Long Hải",
    "Minh Đức",
    "Mỹ An",
    "Mỹ Hòa",
    "Nam Sơn",
    "Nghĩa Hưng",
    "Ngọc Lâm",
    "Nhơn Trạch",
    "Phú Hòa",
    "Phú Lộc",
    "Phú Mỹ",
    "Phước An",
    "Quang Trung",
    "Quảng Phú",
    "Sơn Tây",
    "Tân An",
    "Tân Bình",
    "Tân Phú",
    "Tân Thành",
    "Thạnh Mỹ",
    "Thanh Xuân",
    "Thuận An",
    "Tiên Phước",
    "Trung Hòa",
    "Trường Xuân",
    "Vĩnh Hưng",
    "Vĩnh Lộc",
    "Xuân Hòa",
    "Xuân Phú",
    "Yên Bình",
    "Yên Thế",
    "Đức Phổ",
    "Hiệp Đức",
]
COMMUNES = [f"Xã {stem}" for stem in STEMS] + [f"Phường {stem}" for stem in STEMS]


async def _province_of_120(world: World, *, collaborators: bool = False) -> list[str]:
    """120 communes and wards under the province, and the order people read them in."""
    assert len(set(COMMUNES)) == 120
    async with world.sessions() as session:
        province = world.units["TINH"]
        for index, name in enumerate(COMMUNES, start=1):
            unit = await people.create_unit(
                session=session, code=f"XA_{index:03d}", name=name, parent=province
            )
            world.units[f"XA_{index:03d}"] = unit
            if collaborators:  # one collaborator each, registered earlier (not a sandbox user)
                person = Person(
                    chat_id=900_000 + index,
                    full_name=f"CTV {name}",
                    phone="0912345678",
                    field_of_work="khac",
                    unit_id=unit.id,
                    status=PersonStatus.ACTIVE,
                    registered_at=world.clock.now(),
                )
                await people.add_person(session=session, person=person)
                await people.grant_role(
                    session=session, person=person, role=Role.COLLABORATOR, unit_id=unit.id
                )
        await session.commit()
    children = ["Huyện Bình Minh", "Huyện Hòa Thuận", *COMMUNES]
    return ["Tỉnh An Phú", *sorted(children, key=fold)]


async def _staff(world: World) -> Persona:
    staff = await world.person_named("Trần Cán Bộ")
    await world.seed_member(staff, unit="TINH", role=Role.STAFF)
    await staff.send("/help")
    return staff


async def _to_the_choice_of_units(staff: Persona | ZaloPersona) -> None:
    await staff.send("/topic")
    await staff.send("Sáp nhập đơn vị hành chính cấp xã")
    await staff.send(GUIDANCE)
    await staff.press("Báo cáo tình hình dư luận xã hội định kỳ")
    await staff.press(this_month(staff.world))


async def _targets(world: World) -> set[str]:
    async with world.sessions() as session:
        rows = await session.exec(select(Unit.name).join(TopicTarget, TopicTarget.unit_id == Unit.id))
        return set(rows.all())


async def test_the_topic_wizard_pages_and_searches_120_communes_on_telegram(world: World) -> None:
    order = await _province_of_120(world)
    staff = await _staff(world)
    await _to_the_choice_of_units(staff)
    reply = await staff.press("Tôi tự chọn")
    assert "Trang 1/13." in reply.text and "Gõ một phần tên để tìm." in reply.text
    assert reply.buttons()[:10] == order[:10]
    assert "Trang 2 ▶" in reply.buttons() and "✅ Xong (đã chọn 0)" in reply.buttons()
    reply = await staff.press("Trang 2 ▶")
    assert "Trang 2/13." in reply.text and reply.buttons()[:10] == order[10:20]
    assert "◀ Trang 1" in reply.buttons()
    await staff.press(order[15])
    # a part of a name, without diacritics, lists the units that have it
    reply = await staff.send("binh minh")
    assert "Tên có “binh minh”: 3." in reply.text
    assert reply.buttons()[:3] == ["Huyện Bình Minh", "Phường Bình Minh", "Xã Bình Minh"]
    assert f"Đã chọn (1): {order[15]}" in reply.text
    await staff.press("Xã Bình Minh")
    reply = await staff.send("Đà Lạt")
    assert reply.texts[0] == "⚠️ Không có tên nào chứa “Đà Lạt”. Xin gõ một phần khác của tên."
    reply = await staff.press("🔎 Xem tất cả")
    assert "Trang 1/13." in reply.text
    reply = await staff.press("✅ Xong (đã chọn 2)")
    await staff.send("25/12/2026")
    preview = await staff.press("📢 Ngay bây giờ")
    assert f"Đơn vị nhận: {order[15]}, Xã Bình Minh" in preview.text, preview.text
    await staff.press("📢 Đăng")
    await world.delivered()
    assert await _targets(world) == {order[15], "Xã Bình Minh"}


async def test_the_topic_wizard_pages_and_searches_120_communes_on_zalo(world: World) -> None:
    order = await _province_of_120(world)
    staff = await world.member("zalo", "Cán bộ Zalo", unit="TINH", role=Role.STAFF)
    assert isinstance(staff, ZaloPersona)
    await _to_the_choice_of_units(staff)
    reply = await staff.press("Tôi tự chọn")
    lines = reply.last["text"].splitlines()
    assert "1. Tỉnh An Phú" in lines and "10. " + order[9] in lines and "11. " + order[10] not in lines
    assert "Trang 1/13." in lines
    assert any("“tiếp” để xem trang sau" in line for line in lines)
    reply = await staff.send("tiếp")
    assert "11. " + order[10] in reply.last["text"] and "Trang 2/13." in reply.last["text"]
    reply = await staff.send("trang 13")
    assert f"123. {order[122]}" in reply.last["text"]
    reply = await staff.send("trang 14")
    assert reply.texts[0].startswith("⚠️"), reply.texts
    reply = await staff.send("xa binh minh")
    numbered = dict(
        (m.group(2), m.group(1))
        for line in reply.last["text"].splitlines()
        if (m := re.match(r"^(\d+)\. (.*)$", line))
    )
    assert list(numbered) == ["Xã Bình Minh"]
    # numbers keep meaning the same unit on every page and after a search
    reply = await staff.send(f"{numbered['Xã Bình Minh']} 12")
    await staff.send("25/12/2026")
    preview = await staff.send("1")  # now
    assert f"Đơn vị nhận: {order[11]}, Xã Bình Minh" in preview.last["text"] or (
        f"Đơn vị nhận: Xã Bình Minh, {order[11]}" in preview.last["text"]
    ), preview.last["text"]
    await staff.send("gửi")
    await world.delivered()
    assert await _targets(world) == {order[11], "Xã Bình Minh"}


async def test_setup_pages_the_units_and_finds_one_by_name(world: World) -> None:
    order = await _province_of_120(world)
    staff = await _staff(world)
    group = await world.group("CTV Xã Hòa Bình", [staff])
    reply = await staff.send("/setup", chat_id=group)
    assert "Trang 1/7." in reply.text and "/setup Bình" in reply.text
    assert reply.buttons()[:20] == order[:20] and reply.buttons()[20:] == ["Trang 2 ▶"]
    reply = await staff.press("Trang 2 ▶", chat_id=group)
    assert reply.buttons()[:20] == order[20:40] and reply.buttons()[20:] == ["◀ Trang 1", "Trang 3 ▶"]
    reply = await staff.send("/setup hòa bình", chat_id=group)
    assert reply.buttons() == ["Phường Hòa Bình", "Xã Hòa Bình"]
    reply = await staff.press("Xã Hòa Bình", chat_id=group)
    assert "Xã Hòa Bình" in reply.text
    async with world.sessions() as session:
        bound = await people.get_group(session=session, chat_id=group)
        assert (
            bound is not None
            and bound.unit_id == world.units[f"XA_{COMMUNES.index('Xã Hòa Bình') + 1:03d}"].id
        )
    reply = await staff.send("/setup Đà Lạt", chat_id=group)
    assert reply.texts == ["Không có đơn vị nào trong phạm vi phụ trách có “Đà Lạt” trong tên."]


async def test_summary_and_urgent_status_list_every_one_of_120_communes(world: World) -> None:
    await _province_of_120(world, collaborators=True)
    staff = await _staff(world)
    leader = await world.person_named("Lê Lãnh Đạo")
    await world.seed_member(leader, unit="TINH", role=Role.LEADER)
    async with world.sessions() as session:  # one report, so the summary has figures by unit
        person = (await session.exec(select(Person).where(Person.chat_id == 900_001))).one()
        period = period_of(world.clock.now(), world.app.settings.tz)
        report = Report(
            person_id=person.id or 0, unit_id=person.unit_id or 0, period=period, source_update_id=1
        )
        await reports.save_report(session=session, report=report, choice_values=[])
        await session.commit()
    reply = await leader.send("/summary")
    text = reply.text
    for name in COMMUNES:
        assert f"• {name}: " in text, name
    assert all(utf16_length(message) <= MESSAGE_LIMIT for message in reply.texts)
    assert len(reply.texts) > 1

    await staff.send("/urgent")
    await staff.send("Thông tin về việc thu hồi đất mở rộng khu công nghiệp, đề nghị nắm bắt tâm trạng.")
    await staff.press("⏭ Bỏ qua")
    await staff.press("Tất cả đơn vị trong phạm vi phụ trách")
    preview = await staff.send("18h")
    assert "Đơn vị nhận: Tỉnh An Phú (cả 123 đơn vị trong phạm vi)" in preview.text, preview.text
    await staff.press("🚨 Gửi")
    await world.delivered()
    reply = await staff.send("/urgent_status")
    for name in COMMUNES:
        assert f"{name}: 1 cộng tác viên" in reply.text, name
    assert all(utf16_length(message) <= MESSAGE_LIMIT for message in reply.texts)


async def test_on_zalo_the_long_summary_comes_in_parts_within_zalos_limit(world: World) -> None:
    await _province_of_120(world, collaborators=True)
    async with world.sessions() as session:
        person = (await session.exec(select(Person).where(Person.chat_id == 900_002))).one()
        period = period_of(world.clock.now(), world.app.settings.tz)
        report = Report(
            person_id=person.id or 0, unit_id=person.unit_id or 0, period=period, source_update_id=2
        )
        await reports.save_report(session=session, report=report, choice_values=[])
        await session.commit()
    leader = await world.member("zalo", "Lãnh đạo Zalo", unit="TINH", role=Role.LEADER)
    assert isinstance(leader, ZaloPersona)
    reply = await leader.send("/summary")
    assert len(reply.texts) >= 5 and all(len(text) <= 2000 for text in reply.texts)
    for name in COMMUNES:
        assert f"• {name}: " in reply.text, name

"""The same scenarios on both channels, as people on each would do them: Telegram users press
buttons and reply to posts; Zalo users type numbers and words (the harness's ZaloPersona
turns a press into what a Zalo user types). What is stored must be the same."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from storage.models import Draft, Report, ReportChannel, Role, Topic
from tests.e2e.flows import fill_monthly, publish_topic, send_urgent, topic_post_id
from tests.e2e.harness import Persona, World, ZaloPersona

CONTENT = "Người dân đồng tình với chủ trương sáp nhập xã, mong sớm ổn định bộ máy."


@pytest.fixture(params=["telegram", "zalo"])
def channel(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def open_topic_report(person: Persona | ZaloPersona, topic_id: int = 1) -> object:
    """The 📝 button under the topic sent in private, or its words on Zalo."""
    if isinstance(person, ZaloPersona):
        return await person.send(f"báo cáo {topic_id}")
    return await person.press("📝 Gửi báo cáo")


async def test_a_monthly_report_with_every_question_type_then_replaced(
    world: World, org: dict[str, Persona], channel: str
) -> None:
    ctv = await world.member(channel, "CTV kênh", unit="HUYEN_A", full_name="Cộng tác viên kênh")
    await publish_topic(org["staff"])
    reply = await open_topic_report(ctv)
    assert "Câu 1/10." in reply.text  # type: ignore[attr-defined]
    await fill_monthly(ctv, content=CONTENT)
    reply = await ctv.press("✅ Gửi báo cáo")
    assert "Đã nhận báo cáo số 1" in reply.text
    reply = await open_topic_report(ctv)
    assert "Đồng chí đã gửi báo cáo số 1" in reply.text  # type: ignore[attr-defined]
    await ctv.press("✏️ Thay thế")
    await fill_monthly(ctv, content="Một bộ phận người dân lo lắng về thủ tục giấy tờ.", urgency="Khẩn cấp")
    reply = await ctv.press("✅ Gửi báo cáo")
    assert "Báo cáo số 1 đã được thay bằng nội dung mới" in reply.text

    [report] = await world.reports()
    person = await world.person(ctv)
    assert person is not None and report.person_id == person.id
    assert report.channel == ReportChannel.PRIVATE and report.revision == 2 and report.urgency == "khan_cap"
    assert report.answers["linh_vuc"] == ["kinh_te_doi_song", "dat_dai_gpmb"]
    assert report.answers["doi_tuong"] == ["nong_dan"] and report.answers["pham_vi"] == "xa_phuong"


async def test_back_skip_edit_and_cancel(world: World, org: dict[str, Persona], channel: str) -> None:
    ctv = await world.member(channel, "CTV kênh", unit="HUYEN_A")
    reply = await ctv.send("/report")
    assert "Sự việc" in reply.text
    await ctv.send("Tranh chấp đất đai kéo dài tại thôn 3, nhiều hộ kiến nghị")
    reply = await ctv.press("⬅️ Quay lại")
    assert "Sự việc" in reply.text and "Tranh chấp đất đai" in reply.text  # the current answer
    await ctv.send("Tranh chấp đất đai kéo dài tại thôn 3, nhiều hộ kiến nghị")
    await ctv.send("Xã Hòa Bình")
    reply = await ctv.send("11/11/2026")
    assert "Ngày không được ở tương lai" in reply.text
    await ctv.send("09/11/2026")
    await ctv.press("Bức xúc")
    await ctv.press("Xã, phường, đặc khu")
    await ctv.press("Không")  # not on social media
    await ctv.press("Khẩn cấp")
    await ctv.press("⏭ Bỏ qua")
    reply = await ctv.press("⏭ Bỏ qua")
    assert "Kiểm tra lại báo cáo" in reply.text
    reply = await ctv.press("✏️ 2")
    assert "Địa bàn" in reply.text
    reply = await ctv.send("Xã Hòa Bình, huyện Bình Minh")
    assert "Kiểm tra lại báo cáo" in reply.text and "Xã Hòa Bình, huyện Bình Minh" in reply.text
    reply = await ctv.press("❌ Hủy")
    assert "Đã hủy" in reply.text
    async with world.sessions() as session:
        assert (await session.exec(select(Draft))).all() == []
        assert (await session.exec(select(Report))).all() == []


async def test_an_incident_report_and_its_resume_after_a_restart(
    world: World, org: dict[str, Persona], channel: str
) -> None:
    ctv = await world.member(channel, "CTV kênh", unit="HUYEN_B")
    await ctv.send("/report")
    await ctv.send("Tranh chấp đất đai kéo dài tại thôn 3, nhiều hộ kiến nghị")
    await world.app.stop()
    await world.app.start()
    reply = await ctv.send("/start")
    assert "tiếp tục" in reply.text.lower() and "Địa bàn" in reply.text
    await ctv.send("Xã Hòa Bình")
    await ctv.send("09/11/2026")
    await ctv.press("Bức xúc")
    await ctv.press("Xã, phường, đặc khu")
    await ctv.press("Không")  # not on social media
    await ctv.press("Khẩn cấp")
    await ctv.press("⏭ Bỏ qua")
    await ctv.send_photo()
    reply = await ctv.press("✅ Gửi báo cáo")
    assert "Đã nhận báo cáo số 1" in reply.text
    [report] = await world.reports()
    assert (
        report.topic_id is None
        and report.urgency == "khan_cap"
        and report.unit_id == world.units["HUYEN_B"].id
    )
    assert report.answers["minh_chung"]["kind"] == "photo"


async def test_an_urgent_matter_is_confirmed_once(
    world: World, org: dict[str, Persona], channel: str
) -> None:
    ctv = await world.member(channel, "CTV kênh", unit="HUYEN_A")
    staff = org["staff"]
    await staff.send("/urgent")
    await staff.send("Thông tin sai sự thật về giá đất lan truyền trên mạng xã hội, đề nghị nắm tình hình.")
    await staff.press("⏭ Bỏ qua")
    await staff.press("Tất cả đơn vị trong phạm vi phụ trách")
    await staff.send("18:00 11/11")
    await staff.press("🚨 Gửi")
    await world.delivered()
    for expected in ("✅ Cảm ơn", "từ trước"):
        if isinstance(ctv, ZaloPersona):
            reply = await ctv.send("đã nhận")
            text = reply.text
        else:
            pressed = await ctv.press("✅ Đã nhận")
            text = " ".join(pressed.alerts)
        assert expected in text
    status = await staff.send("/urgent_status")
    assert "✅ đã nhận 1" in status.text
    zalo = 1 if channel == "zalo" else 0
    assert f"Theo kênh: Telegram {4 + 1 - zalo} · Zalo {zalo} cộng tác viên" in status.text


async def test_collaborators_are_refused_staff_and_leader_commands(world: World, channel: str) -> None:
    ctv = await world.member(channel, "CTV kênh", unit="HUYEN_A")
    reply = await ctv.send("/topic")
    assert "chỉ dành cho cán bộ Ban Tuyên giáo" in reply.text
    reply = await ctv.send("/summary")
    assert "chỉ lãnh đạo và cán bộ mới xem được" in reply.text
    async with world.sessions() as session:
        assert (await session.exec(select(Topic))).all() == []


async def test_the_summary_for_a_leader_on_either_channel(
    world: World, org: dict[str, Persona], channel: str
) -> None:
    leader = await world.member(channel, "Lãnh đạo kênh", unit="TINH", role=Role.LEADER)
    await publish_topic(org["staff"])
    await org["ctv1"].press("📝 Gửi báo cáo")
    await fill_monthly(org["ctv1"], content=CONTENT)
    await org["ctv1"].press("✅ Gửi báo cáo")
    reply = await leader.send("/summary 11/2026")
    assert "Số báo cáo đầy đủ nhận được: 1" in reply.text
    assert "Tỷ lệ báo cáo: 25,0% (1/4 cộng tác viên đã gửi báo cáo đầy đủ)" in reply.text
    bad = await leader.send("/summary 13/2026")
    assert "“13/2026” không phải là tháng hợp lệ" in bad.text


async def test_a_newcomer_registers_by_the_invite(
    world: World, org: dict[str, Persona], channel: str
) -> None:
    staff = org["staff"]
    await staff.send("/invite")
    await staff.press("Huyện Bình Minh")
    await staff.send("1")
    await staff.press("7 ngày")
    reply = await staff.press("🔗 Tạo liên kết")
    code = reply.text.split("Trên Zalo, nhắn cho bot mã:")[1].split()[0]
    assert f"?start={code}" in reply.text  # the link carries the same code

    newcomer: Persona | ZaloPersona
    if channel == "zalo":
        newcomer = await world.zalo_person("Hoa")
        reply = await newcomer.send(code)
    else:
        newcomer = await world.person_named("Hoa")
        reply = await newcomer.send(f"/start {code}")
    assert "Họ và tên" in reply.text
    reply = await newcomer.send("Hoa")
    assert "Quá ngắn" in reply.text
    await newcomer.send("Nguyễn Thị Hoa")
    reply = await newcomer.share_contact("0912000111")
    assert "Lĩnh vực công tác" in reply.text
    await newcomer.press("Giáo dục")
    reply = await newcomer.press("✅ Tôi đồng ý và đăng ký")
    assert "Đăng ký thành công" in reply.text
    person = await world.person(newcomer)
    assert person is not None and (person.full_name, person.phone, person.unit_id) == (
        "Nguyễn Thị Hoa",
        "0912000111",
        world.units["HUYEN_A"].id,
    )


async def test_a_message_in_the_group_is_a_quick_report(
    world: World, org: dict[str, Persona], channel: str
) -> None:
    """Telegram: a reply to the topic post; Zalo: a message beginning with the topic's tag."""
    await publish_topic(org["staff"])
    text = "Bà con thôn 2 đồng tình, đề nghị giữ tên làng trong địa chỉ mới."
    if channel == "zalo":
        ctv = await world.member("zalo", "CTV kênh", unit="HUYEN_A")
        assert isinstance(ctv, ZaloPersona)
        group = await world.zalo_group("Nhóm Zalo", [ctv], unit="HUYEN_A")
        await publish_topic(org["staff"], title="Chủ đề thứ hai của tháng")  # posted in the new group too
        reply = await ctv.send(f"#2 {text}", group=group)
        assert reply.texts == ["👍 Đã ghi nhận, cảm ơn đồng chí."]
    else:
        ctv = org["ctv2"]
        group_id = world.groups["CTV Huyện Bình Minh"]
        post_id = await topic_post_id(world, group_id)
        reply = await ctv.send(text, chat_id=group_id, reply_to=post_id)
        assert reply.reactions
    [report] = await world.reports()
    person = await world.person(ctv)
    assert person is not None and report.person_id == person.id
    assert report.channel == ReportChannel.GROUP_REPLY and report.text == text


async def test_staff_of_one_district_see_only_their_units(
    world: World, org: dict[str, Persona], channel: str
) -> None:
    """Scope holds on both channels: another district's urgent matter and figures are refused."""
    other = await world.member(channel, "Cán bộ huyện B", unit="HUYEN_B", role=Role.STAFF)
    await send_urgent(org["staff"], deadline="18h", choose="Huyện Bình Minh")
    await org["staff"].press("🚨 Gửi")
    await world.delivered()
    reply = await other.send("/urgent_status K1")
    assert "Vấn đề đột xuất số K1 không gửi tới các đơn vị đồng chí phụ trách." in reply.text, reply.text
    reply = await other.send("/summary")
    assert "Huyện Hòa Thuận" in reply.text and "Huyện Bình Minh" not in reply.text


async def test_a_group_message_from_outside_the_topics_units_is_not_stored(
    world: World, org: dict[str, Persona], channel: str
) -> None:
    outsider = await world.member(channel, "CTV huyện B", unit="HUYEN_B")
    if isinstance(outsider, ZaloPersona):
        group = await world.zalo_group("Nhóm Zalo Bình Minh", [outsider], unit="HUYEN_A")
    else:
        group_id = world.groups["CTV Huyện Bình Minh"]
        await world.client.add_member(group_id, outsider.user_id)
    await publish_topic(org["staff"], title="Chủ đề riêng cho Huyện Bình Minh", choose="Huyện Bình Minh")
    if isinstance(outsider, ZaloPersona):
        reply = await outsider.send("#1 Ý kiến của người ở huyện khác", group=group)
    else:
        post_id = await topic_post_id(world, group_id)
        reply = await outsider.send("Ý kiến của người ở huyện khác", chat_id=group_id, reply_to=post_id)
    assert "không gửi tới đơn vị của đồng chí" in reply.text
    assert await world.reports() == []


async def test_after_the_due_time_a_report_cannot_be_replaced(
    world: World, org: dict[str, Persona], channel: str
) -> None:
    ctv = await world.member(channel, "CTV kênh", unit="HUYEN_A", full_name="Cộng tác viên kênh")
    await publish_topic(org["staff"], due="25/11/2026")
    await open_topic_report(ctv)
    await fill_monthly(ctv, content=CONTENT)
    await ctv.press("✅ Gửi báo cáo")
    world.clock.advance(timedelta(days=16))  # 26/11/2026, after the due day
    reply = await open_topic_report(ctv)
    assert "Đã hết hạn nên không thể thay thế" in reply.text  # type: ignore[attr-defined]
    [report] = await world.reports()
    assert report.revision == 1

"""Urgent matters: the wizard and its deadline, pinned group posts and DMs with ✅/📝,
acknowledgements, incident reports linked to the matter, and status by unit within scope."""

from __future__ import annotations

from sqlmodel import select

from storage.models import Acknowledgement, Report, ReportChannel, Topic, TopicKind
from tests.e2e.flows import MATTER, send_urgent
from tests.e2e.harness import Persona, World

GROUP = "CTV Huyện Bình Minh"


async def test_deadline_answers_are_checked_with_a_reason(world: World, org: dict[str, Persona]) -> None:
    """Deadlines as staff write them (issue 19): "18h" is an hour of the day, today or
    tomorrow once passed; "2 giờ", "2 tiếng", "trong 2h" are times from now."""
    staff = org["staff"]

    async def deadline_step() -> str:
        await staff.send("/urgent")
        await staff.send(MATTER)
        await staff.press("⏭ Bỏ qua")
        reply = await staff.press("Tất cả đơn vị trong phạm vi phụ trách")
        return reply.text

    prompt = await deadline_step()
    assert "Hạn phản ánh" in prompt and "Ví dụ: 18h (hôm nay, hoặc ngày mai nếu giờ đó đã qua)" in prompt
    assert "2 giờ, 2 tiếng, trong 2h" in prompt
    # The world's clock is 10:00 on 10/11/2026 in Hà Nội time.
    refused = {
        "08:00 10/11/2026": "Thời điểm 08:00 10/11/2026 đã qua",
        "25:00": "“25:00” không phải là giờ hợp lệ",
        "31/02": "“31/02” không phải là ngày hợp lệ",
        "trong 0 giờ": "Khoảng thời gian phải lớn hơn 0",
        "ngày mai": "Xin nhập hạn theo một trong các dạng",
        "01/01/2030": "Hạn phản ánh quá xa",
    }
    for typed, reason in refused.items():
        reply = await staff.send(typed)
        assert reason in reply.text, (typed, reply.text)
    accepted = {
        "18h": "18:00 10/11/2026",
        "18h30": "18:30 10/11/2026",
        "9h": "09:00 11/11/2026",  # passed at 10:00: tomorrow's
        "2 giờ": "12:00 10/11/2026",
        "2 tiếng": "12:00 10/11/2026",
        "trong 2h": "12:00 10/11/2026",
        "18h 12/11": "18:00 12/11/2026",
        "31/12": "23:59 31/12/2026",
    }
    for typed, moment in accepted.items():
        reply = await staff.send(typed)
        assert "Xem trước khi gửi" in reply.text and moment in reply.text, (typed, reply.text)
        await staff.send("/cancel")
        await deadline_step()
    async with world.sessions() as session:
        assert (await session.exec(select(Topic))).all() == []


async def test_urgent_matter_is_pinned_sent_acknowledged_and_reported(
    world: World, org: dict[str, Persona]
) -> None:
    staff, ctv1, ctv2 = org["staff"], org["ctv1"], org["ctv2"]
    preview = await send_urgent(staff)
    assert "Xem trước khi gửi" in preview and "18:00 11/11/2026" in preview
    sent = await staff.press("🚨 Gửi")
    assert "Đang gửi vấn đề đột xuất số K1" in sent.text
    assert "Đang gửi tới 1 nhóm và 4 cộng tác viên" in sent.text
    await world.delivered()

    group_id = world.groups[GROUP]
    post = (await world.client.chat_messages(group_id))[-1]
    assert post["text"].startswith("🚨 VẤN ĐỀ ĐỘT XUẤT (số K1)")
    assert MATTER in post["text"] and "⏰ Hạn phản ánh: 18:00 11/11/2026." in post["text"]
    assert [b["text"] for b in post["reply_markup"]["inline_keyboard"][0]] == ["✅ Đã nhận", "📝 Báo cáo"]
    events = await world.client.events(chat_id=group_id)
    pins = [e for e in events if e["kind"] == "pin"]
    assert [p["message_id"] for p in pins] == [post["message_id"]]
    dm = (await world.client.chat_messages(ctv2.user_id))[-1]
    assert dm["text"].startswith("🚨 VẤN ĐỀ ĐỘT XUẤT (số K1)") and "Bấm ✅ Đã nhận để xác nhận" in dm["text"]
    progress = (await world.client.chat_messages(staff.user_id))[-1]
    assert "📊 Tình hình tiếp nhận" in str(progress["reply_markup"])

    # ✅ in the group, twice: recorded once.
    first = await ctv1.press("✅ Đã nhận", chat_id=group_id)
    assert first.alerts == ["✅ Cảm ơn đồng chí, đã ghi nhận đồng chí nhận được thông tin."]
    again = await ctv1.press("✅ Đã nhận", chat_id=group_id)
    assert again.alerts == ["Đã ghi nhận đồng chí nhận được thông tin từ trước."]
    # A non-member in the group cannot acknowledge.
    outsider = await world.person_named("Khách")
    await world.client.add_member(group_id, outsider.user_id)
    refused = await outsider.press("✅ Đã nhận", chat_id=group_id)
    assert "chưa đăng ký" in refused.alerts[0]
    # 📝 in private opens the incident form linked to the matter.
    form = await ctv2.press("📝 Báo cáo")
    assert "Báo cáo đột xuất" in form.text
    await ctv2.answer_steps(
        "Người dân xã Tân An lo lắng về giá đền bù, nhiều ý kiến trên Facebook.",
        "Xã Tân An",
        "10/11/2026",
        "press:Bức xúc",
        "press:Xã, phường, đặc khu",
        "press:Có",  # spread on social media too
        "press:Cần quan tâm",
        "press:⏭ Bỏ qua",
        "press:⏭ Bỏ qua",
    )
    done = await ctv2.press("✅ Gửi báo cáo")
    assert "Đã nhận báo cáo số 1" in done.text
    # A reply to the group post is captured for the matter too.
    await ctv1.send(
        "Bà con xóm 3 đang bàn tán nhiều về việc này.", chat_id=group_id, reply_to=post["message_id"]
    )

    async with world.sessions() as session:
        topic = (await session.exec(select(Topic))).one()
        acks = (await session.exec(select(Acknowledgement))).all()
        reports = (await session.exec(select(Report).where(Report.topic_id == topic.id))).all()
    assert topic.kind == TopicKind.URGENT and topic.due_at.isoformat() == "2026-11-11T11:00:00+00:00"
    assert len(acks) == 1
    assert sorted(r.channel for r in reports) == [ReportChannel.GROUP_REPLY, ReportChannel.PRIVATE]

    status = await staff.send("/urgent_status")
    assert "Vấn đề đột xuất số K1" in status.text
    assert "Huyện Bình Minh</b>" not in status.text  # markup is rendered, not shown
    assert (
        "Huyện Bình Minh: 3 cộng tác viên · ✅ đã nhận 1 · 📝 đã báo cáo 2 · 🔕 chưa phản hồi 1"
        in status.text
    )
    assert (
        "Huyện Hòa Thuận: 1 cộng tác viên · ✅ đã nhận 0 · 📝 đã báo cáo 0 · 🔕 chưa phản hồi 1"
        in status.text
    )
    assert "Chưa phản hồi:" in status.text
    assert "Cộng tác viên 3 — Huyện Bình Minh" in status.text
    assert "Cộng tác viên 4 — Huyện Hòa Thuận" in status.text
    assert "Cộng tác viên 1 —" not in status.text

    # District staff see only their district.
    district = await org["district_staff"].send("/urgent_status 1")
    assert "Huyện Hòa Thuận: 1 cộng tác viên" in district.text
    assert "Huyện Bình Minh" not in district.text
    # The button on the progress message shows the same figures.
    button = await staff.press("📊 Tình hình tiếp nhận")
    assert "Huyện Bình Minh: 3 cộng tác viên" in button.text


async def test_urgent_is_for_staff_and_status_refuses_bad_numbers(
    world: World, org: dict[str, Persona]
) -> None:
    reply = await org["ctv1"].send("/urgent")
    assert "chỉ dành cho cán bộ Ban Tuyên giáo" in reply.text
    reply = await org["staff"].send("/urgent_status")
    assert "Chưa có vấn đề đột xuất nào" in reply.text
    reply = await org["staff"].send("/urgent_status abc")
    assert "Xin ghi số của vấn đề đột xuất" in reply.text
    reply = await org["staff"].send("/urgent_status 99")
    assert "Không có vấn đề đột xuất số K99" in reply.text
    for huge in ("99999999999999999999", "９９"):  # past 64 bits; full-width digits
        reply = await org["staff"].send(f"/urgent_status {huge}")
        assert "Xin ghi số của vấn đề đột xuất" in reply.text
    # A matter for one district is not the other district's business.
    await send_urgent(org["staff"], choose="Huyện Bình Minh")
    await org["staff"].press("🚨 Gửi")
    await world.delivered()
    reply = await org["district_staff"].send("/urgent_status 1")
    assert "không gửi tới các đơn vị đồng chí phụ trách" in reply.text
    for typed in ("K1", "#k1", "1"):  # the tag as shown, or its number alone
        reply = await org["staff"].send(f"/urgent_status {typed}")
        assert "Vấn đề đột xuất số K1" in reply.text, typed
    assert (await world.client.chat_messages(org["ctv4"].user_id))[-1]["text"].startswith("🚨") is False


async def test_a_long_matter_with_a_photo_is_split_under_the_caption_limit(
    world: World, org: dict[str, Persona]
) -> None:
    staff = org["staff"]
    paragraphs = [
        f"Đoạn {n}: " + "người dân phản ánh về việc chậm chi trả tiền bồi thường. " * 8 for n in range(5)
    ]
    long_matter = "\n\n".join(paragraphs)
    assert 2000 < len(long_matter) <= 3000
    await staff.send("/urgent")
    await staff.send(long_matter)
    await staff.send_photo()
    await staff.press("Tất cả đơn vị trong phạm vi phụ trách")
    await staff.send("24h")
    await staff.press("🚨 Gửi")
    await world.delivered()

    messages = (await world.client.chat_messages(world.groups[GROUP]))[-2:]
    photo, rest = messages
    assert photo.get("photo") and len(photo["caption"]) <= 1024
    assert photo["caption"].startswith("🚨 VẤN ĐỀ ĐỘT XUẤT (số K1)")
    assert (
        "Bấm ✅ Đã nhận" in rest["text"]
        and rest["reply_markup"]["inline_keyboard"][0][0]["text"] == "✅ Đã nhận"
    )
    assert photo["caption"] + "\n\n" + rest["text"] == photo["caption"] + "\n\n" + rest["text"].lstrip()
    for paragraph in paragraphs:
        assert paragraph.strip() in photo["caption"] + "\n\n" + rest["text"]
    pins = [e for e in await world.client.events(chat_id=world.groups[GROUP]) if e["kind"] == "pin"]
    assert [p["message_id"] for p in pins] == [photo["message_id"]]
    # A reply to either part is captured for the matter.
    await org["ctv1"].send(
        "Đúng vậy, xóm tôi cũng thế.", chat_id=world.groups[GROUP], reply_to=rest["message_id"]
    )
    async with world.sessions() as session:
        topic = (await session.exec(select(Topic))).one()
        reports = (await session.exec(select(Report).where(Report.topic_id == topic.id))).all()
    assert topic.photo_file_id and [r.channel for r in reports] == [ReportChannel.GROUP_REPLY]

"""The core month: a topic published, answered in private and in the group, summarised."""

from __future__ import annotations

from sqlmodel import select

from storage.models import ReportAnswer, ReportChannel, Topic, TopicPost, TopicStatus
from tests.e2e.flows import GUIDANCE, fill_monthly, publish_topic, this_month, topic_post_id
from tests.e2e.harness import Persona, World, days

GROUP = "CTV Huyện Bình Minh"


async def test_staff_publishes_a_topic_into_the_target_groups(world: World, org: dict[str, Persona]) -> None:
    reply = await publish_topic(org["staff"])
    assert "Đã đăng chủ đề số 1" in reply.text
    assert "Đang gửi tới 1 nhóm và 4 cộng tác viên" in reply.text
    group_id = world.groups[GROUP]
    messages = await world.client.chat_messages(group_id)
    post = messages[-1]
    assert post["text"].startswith("📢 Chủ đề định hướng tháng 11/2026")
    assert GUIDANCE in post["text"] and "Hạn gửi báo cáo: 25/11/2026" in post["text"]
    button = post["reply_markup"]["inline_keyboard"][0][0]
    assert button["text"] == "📝 Gửi báo cáo"
    assert button["url"] == f"https://t.me/{world.bot_username}?start=r1"
    async with world.sessions() as session:
        topic = (await session.exec(select(Topic))).one()
        posts = (await session.exec(select(TopicPost))).all()
    assert (topic.status, topic.period, topic.title) == (
        TopicStatus.PUBLISHED,
        "2026-11",
        "Sáp nhập đơn vị hành chính cấp xã",
    )
    assert [(p.chat_id, p.message_id) for p in posts] == [(group_id, post["message_id"])]
    # Every collaborator of the target units also gets the topic in private, with the button.
    for name in ("ctv1", "ctv2", "ctv3", "ctv4"):
        dm = (await world.client.chat_messages(org[name].user_id))[-1]
        assert dm["text"].startswith("📢 Chủ đề định hướng tháng 11/2026"), dm["text"]
        assert "Bấm nút bên dưới để gửi báo cáo" in dm["text"]
        assert dm["reply_markup"]["inline_keyboard"][0][0]["text"] == "📝 Gửi báo cáo"
    # The staff member sees one progress message that ended with the counts.
    progress = (await world.client.chat_messages(org["staff"].user_id))[-1]
    assert progress["text"].startswith("📤 Đợt gửi số 1: Sáp nhập đơn vị hành chính cấp xã"), progress["text"]
    assert "▓▓▓▓▓▓▓▓▓▓▓▓ 100%" in progress["text"]
    assert "✅ Hoàn tất: 5/5 nơi đã nhận được." in progress["text"]


async def test_topic_wizard_refuses_bad_dates_and_short_texts(world: World, org: dict[str, Persona]) -> None:
    staff = org["staff"]
    await staff.send("/topic")
    reply = await staff.send("Abc")
    assert "Quá ngắn: cần ít nhất 5 ký tự" in reply.text
    await staff.send("Chủ đề tháng")
    await staff.send(GUIDANCE)
    await staff.press("Báo cáo đột xuất")
    await staff.press(this_month(world))
    await staff.press("Tôi tự chọn")
    reply = await staff.press("✅ Xong")
    assert reply.alerts == ["⚠️ Câu hỏi này cần được trả lời."]
    await staff.press("Huyện Hòa Thuận")
    await staff.press("✅ Xong")
    reply = await staff.send("01/11/2026")
    assert "Ngày không được ở quá khứ" in reply.text
    reply = await staff.send("31/02/2027")
    assert "Xin nhập ngày theo dạng ngày/tháng/năm, ví dụ 25/11/2026" in reply.text
    await staff.send("30/11")  # the year may be left out: the next 30/11
    reply = await staff.press("📢 Ngay bây giờ")

    assert "Xem trước khi đăng" in reply.text and "Huyện Hòa Thuận" in reply.text
    reply = await staff.press("📢 Đăng")
    assert "chưa có nhóm nào được đăng ký" in reply.text
    async with world.sessions() as session:
        topic = (await session.exec(select(Topic))).one()
    assert topic.due_at.isoformat() == "2026-11-30T16:59:59+00:00"


async def test_collaborator_answers_in_private_with_bad_inputs_refused(
    world: World, org: dict[str, Persona]
) -> None:
    await publish_topic(org["staff"])
    ctv = org["ctv1"]
    reply = await ctv.press("📝 Gửi báo cáo", chat_id=world.groups[GROUP])
    assert "Báo cáo tình hình dư luận xã hội định kỳ" in reply.text
    assert "Câu 1/10." in reply.text
    reply = await ctv.send("kinh tế")
    assert "Xin chọn một trong các nút ở trên" in reply.text
    reply = await ctv.press("✅ Xong")
    assert reply.alerts == ["⚠️ Câu hỏi này cần được trả lời."]
    await ctv.press("Kinh tế – đời sống")
    reply = await ctv.press("✅ Xong")
    assert "Tâm trạng chung" in reply.text
    await ctv.press("Ổn định, phấn khởi")
    reply = await ctv.press("Trái chiều")
    assert "Nội dung chính các luồng ý kiến" in reply.text
    reply = await ctv.send("ngắn quá")
    assert "Quá ngắn: cần ít nhất 20 ký tự (đồng chí đã viết 8)" in reply.text
    reply = await ctv.send("x" * 3001)
    assert "Quá dài: tối đa 3000 ký tự" in reply.text
    reply = await ctv.send_photo()
    assert "Xin nhập câu trả lời bằng chữ" in reply.text
    reply = await ctv.send("Bà con <b>đồng tình</b> & mong sớm có hướng dẫn cụ thể")
    assert "Đối tượng có ý kiến" in reply.text
    reply = await ctv.press("⬅️ Quay lại")
    assert "Câu trả lời hiện tại: Bà con <b>đồng tình</b> & mong" in reply.text  # shown literally
    await ctv.send("Bà con <b>đồng tình</b> & mong sớm có hướng dẫn cụ thể")
    await ctv.press("Công nhân")
    await ctv.press("✅ Xong")
    await ctv.press("Tỉnh, thành phố")
    await ctv.press("Báo chí")
    await ctv.press("✅ Xong")
    await ctv.press("Cần quan tâm")
    await ctv.send("Đề nghị tổ chức đối thoại")
    reply = await ctv.send("tệp đây")
    assert "Xin gửi ảnh hoặc tệp, hoặc bấm ⏭ Bỏ qua" in reply.text
    reply = await ctv.send_photo()
    assert "Kiểm tra lại báo cáo trước khi gửi" in reply.text
    assert "Nội dung chính các luồng ý kiến</b>: Bà con &lt;b&gt;" not in reply.text
    assert "Bà con <b>đồng tình</b> & mong" in reply.text
    html = reply.last.get("html", "")
    assert "Bà con &lt;b&gt;đồng tình&lt;/b&gt; &amp; mong" in html
    reply = await ctv.press("✏️ 6")
    assert "Phạm vi lan truyền" in reply.text
    reply = await ctv.press("Cả nước")
    assert "Kiểm tra lại báo cáo" in reply.text and "Cả nước" in reply.text
    reply = await ctv.press("✅ Gửi báo cáo")
    assert "Cảm ơn đồng chí! Đã nhận báo cáo số 1" in reply.text

    [report] = await world.reports()
    assert report.source_update_id == reply.update_id
    assert report.channel == ReportChannel.PRIVATE and report.topic_id == 1 and report.period == "2026-11"
    assert report.answers["linh_vuc"] == ["kinh_te_doi_song"]
    assert report.answers["pham_vi"] == "ca_nuoc"
    assert report.answers["noi_dung"] == "Bà con <b>đồng tình</b> & mong sớm có hướng dẫn cụ thể"
    assert report.answers["minh_chung"]["kind"] == "photo"
    assert report.urgency == "can_quan_tam"
    async with world.sessions() as session:
        rows = (await session.exec(select(ReportAnswer).where(ReportAnswer.report_id == report.id))).all()
    assert ("tam_trang", "on_dinh") in {(r.question_key, r.value) for r in rows}
    assert "noi_dung" not in {r.question_key for r in rows}


async def test_one_report_per_topic_and_replacing_it(world: World, org: dict[str, Persona]) -> None:
    await publish_topic(org["staff"])
    ctv = org["ctv2"]
    await ctv.press("📝 Gửi báo cáo", chat_id=world.groups[GROUP])
    await fill_monthly(ctv, content="Người dân đồng tình với chủ trương sáp nhập xã.")
    await ctv.press("✅ Gửi báo cáo")
    reply = await ctv.press("📝 Gửi báo cáo", chat_id=world.groups[GROUP])
    assert "Đồng chí đã gửi báo cáo số 1" in reply.text
    reply = await ctv.press("Giữ nguyên")
    assert "Đã giữ nguyên" in reply.text
    await ctv.press("📝 Gửi báo cáo", chat_id=world.groups[GROUP])
    await ctv.press("✏️ Thay thế")
    await fill_monthly(
        ctv, content="Một bộ phận người dân lo lắng về thủ tục giấy tờ sau sáp nhập.", urgency="Khẩn cấp"
    )
    reply = await ctv.press("✅ Gửi báo cáo")
    assert "Báo cáo số 1 đã được thay bằng nội dung mới" in reply.text
    [report] = await world.reports()
    assert report.revision == 2 and report.urgency == "khan_cap"
    assert report.answers["noi_dung"].startswith("Một bộ phận")


async def test_group_reply_is_a_quick_report_acknowledged_with_a_reaction(
    world: World, org: dict[str, Persona]
) -> None:
    await publish_topic(org["staff"])
    group_id = world.groups[GROUP]
    post_id = (await world.client.chat_messages(group_id))[-1]["message_id"]
    reply = await org["ctv3"].send(
        "Bà con phấn khởi, mong sớm ổn định bộ máy", chat_id=group_id, reply_to=post_id
    )
    assert [e["reaction"] for e in reply.reactions] == [["👍"]]
    assert reply.messages == []  # the group stays quiet
    [report] = await world.reports()
    assert (report.channel, report.topic_id, report.text) == (
        ReportChannel.GROUP_REPLY,
        1,
        "Bà con phấn khởi, mong sớm ổn định bộ máy",
    )
    assert report.source_chat_id == group_id
    # A reply to something that is not a topic post is ignored.
    other = await org["ctv3"].send("Cảm ơn", chat_id=group_id, reply_to=post_id - 1)
    assert other.events == [] or not other.reactions
    assert len(await world.reports()) == 1


async def test_leader_summary_and_refusals(world: World, org: dict[str, Persona]) -> None:
    await publish_topic(org["staff"])
    group_id = world.groups[GROUP]
    for ctv, content in (
        ("ctv1", "Ý kiến thứ nhất về sáp nhập xã <script>"),
        ("ctv2", "Ý kiến thứ hai về sáp nhập xã"),
    ):
        await org[ctv].press("📝 Gửi báo cáo", chat_id=group_id)
        await fill_monthly(org[ctv], content=content)
        await org[ctv].press("✅ Gửi báo cáo")
    post_id = await topic_post_id(world, group_id)
    await org["ctv3"].send("Bà con đồng tình", chat_id=group_id, reply_to=post_id)

    reply = await org["leader"].send("/summary")
    text = reply.text
    assert "Tổng hợp tình hình dư luận xã hội tháng 11/2026" in text
    # the one-line reply in the group is a quick opinion, apart from the full reports, so the
    # rate and the percentages are of the same two reports (issue 19)
    assert "Số báo cáo đầy đủ nhận được: 2" in text
    assert "Tỷ lệ báo cáo: 50,0% (2/4 cộng tác viên đã gửi báo cáo đầy đủ)" in text
    assert "Ý kiến nhanh trong nhóm: 1" in text
    assert "Huyện Bình Minh: 2 báo cáo, 1 ý kiến nhanh, 2/3 cộng tác viên (66,7%)" in text
    assert "Huyện Hòa Thuận: 0 báo cáo, 0/1 cộng tác viên (0,0%)" in text
    assert "100,0% · Có băn khoăn, lo lắng (2)" in text
    assert "100,0% · Bình thường (2)" in text
    assert "<script>" in text and any("&lt;script&gt;" in (m.get("html") or "") for m in reply.messages)

    in_group = await org["leader"].send("/summary 11/2026", chat_id=group_id)
    assert "Số báo cáo đầy đủ nhận được: 2" in in_group.text
    # in a commune's group, that unit's figures only (issue 18)
    assert "Huyện Bình Minh" in in_group.text and "Huyện Hòa Thuận" not in in_group.text
    assert "(2/3 cộng tác viên đã gửi báo cáo đầy đủ)" in in_group.text
    refused = await org["ctv1"].send("/summary")
    assert "chỉ lãnh đạo và cán bộ mới xem được" in refused.text
    bad = await org["leader"].send("/summary 13/2026")
    assert "“13/2026” không phải là tháng hợp lệ" in bad.text
    empty = await org["leader"].send("/summary 10/2026")
    assert "Chưa nhận được báo cáo nào trong kỳ này" in empty.text


async def test_non_staff_cannot_publish(world: World, org: dict[str, Persona]) -> None:
    reply = await org["ctv1"].send("/topic")
    assert "chỉ dành cho cán bộ Ban Tuyên giáo" in reply.text
    async with world.sessions() as session:
        assert (await session.exec(select(Topic))).all() == []


async def test_after_the_due_time_a_report_cannot_be_replaced(world: World, org: dict[str, Persona]) -> None:
    await publish_topic(org["staff"], due="25/11/2026")
    ctv = org["ctv1"]
    await ctv.press("📝 Gửi báo cáo", chat_id=world.groups[GROUP])
    await fill_monthly(ctv, content="Người dân đồng tình với chủ trương sáp nhập xã.")
    await ctv.press("✅ Gửi báo cáo")
    world.clock.advance(days(16))  # 26/11/2026, after the due day
    reply = await ctv.press("📝 Gửi báo cáo", chat_id=world.groups[GROUP])
    assert "Đã hết hạn nên không thể thay thế" in reply.text
    assert reply.buttons() == []  # no "replace" offer any more
    [report] = await world.reports()
    assert report.revision == 1


async def test_a_refused_reaction_falls_back_to_a_short_reply(world: World, org: dict[str, Persona]) -> None:
    await publish_topic(org["staff"])
    group_id = world.groups[GROUP]
    post_id = await topic_post_id(world, group_id)
    await world.client.configure(
        error_rate=1.0, error_kinds=["400"], fault_methods=["setMessageReaction"], seed=1
    )
    reply = await org["ctv2"].send("Bà con mong sớm có hướng dẫn", chat_id=group_id, reply_to=post_id)
    assert reply.texts == ["👍 Đã ghi nhận, cảm ơn đồng chí."]
    assert len(await world.reports()) == 1


async def test_a_group_reply_from_outside_the_topics_units_is_not_stored(
    world: World, org: dict[str, Persona]
) -> None:
    """Issue 18: a reply to a topic that does not target the replier's unit was stored."""
    await publish_topic(org["staff"], title="Chủ đề riêng cho Huyện Bình Minh", choose="Huyện Bình Minh")
    group_id = world.groups[GROUP]
    await world.client.add_member(group_id, org["ctv4"].user_id)  # a collaborator of Huyện Hòa Thuận
    post_id = await topic_post_id(world, group_id)
    reply = await org["ctv4"].send("Ý kiến của người ở huyện khác", chat_id=group_id, reply_to=post_id)
    assert "không gửi tới đơn vị của đồng chí" in reply.text and not reply.reactions
    assert await world.reports() == []


async def test_a_topic_is_for_the_month_chosen_not_the_month_it_is_due(
    world: World, org: dict[str, Persona]
) -> None:
    """Issue 19: published 10/11 and due 05/12, the November topic's reports count in
    /summary 11/2026 (they counted in December, the due date's month)."""
    staff = org["staff"]
    await staff.send("/topic")
    await staff.send("Chủ đề tháng Mười một")
    await staff.send(GUIDANCE)
    reply = await staff.press("Báo cáo tình hình dư luận xã hội định kỳ")
    assert "Chủ đề này của tháng nào?" in reply.text
    assert reply.buttons()[:3] == ["11/2026 (tháng này)", "12/2026 (tháng sau)", "10/2026 (tháng trước)"]
    await staff.press("11/2026 (tháng này)")
    await staff.press("Tất cả đơn vị trong phạm vi phụ trách")
    await staff.send("05/12")
    await staff.press("📢 Ngay bây giờ")
    await staff.press("📢 Đăng")
    await world.delivered()
    async with world.sessions() as session:
        topic = (await session.exec(select(Topic))).one()
    assert topic.period == "2026-11" and topic.due_at.isoformat() == "2026-12-05T16:59:59+00:00"
    ctv = org["ctv1"]
    await ctv.press("📝 Gửi báo cáo", chat_id=world.groups[GROUP])
    await fill_monthly(ctv, content="Người dân đồng tình với chủ trương sáp nhập.")
    await ctv.press("✅ Gửi báo cáo")
    november = await org["leader"].send("/summary 11/2026")
    assert "Số báo cáo đầy đủ nhận được: 1" in november.text, november.text
    december = await org["leader"].send("/summary 12/2026")
    assert "Số báo cáo đầy đủ nhận được: 1" not in december.text

"""Zalo collaborators and staff, through the sandbox's Zalo Bot API, beside Telegram."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
from sqlmodel import select

from bot.onboarding import create_invite
from bot.sandbox import SandboxClient, SandboxServer
from storage.models import (
    Acknowledgement,
    Draft,
    Inbox,
    Outbox,
    OutboxStatus,
    PersonIdentity,
    Reachability,
    ReportChannel,
    Role,
    Topic,
    TopicKind,
)
from tests.e2e.flows import fill_monthly, publish_topic, this_month
from tests.e2e.harness import Persona, World, ZaloPersona, drop_database, make_world


async def test_a_zalo_collaborator_gets_the_topic_and_reports_with_numbers_and_words(
    world: World, org: dict[str, Persona]
) -> None:
    zalo = await world.member("zalo", "Lan Zalo", unit="HUYEN_A", full_name="Nguyễn Thị Lan")
    assert isinstance(zalo, ZaloPersona)
    await publish_topic(org["staff"])
    [push] = [m for m in await zalo.bot_messages() if "Chủ đề định hướng" in m["text"]]
    assert "<b>" not in push["text"] and "báo cáo 1" in push["text"]

    reply = await zalo.send("báo cáo 1")
    assert "Câu 1/10." in reply.text and "1. Kinh tế – đời sống" in reply.text
    reply = await zalo.send("không rõ lắm")
    assert "Xin trả lời bằng số thứ tự của một lựa chọn ở trên" in reply.text and "Câu 1/10." in reply.text
    reply = await zalo.send("1 42")
    assert "Không có lựa chọn số 42" in reply.text and "Câu 1/10." in reply.text
    reply = await zalo.send("1, 2")
    assert "Câu 2/10." in reply.text
    reply = await zalo.send("quay lai")
    assert "Câu 1/10." in reply.text and "1. Kinh tế – đời sống ✓" in reply.text
    await zalo.send("1")
    await zalo.send("2")  # mood
    await zalo.send("Đồng tình")  # trend, by its label
    reply = await zalo.send("Người dân đồng tình với chủ trương sáp nhập xã, mong sớm ổn định.")
    assert "Câu 5/10." in reply.text
    await zalo.send("1")
    await zalo.send("1")
    await zalo.send("2")
    reply = await zalo.send("2")  # urgency
    assert "bỏ qua" in reply.text
    await zalo.send("bỏ qua")
    reply = await zalo.send("Bỏ qua")
    assert "Kiểm tra lại báo cáo" in reply.text and "“gửi”" in reply.text
    reply = await zalo.send("sửa 6")
    assert "Phạm vi lan truyền" in reply.text
    await zalo.send("3")  # Tỉnh, thành phố
    reply = await zalo.send("gửi")
    assert "Cảm ơn đồng chí! Đã nhận báo cáo số 1" in reply.text

    [report] = await world.reports()
    person = await world.person(zalo)
    assert person is not None and report.person_id == person.id
    assert report.channel == ReportChannel.PRIVATE and report.topic_id == 1
    assert report.answers["linh_vuc"] == ["kinh_te_doi_song"] and report.answers["pham_vi"] == "tinh"


async def test_zalo_staff_member_is_recognised(world: World) -> None:
    staff = await world.member("zalo", "Cán bộ Zalo", unit="TINH", role=Role.STAFF)
    reply = await staff.send("/help")
    assert "/topic" in reply.text


async def test_a_newcomer_registers_on_zalo_with_the_invite_code(
    world: World, org: dict[str, Persona]
) -> None:
    staff = org["staff"]
    await staff.send("/invite")
    await staff.press("Huyện Bình Minh")
    await staff.send("1")
    await staff.press("7 ngày")
    reply = await staff.press("🔗 Tạo liên kết")
    assert "Trên Telegram, mở: https://t.me/" in reply.text and "Trên Zalo, nhắn cho bot mã:" in reply.text
    code = reply.text.split("Trên Zalo, nhắn cho bot mã:")[1].split()[0]
    assert len(code) == 11 and code[5] == "-"

    hoa = await world.zalo_person("Hoa")
    reply = await hoa.send("xin chào")
    assert "mã mời" in reply.text  # a stranger is told to send the code
    reply = await hoa.send(code.lower().replace("-", " "))
    assert "Họ và tên" not in reply.text  # a code with a space in it is not a code
    reply = await hoa.send(code.lower())
    assert "Chào mừng đồng chí" in reply.text and "Họ và tên" in reply.text
    reply = await hoa.send("Nguyễn Thị Hoa")
    assert "Số điện thoại" in reply.text and "Nhập số điện thoại" in reply.text
    reply = await hoa.send("12345")
    assert "Số điện thoại không hợp lệ" in reply.text and "Số điện thoại" in reply.text
    reply = await hoa.share_contact("0912000111")
    assert "Lĩnh vực công tác" in reply.text
    reply = await hoa.press("Giáo dục")
    assert "Xin xác nhận thông tin" in reply.text and "0912000111" in reply.text
    reply = await hoa.press("✅ Tôi đồng ý và đăng ký")
    assert "Đăng ký thành công" in reply.text and "Huyện Bình Minh" in reply.text

    person = await world.person(hoa)
    assert person is not None and person.full_name == "Nguyễn Thị Hoa" and person.phone == "0912000111"
    assert person.unit_id == world.units["HUYEN_A"].id
    reply = await hoa.send(code)
    assert "đã đăng ký là thành viên" in reply.text  # the code cannot register anyone twice


async def test_an_invite_code_works_as_start_code_on_zalo(world: World, org: dict[str, Persona]) -> None:
    async with world.sessions() as session:
        _invite, code = await create_invite(
            session=session,
            unit=world.units["HUYEN_B"],
            created_by=None,
            uses=1,
            days=7,
            now=world.clock.now(),
        )
        await session.commit()
    tam = await world.zalo_person("Tâm")
    reply = await tam.send(f"/start {code}")
    assert "Chào mừng đồng chí" in reply.text and "Họ và tên" in reply.text
    reply = await tam.send("/start KHONG-COMA")
    assert "Họ và tên" not in reply.text


async def test_an_urgent_matter_is_confirmed_on_zalo_and_counted_with_telegram(
    world: World, org: dict[str, Persona]
) -> None:
    lan = await world.member("zalo", "Lan", unit="HUYEN_A", full_name="Zalo Lan")
    minh = await world.member("zalo", "Minh", unit="HUYEN_A", full_name="Zalo Minh")
    staff = org["staff"]
    await staff.send("/urgent")
    await staff.send("Thông tin sai sự thật về giá đất lan truyền trên mạng xã hội, đề nghị nắm tình hình.")
    await staff.press("⏭ Bỏ qua")
    await staff.press("Tất cả đơn vị trong phạm vi phụ trách")
    await staff.send("18:00 11/11")
    await staff.press("🚨 Gửi")
    await world.delivered()
    [push] = [m for m in await lan.bot_messages() if "ĐỘT XUẤT" in m["text"]]
    # urgent matters have their own numbers, tagged K (topics are 1, 2…)
    assert "“đã nhận”" in push["text"] and "báo cáo K1" in push["text"]

    reply = await lan.send("Đã nhận")
    assert "✅ Cảm ơn" in reply.text
    reply = await lan.send("đã nhận")
    assert "từ trước" in reply.text
    reply = await minh.send("1")
    assert "✅ Cảm ơn" in reply.text
    await org["ctv1"].press("✅ Đã nhận")  # and one on Telegram: counted together
    status = await staff.send("/urgent_status")
    assert "Theo kênh: Telegram 4 · Zalo 2" in status.text
    assert "Huyện Bình Minh: 5 cộng tác viên · ✅ đã nhận 3" in status.text

    reply = await minh.send("báo cáo 1")  # there is no topic 1, only urgent matter K1
    assert reply.texts == ["Chủ đề này không tồn tại hoặc chưa mở nhận báo cáo."], reply.texts
    reply = await minh.send("báo cáo K1")
    assert "Câu 1/" in reply.text


async def test_the_control_words_work_typed_as_commands_too(world: World, org: dict[str, Persona]) -> None:
    """A person used to Telegram types "/hủy": in a form, the words work with a slash."""
    zalo = await world.member("zalo", "Lan Zalo", unit="HUYEN_A", full_name="Nguyễn Thị Lan")
    assert isinstance(zalo, ZaloPersona)
    await publish_topic(org["staff"])
    reply = await zalo.send("/huy")  # nothing open: an unknown command, as before
    assert "Không rõ lệnh" in reply.text, reply.texts
    await zalo.send("báo cáo 1")
    reply = await zalo.send("1 2")
    assert "Câu 2/10." in reply.text
    reply = await zalo.send("/quay lại")
    assert "Câu 1/10." in reply.text and "1. Kinh tế – đời sống ✓" in reply.text
    reply = await zalo.send("/Bỏ qua")
    assert "⚠️ Câu hỏi này bắt buộc, không thể bỏ qua." in reply.text
    reply = await zalo.send("/hủy")
    assert reply.texts == ["Đã hủy. Không có gì được lưu."], reply.texts
    async with world.sessions() as session:
        assert (await session.exec(select(Draft))).all() == []
    assert await world.reports() == []


async def test_bad_input_on_zalo_gets_a_clear_line_and_changes_nothing(
    world: World, org: dict[str, Persona]
) -> None:
    lan = await world.member("zalo", "Lan", unit="HUYEN_A")
    for reply in [await lan.send_sticker(), await lan.send_unsupported()]:
        assert "Xin trả lời bằng chữ, ảnh hoặc tệp" in reply.text
    reply = await lan.send("/lenh_la")
    assert "Không rõ lệnh" in reply.text
    reply = await lan.send("")
    assert "Xin trả lời bằng chữ, ảnh hoặc tệp" in reply.text
    reply = await lan.send("/report")
    assert "Câu 1/" in reply.text
    reply = await lan.send_photo()
    assert "Xin nhập câu trả lời bằng chữ" in reply.text and "Câu 1/" in reply.text
    reply = await lan.send("x" * 5000)
    assert "Quá dài" in reply.text and "Câu 1/" in reply.text
    assert all(len(m["text"]) <= 2000 for m in await lan.bot_messages())
    reply = await lan.send("hủy")
    assert "Đã hủy" in reply.text
    assert await world.reports() == []


async def test_a_zalo_group_is_set_up_gets_the_topic_and_its_tagged_messages_are_quick_reports(
    world: World, org: dict[str, Persona]
) -> None:
    staff = await world.member("zalo", "Cán bộ Zalo", unit="TINH", role=Role.STAFF)
    lan = await world.member("zalo", "Lan", unit="HUYEN_A", full_name="Zalo Lan")
    assert isinstance(staff, ZaloPersona) and isinstance(lan, ZaloPersona)
    group = await world.zalo_group("Nhóm CTV Zalo", [staff, lan])
    reply = await staff.send("/setup", group=group)
    assert "Nhóm này thuộc đơn vị nào?" in reply.text and "/1, /2" in reply.text
    units = reply.buttons()
    reply = await staff.send(f"/{units.index('Huyện Bình Minh') + 1}", group=group)
    assert "Huyện Bình Minh" in reply.text and "đã được đăng ký" in reply.text

    await publish_topic(org["staff"])
    [post] = [m for m in await lan.bot_messages(group) if "Chủ đề định hướng" in m["text"]]
    assert "bắt đầu tin nhắn bằng #1" in post["text"] and "báo cáo 1" in post["text"]

    async with world.sessions() as session:
        before = len((await session.exec(select(Inbox))).all())
    chatter = await lan.send("Mọi người ăn cơm chưa?", group=group)
    assert chatter.messages == []
    async with world.sessions() as session:
        assert len((await session.exec(select(Inbox))).all()) == before  # not stored at all
    reply = await lan.send("#7 chủ đề không có ở đây", group=group)
    assert reply.messages == []
    reply = await lan.send("#1 Bà con thôn 2 đồng tình, đề nghị giữ tên làng trong địa chỉ mới.", group=group)
    assert reply.texts == ["👍 Đã ghi nhận, cảm ơn đồng chí."]
    [report] = await world.reports()
    assert report.channel == ReportChannel.GROUP_REPLY and report.topic_id == 1
    assert report.text == "Bà con thôn 2 đồng tình, đề nghị giữ tên làng trong địa chỉ mới."

    # an urgent matter in the group: its tag is K1 (topics and urgent matters are numbered apart)
    await org["staff"].send("/urgent")
    await org["staff"].send(
        "Thông tin sai sự thật về giá đất lan truyền trên mạng xã hội, đề nghị nắm tình hình."
    )
    await org["staff"].press("⏭ Bỏ qua")
    await org["staff"].press("Tất cả đơn vị trong phạm vi phụ trách")
    await org["staff"].send("18:00 11/11")
    await org["staff"].press("🚨 Gửi")
    await world.delivered()
    [urgent_post] = [m for m in await lan.bot_messages(group) if "ĐỘT XUẤT" in m["text"]]
    assert "nhắn “#K1 đã nhận” trong nhóm" in urgent_post["text"] and "bằng #K1" in urgent_post["text"]
    reply = await lan.send("#k1 đã nhận", group=group)
    assert "✅" in reply.text
    reply = await lan.send("#K1 Người dân xôn xao về giá đất ở thôn 4.", group=group)
    assert reply.texts == ["👍 Đã ghi nhận, cảm ơn đồng chí."]
    async with world.sessions() as session:
        urgent = (await session.exec(select(Topic).where(Topic.kind == TopicKind.URGENT))).one()
        assert urgent.number == 1 and urgent.id == 2
        acks = (await session.exec(select(Acknowledgement))).all()
        assert [ack.topic_id for ack in acks] == [urgent.id]
    quick = [r for r in await world.reports() if r.topic_id == urgent.id]
    assert [r.text for r in quick] == ["Người dân xôn xao về giá đất ở thôn 4."]


async def test_a_webhook_stores_each_event_once_and_refuses_a_wrong_secret(
    sandbox: SandboxServer, sandbox_client: SandboxClient, tmp_path: Path
) -> None:
    port = _free_port()
    world = await make_world(
        sandbox_client,
        sandbox.base_url,
        tmp_path,
        zalo_webhook_url=f"http://127.0.0.1:{port}/zalo/hook",
        zalo_webhook_secret="zalo-secret-123",
        webhook_port=port,
    )
    try:
        lan = await world.member("zalo", "Lan", unit="HUYEN_A")
        async with world.sessions() as session:
            stored = len((await session.exec(select(Inbox))).all())
        event = {
            "event_name": "message.text.received",
            "message": {
                "message_id": "forged-1",
                "chat": {"id": "x", "chat_type": "PRIVATE"},
                "from": {"id": "x", "display_name": "Giả"},
                "date": 1,
                "text": "/help",
            },
        }
        async with aiohttp.ClientSession() as http:
            for headers in (
                {},
                {"X-Bot-Api-Secret-Token": "wrong"},
                {"X-Bot-Api-Secret-Token": "mật khẩu sai"},
            ):
                async with http.post(
                    f"http://127.0.0.1:{port}/zalo/hook", json=event, headers=headers
                ) as answer:
                    assert answer.status == 401
        async with world.sessions() as session:
            assert len((await session.exec(select(Inbox))).all()) == stored

        reply = await lan.send("/help")
        assert "Đồng chí có thể" in reply.text
        sent = await world.client.zalo_send_text(world.zalo_token, lan.zalo_id, "/help")
        await world.settle(sent.update_id)
        await world.client.zalo_redeliver(world.zalo_token, sent.message_id)
        await world.client.zalo_redeliver(world.zalo_token, sent.message_id)
        for _ in range(200):  # until the bot has taken all three with a 200
            if await world.client.zalo_webhook_deliveries(sent.message_id) == 3:
                break
            await asyncio.sleep(0.02)
        assert await world.client.zalo_webhook_deliveries(sent.message_id) == 3
        await world.quiet()
        answers = [m for m in await lan.bot_messages() if "Đồng chí có thể" in m["text"]]
        assert len(answers) == 3  # /help twice before, and once for the event sent three times
    finally:
        await world.app.stop()
        await drop_database(world.app.settings.database_url)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_zalo_staff_publish_a_topic_to_both_channels_and_a_zalo_leader_reads_the_summary(
    world: World, org: dict[str, Persona]
) -> None:
    staff = await world.member("zalo", "Cán bộ Zalo", unit="TINH", role=Role.STAFF)
    leader = await world.member("zalo", "Lãnh đạo Zalo", unit="TINH", role=Role.LEADER)
    lan = await world.member("zalo", "Lan", unit="HUYEN_A", full_name="Zalo Lan")
    reply = await staff.send("/topic")
    assert "Câu 1/" in reply.text
    await staff.send("Sáp nhập đơn vị hành chính cấp xã")
    await staff.send("Nắm bắt dư luận về việc sắp xếp, sáp nhập đơn vị hành chính cấp xã trên địa bàn.")
    await staff.press("Báo cáo tình hình dư luận xã hội định kỳ")
    await staff.press(this_month(world))
    await staff.press("Tất cả đơn vị trong phạm vi phụ trách")
    reply = await staff.send("25/11/2026")
    assert "1. 📢 Ngay bây giờ" in reply.text
    reply = await staff.send("1")
    assert "Xem trước khi đăng" in reply.text and "“gửi”" in reply.text
    reply = await staff.send("gửi")
    assert "Đã đăng chủ đề số 1" in reply.text
    await world.delivered()
    progress = [m["text"] for m in await staff.bot_messages() if m["text"].startswith("📤")]
    assert 1 <= len(progress) <= 5, progress  # new messages at milestones, not one per edit
    assert "Hoàn tất" in progress[-1] and "/broadcasts" not in progress[-1]
    # Telegram and Zalo collaborators both got it
    assert any("Chủ đề định hướng" in m["text"] for m in await lan.bot_messages())
    telegram_push = await org["ctv1"].wait_for_text("📢")
    assert "Sáp nhập đơn vị hành chính cấp xã" in telegram_push["text"]

    reply = await staff.send("/broadcasts")
    assert "Các đợt gửi gần đây" in reply.text and "Số 1 ·" in reply.text

    await lan.send("báo cáo 1")
    await lan.answer_steps("1", "xong", "1", "1")
    await lan.send("Người dân đồng tình với chủ trương sáp nhập, mong sớm ổn định bộ máy.")
    await lan.answer_steps("1", "1", "1", "1", "bỏ qua", "bỏ qua", "gửi")
    reply = await leader.send("/summary 11/2026")
    assert "Số báo cáo đầy đủ nhận được: 1" in reply.text and "(1/5" in reply.text
    assert "Theo kênh: Telegram 4 · Zalo 1 cộng tác viên" in reply.text
    assert "<b>" not in reply.text


async def test_a_zalo_draft_survives_a_restart_and_a_report_can_be_replaced(
    world: World, org: dict[str, Persona]
) -> None:
    lan = await world.member("zalo", "Lan", unit="HUYEN_A")
    await publish_topic(org["staff"])
    await lan.send("báo cáo 1")
    await lan.send("2")
    await world.app.stop()
    await world.app.start()
    reply = await lan.send("/start")
    assert "tiếp tục" in reply.text.lower() and "Câu 2/" in reply.text
    await lan.send("1")
    await lan.send("1")
    await lan.send("Người dân đồng tình với chủ trương sáp nhập, mong sớm ổn định bộ máy.")
    await lan.answer_steps("1", "1", "1", "1", "bỏ qua", "bỏ qua", "gửi")
    reply = await lan.send("báo cáo 1")
    assert "Đồng chí đã gửi báo cáo số 1" in reply.text and "1. ✏️ Thay thế" in reply.text
    reply = await lan.send("3")
    assert "Không có lựa chọn số 3" in reply.text and "1. ✏️ Thay thế" in reply.text
    reply = await lan.send("2")
    assert "Đã giữ nguyên" in reply.text
    await lan.send("báo cáo 1")
    reply = await lan.send("1")
    assert "Câu 1/" in reply.text
    [report] = await world.reports()
    assert report.revision == 1


async def test_a_zalo_person_who_blocked_the_bot_is_unreachable(
    world: World, org: dict[str, Persona]
) -> None:
    lan = await world.member("zalo", "Lan", unit="HUYEN_A")
    assert isinstance(lan, ZaloPersona)
    await world.client.zalo_block(world.zalo_token, lan.zalo_id)
    await publish_topic(org["staff"])
    person = await world.person(lan)
    assert person is not None and person.reachability == Reachability.BLOCKED
    async with world.sessions() as session:
        rows = (await session.exec(select(Outbox).where(Outbox.person_id == person.id))).all()
    assert [row.status for row in rows] == [OutboxStatus.UNREACHABLE]


async def test_one_person_on_both_channels_after_link(world: World, org: dict[str, Persona]) -> None:
    an = org["ctv1"]
    reply = await an.send("/link")
    code = reply.text.split("/link ")[1].split()[0]
    zalo = await world.zalo_person("An trên Zalo")
    reply = await zalo.send("/link SAI00-MA000")
    assert "không hợp lệ" in reply.text
    reply = await zalo.send(f"/link {code}")
    assert "Đã liên kết" in reply.text and "Cộng tác viên 1" in reply.text
    told = await an.wait_for_text(
        "Tư cách thành viên của đồng chí vừa được dùng trên một tài khoản khác (Zalo)"
    )
    assert "báo ngay cho cán bộ" in told["text"]  # the account it left is told
    reply = await zalo.send(f"/link {code}")
    assert "không hợp lệ hoặc đã hết hạn" in reply.text  # single use
    stranger = await world.zalo_person("Người khác")
    reply = await stranger.send(code)
    assert "không hợp lệ hoặc đã hết hạn" in reply.text

    await publish_topic(org["staff"])
    assert any("Chủ đề định hướng" in m["text"] for m in await zalo.bot_messages())  # DMs come here now
    await zalo.send("báo cáo 1")
    await fill_monthly(zalo, content="Người dân đồng tình với chủ trương sáp nhập xã, mong sớm ổn định.")
    reply = await zalo.press("✅ Gửi báo cáo")
    assert "Đã nhận báo cáo số 1" in reply.text
    [report] = await world.reports()
    async with world.sessions() as session:
        identities = (
            await session.exec(select(PersonIdentity).where(PersonIdentity.person_id == report.person_id))
        ).all()
    # the same person on both channels
    assert {i.address for i in identities} == {an.user_id, await zalo.address()}

    reply = await zalo.send("/link")  # and back to Telegram
    code = reply.text.split("/link ")[1].split()[0]
    reply = await an.send(f"/link {code}")
    assert "Đã liên kết" in reply.text
    person = await world.person(an)
    assert person is not None and person.chat_id == an.user_id
    stranger_reply = await (await world.zalo_person("Chưa đăng ký")).send("/link")
    assert "Chỉ thành viên đã đăng ký" in stranger_reply.text


async def test_zalo_staff_send_an_urgent_matter_see_its_status_and_make_an_invite(
    world: World, org: dict[str, Persona]
) -> None:
    staff = await world.member("zalo", "Cán bộ Zalo", unit="TINH", role=Role.STAFF)
    lan = await world.member("zalo", "Lan", unit="HUYEN_A")
    reply = await staff.send("/urgent")
    assert "Câu 1/" in reply.text
    await staff.send("Thông tin sai sự thật về giá đất lan truyền trên mạng xã hội, đề nghị nắm tình hình.")
    reply = await staff.send("bỏ qua")  # no photo
    assert "1. Tất cả đơn vị trong phạm vi phụ trách" in reply.text
    await staff.send("1")
    reply = await staff.send("ngày mai")
    assert "Xin nhập hạn theo một trong các dạng" in reply.text and "Câu 4/" in reply.text
    reply = await staff.send("18:00 11/11")
    assert "Xem trước khi gửi" in reply.text
    reply = await staff.send("gửi")
    assert "Đang gửi vấn đề đột xuất số K1" in reply.text
    await world.delivered()
    await lan.send("đã nhận")
    status = await staff.send("/urgent_status 1")
    assert "✅ đã nhận 1" in status.text and "Theo kênh: Telegram 4 · Zalo 1 cộng tác viên" in status.text
    bad = await staff.send("/urgent_status số một")
    assert "Xin ghi số của vấn đề đột xuất" in bad.text

    await staff.send("/invite")
    reply = await staff.send("2")  # the units are numbered in order
    assert "Câu 2/" in reply.text
    await staff.send("3")
    await staff.press("7 ngày")
    reply = await staff.send("gửi")
    assert "Trên Zalo, nhắn cho bot mã:" in reply.text


async def test_a_photo_from_zalo_reaches_telegram_or_its_text_does(
    world: World, org: dict[str, Persona]
) -> None:
    staff = await world.member("zalo", "Cán bộ Zalo", unit="TINH", role=Role.STAFF)
    assert isinstance(staff, ZaloPersona)
    for photo, shown in [
        ("https://zalo.example/anh-hien-truong.jpg", True),
        ("https://unreachable.example/a.jpg", False),
    ]:
        await staff.send("/urgent")
        await staff.send(
            "Thông tin sai sự thật về giá đất lan truyền trên mạng xã hội, đề nghị nắm tình hình."
        )
        sent = await world.client.zalo_send_photo(world.zalo_token, staff.zalo_id, photo=photo)
        await world.settle(sent.update_id)
        await staff.send("1")
        await staff.send("18:00 11/11")
        await staff.send("gửi")
        await world.delivered()
        last = (await world.client.chat_messages(org["ctv1"].user_id))[-1]
        assert "Thông tin sai sự thật về giá đất" in (last.get("caption") or last.get("text") or "")
        assert bool(last.get("photo")) is shown
    async with world.sessions() as session:
        failed = (await session.exec(select(Outbox).where(Outbox.status != OutboxStatus.SENT))).all()
    assert failed == []


async def test_a_message_pushed_after_a_menu_takes_its_numbers(world: World, org: dict[str, Persona]) -> None:
    """The menu of /lang, left unanswered, does not catch the 1 meant for a later urgent matter."""
    lan = await world.member("zalo", "Lan", unit="HUYEN_A")
    reply = await lan.send("/lang")
    assert "1. 🇻🇳 Tiếng Việt" in reply.text
    staff = org["staff"]
    await staff.send("/urgent")
    await staff.send("Thông tin sai sự thật về giá đất lan truyền trên mạng xã hội, đề nghị nắm tình hình.")
    await staff.press("⏭ Bỏ qua")
    await staff.press("Tất cả đơn vị trong phạm vi phụ trách")
    await staff.send("18:00 11/11")
    await staff.press("🚨 Gửi")
    await world.delivered()
    reply = await lan.send("1")
    assert "✅ Cảm ơn" in reply.text


async def test_a_photo_tagged_in_a_zalo_group_is_a_quick_report(
    world: World, org: dict[str, Persona]
) -> None:
    lan = await world.member("zalo", "Lan", unit="HUYEN_A")
    assert isinstance(lan, ZaloPersona)
    group = await world.zalo_group("Nhóm Zalo", [lan], unit="HUYEN_A")
    await publish_topic(org["staff"])
    reply = await lan.send_photo(caption="#1 Ảnh cuộc họp thôn về sáp nhập xã", group=group)
    assert reply.texts == ["👍 Đã ghi nhận, cảm ơn đồng chí."]
    [report] = await world.reports()
    assert report.channel == ReportChannel.GROUP_REPLY and report.text == "Ảnh cuộc họp thôn về sáp nhập xã"
    assert report.answers["minh_chung"]["kind"] == "photo"

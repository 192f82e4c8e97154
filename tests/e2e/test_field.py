"""Issue 19: the bot as people in the field type to it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlmodel import col, select

from bot.app import Application
from bot.onboarding import create_invite
from bot.sandbox import SandboxClient, SandboxServer
from storage import facts
from storage.models import Draft, Report, Role, Unit
from tests.e2e.flows import fill_monthly, publish_topic, send_urgent, topic_post_id
from tests.e2e.harness import Persona, World, drop_database, make_world

GROUP = "CTV Huyện Bình Minh"


async def test_commands_in_any_case_and_only_those_addressed_to_this_bot(
    world: World, org: dict[str, Persona]
) -> None:
    ctv, leader = org["ctv1"], org["leader"]
    reply = await ctv.send("/HELP")
    assert "Đồng chí có thể" in reply.text
    reply = await leader.send("/Summary")
    assert "📊 Tổng hợp tình hình dư luận xã hội tháng" in reply.text, reply.text
    group = world.groups[GROUP]
    # a group may hold other bots: a command naming one of them is theirs, not a word from us
    reply = await leader.send("/summary@OtherBot", chat_id=group)
    assert reply.messages == []
    reply = await ctv.send("/report@OtherBot", chat_id=group)
    assert reply.messages == []
    reply = await leader.send(f"/summary@{world.bot_username}", chat_id=group)
    assert "📊 Tổng hợp tình hình dư luận xã hội tháng" in reply.text, reply.text
    reply = await leader.send("/setup")
    assert reply.texts == ["Nhóm được đăng ký từ bên trong nhóm: xin gửi /setup ngay trong nhóm đó."]


async def test_the_boards_name_is_a_setting_used_by_every_text(
    sandbox: SandboxServer, sandbox_client: SandboxClient, tmp_path: Path
) -> None:
    name = "Ban Tuyên giáo & Dân vận Tỉnh ủy Quảng Ninh"
    world = await make_world(sandbox_client, sandbox.base_url, tmp_path, board_name=name)
    try:
        stranger = await world.person_named("Khách")
        reply = await stranger.send("/start")
        assert (
            "mở liên kết mời do cán bộ Ban Tuyên giáo &amp; Dân vận Tỉnh ủy Quảng Ninh gửi"
            in reply.last["html"]
        )
        assert "cán bộ Ban Tuyên giáo & Dân vận Tỉnh ủy Quảng Ninh gửi" in reply.text
        reply = await stranger.send("/topic")
        assert reply.texts == [f"Xin lỗi, lệnh này chỉ dành cho cán bộ {name}."]
    finally:
        await world.app.stop()
        await drop_database(world.app.settings.database_url)


async def test_help_lists_the_same_commands_as_the_menu_of_each_role(
    world: World, org: dict[str, Persona]
) -> None:
    """Issue 19: /help and the command menu come from one policy, so they agree, role by role."""
    await world.app.stop()  # staff and leaders seeded before this start get their menus at start
    world.app = Application(settings=world.app.settings, clock=world.clock)
    await world.app.start()
    await world.delivered()
    menus = await world.client.commands(world.bot_token)
    default = menus[json.dumps([{"type": "all_private_chats"}, ""], sort_keys=True)]
    for name in ("staff", "leader", "ctv1"):
        persona = org[name]
        scope = json.dumps([{"type": "chat", "chat_id": persona.user_id}, ""], sort_keys=True)
        menu = {command["command"] for command in menus.get(scope, default)}
        shown = set(re.findall(r"^/(\w+) — ", (await persona.send("/help")).text, re.MULTILINE))
        assert shown | {"help"} == menu | ({"setup"} if name == "staff" else set()), name


async def test_staff_read_the_summary_of_their_scope(world: World, org: dict[str, Persona]) -> None:
    """Issue 19: staff write the monthly report, so they read /summary as leaders do."""
    await publish_topic(org["staff"])
    reply = await org["district_staff"].send("/summary")
    assert "📊 Tổng hợp tình hình dư luận xã hội tháng 11/2026" in reply.text
    assert "Huyện Hòa Thuận" in reply.text and "Huyện Bình Minh" not in reply.text


async def test_an_incident_or_urgent_report_reaches_the_staff_of_its_unit_and_the_one_above(
    world: World, org: dict[str, Persona]
) -> None:
    """Issue 19: reported as urgent, or as an incident, it is sent at once to the staff of the
    reporter's unit and its parent, with a button that opens the whole report."""
    own = await world.person_named("Cán bộ huyện A")
    await world.seed_member(own, unit="HUYEN_A", role=Role.STAFF)
    await own.send("/help")
    province, other = org["staff"], org["district_staff"]  # TINH (the parent), HUYEN_B
    await other.send("/help")
    await province.send("/help")  # both have opened the bot, as staff have
    ctv = org["ctv1"]  # HUYEN_A
    await ctv.send("/report")
    await ctv.send("Tranh chấp đất đai kéo dài tại thôn 3, nhiều hộ kiến nghị")
    await ctv.send("Xã Hòa Bình")
    await ctv.send("09/11")
    await ctv.press("Bức xúc")
    await ctv.press("Xã, phường, đặc khu")
    await ctv.press("Không")  # not on social media
    await ctv.press("Khẩn cấp")
    await ctv.press("⏭ Bỏ qua")
    await ctv.press("⏭ Bỏ qua")
    await ctv.press("✅ Gửi báo cáo")
    await world.delivered()
    for staff in (own, province):
        alert = await staff.wait_for_text("🚨 Báo cáo khẩn cấp số 1 của Huyện Bình Minh")
        assert "Người gửi: Cộng tác viên 1" in alert["text"]
        assert "Tranh chấp đất đai kéo dài tại thôn 3" in alert["text"]
    others = [m.get("text", "") for m in await world.client.chat_messages(other.user_id)]
    assert not any("Báo cáo khẩn cấp" in text for text in others), "not another district's staff"
    opened = await province.press("📄 Xem toàn văn báo cáo")
    assert "📄 Báo cáo số 1 · Huyện Bình Minh" in opened.text
    assert "Mức độ" in opened.text and "Khẩn cấp" in opened.text and "Xã Hòa Bình" in opened.text

    # an ordinary monthly report is not announced to anyone
    await publish_topic(province)
    await ctv.press("📝 Gửi báo cáo", chat_id=world.groups[GROUP])
    await fill_monthly(ctv, content="Người dân đồng tình với chủ trương.")
    await ctv.press("✅ Gửi báo cáo")
    await world.delivered()
    alerts = [m for m in await world.client.chat_messages(own.user_id) if "Báo cáo" in m.get("text", "")[:20]]
    assert len(alerts) == 1


async def test_start_shows_a_collaborator_what_is_open_and_what_they_answered(
    world: World, org: dict[str, Persona]
) -> None:
    """Issue 19: /start (nothing to resume) lists the open topics and urgent matters for the
    person, answered or not, above the help."""
    ctv = org["ctv1"]
    reply = await ctv.send("/start")
    assert reply.text.startswith("Hiện chưa có chủ đề hay vấn đề đột xuất nào đang mở cho đồng chí.")
    await publish_topic(org["staff"])
    await send_urgent(org["staff"])
    await org["staff"].press("🚨 Gửi")
    await world.delivered()
    reply = await ctv.send("/start")
    assert "Đang mở cho đồng chí:" in reply.text
    assert (
        "📢 Chủ đề số 1: Sáp nhập đơn vị hành chính cấp xã (hạn 23:59 25/11/2026) — 📝 chưa báo cáo: gửi báo cáo"
        in reply.text
    )
    assert (
        "🚨 Vấn đề đột xuất số K1:" in reply.text
        and "(hạn 18:00 11/11/2026) — chưa xác nhận đã nhận" in reply.text
    )
    assert "start=r1" in reply.last["html"]  # "gửi báo cáo" opens the topic's report
    assert "Đồng chí có thể" in reply.text  # the help follows

    await ctv.press("✅ Đã nhận")
    await ctv.press("📝 Gửi báo cáo", chat_id=world.groups[GROUP])
    await fill_monthly(ctv, content="Người dân đồng tình với chủ trương sáp nhập.")
    await ctv.press("✅ Gửi báo cáo")
    reply = await ctv.send("/start")
    assert "(hạn 23:59 25/11/2026) — ✅ đã gửi báo cáo số 1" in reply.text
    assert "— ✅ đã xác nhận đã nhận — 📝 chưa báo cáo" in reply.text

    zalo = await world.member("zalo", "Lan", unit="HUYEN_A")
    reply = await zalo.send("/start")
    assert "📝 chưa báo cáo: gõ “báo cáo 1”" in reply.text


async def test_summary_names_urgent_reports_and_proposals_and_counts_quick_opinions_apart(
    world: World, org: dict[str, Persona]
) -> None:
    """Issue 19: /summary lists the reports marked urgent and the proposals, and a one-line
    reply in a group is a quick opinion, counted apart so that the rate and the percentages
    are of the same full reports."""
    await publish_topic(org["staff"])
    group = world.groups[GROUP]
    ctv = org["ctv1"]
    await ctv.press("📝 Gửi báo cáo", chat_id=group)
    await fill_monthly(
        ctv, content="Người dân lo lắng về việc đền bù giải phóng mặt bằng.", urgency="Khẩn cấp"
    )
    await ctv.press("✏️ 9")  # the proposal, skipped by fill_monthly
    await ctv.send("Đề nghị tổ chức đối thoại với các hộ dân trước khi kiểm đếm.")
    await ctv.press("✅ Gửi báo cáo")
    post = await topic_post_id(world, group)
    await org["ctv2"].send("Bà con đồng tình với chủ trương.", chat_id=group, reply_to=post)
    await world.delivered()
    reply = await org["leader"].send("/summary")
    text = reply.text
    assert "Số báo cáo đầy đủ nhận được: 1" in text
    assert "Tỷ lệ báo cáo: 25,0% (1/4 cộng tác viên đã gửi báo cáo đầy đủ)" in text
    assert "Ý kiến nhanh trong nhóm: 1 (mỗi ý kiến một dòng trả lời chủ đề" in text
    assert "Mức độ (trên 1 báo cáo đầy đủ)" in text
    assert (
        "🚨 Báo cáo khẩn cấp (1)\n— Người dân lo lắng về việc đền bù giải phóng mặt bằng. (Huyện Bình Minh"
        in text
    )
    assert (
        "Đề xuất, kiến nghị với cấp ủy (1)\n— Đề nghị tổ chức đối thoại với các hộ dân trước khi kiểm đếm."
        in text
    )
    assert "• Huyện Bình Minh: 1 báo cáo, 1 ý kiến nhanh, 1/3 cộng tác viên (33,3%)" in text
    async with world.sessions() as session:
        stored = (await session.exec(select(Report).where(Report.channel == "private"))).one()
        assert stored.proposal == "Đề nghị tổ chức đối thoại với các hộ dân trước khi kiểm đếm."


async def test_a_person_whose_telegram_is_in_english_gets_english_until_they_choose(
    world: World, org: dict[str, Persona]
) -> None:
    """Issue 19: the Telegram client's language (language_code "en") is used until /lang."""
    stranger = await world.person_named("John", language_code="en-GB")
    reply = await stranger.send("/start")
    assert "open the invite link" in reply.text, reply.text
    async with world.sessions() as session:
        unit = world.units["HUYEN_A"]
        _invite, token = await create_invite(
            session=session, unit=unit, created_by=None, uses=1, days=7, now=world.clock.now()
        )
        await session.commit()
    reply = await stranger.send(f"/start {token}")
    assert "Question 1/3. Your full name" in reply.text, reply.text
    await stranger.send("John Nguyen")
    await stranger.share_contact("+84 912 000 222")
    await stranger.press("Education")
    reply = await stranger.press("✅ I agree and register")
    assert "Registration complete" in reply.text, reply.text
    await publish_topic(org["staff"])  # pushed in the language the person reads
    pushed = await stranger.wait_for_text("📢")
    assert "Guidance topic" in pushed["text"], pushed["text"]
    reply = await stranger.send("/lang")
    reply = await stranger.press("🇻🇳 Tiếng Việt")
    reply = await stranger.send("/help")
    assert "Đồng chí có thể" in reply.text
    # a Vietnamese client, and a language the bot does not speak, get Vietnamese
    for code in ("vi", "fr"):
        other = await world.person_named(f"Khách {code}", language_code=code)
        assert "mở liên kết mời" in (await other.send("/start")).text


async def test_the_bot_keeps_its_username_for_invites_made_while_telegram_is_out_of_reach(
    world: World,
) -> None:
    async with world.sessions() as session:
        assert await facts.recall(session=session, key=facts.TELEGRAM_USERNAME) == world.bot_username


async def test_before_units_are_imported_a_chat_user_is_not_shown_a_server_command(
    sandbox: SandboxServer, sandbox_client: SandboxClient, tmp_path: Path
) -> None:
    user = await sandbox_client.create_user(first_name="Quản trị")
    world = await make_world(sandbox_client, sandbox.base_url, tmp_path, admin_ids=[user.id])
    try:
        async with world.sessions() as session:
            for unit in (await session.exec(select(Unit).order_by(col(Unit.id).desc()))).all():
                await session.delete(unit)
                await session.flush()
            await session.commit()
        admin = Persona(world=world, user_id=user.id, first_name="Quản trị")
        for command in ("/topic", "/urgent", "/invite"):
            reply = await admin.send(command)
            assert reply.texts == [
                "Chưa có đơn vị nào trong phạm vi phụ trách của đồng chí: quản trị viên cần nhập danh sách "
                "đơn vị trước."
            ], (command, reply.texts)
    finally:
        await world.app.stop()
        await drop_database(world.app.settings.database_url)


async def test_an_administrator_without_a_unit_is_told_at_once_that_reports_are_for_members(
    sandbox: SandboxServer, sandbox_client: SandboxClient, tmp_path: Path
) -> None:
    user = await sandbox_client.create_user(first_name="Quản trị")
    world = await make_world(sandbox_client, sandbox.base_url, tmp_path, admin_ids=[user.id])
    try:
        admin = Persona(world=world, user_id=user.id, first_name="Quản trị")
        reply = await admin.send("/report")
        assert reply.texts == ["Xin lỗi, chỉ cộng tác viên đã đăng ký mới gửi được báo cáo."], reply.texts
        async with world.sessions() as session:
            assert (await session.exec(select(Draft))).all() == []
    finally:
        await world.app.stop()
        await drop_database(world.app.settings.database_url)

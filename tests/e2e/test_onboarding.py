"""Joining: /invite by staff, registration by the invite link, and every bad link."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from bot.onboarding import create_invite
from storage.models import Draft, Inbox, Invite, Person, PersonIdentity, PersonRole, PersonStatus, Role
from tests.e2e.harness import Persona, World


async def _invite_link(staff: Persona) -> str:
    await staff.send("/invite")
    await staff.press("Huyện Bình Minh")
    await staff.send("2")
    review = await staff.press("7 ngày")
    # the review shows labels, not the questions (issue 19)
    assert "<b>Đơn vị</b>: Huyện Bình Minh" in review.last["html"], review.last["html"]
    assert (
        "<b>Số lượt dùng</b>: 2" in review.last["html"] and "<b>Thời hạn</b>: 7 ngày" in review.last["html"]
    )
    assert "?</b>:" not in review.last["html"]
    reply = await staff.press("🔗 Tạo liên kết")
    assert "Lời mời tham gia <b>Huyện Bình Minh</b>" not in reply.text  # plain text shown, not markup
    assert "Lời mời tham gia Huyện Bình Minh" in reply.text
    link = next(word for word in reply.text.split() if word.startswith("https://t.me/"))
    return link


async def test_staff_invite_then_collaborator_registers(world: World, org: dict[str, Persona]) -> None:
    link = await _invite_link(org["staff"])
    assert link.startswith(f"https://t.me/{world.bot_username}?start=")
    token = link.split("start=")[1]

    newcomer = await world.person_named("Hoa")
    await world.client.reset_stats()
    reply = await newcomer.send(f"/start {token}")
    assert "Chào mừng đồng chí" in reply.text
    assert "Họ và tên" in reply.text
    name_question = reply.last["message_id"]
    reply = await newcomer.send("Nguyễn Thị Hoa")
    assert "Số điện thoại" in reply.text
    assert "📱 Chia sẻ số điện thoại" in reply.buttons()
    # The answered name question keeps no ❌ button under it (the phone step's keyboard is a
    # reply keyboard, which is no reason to leave it).
    assert not (await world.client.message(newcomer.user_id, name_question)).get("reply_markup")
    reply = await newcomer.share_contact("+84 912 000 111")
    assert "Lĩnh vực công tác" in reply.text
    reply = await newcomer.press("Giáo dục")
    assert "Xin xác nhận thông tin" in reply.text
    assert "0912000111" in reply.text and "Nguyễn Thị Hoa" in reply.text
    reply = await newcomer.press("✅ Tôi đồng ý và đăng ký")
    assert "Đăng ký thành công" in reply.text and "Huyện Bình Minh" in reply.text
    # No call was made that could not change anything (such as taking buttons away from the
    # reply-keyboard message of the phone step, which Telegram refuses as "not modified").
    assert (await world.client.stats())["refused"] == {}

    person = await world.person(newcomer)
    assert person is not None
    assert (person.full_name, person.phone, person.field_of_work, person.status) == (
        "Nguyễn Thị Hoa",
        "0912000111",
        "giao_duc",
        PersonStatus.ACTIVE,
    )
    assert person.unit_id == world.units["HUYEN_A"].id
    async with world.sessions() as session:
        roles = (await session.exec(select(PersonRole).where(PersonRole.person_id == person.id))).all()
        invite = (await session.exec(select(Invite))).one()
    assert [r.role for r in roles] == [Role.COLLABORATOR]
    assert invite.uses == 1 and invite.max_uses == 2
    assert token not in invite.token_hash  # only the hash is stored


async def test_bad_input_during_registration_changes_nothing(world: World, org: dict[str, Persona]) -> None:
    token = (await _invite_link(org["staff"])).split("start=")[1]
    newcomer = await world.person_named("Minh")
    await newcomer.send(f"/start {token}")
    reply = await newcomer.send("M1nh <b>&")
    assert "Họ tên chỉ gồm chữ cái và dấu cách." in reply.text
    reply = await newcomer.send("Lê Văn Minh")
    reply = await newcomer.send("12345")
    assert "Số điện thoại không hợp lệ" in reply.text
    reply = await newcomer.share_contact("+84912000222", own=False)
    assert "của chính đồng chí" in reply.text
    reply = await newcomer.send_photo()
    assert "Xin nhập câu trả lời bằng chữ" in reply.text
    reply = await newcomer.send("0912000222")
    reply = await newcomer.send("Giáo dục thường xuyên")
    assert "Xin chọn một trong các nút ở trên" in reply.text
    person = await world.person(newcomer)
    assert person is not None and person.status == PersonStatus.PENDING and person.phone is None
    # half-way through registering, /report says to finish (not to look for an invite link)
    reply = await newcomer.send("/report")
    assert reply.texts == ["Xin hoàn tất việc đăng ký trước: gõ /start để tiếp tục từ chỗ đang dừng."]


async def test_unknown_expired_and_used_up_links(world: World, org: dict[str, Persona]) -> None:
    stranger = await world.person_named("Lạ")
    reply = await stranger.send("/start khong-co-that")
    assert "Liên kết mời không hợp lệ" in reply.text
    async with world.sessions() as session:
        _old, expired = await create_invite(
            session=session,
            unit=world.units["HUYEN_A"],
            created_by=None,
            uses=1,
            days=1,
            now=world.clock.now() - timedelta(days=2),
        )
        _one, single = await create_invite(
            session=session,
            unit=world.units["HUYEN_A"],
            created_by=None,
            uses=1,
            days=3,
            now=world.clock.now(),
        )
        await session.commit()
    reply = await stranger.send(f"/start {expired}")
    assert "đã hết hạn" in reply.text
    first = await world.person_named("Một")
    await first.answer_steps(
        f"/start {single}", "Nguyễn Văn Một", "0912000333", "press:Khác", "press:✅ Tôi đồng ý và đăng ký"
    )
    reply = await stranger.send(f"/start {single}")
    assert "đã được dùng hết số lượt" in reply.text
    async with world.sessions() as session:
        people = (await session.exec(select(Person).where(Person.chat_id == stranger.user_id))).all()
    assert people == []


async def test_plain_start_explains_how_to_join(world: World) -> None:
    stranger = await world.person_named("Khách")
    reply = await stranger.send("/start")
    assert "mở liên kết mời" in reply.text
    assert await world.person(stranger) is None


async def test_collaborator_cannot_create_invites(world: World, org: dict[str, Persona]) -> None:
    reply = await org["ctv1"].send("/invite")
    assert "chỉ dành cho cán bộ Ban Tuyên giáo" in reply.text


async def test_staff_of_a_single_unit_can_make_an_invite(world: World, org: dict[str, Persona]) -> None:
    """Issue 18: /invite failed for staff whose scope is one unit (a choice of one)."""
    district = org["district_staff"]
    reply = await district.send("/invite")
    assert "Bao nhiêu người" in reply.text or "Câu 1/2" in reply.text
    await district.send("3")
    await district.press("7 ngày")
    reply = await district.press("🔗 Tạo liên kết")
    assert "Lời mời tham gia Huyện Hòa Thuận" in reply.text


async def test_the_inbox_keeps_no_codes_or_phones_and_forgets_handled_updates(
    world: World, org: dict[str, Persona]
) -> None:
    """Issue 18: the inbox kept every raw update for ever, with the plain invite token and
    the phone number of a shared contact."""
    link = await _invite_link(org["staff"])
    token = link.split("start=")[1]
    newcomer = await world.person_named("Hoa")
    await newcomer.send(f"/start {token}")
    await newcomer.send("Nguyễn Thị Hoa")
    await newcomer.share_contact("+84 912 000 111")
    zalo = await world.zalo_person("Lan")
    await zalo.send(token.lower())
    async with world.sessions() as session:
        payloads = [row.payload for row in (await session.exec(select(Inbox))).all()]
    assert payloads and not any(token in p or token.lower() in p for p in payloads)
    assert not any("912000111" in p or "912 000 111" in p for p in payloads)
    assert any("/start […]" in p for p in payloads)

    world.clock.advance(timedelta(days=31))
    await world.app.stop()
    await world.app.start()
    async with world.sessions() as session:
        left = (await session.exec(select(Inbox).where(Inbox.status == "done"))).all()
    assert left == []


async def test_an_unfinished_registration_is_forgotten(world: World, org: dict[str, Persona]) -> None:
    """Issue 18: abandoned registration drafts kept a name and a phone indefinitely."""
    link = await _invite_link(org["staff"])
    newcomer = await world.person_named("Hoa")
    await newcomer.send(f"/start {link.split('start=')[1]}")
    await newcomer.send("Nguyễn Thị Hoa")
    assert await world.person(newcomer) is not None
    world.clock.advance(timedelta(days=8))
    await world.app.stop()
    await world.app.start()
    assert await world.person(newcomer) is None
    async with world.sessions() as session:
        assert (await session.exec(select(Draft))).all() == []
        assert (
            await session.exec(select(PersonIdentity).where(PersonIdentity.address == newcomer.user_id))
        ).all() == []
    # the members of the organisation are untouched
    assert await world.person(org["ctv1"]) is not None

"""Groups: registering with /setup, staying quiet and storing nothing when unregistered."""

from __future__ import annotations

from sqlmodel import select

from storage.models import ChatGroup, Person
from tests.e2e.harness import Persona, World


async def _new_group(world: World, org: dict[str, Persona], title: str) -> tuple[int, list]:
    chat = await world.client.create_group(
        title=title, member_ids=[org["staff"].user_id, org["ctv1"].user_id]
    )
    after = await world.client.last_seq()
    added = await world.client.add_bot_to_group(chat.id, world.bot_token, by_user_id=org["staff"].user_id)
    assert (
        added.message is not None and added.message["new_chat_members"][0]["username"] == world.bot_username
    )
    assert added.update_id is not None
    await world.settle(added.update_id)
    await world.quiet()  # the bot's own membership change is a second update
    greeting = [e for e in await world.client.events(chat_id=chat.id, after_seq=after) if e["kind"] == "send"]
    return chat.id, greeting


async def test_staff_registers_a_group_with_setup(world: World, org: dict[str, Persona]) -> None:
    chat_id, greeting = await _new_group(world, org, "CTV Xã Mới")
    assert len(greeting) == 1 and "gõ /setup trong nhóm" in greeting[0]["text"]
    reply = await org["staff"].send("/setup", chat_id=chat_id)
    assert "Nhóm này thuộc đơn vị nào?" in reply.text
    assert reply.buttons() == ["Tỉnh An Phú", "Huyện Bình Minh", "Huyện Hòa Thuận"]
    reply = await org["staff"].press("Huyện Hòa Thuận", chat_id=chat_id)
    assert "Nhóm đã được đăng ký cho Huyện Hòa Thuận" in reply.text
    async with world.sessions() as session:
        group = (await session.exec(select(ChatGroup).where(ChatGroup.chat_id == chat_id))).one()
    assert group.unit_id == world.units["HUYEN_B"].id and group.title == "CTV Xã Mới"


async def test_district_staff_sees_only_their_units(world: World, org: dict[str, Persona]) -> None:
    chat = await world.client.create_group(title="Nhóm huyện B", member_ids=[org["district_staff"].user_id])
    added = await world.client.add_bot_to_group(
        chat.id, world.bot_token, by_user_id=org["district_staff"].user_id
    )
    await world.settle(added.update_id or 0)
    reply = await org["district_staff"].send("/setup", chat_id=chat.id)
    assert reply.buttons() == ["Huyện Hòa Thuận"]
    # data for a unit their menu does not show: refused before anything reads it
    forged = await org["district_staff"].press_data(
        world.signed(chat.id, f"su:{world.units['HUYEN_A'].id}"),
        message_id=reply.last["message_id"],
        chat_id=chat.id,
    )
    assert forged.alerts == ["Nút này đã hết hiệu lực. Gõ /start để tiếp tục từ chỗ đang dừng."]
    # the province's staff opens the menu in the same group; the district's staff presses
    # a unit on it that is outside their own scope: the scope is checked behind the button
    await world.client.add_member(chat.id, org["staff"].user_id)
    await org["staff"].send("/setup", chat_id=chat.id)
    pressed = await org["district_staff"].press("Huyện Bình Minh", chat_id=chat.id)
    assert pressed.alerts == ["Đơn vị này nằm ngoài phạm vi phụ trách của đồng chí."]
    async with world.sessions() as session:
        assert (await session.exec(select(ChatGroup).where(ChatGroup.chat_id == chat.id))).all() == []


async def test_unregistered_group_gets_one_explanation_and_nothing_is_stored(
    world: World, org: dict[str, Persona]
) -> None:
    chat_id, _ = await _new_group(world, org, "Nhóm lạ")
    stranger = await world.person_named("Người lạ")
    await world.client.add_member(chat_id, stranger.user_id)
    async with world.sessions() as session:
        people_before = len((await session.exec(select(Person))).all())
    reply = await stranger.send("/setup", chat_id=chat_id)
    assert reply.texts == ["Xin lỗi, lệnh này chỉ dành cho cán bộ Ban Tuyên giáo và Dân vận Tỉnh ủy."]
    reply = await stranger.send("/summary", chat_id=chat_id)
    assert len(reply.messages) == 1 and "Nhóm này chưa được đăng ký" in reply.text
    reply = await stranger.send("chào cả nhà", chat_id=chat_id)
    assert reply.messages == []
    async with world.sessions() as session:
        assert (await session.exec(select(ChatGroup).where(ChatGroup.chat_id == chat_id))).all() == []
        assert len((await session.exec(select(Person))).all()) == people_before


async def test_group_is_followed_when_it_becomes_a_supergroup(world: World, org: dict[str, Persona]) -> None:
    old_id = world.groups["CTV Huyện Bình Minh"]
    new_id, update_ids = await world.client.migrate_group(old_id)
    for update_id in update_ids:  # one service message in each chat, processed concurrently
        await world.settle(update_id)
    async with world.sessions() as session:
        group = (await session.exec(select(ChatGroup))).one()
    assert group.chat_id == new_id


async def test_staff_cannot_take_over_another_units_group(world: World, org: dict[str, Persona]) -> None:
    """Issue 18, defect 2: staff of another branch cannot rebind a registered group, a setup
    button pressed in private registers nothing, and whoever registered a group hears when
    someone in scope moves it."""
    district = org["district_staff"]  # Huyện Hòa Thuận
    group_id = world.groups["CTV Huyện Bình Minh"]
    await world.client.add_member(group_id, district.user_id)
    reply = await district.send("/setup", chat_id=group_id)
    assert "ngoài phạm vi phụ trách của đồng chí" in reply.text and reply.buttons() == []
    own_unit = world.units["HUYEN_B"].id
    message_id = await district.last_message_id(group_id)
    forged = await district.press_data(
        world.signed(group_id, f"su:{own_unit}"), message_id=message_id, chat_id=group_id
    )
    assert forged.alerts == ["Nút này đã hết hiệu lực. Gõ /start để tiếp tục từ chỗ đang dừng."]
    # the province's staff opens the menu in that group; the district's staff presses their
    # own unit on it: the group's current unit is outside their scope, so it stays
    await org["staff"].send("/setup", chat_id=group_id)
    pressed = await district.press("Huyện Hòa Thuận", chat_id=group_id)
    assert "ngoài phạm vi phụ trách của đồng chí" in " ".join(pressed.alerts)
    await district.send("/help")
    in_private = await district.press_data(
        world.signed(district.user_id, f"su:{own_unit}"),
        message_id=await district.last_message_id(),
        chat_id=None,
    )
    assert in_private.alerts == ["Nút này đã hết hiệu lực. Gõ /start để tiếp tục từ chỗ đang dừng."]
    async with world.sessions() as session:
        groups = (await session.exec(select(ChatGroup))).all()
    assert [(g.chat_id, g.unit_id) for g in groups] == [(group_id, world.units["HUYEN_A"].id)]

    # their own group, registered by them, then moved by the province's staff: they are told
    chat = await world.client.create_group(
        title="Nhóm Hòa Thuận", member_ids=[district.user_id, org["staff"].user_id]
    )
    added = await world.client.add_bot_to_group(chat.id, world.bot_token, by_user_id=district.user_id)
    await world.settle(added.update_id or 0)
    await district.send("/setup", chat_id=chat.id)
    await district.press("Huyện Hòa Thuận", chat_id=chat.id)
    await org["staff"].send("/setup", chat_id=chat.id)
    await org["staff"].press("Huyện Bình Minh", chat_id=chat.id)
    told = await district.wait_for_text(
        "Nhóm “Nhóm Hòa Thuận” đã được chuyển từ Huyện Hòa Thuận sang Huyện Bình Minh"
    )
    assert "Trần Cán Bộ" in told["text"]

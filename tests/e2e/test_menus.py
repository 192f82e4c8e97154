"""Command menus: each person sees the commands of their roles, in their language."""

from __future__ import annotations

import json

from bot.app import Application
from bot.onboarding import create_invite
from storage.models import Role
from tests.e2e.harness import Persona, World


def names(commands: list[dict]) -> list[str]:
    return [command["command"] for command in commands]


def scope_key(scope: dict, language: str = "") -> str:
    return json.dumps([scope, language], sort_keys=True)


async def test_menus_follow_roles_and_language(world: World, org: dict[str, Persona]) -> None:
    menus = await world.client.commands(world.bot_token)
    private = menus[scope_key({"type": "all_private_chats"})]
    assert names(private) == ["start", "report", "lang", "cancel", "link", "mydata", "forget", "help"]
    assert private[1]["description"] == "Gửi báo cáo đột xuất"
    english = menus[scope_key({"type": "all_private_chats"}, "en")]
    assert english[1]["description"] == "Send an incident report"
    assert names(menus[scope_key({"type": "all_group_chats"})]) == ["summary", "setup", "help"]

    # Staff and leaders seeded before this start get their own menus at the next start.
    await world.app.stop()
    world.app = Application(settings=world.app.settings, clock=world.clock)
    await world.app.start()
    await world.delivered()  # the menus are outbox rows: sent by the sender task, after start() returns
    menus = await world.client.commands(world.bot_token)
    staff_menu = menus[scope_key({"type": "chat", "chat_id": org["staff"].user_id})]
    assert names(staff_menu) == [
        "start", "report", "topic", "topics", "urgent", "urgent_status", "broadcasts", "briefing", "summary",
        "invite",
        "lang", "cancel", "link", "mydata", "forget", "help",
    ]  # fmt: skip
    assert staff_menu[4]["description"] == "Gửi vấn đề đột xuất"
    leader_menu = menus[scope_key({"type": "chat", "chat_id": org["leader"].user_id})]
    assert names(leader_menu) == [
        "start", "report", "summary", "lang", "cancel", "link", "mydata", "forget", "help",
    ]  # fmt: skip
    # Collaborators keep the default menu: nobody called setMyCommands for them.
    assert scope_key({"type": "chat", "chat_id": org["ctv1"].user_id}) not in menus

    # A collaborator who switches to English gets the English menu in their chat.
    await org["ctv1"].send("/lang")
    await org["ctv1"].press("🇬🇧 English")
    menus = await world.client.commands(world.bot_token)
    own = menus[scope_key({"type": "chat", "chat_id": org["ctv1"].user_id})]
    assert names(own) == ["start", "report", "lang", "cancel", "link", "mydata", "forget", "help"]
    assert own[1]["description"] == "Send an incident report"


async def test_registering_as_staff_sets_the_staff_menu(world: World, org: dict[str, Persona]) -> None:
    async with world.sessions() as session:
        _invite, token = await create_invite(
            session=session,
            unit=world.units["HUYEN_A"],
            created_by=None,
            uses=1,
            days=3,
            now=world.clock.now(),
            role=Role.STAFF,
        )
        await session.commit()
    newcomer = await world.person_named("Mới")
    reply = await newcomer.send(f"/start {token}")
    assert "Đăng ký cán bộ" in reply.text and "2 câu hỏi ngắn" in reply.text
    # staff are the board's own people: no collaborator's field of work is asked
    reply = await newcomer.answer_steps("Nguyễn Văn Mới", "0912000444")
    assert "Lĩnh vực" not in reply.text and "Xin xác nhận thông tin" in reply.text, reply.text
    reply = await newcomer.press("✅ Tôi đồng ý và đăng ký")
    assert "Đồng chí là cán bộ của <b>Huyện Bình Minh</b>" in reply.last["html"]
    assert "cộng tác viên của" not in reply.text
    person = await world.person(newcomer)
    assert person is not None and person.field_of_work is None
    menus = await world.client.commands(world.bot_token)
    assert "urgent" in names(menus[scope_key({"type": "chat", "chat_id": newcomer.user_id})])

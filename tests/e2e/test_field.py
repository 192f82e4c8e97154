"""Issue 19: the bot as people in the field type to it."""

from __future__ import annotations

from pathlib import Path

from bot.sandbox import SandboxClient, SandboxServer
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

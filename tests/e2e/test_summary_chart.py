"""/summary comes with a chart (a PNG drawn by matplotlib in a thread): uploaded on Telegram,
and on Zalo, which takes photos only by their address, served at PUBLIC_URL/media/… ."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp

from bot.sandbox import SandboxClient, SandboxServer
from storage.models import Role
from tests.e2e.flows import fill_monthly, publish_topic
from tests.e2e.harness import Persona, World, ZaloPersona, drop_database, make_world

PNG = b"\x89PNG\r\n\x1a\n"


async def _a_month_with_a_report(world: World, org: dict[str, Persona]) -> None:
    await publish_topic(org["staff"])
    await org["ctv1"].press("📝 Gửi báo cáo", chat_id=world.groups["CTV Huyện Bình Minh"])
    await fill_monthly(
        org["ctv1"], content="Người dân đồng tình với chủ trương sáp nhập.", urgency="Cần quan tâm"
    )
    await org["ctv1"].press("✅ Gửi báo cáo")
    await world.delivered()


async def test_the_summary_comes_with_a_chart_on_telegram(world: World, org: dict[str, Persona]) -> None:
    leader = org["leader"]
    reply = await leader.send("/summary")
    assert not any(message.get("photo") for message in reply.messages)  # nothing to draw yet
    await _a_month_with_a_report(world, org)
    reply = await leader.send("/summary")
    assert reply.texts[0].startswith("📊 Tổng hợp tình hình dư luận xã hội tháng 11/2026")
    chart = reply.messages[-1]
    assert chart["photo"] and chart["text"] == "📈 Biểu đồ tổng hợp tháng 11/2026 · Tỉnh An Phú"
    files = list((world.app.settings.media_dir).iterdir())
    assert len(files) == 1 and files[0].read_bytes().startswith(PNG)
    assert files[0].stat().st_mode & 0o077 == 0  # the owner's alone


async def test_on_zalo_the_chart_is_fetched_from_the_public_address(
    sandbox: SandboxServer, sandbox_client: SandboxClient, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    world = await make_world(
        sandbox_client, sandbox.base_url, tmp_path, webhook_port=port, public_url=f"http://127.0.0.1:{port}"
    )
    try:
        org = await _org(world)
        await _a_month_with_a_report(world, org)
        leader = await world.member("zalo", "Lãnh đạo Zalo", unit="TINH", role=Role.LEADER)
        assert isinstance(leader, ZaloPersona)
        await leader.send("/summary")
        await world.delivered()
        sent = await leader.bot_messages()
        chart = sent[-1]
        assert chart["text"] == "📈 Biểu đồ tổng hợp tháng 11/2026 · Tỉnh An Phú"
        url = chart["photo"]
        assert url.startswith(f"http://127.0.0.1:{port}/media/") and url.endswith(".png")
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as answer:
                assert answer.status == 200 and answer.content_type == "image/png"
                assert (await answer.read()).startswith(PNG)
            async with http.get(f"http://127.0.0.1:{port}/media/nothing-here-at-all-00.png") as answer:
                assert answer.status == 404
            async with http.get(f"http://127.0.0.1:{port}/media/..%2Fbot.db") as answer:
                assert answer.status == 404
    finally:
        await world.app.stop()
        await drop_database(world.app.settings.database_url)


async def test_on_zalo_without_a_public_address_the_summary_is_text(
    world: World, org: dict[str, Persona]
) -> None:
    await _a_month_with_a_report(world, org)
    leader = await world.member("zalo", "Lãnh đạo Zalo", unit="TINH", role=Role.LEADER)
    assert isinstance(leader, ZaloPersona)
    reply = await leader.send("/summary")
    assert "Số báo cáo đầy đủ nhận được: 1" in reply.text
    assert not any(message.get("photo") for message in await leader.bot_messages())
    assert not world.app.settings.media_dir.exists() or not any(world.app.settings.media_dir.iterdir())


async def _org(world: World) -> dict[str, Persona]:
    staff = await world.person_named("Trần Cán Bộ")
    await world.seed_member(staff, unit="TINH", role=Role.STAFF)
    ctv = await world.person_named("CTV 1")
    await world.seed_member(ctv, unit="HUYEN_A", full_name="Cộng tác viên 1")
    await ctv.send("/help")
    await world.group("CTV Huyện Bình Minh", [staff, ctv], unit="HUYEN_A")
    return {"staff": staff, "ctv1": ctv}

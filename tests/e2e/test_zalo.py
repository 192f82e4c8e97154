"""Zalo collaborators and staff, through the sandbox's Zalo Bot API, beside Telegram."""

from __future__ import annotations

from storage.models import ReportChannel, Role
from tests.e2e.flows import publish_topic
from tests.e2e.harness import Persona, World, ZaloPersona


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
    await zalo.send("4")
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

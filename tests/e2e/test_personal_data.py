"""Personal data as the law asks (issue 18): consent at registration, /mydata, /forget."""

from __future__ import annotations

from sqlmodel import select

from storage.models import Audit, PersonIdentity, PersonRole, PersonStatus
from tests.e2e.flows import fill_monthly, publish_topic
from tests.e2e.harness import Persona, World

GROUP = "CTV Huyện Bình Minh"


async def test_consent_is_asked_before_registering(world: World, org: dict[str, Persona]) -> None:
    staff = org["staff"]
    await staff.send("/invite")
    await staff.press("Huyện Bình Minh")
    await staff.send("1")
    await staff.press("7 ngày")
    reply = await staff.press("🔗 Tạo liên kết")
    token = next(w for w in reply.text.split() if w.startswith("https://t.me/")).split("start=")[1]
    newcomer = await world.person_named("Hoa")
    await newcomer.answer_steps(f"/start {token}", "Nguyễn Thị Hoa")
    await newcomer.share_contact("+84912000111")
    review = await newcomer.press("Giáo dục")
    assert "Thông tin cá nhân của đồng chí." in review.text and "/forget" in review.text
    assert "✅ Tôi đồng ý và đăng ký" in review.buttons()
    await newcomer.press("✅ Tôi đồng ý và đăng ký")
    person = await world.person(newcomer)
    assert person is not None and person.status == PersonStatus.ACTIVE
    async with world.sessions() as session:
        [record] = (await session.exec(select(Audit).where(Audit.action == "person.register"))).all()
    assert record.details["consent"] == "2026-12"


async def test_mydata_shows_everything_and_forget_removes_it_but_keeps_the_figures(
    world: World, org: dict[str, Persona]
) -> None:
    await publish_topic(org["staff"])
    ctv = org["ctv1"]
    await ctv.press("📝 Gửi báo cáo", chat_id=world.groups[GROUP])
    await fill_monthly(ctv, content="Người dân đồng tình với chủ trương sáp nhập xã, mong sớm ổn định.")
    await ctv.press("✅ Gửi báo cáo")
    before = (await org["leader"].send("/summary 11/2026")).text

    mine = await ctv.send("/mydata")
    assert "Họ tên: Cộng tác viên 1" in mine.text and "Số điện thoại: 0912345678" in mine.text
    assert (
        "Đơn vị: Huyện Bình Minh" in mine.text and "Số báo cáo: 1" in mine.text and "chủ đề số 1" in mine.text
    )
    assert "Tài khoản: Telegram" in mine.text

    asked = await ctv.send("/forget")
    assert "Rút lại sự đồng ý" in asked.text
    kept = await ctv.press("Giữ nguyên thông tin")
    assert "Không có gì thay đổi" in kept.text
    await ctv.send("/forget")
    done = await ctv.press("🗑 Có, xóa thông tin của tôi")
    assert "thông tin cá nhân của đồng chí đã được xóa" in done.text

    [report] = await world.reports()
    async with world.sessions() as session:
        identities = (
            await session.exec(select(PersonIdentity).where(PersonIdentity.person_id == report.person_id))
        ).all()
        roles = (await session.exec(select(PersonRole).where(PersonRole.person_id == report.person_id))).all()
    assert identities == [] and roles == []
    assert await world.person(ctv) is None  # nothing answers to their account any more
    after = (await org["leader"].send("/summary 11/2026")).text
    figures = [
        line
        for line in before.splitlines()
        if line.startswith("Số báo cáo đầy đủ nhận được") or "% · " in line
    ]
    assert len(figures) > 3
    for line in figures:
        assert line in after, line  # the figures of the reports are unchanged (the response
        # rate is not: they no longer count among the active collaborators)
    again = await ctv.send("/mydata")
    assert "đồng chí chưa đăng ký" in again.text

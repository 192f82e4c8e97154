"""Multi-step user journeys shared by several e2e tests."""

from __future__ import annotations

from tests.e2e.harness import Persona, Reply, World

GUIDANCE = (
    "Nắm bắt dư luận về việc sắp xếp, sáp nhập đơn vị hành chính cấp xã và tâm trạng của cán bộ, "
    "đảng viên, nhân dân trên địa bàn."
)


async def publish_topic(
    staff: Persona,
    *,
    title: str = "Sáp nhập đơn vị hành chính cấp xã",
    due: str = "25/11/2026",
    choose: str | None = None,
    at: str | None = None,
) -> Reply:
    """Staff walk through /topic to every unit in scope, or to the one unit `choose` names;
    published now, or scheduled for the time typed in `at` ("08:00 01/12")."""
    await staff.send("/topic")
    await staff.send(title)
    await staff.send(GUIDANCE)
    await staff.press("Báo cáo tình hình dư luận xã hội định kỳ")
    await staff.press(this_month(staff.world))
    if choose is None:
        await staff.press("Tất cả đơn vị trong phạm vi phụ trách")
    else:
        await staff.press("Tôi tự chọn")
        await staff.press(choose)
        await staff.press("✅ Xong")
    await staff.send(due)
    if at is None:
        preview = await staff.press("📢 Ngay bây giờ")
    else:
        await staff.press("🗓 Lên lịch vào thời gian khác")
        preview = await staff.send(at)
    assert "Xem trước khi đăng" in preview.text, preview.text
    published = await staff.press("📢 Đăng" if at is None else "🗓 Lên lịch")
    await staff.world.delivered()
    return published


def this_month(world: World) -> str:
    """The topic wizard's first month button: the month it is on the bot's clock."""
    today = world.clock.now().astimezone(world.app.settings.tz)
    return f"{today:%m/%Y} (tháng này)"


async def fill_monthly(collaborator: Persona, *, content: str, urgency: str = "Bình thường") -> Reply:
    """Answer every question of monthly_opinion from the first one to the review screen."""
    await collaborator.press("Kinh tế – đời sống")
    await collaborator.press("Đất đai, giải phóng mặt bằng")
    await collaborator.press("✅ Xong")
    await collaborator.press("Có băn khoăn, lo lắng")
    await collaborator.press("Đồng tình")
    await collaborator.send(content)
    await collaborator.press("Nông dân")
    await collaborator.press("✅ Xong")
    await collaborator.press("Xã, phường, đặc khu")
    await collaborator.press("Trao đổi trực tiếp")
    await collaborator.press("✅ Xong")
    await collaborator.press(urgency)
    await collaborator.press("⏭ Bỏ qua")
    return await collaborator.press("⏭ Bỏ qua")


async def topic_post_id(world: World, group_id: int) -> int:
    """The message id of the (latest) topic post in a group."""
    messages = await world.client.chat_messages(group_id)
    return next(m["message_id"] for m in reversed(messages) if m.get("text", "").startswith("📢"))


MATTER = (
    "Xuất hiện thông tin trên mạng xã hội về việc thu hồi đất mở rộng khu công nghiệp xã Tân An, "
    "đề nghị nắm bắt tâm trạng người dân."
)


async def send_urgent(
    staff: Persona, *, deadline: str = "18:00 11/11", choose: str | tuple[str, ...] | None = None
) -> str:
    """Staff walk through /urgent (to the units named in `choose`, else all in their scope);
    returns the text of the preview."""
    await staff.send("/urgent")
    await staff.send(MATTER)
    await staff.press("⏭ Bỏ qua")  # no photo
    if choose is None:
        await staff.press("Tất cả đơn vị trong phạm vi phụ trách")
    else:
        await staff.press("Tôi tự chọn")
        for unit in (choose,) if isinstance(choose, str) else choose:
            await staff.press(unit)
        await staff.press("✅ Xong")
    preview = await staff.send(deadline)
    return preview.text

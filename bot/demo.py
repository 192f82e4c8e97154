"""No BOT_TOKEN: the local sandbox, a demo organisation and one scripted month, then serve.

The bot runs exactly as in production (the same Application, over HTTP); only the Bot API
server is the sandbox. The demo database is recreated at each start because the sandbox's
world (chats, messages) lives in memory and starts empty too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.app import Application
from bot.clock import local_today
from bot.config import Settings
from bot.sandbox import SandboxClient, start_sandbox
from bot.sandbox.client import ActionResult
from bot.sandbox.server import SandboxServer
from storage import addresses, outbox, people
from storage.db import SessionFactory
from storage.models import Person, PersonStatus, Role

GROUP_TITLE = "CTV DLXH Xã Bình Minh"
ZALO_NAME = "Trịnh Thị Mai"
GUIDANCE = (
    "Đề nghị các đồng chí cộng tác viên nắm bắt tâm trạng, ý kiến của cán bộ, đảng viên và nhân dân về "
    "việc sắp xếp, sáp nhập đơn vị hành chính cấp xã: mức độ đồng tình, những băn khoăn về thủ tục hành chính, "
    "việc làm của cán bộ dôi dư, và các ý kiến trái chiều trên mạng xã hội."
)


@dataclass
class Actor:
    """A demo person acting through the sandbox and printing what happens."""

    name: str
    user_id: int
    client: SandboxClient
    token: str
    sessions: SessionFactory
    application: Application

    async def _settle(self, result: ActionResult) -> None:
        for _ in range(1000):
            if await self.application.finished(result.update_id or 0):
                return
            await asyncio.sleep(0.01)
        raise TimeoutError(f"the bot did not answer {self.name} in time")

    async def _act(self, label: str, action: Awaitable[ActionResult], chat_id: int) -> list[dict[str, Any]]:
        after = await self.client.last_seq()
        result = await action
        where = "" if chat_id == self.user_id else " (trong nhóm)"
        print(f"\n👤 {self.name}{where}: {label}")
        await self._settle(result)
        target = self.user_id if _opened_deep_link(result) else chat_id
        events = await self.client.events(chat_id=target, after_seq=after)
        sent = any(event["kind"] == "send" for event in events)
        for event in events:
            if sent and event["kind"] == "edit" and not event.get("reply_markup"):
                continue  # the old prompt losing its buttons: noise in a transcript
            _print_event(event)
        return events

    async def says(
        self, text: str, *, chat_id: int | None = None, reply_to: int | None = None
    ) -> list[dict[str, Any]]:
        chat = chat_id or self.user_id
        label = text if reply_to is None else f"↩️ {text}"
        return await self._act(
            label,
            self.client.send_message(
                self.token, self.user_id, text, chat_id=chat_id, reply_to_message_id=reply_to
            ),
            chat,
        )

    async def waits_for_delivery(self) -> None:
        """Bulk messages go out through the outbox: wait for them, then show the progress
        message as it ended."""
        for _ in range(3000):
            async with self.sessions() as session:
                if await outbox.settled(session=session):
                    break
            await asyncio.sleep(0.02)
        else:
            raise TimeoutError("the delivery did not finish in time")
        messages = await self.client.chat_messages(self.user_id)
        if messages:
            print(f"\n📤 ({self.name} xem tiến độ gửi)")
            _print_event({"kind": "send", **messages[-1]})

    async def presses(self, text: str, *, chat_id: int | None = None) -> list[dict[str, Any]]:
        chat = chat_id or self.user_id
        message_id = await self._message_with(text, chat)
        return await self._act(
            f"[{text}]", self.client.press_button(self.token, self.user_id, chat, message_id, text), chat
        )

    async def shares_contact(self, phone: str) -> list[dict[str, Any]]:
        action = self.client.send_contact(
            self.token, self.user_id, phone, self.name, contact_user_id=self.user_id
        )
        return await self._act(f"📱 {phone}", action, self.user_id)

    async def _message_with(self, text: str, chat_id: int) -> int:
        for message in reversed(await self.client.chat_messages(chat_id)):
            rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
            if any(button["text"] == text for row in rows for button in row):
                return int(message["message_id"])
        raise LookupError(f"no button {text!r} in chat {chat_id}")


@dataclass
class ZaloActor:
    """A demo person on Zalo: types numbers and words where Telegram has buttons."""

    name: str
    user_id: str
    client: SandboxClient
    token: str
    application: Application

    async def says(self, text: str, *, group: str | None = None) -> list[dict[str, Any]]:
        sent = await self.client.zalo_send_text(self.token, self.user_id, text, group_id=group)
        where = " (Zalo, trong nhóm)" if group else " (Zalo)"
        print(f"\n👤 {self.name}{where}: {text}")
        update_id = sent.update_id
        for _ in range(1000):
            if await self.application.finished(update_id):
                break
            await asyncio.sleep(0.01)
        else:
            raise TimeoutError(f"the bot did not answer {self.name} in time")
        events = await self.client.events(chat_id=group or self.user_id, after_seq=sent.seq)  # type: ignore[arg-type]
        for event in events:
            _print_event(event)
        return events


def _opened_deep_link(result: ActionResult) -> bool:
    return bool(result.message and str(result.message.get("text", "")).startswith("/start"))


def _print_event(event: dict[str, Any]) -> None:
    kind = event["kind"]
    if kind not in ("send", "edit", "reaction", "answer_callback"):
        return
    if kind == "reaction":
        print(f"   🤖 thả cảm xúc {' '.join(event.get('reaction') or [])}")
        return
    if kind == "answer_callback":
        if event.get("text"):
            print(f"   🤖 (thông báo) {event['text']}")
        return
    prefix = "🤖" if kind == "send" else "🤖 (sửa)"
    lines = str(event.get("text", "")).splitlines() or [""]
    print(f"   {prefix} " + f"\n   {' ' * len(prefix)} ".join(lines))
    markup = event.get("reply_markup") or {}
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    if rows:
        buttons = " ".join(f"[{button['text']}]" for row in rows for button in row)
        print(f"      {buttons}")


async def seed_organisation(sessions: SessionFactory, users: dict[str, int]) -> dict[str, int]:
    """Units, the board's people, four registered collaborators and one registered group."""
    async with sessions() as session:
        province = await people.create_unit(session=session, code="TINH", name="Tỉnh An Phú")
        # Since 01/07/2025 a province has communes, wards and special zones, and no districts.
        commune = await people.create_unit(
            session=session, code="XA_BINH_MINH", name="Xã Bình Minh", parent=province
        )
        await people.create_unit(
            session=session, code="PHUONG_HOA_THUAN", name="Phường Hòa Thuận", parent=province
        )
        roster = [
            ("staff", "Trần Văn Cán", province, Role.STAFF),
            ("leader", "Lê Thị Lãnh", province, Role.LEADER),
            ("ctv1", "Nguyễn Văn An", commune, Role.COLLABORATOR),
            ("ctv2", "Phạm Thị Bình", commune, Role.COLLABORATOR),
            ("ctv3", "Hoàng Văn Cường", commune, Role.COLLABORATOR),
            ("ctv4", "Đỗ Thị Dung", commune, Role.COLLABORATOR),
        ]
        for key, name, unit, role in roster:
            person = Person(
                chat_id=users[key],
                full_name=name,
                phone="0912345678",
                field_of_work="khac",
                unit_id=unit.id,
                status=PersonStatus.ACTIVE,
            )
            await people.add_person(session=session, person=person)
            await people.grant_role(session=session, person=person, role=role, unit_id=unit.id)
        await session.commit()
        return {"TINH": province.id or 0, "XA_BINH_MINH": commune.id or 0}


async def seed_zalo_member(sessions: SessionFactory, mai: ZaloActor, unit_id: int) -> None:
    async with sessions() as session:
        address = await addresses.zalo_address_for(session=session, external_id=mai.user_id, group=False)
        person = Person(
            chat_id=address,
            full_name=mai.name,
            phone="0987654321",
            field_of_work="khac",
            unit_id=unit_id,
            status=PersonStatus.ACTIVE,
        )
        await people.add_person(session=session, person=person)
        await people.grant_role(session=session, person=person, role=Role.COLLABORATOR, unit_id=unit_id)
        await session.commit()


async def run_sandbox(settings: Settings, *, until: Callable[[], Awaitable[None]]) -> None:
    """Start the sandbox and the bot against it; play the demo month; serve until `until`."""
    server = await start_sandbox(settings.sandbox_host, settings.sandbox_port)
    client = SandboxClient(server.base_url)
    application: Application | None = None
    try:
        info = await client.create_bot(username="dlxh_demo_bot", first_name="DLXH Bot")
        zalo = await client.zalo_create_bot("DLXH Bot")
        zalo_user = await client.zalo_create_user(ZALO_NAME)
        names = {
            "admin": "Quản trị",
            "staff": "Trần Văn Cán",
            "leader": "Lê Thị Lãnh",
            "ctv1": "Nguyễn Văn An",
            "ctv2": "Phạm Thị Bình",
            "ctv3": "Hoàng Văn Cường",
            "ctv4": "Đỗ Thị Dung",
            "new": "Vũ Thị Hoa",
        }
        # The organisation's people registered before this month, so they have opened the bot
        # (all but the newcomer, whose registration the transcript shows).
        users = {
            key: (await client.create_user(first_name=name, started=[] if key == "new" else [info.token])).id
            for key, name in names.items()
        }
        database = settings.sqlite_path(settings.sandbox_database_url)
        if database is not None:
            for suffix in ("", "-wal", "-shm"):
                database.with_name(database.name + suffix).unlink(missing_ok=True)
        bot_settings = settings.model_copy(
            update={
                "bot_token": type(settings.bot_token)(info.token),
                "telegram_api_url": server.base_url,
                "zalo_bot_token": type(settings.zalo_bot_token)(zalo.token),
                "zalo_api_url": f"{server.base_url}/zalo",
                "database_url": settings.sandbox_database_url,
                "admin_ids": [users["admin"]],
                "polling_timeout": 10,
            }
        )
        application = Application(settings=bot_settings)
        await application.start()
        assert application.session_factory is not None
        print(f"Sandbox Bot API: {server.base_url}   bot: @{info.username}   Zalo: {server.base_url}/zalo")
        if settings.sandbox_demo:
            zalo_actor = ZaloActor(ZALO_NAME, zalo_user, client, zalo.token, application)
            await play_demo_month(server, client, info.token, application, users, names, zalo_actor)
        print(
            f"\nThe bot keeps serving the sandbox at {server.base_url} (token {info.token}). "
            "Press Ctrl+C to stop."
        )
        await until()
    finally:
        if application is not None:
            await application.stop()
        await client.close()
        await server.close()


async def play_demo_month(
    server: SandboxServer,
    client: SandboxClient,
    token: str,
    application: Application,
    users: dict[str, int],
    names: dict[str, str],
    mai: ZaloActor,
) -> None:
    sessions = application.session_factory
    assert sessions is not None
    units = await seed_organisation(sessions, users)
    await seed_zalo_member(sessions, mai, units["XA_BINH_MINH"])
    group = await client.create_group(
        title=GROUP_TITLE,
        member_ids=[
            users["staff"],
            users["ctv1"],
            users["ctv2"],
            users["ctv3"],
            users["ctv4"],
            users["leader"],
        ],
    )
    added = await client.add_bot_to_group(group.id, token, users["staff"])
    actors = {key: Actor(names[key], users[key], client, token, sessions, application) for key in users}
    await actors["staff"]._settle(added)
    due = local_today(application.clock, application.settings.tz) + timedelta(days=7)

    print("\n══ Tháng mẫu: đăng ký nhóm, đăng ký cộng tác viên, đăng chủ đề, báo cáo, tổng hợp ══")
    staff, new = actors["staff"], actors["new"]
    # The group the bot was added to is registered for its commune, as staff do it.
    await staff.says("/setup", chat_id=group.id)
    await staff.presses("Xã Bình Minh", chat_id=group.id)
    await staff.says("/invite")
    await staff.presses("Xã Bình Minh")
    await staff.says("5")
    await staff.presses("7 ngày")
    events = await staff.presses("🔗 Tạo liên kết")
    link = next(
        word for e in events for word in str(e.get("text", "")).split() if word.startswith("https://t.me/")
    )
    await new.says(f"/start {link.split('start=')[1]}")
    await new.says("Vũ Thị Hoa")
    await new.shares_contact("+84912000111")
    await new.presses("Giáo dục")
    await new.presses("✅ Tôi đồng ý và đăng ký")

    # A collaborator on Zalo (Telegram is blocked by the main Vietnamese networks) has written
    # to the bot before, as after registering.
    await mai.says("/help")

    await staff.says("/topic")
    await staff.says("Sắp xếp, sáp nhập đơn vị hành chính cấp xã")
    await staff.says(GUIDANCE)
    await staff.presses("Báo cáo tình hình dư luận xã hội định kỳ")
    today = local_today(application.clock, application.settings.tz)
    await staff.presses(f"{today:%m/%Y} (tháng này)")
    await staff.presses("Tất cả đơn vị trong phạm vi phụ trách")
    await staff.says(due.strftime("%d/%m/%Y"))
    await staff.presses("📢 Ngay bây giờ")
    await staff.presses("📢 Đăng")
    await staff.waits_for_delivery()
    post = next(
        message
        for message in reversed(await client.chat_messages(group.id))
        if str(message.get("text", "")).startswith("📢")
    )
    print("\n📌 (bài đăng chủ đề trong nhóm, như cộng tác viên thấy)")
    _print_event({"kind": "send", **post})

    answers = {
        "ctv1": (
            ["Kinh tế – đời sống", "Chính sách, pháp luật"],
            "Ổn định, phấn khởi",
            "Đồng tình",
            "Đa số cán bộ, nhân dân đồng tình với chủ trương, mong sớm ổn định tổ chức bộ máy mới.",
            ["Cán bộ, đảng viên", "Nông dân"],
            "Xã, phường, đặc khu",
            ["Trao đổi trực tiếp"],
            "Bình thường",
        ),
        "ctv2": (
            ["Đất đai, giải phóng mặt bằng"],
            "Có băn khoăn, lo lắng",
            "Trái chiều",
            "Một bộ phận người dân lo lắng về việc đổi giấy tờ và khoảng cách đến trụ sở xã mới.",
            ["Nông dân"],
            "Tỉnh, thành phố",
            ["Mạng xã hội (Zalo, Facebook)"],
            "Cần quan tâm",
        ),
    }
    for key, (fields, mood, trend, content, groups, spread, sources, urgency) in answers.items():
        actor = actors[key]
        await actor.presses("📝 Gửi báo cáo", chat_id=group.id)
        for field in fields:
            await actor.presses(field)
        await actor.presses("✅ Xong")
        await actor.presses(mood)
        await actor.presses(trend)
        await actor.says(content)
        for item in groups:
            await actor.presses(item)
        await actor.presses("✅ Xong")
        await actor.presses(spread)
        for item in sources:
            await actor.presses(item)
        await actor.presses("✅ Xong")
        await actor.presses(urgency)
        await actor.presses("⏭ Bỏ qua")
        await actor.presses("⏭ Bỏ qua")
        await actor.presses("✅ Gửi báo cáo")

    print("\n══ Trên Zalo: báo cáo bằng số và từ ══")
    for text in [
        "báo cáo 1",
        "1 3",
        "2",
        "Đồng tình",
        "Bà con trong xóm đồng tình, nhưng hỏi nhiều về việc đổi căn cước và sổ đỏ theo địa chỉ mới.",
        "2 3",
        "2",
        "1",
        "Cần quan tâm",
        "Đề nghị hướng dẫn rõ thủ tục đổi giấy tờ",
        "bỏ qua",
        "gửi",
    ]:
        await mai.says(text)

    post = next(m for m in await client.chat_messages(group.id) if str(m.get("text", "")).startswith("📢"))
    await actors["ctv3"].says(
        "Bà con thôn 2 đồng tình, đề nghị giữ nguyên tên làng trong địa chỉ mới.",
        chat_id=group.id,
        reply_to=post["message_id"],
    )
    await actors["leader"].says(f"/summary {due.strftime('%m/%Y')}")

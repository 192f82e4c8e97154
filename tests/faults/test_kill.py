"""Kill -9 in the middle of a report: after restarts it is stored exactly once (reliability rule 1)."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest
from sqlmodel import select

from bot.sandbox import SandboxClient, SandboxServer
from storage import addresses, people
from storage.db import create_engine, create_session_factory, upgrade_database
from storage.models import Draft, Inbox, InboxStatus, Person, PersonStatus, Report, Role
from tests.faults.process import BotProcess, _button_message, _settle, bot_env

pytestmark = pytest.mark.slow


STEPS: list[tuple[str, str]] = [
    ("text", "/report"),
    ("text", "Người dân bức xúc vì dự án chậm tiến độ kéo dài"),
    ("text", "Phường Trung Tâm"),
    ("text", "09/11/2026"),
    ("press", "Bức xúc"),
    ("press", "Tỉnh, thành phố"),
    ("press", "Không"),  # not on social media
    ("press", "Cần quan tâm"),
    ("press", "⏭ Bỏ qua"),
    ("press", "⏭ Bỏ qua"),
    ("press", "✅ Gửi báo cáo"),
]
KILL_AFTER = {1: 0.0, 4: 0.005, 7: 0.02, 10: 0.0}  # step index → delay before SIGKILL


async def test_report_survives_sigkill_exactly_once(
    sandbox: SandboxServer, sandbox_client: SandboxClient, tmp_path: Path
) -> None:
    client = sandbox_client
    info = await client.create_bot(username="kill_test_bot")
    user = await client.create_user(first_name="Lan")
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'kill.db'}"
    engine = create_engine(db_url)
    await upgrade_database(engine)
    factory = create_session_factory(engine)
    async with factory() as session:
        unit = await people.create_unit(session=session, code="TINH", name="Tỉnh")
        person = Person(chat_id=user.id, full_name="Lan", status=PersonStatus.ACTIVE, unit_id=unit.id)
        await people.add_person(session=session, person=person)
        await people.grant_role(session=session, person=person, role=Role.COLLABORATOR, unit_id=unit.id)
        await session.commit()

    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE_", "TELEGRAM_", "ADMIN_"))
    }
    env.update(
        BOT_TOKEN=info.token,
        TELEGRAM_API_URL=sandbox.base_url,
        DATABASE_URL=db_url,
        POLLING_TIMEOUT="1",
        LOG_LEVEL="WARNING",
    )
    bot = BotProcess(env, tmp_path / "bot.log")
    bot.start()
    kills = 0
    try:
        for index, (kind, value) in enumerate(STEPS):
            if kind == "text":
                result = await client.send_message(info.token, user.id, value)
            else:
                message_id = await _button_message(client, user.id, value)
                result = await client.press_button(info.token, user.id, user.id, message_id, value)
            assert result.update_id is not None
            if index in KILL_AFTER:
                await asyncio.sleep(KILL_AFTER[index])
                bot.kill()
                kills += 1
                bot.start()
            await _settle(factory, result.update_id)
    finally:
        bot.stop()

    assert kills == 4
    async with factory() as session:
        reports = (await session.exec(select(Report))).all()
        drafts = (await session.exec(select(Draft))).all()
        pending = (await session.exec(select(Inbox).where(Inbox.status != InboxStatus.DONE))).all()
    await engine.dispose()
    assert len(reports) == 1, (tmp_path / "bot.log").read_text()
    assert reports[0].answers == {
        "su_viec": "Người dân bức xúc vì dự án chậm tiến độ kéo dài",
        "dia_ban": "Phường Trung Tâm",
        "thoi_gian": "2026-11-09",
        "phan_ung": "buc_xuc",
        "pham_vi": "tinh",
        "mang_xa_hoi": "no",
        "muc_do": "can_quan_tam",
    }
    assert drafts == []
    assert pending == []
    texts = [m.get("text", "") for m in await client.chat_messages(user.id)]
    assert any("Đã nhận báo cáo số 1" in text for text in texts)


ZALO_STEPS = [
    "/report",
    "Người dân bức xúc vì dự án chậm tiến độ kéo dài",
    "Phường Trung Tâm",
    "09/11/2026",
    "Bức xúc",
    "Tỉnh, thành phố",
    "Không",
    "Cần quan tâm",
    "bỏ qua",
    "Bỏ qua",
    "gửi",
]


async def test_a_zalo_report_survives_sigkill_exactly_once(
    sandbox: SandboxServer, sandbox_client: SandboxClient, tmp_path: Path
) -> None:
    """The same on Zalo alone (no Telegram token), in webhook mode: an event is answered 200
    only once it is stored, and Zalo sends it again until then."""
    client = sandbox_client
    zalo = await client.zalo_create_bot("Kill test")
    user = await client.zalo_create_user("Lan")
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'kill.db'}"
    engine = create_engine(db_url)
    await upgrade_database(engine)
    factory = create_session_factory(engine)
    async with factory() as session:
        unit = await people.create_unit(session=session, code="TINH", name="Tỉnh")
        address = await addresses.zalo_address_for(session=session, external_id=user, group=False)
        person = Person(chat_id=address, full_name="Lan", status=PersonStatus.ACTIVE, unit_id=unit.id)
        await people.add_person(session=session, person=person)
        await people.grant_role(session=session, person=person, role=Role.COLLABORATOR, unit_id=unit.id)
        await session.commit()
    port = _free_port()
    env = bot_env(
        "",
        sandbox.base_url,
        db_url,
        ZALO_BOT_TOKEN=zalo.token,
        ZALO_API_URL=f"{sandbox.base_url}/zalo",
        ZALO_WEBHOOK_URL=f"http://127.0.0.1:{port}/zalo",
        ZALO_WEBHOOK_SECRET="kill-test-secret",
        WEBHOOK_PORT=str(port),
    )
    bot = BotProcess(env, tmp_path / "bot.log")
    bot.start()
    kills = 0
    try:
        await _wait_for_webhook(client, zalo.token, user)
        for index, text in enumerate(ZALO_STEPS):
            sent = await client.zalo_send_text(zalo.token, user, text)
            if index in KILL_AFTER:
                await asyncio.sleep(KILL_AFTER[index])
                bot.kill()
                kills += 1
                bot.start()
            await _settle(factory, sent.update_id)
    finally:
        bot.stop()

    assert kills == 4
    async with factory() as session:
        reports = (await session.exec(select(Report))).all()
        drafts = (await session.exec(select(Draft))).all()
        pending = (await session.exec(select(Inbox).where(Inbox.status != InboxStatus.DONE))).all()
    await engine.dispose()
    log = (tmp_path / "bot.log").read_text()
    assert len(reports) == 1, log
    assert reports[0].answers["phan_ung"] == "buc_xuc" and reports[0].answers["muc_do"] == "can_quan_tam"
    assert drafts == [] and pending == []
    texts = [m.get("text", "") for m in await client.zalo_messages(user) if m["from"] == "bot"]
    assert sum("Đã nhận báo cáo số 1" in text for text in texts) == 1


async def _wait_for_webhook(client: SandboxClient, token: str, user: str, limit: float = 30.0) -> None:
    """Until the bot has set its webhook and answers (the first event is only a greeting)."""
    deadline = asyncio.get_running_loop().time() + limit
    sent = await client.zalo_send_text(token, user, "/help")
    while asyncio.get_running_loop().time() < deadline:
        if any(m["from"] == "bot" for m in await client.zalo_messages(user)):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the bot did not answer {sent.message_id}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

"""Kill -9 in the middle of a report: after restarts it is stored exactly once (reliability rule 1)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from sqlmodel import select

from bot.sandbox import SandboxClient, SandboxServer
from storage import people
from storage.db import create_engine, create_session_factory, upgrade_database
from storage.models import Draft, Inbox, InboxStatus, Person, PersonStatus, Report, Role
from tests.faults.process import BotProcess, _button_message, _settle

pytestmark = pytest.mark.slow


STEPS: list[tuple[str, str]] = [
    ("text", "/report"),
    ("text", "Người dân bức xúc vì dự án chậm tiến độ kéo dài"),
    ("text", "Phường Trung Tâm"),
    ("text", "09/11/2026"),
    ("press", "Bức xúc"),
    ("press", "Tỉnh"),
    ("press", "Cần quan tâm"),
    ("press", "⏭ Bỏ qua"),
    ("press", "⏭ Bỏ qua"),
    ("press", "✅ Gửi báo cáo"),
]
KILL_AFTER = {1: 0.0, 4: 0.005, 6: 0.02, 9: 0.0}  # step index → delay before SIGKILL


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
        "muc_do": "can_quan_tam",
    }
    assert drafts == []
    assert pending == []
    texts = [m.get("text", "") for m in await client.chat_messages(user.id)]
    assert any("Đã nhận báo cáo số 1" in text for text in texts)

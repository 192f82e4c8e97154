"""Kill -9 in the middle of a delivery: after restarts nobody is lost, and nobody gets more
than one extra copy per crash (reliability rule 2)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from bot.sandbox import SandboxClient, SandboxServer
from storage import people
from storage.db import create_engine, create_session_factory, upgrade_database
from storage.models import Outbox, OutboxStatus, Person, PersonStatus, Role
from tests.faults.process import BotProcess, _button_message, _settle, bot_env

pytestmark = pytest.mark.slow
RECIPIENTS = 200
LIMIT = 40  # messages per second, in the sandbox and in the bot


async def _sent(factory) -> int:  # type: ignore[no-untyped-def]
    async with factory() as session:
        return (await session.exec(select(func.count()).where(Outbox.status != OutboxStatus.PENDING))).one()


async def _wait_sent(factory, at_least: int, limit: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + limit
    while await _sent(factory) < at_least:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"fewer than {at_least} messages went out")
        await asyncio.sleep(0.02)


async def test_delivery_survives_sigkill(
    sandbox: SandboxServer, sandbox_client: SandboxClient, tmp_path: Path
) -> None:
    client = sandbox_client
    info = await client.create_bot(username="delivery_kill_bot")
    staff = await client.create_user(first_name="Cán bộ")
    users = [await client.create_user(first_name=f"CTV {n}", started=[info.token]) for n in range(RECIPIENTS)]
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'kill.db'}"
    engine = create_engine(db_url)
    await upgrade_database(engine)
    factory = create_session_factory(engine)
    async with factory() as session:
        unit = await people.create_unit(session=session, code="TINH", name="Tỉnh")
        for user, role in [(staff, Role.STAFF), *((u, Role.COLLABORATOR) for u in users)]:
            person = Person(
                chat_id=user.id, full_name=user.first_name, status=PersonStatus.ACTIVE, unit_id=unit.id
            )
            await people.add_person(session=session, person=person)
            await people.grant_role(session=session, person=person, role=role, unit_id=unit.id)
        await session.commit()
    await client.configure(global_per_second=LIMIT, per_chat_per_second=1, per_group_per_minute=20)

    env = bot_env(info.token, sandbox.base_url, db_url, GLOBAL_RATE_PER_SECOND=str(LIMIT))
    bot = BotProcess(env, tmp_path / "bot.log")
    bot.start()
    due = (datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) + timedelta(days=20)).strftime("%d/%m/%Y")
    steps = [
        ("text", "/topic"),
        ("text", "Chủ đề kiểm tra khi tiến trình bị dừng đột ngột"),
        ("text", "Nắm bắt dư luận về việc điều chỉnh giá điện sinh hoạt trên địa bàn tỉnh."),
        ("press", "Báo cáo tình hình dư luận xã hội định kỳ"),
        ("press", f"{datetime.now(ZoneInfo('Asia/Ho_Chi_Minh')):%m/%Y} (tháng này)"),
        ("text", due),
        ("press", "📢 Ngay bây giờ"),
        ("press", "📢 Đăng"),
    ]
    kills = 0
    try:
        for kind, value in steps:
            if kind == "text":
                result = await client.send_message(info.token, staff.id, value)
            else:
                message_id = await _button_message(client, staff.id, value)
                result = await client.press_button(info.token, staff.id, staff.id, message_id, value)
            assert result.update_id is not None
            await _settle(factory, result.update_id)
        for fraction in (0.25, 0.6):
            await _wait_sent(factory, int(RECIPIENTS * fraction))
            bot.kill()
            kills += 1
            bot.start()
        await _wait_sent(factory, RECIPIENTS)
        # The progress message reaches its final state after the last restart, too.
        deadline = asyncio.get_running_loop().time() + 30
        while "Hoàn tất" not in str((await client.chat_messages(staff.id))[-1].get("text")):
            assert asyncio.get_running_loop().time() < deadline, (tmp_path / "bot.log").read_text()[-3000:]
            await asyncio.sleep(0.1)
    finally:
        bot.stop()

    assert kills == 2
    received = Counter()
    for user in users:
        texts = [m.get("text", "") for m in await client.chat_messages(user.id)]
        received[user.id] = sum(
            1 for text in texts if "Chủ đề kiểm tra khi tiến trình bị dừng đột ngột" in text
        )
    assert min(received.values()) == 1, "somebody was lost"
    assert max(received.values()) <= 1 + kills
    duplicates = sum(count - 1 for count in received.values())
    async with factory() as session:
        statuses = dict(
            (
                await session.exec(
                    select(Outbox.status, func.count())
                    .where(col(Outbox.broadcast_id).is_not(None))
                    .group_by(Outbox.status)
                )
            ).all()
        )
    await engine.dispose()
    assert statuses == {OutboxStatus.SENT: RECIPIENTS}
    # Only messages in flight at a kill can go twice: a handful, not a re-send of everything.
    print(f"kills={kills} duplicates={duplicates}")
    assert duplicates <= kills * 16, duplicates

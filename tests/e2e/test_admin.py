"""Administrators come from ADMIN_IDS: no invite, every staff and leader command, whole scope."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import select

from bot.sandbox import SandboxClient, SandboxServer
from storage.models import Person, PersonStatus
from tests.e2e.harness import Persona, World, drop_database, make_world

ADMIN_ID = 424242


@pytest.fixture
async def admin_world(
    sandbox: SandboxServer, sandbox_client: SandboxClient, tmp_path: Path
) -> AsyncIterator[World]:
    built = await make_world(sandbox_client, sandbox.base_url, tmp_path, admin_ids=[ADMIN_ID])
    yield built
    await built.app.stop()
    await drop_database(built.app.settings.database_url)


async def test_admin_is_bootstrapped_on_first_contact(admin_world: World) -> None:
    user = await admin_world.client.create_user(first_name="Quản trị", user_id=ADMIN_ID)
    admin = Persona(world=admin_world, user_id=user.id, first_name="Quản trị")
    reply = await admin.send("/help")
    assert "/topic" in reply.text and "/summary" in reply.text
    reply = await admin.send("/invite")
    assert reply.buttons()[:3] == ["Tỉnh An Phú", "Huyện Bình Minh", "Huyện Hòa Thuận"]
    await admin.press("❌ Hủy")
    reply = await admin.send("/summary")
    assert "Tổng hợp tình hình dư luận xã hội" in reply.text and "Tỉnh An Phú" in reply.text
    async with admin_world.sessions() as session:
        person = (await session.exec(select(Person).where(Person.chat_id == ADMIN_ID))).one()
    assert person.status == PersonStatus.ACTIVE

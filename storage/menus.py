"""The numbered choices last shown in a chat without buttons (Zalo)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ChatMenu


async def set_menu(*, session: AsyncSession, chat_id: int, menu: dict[str, Any], now: datetime) -> None:
    await session.merge(ChatMenu(chat_id=chat_id, menu=menu, updated_at=now))


async def get_menu(*, session: AsyncSession, chat_id: int) -> ChatMenu | None:
    return await session.get(ChatMenu, chat_id)


async def drop_menu(*, session: AsyncSession, chat_id: int) -> None:
    await session.exec(delete(ChatMenu).where(ChatMenu.chat_id == chat_id))  # type: ignore[call-overload,arg-type]

"""The numbered choices last shown in a chat without buttons (Zalo)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ChatMenu


async def set_menu(*, session: AsyncSession, chat_id: int, menu: dict[str, Any], now: datetime) -> None:
    await session.merge(ChatMenu(chat_id=chat_id, menu=menu, updated_at=now))


async def get_menu(*, session: AsyncSession, chat_id: int) -> ChatMenu | None:
    return await session.get(ChatMenu, chat_id)


async def drop_menu(*, session: AsyncSession, chat_id: int) -> None:
    await session.exec(delete(ChatMenu).where(ChatMenu.chat_id == chat_id))  # type: ignore[call-overload,arg-type]


async def drop_menus(*, session: AsyncSession, chat_ids: set[int]) -> None:
    """A message the person did not ask for arrived: the numbers they see last are no longer
    the menu's. The table holds only chats with a menu waiting, so it is read whole."""
    if not chat_ids:
        return
    waiting = set((await session.exec(select(ChatMenu.chat_id))).all())
    stale = waiting & chat_ids
    if stale:
        await session.exec(delete(ChatMenu).where(col(ChatMenu.chat_id).in_(stale)))  # type: ignore[call-overload]

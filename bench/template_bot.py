"""The usual aiogram 3 + SQLAlchemy template: the yardstick for our bot's CPU per update.

aiogram's own polling and Dispatcher; an outer middleware opens one `async_sessionmaker`
session per update and commits it after the handler; the handler adds one row to
`message_log` (created at start with `metadata.create_all`) and answers the message.
SQLAlchemy 2 async on aiosqlite or asyncpg, as the URL says. On SQLite the file gets the
same journal settings as our bot (WAL, synchronous=NORMAL), so the two pay the same for
durability and the comparison is about the code.

    python bench/template_bot.py TOKEN API_URL DATABASE_URL
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message, TelegramObject
from sqlalchemy import BigInteger, DateTime, Text, event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class MessageLog(Base):
    __tablename__ = "message_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(UTC))


class DbSessionMiddleware(BaseMiddleware):
    """One session per update, committed once the handler has returned."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        async with self.sessions() as session:
            data["session"] = session
            result = await handler(event, data)
            await session.commit()
            return result


async def log_and_answer(message: Message, session: AsyncSession) -> None:
    session.add(
        MessageLog(
            chat_id=message.chat.id,
            user_id=message.from_user.id if message.from_user else 0,
            text=message.text or "",
        )
    )
    await message.answer(f"Đã ghi nhận: {message.text or '…'}")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


async def main(token: str, api_url: str, database_url: str) -> None:
    engine = create_async_engine(database_url)
    if database_url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api_url)))
    dispatcher = Dispatcher()
    dispatcher.update.outer_middleware(DbSessionMiddleware(sessions))
    dispatcher.message.register(log_and_answer)
    try:
        await dispatcher.start_polling(bot, handle_signals=True, polling_timeout=10)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))

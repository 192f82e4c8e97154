"""What the running bot learned about itself, kept for the CLI (bot_fact)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import BotFact

TELEGRAM_USERNAME = "telegram_username"


async def remember(*, session: AsyncSession, key: str, value: str, now: datetime) -> None:
    fact = await session.get(BotFact, key)
    if fact is None:
        session.add(BotFact(key=key, value=value, updated_at=now))
    elif fact.value != value:
        fact.value, fact.updated_at = value, now


async def recall(*, session: AsyncSession, key: str) -> str | None:
    fact = await session.get(BotFact, key)
    return fact.value if fact is not None else None

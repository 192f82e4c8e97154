"""/briefing for staff in private: set, change or cancel the monthly briefing (giao ban)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.types import Message

from bot import access, briefings
from bot.access import Actor
from bot.channels.telegram import answer_message
from bot.commands import command
from bot.conversation import Conversations, Services


async def briefing(message: Message, services: Services, actor: Actor, conversations: Conversations) -> None:
    outcome = await briefings.open_briefing_wizard(services, conversations, actor=actor)
    await answer_message(services, message, outcome)


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(
        briefing, command("briefing"), F.chat.type == ChatType.PRIVATE, flags=access.flags("/briefing")
    )
    return router

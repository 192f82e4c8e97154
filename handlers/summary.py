"""/summary for leaders, in private or in a registered group."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.access import Actor, Permission
from bot.analytics.service import summary_for
from bot.conversation import Services
from bot.replies import answer_message

router = Router(name=__name__)


@router.message(Command("summary"), flags={"permission": Permission.VIEW_SUMMARY})
async def summary(message: Message, command: CommandObject, services: Services, actor: Actor) -> None:
    outcome = await summary_for(services, actor=actor, argument=command.args)
    await answer_message(services, message, outcome)

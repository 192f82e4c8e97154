"""/schedule for administrators, in a private chat on either channel (bot/schedule_admin.py)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import CommandObject
from aiogram.types import Message

from bot import access, schedule_admin
from bot.access import Actor
from bot.channels.telegram import answer_text
from bot.commands import command
from bot.conversation import Services
from bot.scheduling import JobRunner


async def schedule(
    message: Message, command: CommandObject, services: Services, actor: Actor, job_runner: JobRunner
) -> None:
    """`job_runner` is the dispatcher's (bot/app.py create_dispatcher), the one that ticks."""
    text = await schedule_admin.handle(services, job_runner, actor, command.args)
    await answer_text(services, message, text)


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(
        schedule, command("schedule"), F.chat.type == ChatType.PRIVATE, flags=access.flags("/schedule")
    )
    return router

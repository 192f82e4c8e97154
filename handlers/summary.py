"""/summary for leaders, in private or in a registered group."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import CommandObject
from aiogram.types import Message

from bot import access
from bot.access import Actor
from bot.analytics.service import summary_for
from bot.channels.telegram import answer_message, answer_text
from bot.commands import command
from bot.conversation import Services
from bot.groups import unregistered_text
from bot.people import private_only_text
from storage import people


async def summary(message: Message, command: CommandObject, services: Services, actor: Actor) -> None:
    group_unit_id = None
    if message.chat.type != ChatType.PRIVATE:
        group = await people.get_group(session=services.session, chat_id=message.chat.id)
        if group is None or not group.is_active:
            await answer_text(services, message, unregistered_text(), quote=True)
            return
        group_unit_id = group.unit_id
    outcome = await summary_for(services, actor=actor, argument=command.args, group_unit_id=group_unit_id)
    await answer_message(services, message, outcome)


async def private_only_command(message: Message, services: Services) -> None:
    """Any other command in a registered group: point to the private chat, keep the group quiet."""
    await answer_text(services, message, private_only_text(services), quote=True)


def create_router() -> Router:
    """A fresh router (one per Dispatcher), with handlers in the order they are tried."""
    router = Router(name=__name__)
    router.message.register(summary, command("summary"), flags=access.flags("/summary"))
    router.message.register(
        private_only_command, F.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP}), F.text.startswith("/")
    )
    return router

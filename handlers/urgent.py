"""Urgent matters: /urgent and /urgent_status for staff, the ✅ Received button for everyone."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot import access, urgent
from bot.access import Actor, button
from bot.channels.telegram import answer_callback, answer_message
from bot.commands import command
from bot.conversation import Conversations, Outcome, Services
from bot.tags import parse_tag
from bot.ui import AckButton


async def new_urgent(
    message: Message, services: Services, actor: Actor, conversations: Conversations
) -> None:
    outcome = await urgent.open_urgent_wizard(services, conversations, actor=actor)
    await answer_message(services, message, outcome)


async def urgent_status(message: Message, command: CommandObject, services: Services, actor: Actor) -> None:
    argument = (command.args or "").strip()
    tag = parse_tag(argument) if argument else None
    if argument and tag is None:
        outcome = Outcome(alert=_("Write the number of the urgent matter, for example /urgent_status K2."))
    else:
        outcome = await urgent.status_by_number(services, actor, tag.number if tag else None)
    await answer_message(services, message, outcome)


async def acknowledge(
    query: CallbackQuery, callback_data: AckButton, services: Services, actor: Actor
) -> None:
    await answer_callback(services, query, await urgent.acknowledge(services, actor, callback_data.topic))


def create_router() -> Router:
    router = Router(name=__name__)
    private = F.chat.type == ChatType.PRIVATE
    router.message.register(new_urgent, command("urgent"), private, flags=access.flags("/urgent"))
    router.message.register(
        urgent_status, command("urgent_status"), private, flags=access.flags("/urgent_status")
    )
    router.callback_query.register(acknowledge, AckButton.filter(), flags=access.flags(button("ak")))
    return router

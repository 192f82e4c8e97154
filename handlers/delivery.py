"""Staff watching their deliveries: /broadcasts and the buttons of progress messages."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.types import CallbackQuery, Message

from bot import access, broadcasts, urgent
from bot.access import Actor, button
from bot.channels.telegram import answer_callback, answer_message
from bot.commands import command
from bot.conversation import Services
from bot.ui import BroadcastButton


async def list_broadcasts(message: Message, services: Services, actor: Actor) -> None:
    await answer_message(services, message, await broadcasts.list_broadcasts(services, actor))


async def broadcast_button(
    query: CallbackQuery, callback_data: BroadcastButton, services: Services, actor: Actor
) -> None:
    if callback_data.action == "x":
        outcome = await broadcasts.cancel_broadcast(services, actor, callback_data.broadcast)
    elif callback_data.action == "u":
        outcome = await broadcasts.not_reached(services, actor, callback_data.broadcast)
    else:
        outcome = await urgent.status_for_broadcast(services, actor, callback_data.broadcast)
    await answer_callback(services, query, outcome)


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(
        list_broadcasts,
        command("broadcasts"),
        F.chat.type == ChatType.PRIVATE,
        flags=access.flags("/broadcasts"),
    )
    router.callback_query.register(
        broadcast_button, BroadcastButton.filter(), flags=access.flags(button("bc"))
    )
    return router

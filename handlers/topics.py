"""Staff commands in private: /topic and /invite."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.types import Message

from bot import access, onboarding, topics
from bot.access import Actor
from bot.channels.telegram import answer_message
from bot.commands import command
from bot.conversation import Conversations, Services


async def new_topic(message: Message, services: Services, actor: Actor, conversations: Conversations) -> None:
    outcome = await topics.open_topic_wizard(services, conversations, actor=actor)
    await answer_message(services, message, outcome)


async def new_invite(
    message: Message, services: Services, actor: Actor, conversations: Conversations
) -> None:
    outcome = await onboarding.open_invite_wizard(services, conversations, actor=actor)
    await answer_message(services, message, outcome)


def create_router() -> Router:
    """A fresh router (one per Dispatcher), with handlers in the order they are tried."""
    router = Router(name=__name__)
    router.message.filter(F.chat.type == ChatType.PRIVATE)
    router.message.register(new_topic, command("topic"), flags=access.flags("/topic"))
    router.message.register(new_invite, command("invite"), flags=access.flags("/invite"))
    return router

"""Staff commands in private: /topic, /topics and /invite, and the buttons on topics."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.types import CallbackQuery, Message

from bot import access, onboarding, topic_admin, topics
from bot.access import Actor, button
from bot.channels.telegram import answer_callback, answer_message
from bot.commands import command
from bot.conversation import Conversations, Services
from bot.ui import TopicButton


async def new_topic(message: Message, services: Services, actor: Actor, conversations: Conversations) -> None:
    outcome = await topics.open_topic_wizard(services, conversations, actor=actor)
    await answer_message(services, message, outcome)


async def list_topics(message: Message, services: Services, actor: Actor) -> None:
    await answer_message(services, message, await topic_admin.list_topics(services, actor))


async def topic_button(
    query: CallbackQuery,
    callback_data: TopicButton,
    services: Services,
    actor: Actor,
    conversations: Conversations,
) -> None:
    outcome = await topic_admin.press(services, conversations, actor, callback_data)
    await answer_callback(services, query, outcome)


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
    router.message.register(list_topics, command("topics"), flags=access.flags("/topics"))
    router.message.register(new_invite, command("invite"), flags=access.flags("/invite"))
    router.callback_query.register(
        topic_button,
        TopicButton.filter(),
        F.message.chat.type == ChatType.PRIVATE,
        flags=access.flags(button("tp")),
    )
    return router

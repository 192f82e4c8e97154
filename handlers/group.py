"""Groups: /setup, quiet capture of replies to topic posts, and nothing else.

A group stays readable: the bot answers replies with a reaction, and in a group that is
not registered it answers a command with one short explanation and stores nothing.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import CommandObject
from aiogram.types import CallbackQuery, ChatMemberUpdated, Message
from aiogram.utils.i18n import gettext as _

from bot import access
from bot.access import Actor, button
from bot.channels.telegram import answer_callback, answer_message, answer_text
from bot.commands import command, for_another_bot
from bot.conversation import Services
from bot.delivery import payloads
from bot.groups import RegisteredGroup, bind_group, migrate_group, offer_setup, unregistered_text
from bot.reporting import (
    group_reply_for,
    not_member_text,
    not_your_topic_text,
    store_group_reply,
    topic_is_for,
)
from bot.ui import SetupButton

GROUP_CHATS = F.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP})


async def group_migrated(message: Message, services: Services) -> None:
    assert message.migrate_to_chat_id is not None
    await migrate_group(services, old_chat_id=message.chat.id, new_chat_id=message.migrate_to_chat_id)


async def bot_membership_changed(event: ChatMemberUpdated, services: Services) -> None:
    """Added to a group: one line on how to register it. Nothing else is stored."""
    if event.new_chat_member.status in ("member", "administrator") and event.old_chat_member.status in (
        "left",
        "kicked",
    ):
        await services.replies.add(event.chat.id, payloads.message(unregistered_text()))


async def setup(message: Message, command: CommandObject, services: Services, actor: Actor) -> None:
    outcome = await offer_setup(services, actor=actor, chat=message.chat, search=command.args or "")
    await answer_message(services, message, outcome)


async def setup_chosen(
    query: CallbackQuery, callback_data: SetupButton, services: Services, actor: Actor
) -> None:
    assert query.message is not None
    if callback_data.page >= 0:
        outcome = await offer_setup(services, actor=actor, chat=query.message.chat, page=callback_data.page)
    else:
        outcome = await bind_group(services, actor=actor, chat=query.message.chat, unit_id=callback_data.unit)
    await answer_callback(services, query, outcome)


async def unregistered_group_command(message: Message, services: Services) -> None:
    await answer_text(services, message, unregistered_text(), quote=True)


async def reply_to_topic(message: Message, services: Services, actor: Actor | None) -> None:
    """A reply to a topic post is a quick report; it is acknowledged with 👍 (a short reply
    where the group does not allow reactions, and on Zalo)."""
    topic = await group_reply_for(services, message)
    if topic is None:
        return
    if actor is None or not actor.is_member or actor.person is None or actor.person.unit_id is None:
        await answer_text(services, message, not_member_text(), quote=True)
        return
    if not await topic_is_for(services, topic, actor):
        await answer_text(services, message, not_your_topic_text(), quote=True)
        return
    await store_group_reply(services, actor=actor, topic=topic, message=message)
    confirmation = "👍 " + _("Recorded, thank you.")
    await services.replies.add(
        message.chat.id, payloads.react(message.message_id, "👍", fallback=confirmation)
    )


async def left_to_another_bot(message: Message) -> None:
    """/summary@OtherBot in a group the bot shares: not ours, so not a word."""


def create_router() -> Router:
    """A fresh router (one per Dispatcher), with handlers in the order they are tried."""
    router = Router(name=__name__)
    router.message.filter(GROUP_CHATS)
    router.message.register(left_to_another_bot, for_another_bot)
    router.message.register(group_migrated, F.migrate_to_chat_id)
    router.my_chat_member.register(
        bot_membership_changed, F.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP})
    )
    router.message.register(setup, command("setup"), flags=access.flags("/setup"))
    router.callback_query.register(setup_chosen, SetupButton.filter(), flags=access.flags(button("su")))
    router.message.register(unregistered_group_command, F.text.startswith("/"), ~RegisteredGroup())
    router.message.register(
        reply_to_topic,
        F.reply_to_message.from_user.is_bot,
        ~F.text.startswith("/"),
        F.text | F.photo | F.document,
        RegisteredGroup(),
    )
    return router

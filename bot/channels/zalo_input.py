"""What a Zalo message means, before the handlers see it.

Zalo has no buttons and no replies, so a few typed forms stand for them, and the update is
rewritten into what a Telegram user's press or reply would have been; the same handlers
then do the same thing on both channels:

- a number answering the numbered choices of the bot's last message (a menu is good for the
  next message only; a number out of range gets one line and the choices again);
- "đã nhận" (or "1" outside a conversation): ✅ Received on the latest urgent matter;
- "báo cáo 12" ("báo cáo K2" for an urgent matter): the 📝 report button of topic 12;
- "nhắc 12" (staff): the roll-call's 🔔 button of topic 12, reminding the silent now;
- an invite code typed alone (outside a conversation): `/start CODE`;
- in a bound group, "#12 …": a reply to topic 12's post there ("#K2 đã nhận" confirms urgent
  matter K2; numbers and tags: bot/tags.py), and "/2" a number of the bot's last numbered message there (only
  messages beginning with # or / reach the bot from a group). Forms read their own
  numbers and words (bot/conversation.py).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, Update, User
from aiogram.utils.i18n import gettext as _

from bot.access import Actor
from bot.channels.zalo_text import Menu
from bot.conversation import Services
from bot.delivery import payloads
from bot.forms import words
from bot.onboarding import looks_like_invite_code
from bot.tags import parse_tag
from bot.ui import AckButton, TopicButton
from storage import menus, reports, topics
from storage.addresses import channel_of
from storage.models import Channel, TopicKind

GROUP_NUMBER = re.compile(r"^/(\d{1,3})$")
TAG = re.compile(r"^#\s*(k?\s*[0-9]{1,9})\b[\s:,.-]*(.*)$", re.DOTALL | re.IGNORECASE)
BOT_USER = User(id=0, is_bot=True, first_name="bot")

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class ZaloInputMiddleware(BaseMiddleware):
    """Outer update middleware, inside `UpdateContextMiddleware` (it needs the actor)."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Update) or event.message is None:
            return await handler(event, data)
        message = event.message
        if channel_of(message.chat.id) is not Channel.ZALO:
            return await handler(event, data)
        services: Services = data["services"]
        actor: Actor | None = data.get("actor")
        if message.chat.type != "private":
            rewritten = await _group_message(services, message)
            if rewritten is None:
                return None  # not for the bot: ordinary conversation
            return await handler(rewritten, data)
        if message.text is None:
            return await handler(event, data)
        rewritten = await _private_message(services, actor, message)
        if rewritten is None:
            return None  # answered here (a number out of range)
        return await handler(rewritten, data)


async def _private_message(services: Services, actor: Actor | None, message: Message) -> Update | None:
    text = (message.text or "").strip()
    update_id = services.update_id
    chat_id = message.chat.id
    stored = await menus.get_menu(session=services.session, chat_id=chat_id)
    if stored is not None:
        await menus.drop_menu(session=services.session, chat_id=chat_id)  # good for one answer
    person_id = actor.person.id if actor is not None and actor.person is not None else None
    draft = (
        await reports.latest_draft(session=services.session, person_id=person_id)
        if person_id is not None
        else None
    )
    typed = words.read(text)
    if text.startswith("/"):
        if draft is None or (typed.control is None and typed.edit is None and typed.page is None):
            return Update(update_id=update_id, message=message)
        # in a form, "/hủy", "/quay lại", "/sửa 3" are the words the form reads
        text = text.lstrip("/").strip()
        message = message.model_copy(update={"text": text})
    if stored is not None and len(typed.numbers) == 1:
        menu = Menu.from_json(stored.menu)
        number = typed.numbers[0]
        if not 1 <= number <= len(menu.options):
            await _out_of_range(services, chat_id, menu, number)
            return None
        return _acting(services, message, menu.options[number - 1])
    if person_id is not None and (words.is_acknowledgement(text) or (text == "1" and draft is None)):
        session = services.session
        topic_id = await topics.urgent_sent_to(session=session, person_id=person_id, unacknowledged=True)
        if topic_id is None and words.is_acknowledgement(text):  # said twice: "already recorded"
            topic_id = await topics.urgent_sent_to(session=session, person_id=person_id, unacknowledged=False)
        if topic_id is not None:
            return _acting(services, message, AckButton(topic=topic_id).pack())
    remind = words.remind_request(text)  # as "báo cáo 3", whatever form is open
    if person_id is not None and remind is not None:
        topic = await topics.get_by_number(session=services.session, kind=TopicKind.MONTHLY, number=remind)
        if topic is not None and topic.id is not None:
            return _acting(services, message, TopicButton(topic=topic.id, action="remind").pack())
    report = words.report_request(text)
    tag = parse_tag(report) if report is not None else None
    if tag is not None:
        return _acting(services, message, f"/start r{tag}")
    if draft is None and looks_like_invite_code(text):
        return _acting(services, message, f"/start {text}")
    return Update(update_id=update_id, message=message)


async def _out_of_range(services: Services, chat_id: int, menu: Menu, number: int) -> None:
    warning = _("There is no choice {number}: answer with a number from 1 to {count}.").format(
        number=number, count=len(menu.options)
    )
    await services.replies.add(chat_id, payloads.message("⚠️ " + warning))
    # the same choices again, remembered again
    await services.replies.add(chat_id, {"text": menu.text, "plain": True})
    await menus.set_menu(
        session=services.session, chat_id=chat_id, menu=menu.to_json(), now=services.clock.now()
    )


def _acting(services: Services, message: Message, action: str) -> Update:
    """The update a press (callback data) or a typed command (`/…`) would have been."""
    if action.startswith("/"):
        return Update(update_id=services.update_id, message=message.model_copy(update={"text": action}))
    services.replies.text_answers_to = message.chat.id
    query = CallbackQuery(
        id=f"zalo:{services.update_id}",
        from_user=message.from_user or BOT_USER,
        chat_instance=f"zalo:{message.chat.id}",
        data=action,
        message=Message(
            message_id=message.message_id,
            date=datetime.now(UTC),
            chat=message.chat,
            from_user=BOT_USER,
            text="",
        ),
    )
    return Update(update_id=services.update_id, callback_query=query)


async def _group_message(services: Services, message: Message) -> Update | None:
    """`#12 …` in a group (a text, or a photo's caption): a reply to topic 12's post there,
    or its ✅ Received."""
    if message.text is None and message.caption is None:
        return None
    text = (message.text if message.text is not None else message.caption or "").strip()
    number = GROUP_NUMBER.match(text)
    if number is not None:
        stored = await menus.get_menu(session=services.session, chat_id=message.chat.id)
        if stored is None:
            return None
        await menus.drop_menu(session=services.session, chat_id=message.chat.id)
        menu = Menu.from_json(stored.menu)
        chosen = int(number.group(1))
        if not 1 <= chosen <= len(menu.options):
            await _out_of_range(services, message.chat.id, menu, chosen)
            return None
        return _acting(services, message, menu.options[chosen - 1])
    if text.startswith("/"):
        return Update(update_id=services.update_id, message=message)
    tag = TAG.match(text)
    if tag is None:
        return None
    named, rest = parse_tag(tag.group(1)), tag.group(2).strip()
    topic = (
        await topics.get_by_number(session=services.session, kind=named.kind, number=named.number)
        if named is not None
        else None
    )
    if topic is None or topic.id is None:
        return None
    topic_id = topic.id
    post = await topics.post_in_chat(session=services.session, chat_id=message.chat.id, topic_id=topic_id)
    if post is None:
        return None
    if message.text is not None and words.is_acknowledgement(rest):
        return _acting(services, message, AckButton(topic=topic_id).pack())
    if not rest and message.text is not None:
        return None
    original = Message(
        message_id=post.message_id, date=datetime.now(UTC), chat=message.chat, from_user=BOT_USER, text=""
    )
    field = "text" if message.text is not None else "caption"
    replied = message.model_copy(update={field: rest or None, "reply_to_message": original})
    return Update(update_id=services.update_id, message=replied)

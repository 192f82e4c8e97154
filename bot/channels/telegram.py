"""The Telegram adapter's rendering: outcomes become outbox rows.

Handlers call `answer_message` / `answer_callback` with the `Outcome` a `bot/` function
returned. Nothing here talks to Telegram during the update: the rows are written in the
update's transaction, and the sender makes the calls afterwards (`telegram_calls`).

Telegram specifics live here: choices become inline buttons, or a reply keyboard when a
screen asks for typed answers (the contact button); a pressed button's screen replaces the
message it was pressed on; the buttons of a question that has been answered are taken away
so that only the current question can be pressed.
"""

from __future__ import annotations

from typing import Any

from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.conversation import Outcome, Services
from bot.delivery import payloads
from bot.ui import Screen
from storage.models import Draft

# ------------------------------------------------------------------ outcomes → outbox rows


async def answer_message(services: Services, message: Message, outcome: Outcome) -> None:
    """An outcome answering a message: everything is sent anew, in order."""
    chat_id = message.chat.id
    if outcome.alert:
        await services.replies.add(chat_id, payloads.message(outcome.alert, reply_to=message.message_id))
    if outcome.screen is not None:
        await show_screen(services, chat_id, outcome)
    for extra in outcome.messages:
        await services.replies.add(chat_id, payloads.screen_message(extra))


async def answer_callback(services: Services, query: CallbackQuery, outcome: Outcome) -> None:
    """An outcome answering a pressed button: its screen replaces the pressed message."""
    replies = services.replies
    if outcome.alert and outcome.screen is None:
        replies.answer_callback(query.id, outcome.alert, alert=True)
        return
    replies.answer_callback(query.id)
    message = query.message if isinstance(query.message, Message) else None
    chat_id = message.chat.id if message is not None else query.from_user.id
    if outcome.screen is not None:
        screen = outcome.screen
        draft = outcome.draft
        behind_reply_keyboard = draft is not None and draft.prompt_keyboard == "reply"
        if message is not None and not screen.uses_reply_keyboard and not behind_reply_keyboard:
            await replies.add(chat_id, payloads.edit(screen, message_id=message.message_id))
            if draft is not None and not outcome.finished:
                _remember_prompt(draft, screen, message_id=message.message_id)
        else:
            pressed = message.message_id if message is not None else None
            if pressed is not None:
                await replies.add(chat_id, payloads.clear(message_id=pressed))
            await show_screen(services, chat_id, outcome, already_cleared=pressed)
    for extra in outcome.messages:
        await replies.add(chat_id, payloads.screen_message(extra))


async def answer_text(services: Services, message: Message, text: str, *, quote: bool = False) -> None:
    """A one-line answer (a refusal, a hint); `quote` replies to the person's message."""
    reply_to = message.message_id if quote else None
    await services.replies.add(message.chat.id, payloads.message(text, reply_to=reply_to))


async def show_screen(
    services: Services, chat_id: int, outcome: Outcome, *, already_cleared: int | None = None
) -> None:
    """Send a screen as a new message. The previous question's buttons are taken away and a
    reply keyboard that no longer applies is removed; the draft remembers the new prompt."""
    screen = outcome.screen
    assert screen is not None
    draft = outcome.draft
    previous = draft if draft is not None else outcome.ended
    replies = services.replies
    if previous is not None and previous.prompt_keyboard == "inline":
        target = _prompt_target(previous)
        pressed = (
            already_cleared is not None and target is not None and target.get("message_id") == already_cleared
        )
        if target is not None and not pressed:
            await replies.add(chat_id, payloads.clear(**target))
    remove_reply_keyboard = previous is not None and previous.prompt_keyboard == "reply"
    remember = draft is not None and not outcome.finished
    if remove_reply_keyboard and not screen.uses_reply_keyboard:
        if screen.has_buttons:
            await replies.add(chat_id, payloads.message(_("✓ Got it."), keyboard="remove"))
            ref = await replies.add(chat_id, payloads.screen_message(screen), need_id=remember)
        else:
            ref = await replies.add(
                chat_id, payloads.screen_message(screen, keyboard="remove"), need_id=remember
            )
    else:
        ref = await replies.add(chat_id, payloads.screen_message(screen), need_id=remember)
    if remember:
        assert draft is not None and ref is not None
        _remember_prompt(draft, screen, ref=ref)


def _remember_prompt(
    draft: Draft, screen: Screen, *, message_id: int | None = None, ref: int | None = None
) -> None:
    draft.prompt_message_id = message_id
    draft.prompt_outbox_id = ref
    draft.prompt_keyboard = (
        "reply" if screen.uses_reply_keyboard else ("inline" if screen.has_buttons else "")
    )


def _prompt_target(draft: Draft) -> dict[str, Any] | None:
    if draft.prompt_message_id is not None:
        return {"message_id": draft.prompt_message_id}
    if draft.prompt_outbox_id is not None:
        return {"ref": draft.prompt_outbox_id}
    return None

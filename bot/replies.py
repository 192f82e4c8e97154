"""Showing an `Outcome`: edit the prompt for a button, send anew for typed input.

Shared by every handler so prompts, keyboards and refusals behave the same everywhere.
"""

from __future__ import annotations

import contextlib
import logging

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, ReplyKeyboardRemove
from aiogram.utils.i18n import gettext as _

from bot.conversation import Outcome, Services
from bot.telegram import result_unused
from bot.ui import Screen, acknowledge
from storage import reports

log = logging.getLogger(__name__)
REPLY_KEYBOARD_FLAG = "reply_keyboard"


def _text(screen: Screen) -> str:
    return "\n\n".join([*screen.notes, screen.text]) if screen.notes else screen.text


async def answer_message(services: Services, message: Message, outcome: Outcome) -> None:
    """Render an outcome as new messages in the chat of `message`."""
    if outcome.alert:
        await message.reply(outcome.alert)
    if outcome.screen is not None:
        await _send_screen(services, message.chat.id, outcome)
    for extra in outcome.messages:
        await services.bot.send_message(message.chat.id, _text(extra), reply_markup=extra.markup)


async def answer_callback(services: Services, query: CallbackQuery, outcome: Outcome) -> None:
    """Render an outcome for a pressed button: the prompt message is edited in place."""
    if outcome.alert and outcome.screen is None:
        await acknowledge(query, outcome.alert)
        return
    await acknowledge(query)
    message = query.message
    if outcome.screen is not None:
        screen = outcome.screen
        can_edit = isinstance(message, Message) and not screen.uses_reply_keyboard
        if can_edit and not _had_reply_keyboard(outcome):
            assert isinstance(message, Message)
            markup = screen.markup if isinstance(screen.markup, InlineKeyboardMarkup) else None
            await _edit(message, _text(screen), markup)
            if outcome.draft is not None and not outcome.finished:
                outcome.draft.prompt_message_id = message.message_id
                await reports.save_draft(session=services.session, draft=outcome.draft)
        else:
            if isinstance(message, Message):
                await _drop_keyboard(message)
            chat_id = message.chat.id if message is not None else query.from_user.id
            await _send_screen(services, chat_id, outcome)
    for extra in outcome.messages:
        chat_id = message.chat.id if message is not None else query.from_user.id
        await services.bot.send_message(chat_id, _text(extra), reply_markup=extra.markup)


def _had_reply_keyboard(outcome: Outcome) -> bool:
    return bool(outcome.draft is not None and outcome.draft.context.get(REPLY_KEYBOARD_FLAG))


async def _send_screen(services: Services, chat_id: int, outcome: Outcome) -> None:
    screen = outcome.screen
    assert screen is not None
    draft = outcome.draft
    markup = screen.markup
    if draft is not None and draft.prompt_message_id and not screen.uses_reply_keyboard:
        # The previous prompt's buttons would now be stale: take them away.
        with contextlib.suppress(TelegramBadRequest), result_unused():
            await services.bot.edit_message_reply_markup(
                chat_id=chat_id, message_id=draft.prompt_message_id, reply_markup=None
            )
    had_reply_keyboard = _had_reply_keyboard(outcome) or (draft is None and outcome.finished)
    if had_reply_keyboard and not screen.uses_reply_keyboard:
        if markup is None:
            markup = ReplyKeyboardRemove()
        else:
            await services.bot.send_message(chat_id, _("✓ Got it."), reply_markup=ReplyKeyboardRemove())
    sent = await services.bot.send_message(chat_id, _text(screen), reply_markup=markup)
    if draft is not None and not outcome.finished:
        draft.prompt_message_id = sent.message_id
        context = dict(draft.context)
        context[REPLY_KEYBOARD_FLAG] = screen.uses_reply_keyboard
        draft.context = context
        await reports.save_draft(session=services.session, draft=draft)


async def _edit(message: Message, text: str, markup: InlineKeyboardMarkup | None) -> None:
    try:
        with result_unused():
            await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as error:
        if "not modified" not in str(error):
            raise


async def _drop_keyboard(message: Message) -> None:
    with contextlib.suppress(TelegramBadRequest), result_unused():
        await message.edit_reply_markup(reply_markup=None)

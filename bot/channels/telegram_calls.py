"""The Telegram adapter's calls: an outbox row's payload (bot/delivery/payloads.py) as the
Bot API method that carries it out."""

from __future__ import annotations

from typing import Any

from aiogram.methods import (
    DeleteMyCommands,
    EditMessageReplyMarkup,
    EditMessageText,
    SendMessage,
    SendPhoto,
    SetMessageReaction,
    SetMyCommands,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReactionTypeEmoji,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
)

from bot.channels.callback_signing import CallbackSigner
from bot.delivery import payloads
from bot.ui import Choice

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


def markup_for(payload: dict[str, Any], chat_id: int, signer: CallbackSigner | None = None) -> Markup | None:
    """The keyboard of a row; inline buttons' data signed for the chat (`signer`)."""
    keyboard = payload.get("keyboard", "inline")
    choices = payloads.choices_from(payload)
    if keyboard == "remove":
        return ReplyKeyboardRemove()
    if not choices:
        return None
    if keyboard == "reply":
        return ReplyKeyboardMarkup(
            keyboard=[[_reply_button(choice) for choice in row] for row in choices],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
    return InlineKeyboardMarkup(
        inline_keyboard=[[_inline_button(choice, chat_id, signer) for choice in row] for row in choices]
    )


def _inline_button(choice: Choice, chat_id: int, signer: CallbackSigner | None) -> InlineKeyboardButton:
    if choice.url is not None:
        return InlineKeyboardButton(text=choice.label, url=choice.url)
    data = choice.data or "-"
    return InlineKeyboardButton(
        text=choice.label, callback_data=signer.sign(chat_id, data) if signer else data
    )


def _reply_button(choice: Choice) -> KeyboardButton:
    return KeyboardButton(text=choice.label, request_contact=choice.contact or None)


def inline_markup(
    payload: dict[str, Any], chat_id: int, signer: CallbackSigner | None = None
) -> InlineKeyboardMarkup | None:
    markup = markup_for(payload, chat_id, signer)
    return markup if isinstance(markup, InlineKeyboardMarkup) else None


def send_method(
    chat_id: int, payload: dict[str, Any], signer: CallbackSigner | None = None
) -> SendMessage | SendPhoto:
    markup = markup_for(payload, chat_id, signer)
    reply = payload.get("reply_to")
    reply_parameters = (
        ReplyParameters(message_id=int(reply), allow_sending_without_reply=True)
        if reply is not None
        else None
    )
    if payload.get("photo"):
        return SendPhoto(
            chat_id=chat_id,
            photo=payload["photo"],
            caption=payload.get("text"),
            reply_markup=markup,
            reply_parameters=reply_parameters,
        )
    return SendMessage(
        chat_id=chat_id, text=payload["text"], reply_markup=markup, reply_parameters=reply_parameters
    )


def edit_method(
    chat_id: int, message_id: int, payload: dict[str, Any], signer: CallbackSigner | None = None
) -> EditMessageText:
    return EditMessageText(
        chat_id=chat_id,
        message_id=message_id,
        text=payload["text"],
        reply_markup=inline_markup(payload, chat_id, signer),
    )


def clear_method(chat_id: int, message_id: int) -> EditMessageReplyMarkup:
    return EditMessageReplyMarkup(chat_id=chat_id, message_id=message_id, reply_markup=None)


def react_method(chat_id: int, payload: dict[str, Any]) -> SetMessageReaction:
    return SetMessageReaction(
        chat_id=chat_id,
        message_id=int(payload["message_id"]),
        reaction=[ReactionTypeEmoji(emoji=payload["emoji"])],
    )


def menu_method(chat_id: int, payload: dict[str, Any]) -> SetMyCommands | DeleteMyCommands:
    scope = BotCommandScopeChat(chat_id=chat_id)
    commands = payload.get("commands")
    if commands is None:
        return DeleteMyCommands(scope=scope)
    return SetMyCommands(
        commands=[BotCommand(command=name, description=text) for name, text in commands], scope=scope
    )

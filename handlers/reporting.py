"""Answering questionnaires in private: buttons, typed answers, uploads, /report."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot import access, reporting
from bot.access import Actor, button
from bot.channels.telegram import answer_callback, answer_message, answer_text
from bot.commands import command
from bot.conversation import Conversations, Outcome, Services
from bot.forms.engine import Attachment
from bot.people import help_text
from bot.ui import FormButton, ReplaceButton, ReportButton, expired_text, nav_texts
from storage import reports


async def press_form_button(
    query: CallbackQuery,
    callback_data: FormButton,
    services: Services,
    actor: Actor,
    conversations: Conversations,
) -> None:
    outcome = await conversations.press(services, actor, callback_data)
    await answer_callback(services, query, outcome)


async def open_report(
    query: CallbackQuery, callback_data: ReportButton, services: Services, actor: Actor
) -> None:
    outcome = await reporting.show_report(services, actor=actor, report_id=callback_data.report)
    await answer_callback(services, query, outcome)


async def press_replace(
    query: CallbackQuery,
    callback_data: ReplaceButton,
    services: Services,
    actor: Actor,
    conversations: Conversations,
) -> None:
    if callback_data.replace:
        outcome = await reporting.open_topic_report(
            services, conversations, actor=actor, topic_id=callback_data.topic, replace=True
        )
    else:
        outcome = Outcome(screen=reporting.kept_screen(), finished=True)
    await answer_callback(services, query, outcome)


async def start_incident_report(
    message: Message, services: Services, actor: Actor, conversations: Conversations
) -> None:
    outcome = await reporting.open_incident_report(services, conversations, actor=actor)
    await answer_message(services, message, outcome)


async def unknown_command(message: Message, services: Services) -> None:
    await answer_text(services, message, _("Unknown command. Send /help to see what you can do."))


async def typed_answer(
    message: Message, services: Services, actor: Actor, conversations: Conversations
) -> None:
    """Input for the conversation in progress (the most recently touched draft)."""
    draft = None
    if actor.person is not None and actor.person.id is not None:
        draft = await reports.latest_draft(session=services.session, person_id=actor.person.id)
    if draft is None:
        await answer_text(services, message, help_text(actor))
        return
    assert message.from_user is not None
    if message.contact is not None:
        if message.contact.user_id != message.from_user.id:
            await answer_text(
                services,
                message,
                _("Please share your own phone number with the button, or type it."),
                quote=True,
            )
            return
        outcome = await conversations.answer(services, actor, draft, message.contact.phone_number)
    elif message.text is not None and message.text in nav_texts():
        outcome = await conversations.navigate(services, actor, draft, nav_texts()[message.text])
    elif message.text is not None:
        outcome = await conversations.answer(services, actor, draft, message.text)
    elif message.photo:
        photo = message.photo[-1]
        outcome = await conversations.answer(
            services,
            actor,
            draft,
            Attachment(kind="photo", file_id=photo.file_id, file_unique_id=photo.file_unique_id),
        )
    else:
        assert message.document is not None
        document = message.document
        outcome = await conversations.answer(
            services,
            actor,
            draft,
            Attachment(
                kind="document",
                file_id=document.file_id,
                file_unique_id=document.file_unique_id,
                file_name=document.file_name,
                mime_type=document.mime_type,
            ),
        )
    await answer_message(services, message, outcome)


async def other_message(message: Message, services: Services) -> None:
    await answer_text(services, message, _("Please answer with text, a photo or a file."))


async def stale_button(query: CallbackQuery, services: Services) -> None:
    """Buttons we cannot read (old, forged or from another version): say so, change nothing."""
    services.replies.answer_callback(query.id, expired_text(), alert=True)


def create_form_buttons_router() -> Router:
    """Form buttons alone: most updates a bot like this gets are presses on a form screen,
    so this router is tried first (its prefix cannot match any other router's buttons)."""
    router = Router(name=f"{__name__}.form_buttons")
    router.callback_query.register(press_form_button, FormButton.filter())
    return router


def create_router() -> Router:
    """A fresh router (one per Dispatcher), with handlers in the order they are tried."""
    router = Router(name=__name__)
    router.message.filter(F.chat.type == ChatType.PRIVATE)
    router.callback_query.register(press_replace, ReplaceButton.filter(), flags=access.flags(button("rp")))
    router.callback_query.register(open_report, ReportButton.filter(), flags=access.flags(button("rv")))
    router.message.register(start_incident_report, command("report"), flags=access.flags("/report"))
    router.message.register(unknown_command, F.text.startswith("/"))
    router.message.register(typed_answer, F.text | F.photo | F.document | F.contact)
    router.message.register(other_message)
    router.callback_query.register(stale_button)
    return router

"""/start (invite links, report buttons, resuming), /help, /lang, /cancel."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import CommandObject
from aiogram.types import CallbackQuery, ChatMemberUpdated, Message
from aiogram.utils.i18n import gettext as _

from bot import drafts, onboarding, reporting
from bot.access import Actor, Permission
from bot.channels.telegram import answer_callback, answer_message, answer_text
from bot.commands import command, start_command
from bot.conversation import Conversations, Outcome, Services
from bot.groups import setup_in_groups_text
from bot.people import (
    forget,
    forget_screen,
    help_text,
    holds_personal_data,
    my_data,
    nothing_kept_text,
    set_locale,
    set_reachability,
)
from bot.tags import REPORT_PAYLOAD, read_report_payload
from bot.ui import ForgetButton, LangButton, Screen, language_choices
from storage import reports


async def start_topic_report(
    message: Message, command: CommandObject, services: Services, actor: Actor, conversations: Conversations
) -> None:
    link = read_report_payload(command.args or "")
    assert link is not None
    outcome = await reporting.open_report_link(services, conversations, actor=actor, link=link)
    await answer_message(services, message, outcome)


async def start_draft(
    message: Message, command: CommandObject, services: Services, actor: Actor, conversations: Conversations
) -> None:
    """A draft reminder's link (`/start d-12`): that draft, where it stopped."""
    match = drafts.DRAFT_PAYLOAD.match(command.args or "")
    assert match is not None
    outcome = await drafts.resume_draft(services, conversations, actor=actor, draft_id=int(match.group(1)))
    await answer_message(services, message, outcome)


async def start_invite(
    message: Message, command: CommandObject, services: Services, actor: Actor, conversations: Conversations
) -> None:
    assert message.from_user is not None
    outcome = await onboarding.open_invite(
        services, conversations, user=message.from_user, actor=actor, token=command.args or ""
    )
    await answer_message(services, message, outcome)


async def start_plain(
    message: Message, services: Services, actor: Actor, conversations: Conversations
) -> None:
    """Resume the conversation in progress, or explain what this person can do."""
    if actor.person is not None and actor.person.id is not None:
        draft = await reports.latest_draft(session=services.session, person_id=actor.person.id)
        if draft is not None:
            screen = await conversations.resume_screen(services, draft)
            screen.notes.append(_("Let's continue where you stopped."))
            await answer_message(services, message, Outcome(screen=screen, draft=draft))
            return
    await answer_text(services, message, await reporting.overview(services, actor=actor))


async def private_chat_membership(event: ChatMemberUpdated, services: Services, actor: Actor | None) -> None:
    """Blocking the bot (or unblocking it) changes whether we may write to this person."""
    await set_reachability(services, actor=actor, status=event.new_chat_member.status)


async def show_help(message: Message, services: Services, actor: Actor) -> None:
    await answer_text(services, message, help_text(actor))


async def choose_language(message: Message, services: Services) -> None:
    screen = Screen(text=_("Choose your language:"), choices=language_choices())
    await answer_message(services, message, Outcome(screen=screen))


async def set_language(
    query: CallbackQuery, callback_data: LangButton, services: Services, actor: Actor
) -> None:
    outcome = await set_locale(services, actor=actor, locale=callback_data.code)
    await answer_callback(services, query, outcome)


async def link(
    message: Message, command: CommandObject, services: Services, actor: Actor, conversations: Conversations
) -> None:
    """/link: a code for the person's other account; /link CODE there: that account joins."""
    assert message.from_user is not None
    if command.args and command.args.strip():
        outcome = await onboarding.open_invite(
            services, conversations, user=message.from_user, actor=actor, token=command.args.strip()
        )
    else:
        outcome = await onboarding.create_link_code(services, actor=actor)
    await answer_message(services, message, outcome)


async def show_my_data(message: Message, services: Services, actor: Actor) -> None:
    await answer_message(services, message, await my_data(services, actor=actor))


async def ask_to_forget(message: Message, services: Services, actor: Actor) -> None:
    if not holds_personal_data(actor):
        await answer_text(services, message, nothing_kept_text())
        return
    await answer_message(services, message, Outcome(screen=forget_screen()))


async def confirm_forget(
    query: CallbackQuery, callback_data: ForgetButton, services: Services, actor: Actor
) -> None:
    await answer_callback(services, query, await forget(services, actor=actor, confirm=callback_data.confirm))


async def setup_in_private(message: Message, services: Services) -> None:
    await answer_text(services, message, setup_in_groups_text())


async def cancel(message: Message, services: Services, actor: Actor, conversations: Conversations) -> None:
    draft = None
    if actor.person is not None and actor.person.id is not None:
        draft = await reports.latest_draft(session=services.session, person_id=actor.person.id)
    if draft is None:
        await answer_text(services, message, _("There is nothing to cancel."))
        return
    outcome = await conversations.navigate(services, actor, draft, "x")
    await answer_message(services, message, outcome)


def create_router() -> Router:
    """A fresh router (one per Dispatcher), with handlers in the order they are tried."""
    router = Router(name=__name__)
    router.message.filter(F.chat.type == ChatType.PRIVATE)
    router.message.register(
        start_topic_report,
        start_command(deep_link=True, magic=F.args.regexp(REPORT_PAYLOAD)),
        flags={"permission": Permission.REPORT},
    )
    router.message.register(
        start_draft, start_command(deep_link=True, magic=F.args.regexp(drafts.DRAFT_PAYLOAD))
    )
    router.message.register(start_invite, start_command(deep_link=True))
    router.message.register(start_plain, start_command())
    router.my_chat_member.register(private_chat_membership, F.chat.type == ChatType.PRIVATE)
    router.message.register(show_help, command("help"))
    router.message.register(choose_language, command("lang"))
    router.callback_query.register(set_language, LangButton.filter())
    router.message.register(cancel, command("cancel"))
    router.message.register(setup_in_private, command("setup"))
    router.message.register(link, command("link"))
    router.message.register(show_my_data, command("mydata"))
    router.message.register(ask_to_forget, command("forget"))
    router.callback_query.register(confirm_forget, ForgetButton.filter())
    return router

"""The command menu each person sees: collaborators only theirs, staff and leaders theirs,
in the person's language; groups see the group commands.

Telegram keeps menus per scope. Private chats get the collaborators' menu by default (in
Vietnamese, and in English for apps set to English); anyone whose roles or chosen language
differ gets a menu for their own chat. `person.menu_key` remembers what was set, so start-up
and role changes call `setMyCommands` only when a menu would change.
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.i18n import in_locale, normalize_locale
from storage import people
from storage.db import SessionFactory
from storage.models import Person, Role

log = logging.getLogger(__name__)

LOCALES = ("vi", "en")


def _describe() -> dict[str, str]:
    return {
        "start": _("Start or continue"),
        "report": _("Send an incident report"),
        "lang": _("Change language"),
        "cancel": _("Cancel what you are filling in"),
        "help": _("Help"),
        "topic": _("Publish a monthly topic"),
        "urgent": _("Send an urgent matter"),
        "urgent_status": _("Who has answered the urgent matter"),
        "broadcasts": _("Recent deliveries and their progress"),
        "invite": _("Create an invite link"),
        "summary": _("Summary of the month"),
        "setup": _("Register this group with a unit"),
    }


BASE = ("start", "report", "lang", "cancel", "help")
ROLE_COMMANDS: dict[Role, tuple[str, ...]] = {
    Role.COLLABORATOR: (),
    Role.STAFF: ("topic", "urgent", "urgent_status", "broadcasts", "invite"),
    Role.LEADER: ("summary",),
    Role.ADMIN: ("topic", "urgent", "urgent_status", "broadcasts", "invite", "summary"),
}
GROUP_COMMANDS = ("summary", "setup", "help")
ORDER = (
    "start",
    "report",
    "topic",
    "urgent",
    "urgent_status",
    "broadcasts",
    "summary",
    "invite",
    "lang",
    "cancel",
    "help",
)


def commands_for(roles: frozenset[Role] | set[Role], i18n: I18n, locale: str) -> list[BotCommand]:
    wanted = set(BASE)
    for role in roles:
        wanted.update(ROLE_COMMANDS.get(role, ()))
    with in_locale(i18n, locale):
        texts = _describe()
        return [BotCommand(command=name, description=texts[name]) for name in ORDER if name in wanted]


def group_commands(i18n: I18n, locale: str) -> list[BotCommand]:
    with in_locale(i18n, locale):
        texts = _describe()
        return [BotCommand(command=name, description=texts[name]) for name in GROUP_COMMANDS]


def menu_key(roles: frozenset[Role] | set[Role], locale: str) -> str:
    """What a person's menu depends on; the default menu has the key of a collaborator."""
    special = sorted(role.value for role in roles if ROLE_COMMANDS.get(role))
    return f"{','.join(special)}|{locale}"


async def set_default_menus(bot: Bot, i18n: I18n) -> None:
    """Private chats: the collaborators' menu; groups: the group commands (both languages)."""
    default = i18n.default_locale
    for locale in LOCALES:
        language = None if locale == default else locale
        await bot.set_my_commands(
            commands_for(set(), i18n, locale), scope=BotCommandScopeAllPrivateChats(), language_code=language
        )
        await bot.set_my_commands(
            group_commands(i18n, locale), scope=BotCommandScopeAllGroupChats(), language_code=language
        )


async def sync_person_menu(bot: Bot, i18n: I18n, person: Person, roles: frozenset[Role] | set[Role]) -> bool:
    """Give this person's chat the menu of their roles and language; True if it changed.

    The caller commits `person.menu_key`. A failure is logged, not raised: the menu is a
    convenience and must not undo the action (a registration, a language change) behind it.
    """
    locale = normalize_locale(person.locale, i18n.default_locale)
    key = menu_key(roles, locale)
    default_key = menu_key(set(), i18n.default_locale)
    if (person.menu_key or default_key) == key:
        return False
    scope = BotCommandScopeChat(chat_id=person.telegram_id)
    try:
        if key == default_key:
            await bot.delete_my_commands(scope=scope)  # the default menu fits
        else:
            await bot.set_my_commands(commands_for(roles, i18n, locale), scope=scope)
    except TelegramAPIError as error:
        log.warning("could not set the menu of person %s: %s", person.id, error)
        return False
    person.menu_key = key
    return True


async def sync_all_menus(bot: Bot, i18n: I18n, session_factory: SessionFactory) -> int:
    """At start: everyone whose menu is out of date (usually nobody after the first run)."""
    changed = 0
    async with session_factory() as session:
        for person, roles in await people.people_with_roles(session=session):
            if await sync_person_menu(bot, i18n, person, roles):
                await people.set_menu_key(session=session, person_id=person.id or 0, key=person.menu_key)
                changed += 1
        await session.commit()
    return changed

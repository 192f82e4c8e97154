"""The command menu each person sees: collaborators only theirs, staff and leaders theirs,
in the person's language; groups see the group commands.

Telegram keeps menus per scope. Private chats get the collaborators' menu by default (in
Vietnamese, and in English for apps set to English); anyone whose roles or chosen language
differ gets a menu for their own chat. `person.menu_key` remembers what was set, so start-up
and role changes call `setMyCommands` only when a menu would change.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from aiogram import Bot
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.access import POLICY, ROLE_PERMISSIONS, ChatKind, Permission
from bot.clock import Clock
from bot.delivery import payloads
from bot.delivery.replies import ReplyQueue
from bot.i18n import in_locale, normalize_locale
from storage import outbox, people
from storage.db import SessionFactory
from storage.models import Outbox, Person, Role

log = logging.getLogger(__name__)

LOCALES = ("vi", "en")


def describe() -> dict[str, str]:
    """Each command in a few words: the menu's descriptions and the lines of /help."""
    return {
        "start": _("Start or continue"),
        "report": _("Send an incident report"),
        "lang": _("Change language"),
        "cancel": _("Cancel what you are filling in"),
        "help": _("Help"),
        "topic": _("Publish a monthly topic"),
        "topics": _("Scheduled, open and closed topics"),
        "urgent": _("Send an urgent matter"),
        "urgent_status": _("Who has answered the urgent matter"),
        "broadcasts": _("Recent deliveries and their progress"),
        "briefing": _("Set the monthly briefing: day, time and place"),
        "invite": _("Create an invite link"),
        "schedule": _("When the scheduled jobs run; change or pause them"),
        "summary": _("Summary of the month (/summary 11/2026 for another)"),
        "setup": _("Register this group with a unit"),
        "link": _("Use your membership on your other account"),
        "mydata": _("What is kept about you"),
        "forget": _("Remove your personal details"),
    }


# The menu's order; which of them a person sees comes from the access policy (bot/access.py).
ORDER = (
    "start",
    "report",
    "topic",
    "topics",
    "urgent",
    "urgent_status",
    "broadcasts",
    "briefing",
    "summary",
    "invite",
    "schedule",
    "lang",
    "cancel",
    "link",
    "mydata",
    "forget",
    "help",
)
GROUP_COMMANDS = ("summary", "setup", "help")


def private_commands(roles: frozenset[Role] | set[Role]) -> list[str]:
    """The commands these roles may use in a private chat: the menu, and /help, list these.
    The default menu (no roles) is everyone's; /report stays in it, as the first thing a
    collaborator needs (someone not registered is told how to join)."""
    wanted = []
    for name in ORDER:
        rule = POLICY[f"/{name}"]
        if ChatKind.PRIVATE not in rule.chats:
            continue
        open_to_all = rule.permission is None or rule.permission is Permission.REPORT
        if open_to_all or any(rule.permission in ROLE_PERMISSIONS[role] for role in roles):
            wanted.append(name)
    return wanted


def commands_for(roles: frozenset[Role] | set[Role], i18n: I18n, locale: str) -> list[BotCommand]:
    with in_locale(i18n, locale):
        texts = describe()
        return [BotCommand(command=name, description=texts[name]) for name in private_commands(roles)]


def group_commands(i18n: I18n, locale: str) -> list[BotCommand]:
    with in_locale(i18n, locale):
        texts = describe()
        return [BotCommand(command=name, description=texts[name]) for name in GROUP_COMMANDS]


def menu_key(roles: frozenset[Role] | set[Role], locale: str) -> str:
    """What a person's menu depends on; the default menu has the key of a collaborator."""
    # A digest of the command list: the list itself outgrows person.menu_key's 64 characters.
    listed = hashlib.sha256(",".join(private_commands(roles)).encode()).hexdigest()[:16]
    return f"{listed}|{locale}"


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


def menu_change(i18n: I18n, person: Person, roles: frozenset[Role] | set[Role]) -> dict[str, Any] | None:
    """The outbox payload that gives this person's chat the menu of their roles and
    language, or None when it has it already; records the new `person.menu_key`.

    A menu is a row like any message: set after the commit, retried if Telegram fails, and
    never able to undo the action (a registration, a language change) behind it."""
    locale = normalize_locale(person.locale, i18n.default_locale)
    key = menu_key(roles, locale)
    default_key = menu_key(set(), i18n.default_locale)
    if (person.menu_key or default_key) == key:
        return None
    person.menu_key = key
    if key == default_key:
        return payloads.menu(None)  # the default menu fits
    commands = [(command.command, command.description) for command in commands_for(roles, i18n, locale)]
    return payloads.menu(commands)


async def queue_menu_change(
    replies: ReplyQueue, i18n: I18n, person: Person, roles: frozenset[Role] | set[Role]
) -> None:
    """With the answer to an update that changed this person's roles or language: their
    menu, if it changes."""
    payload = menu_change(i18n, person, roles)
    if payload is not None:
        await replies.add(person.chat_id, payload)


async def sync_all_menus(i18n: I18n, session_factory: SessionFactory, clock: Clock) -> int:
    """At start: queue a menu for everyone whose menu is out of date (usually nobody after
    the first run)."""
    now = clock.now()
    rows: list[Outbox] = []
    async with session_factory() as session:
        for person, roles in await people.people_with_roles(session=session):
            payload = menu_change(i18n, person, roles)
            if payload is not None:
                session.add(person)
                rows.append(
                    Outbox(
                        chat_id=person.chat_id,
                        person_id=person.id,
                        payload=payload,
                        not_before=now,
                        created_at=now,
                    )
                )
        await outbox.add_rows(session=session, rows=rows)
        await session.commit()
    return len(rows)

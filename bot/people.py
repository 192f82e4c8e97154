"""Things about a person that several handlers need: help text by role, language choice."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _

from bot import menus
from bot.access import Actor
from bot.conversation import Outcome, Services
from bot.i18n import LOCALES, in_locale
from bot.ui import Screen, escape, text_only
from storage.models import Channel, Reachability, Role


def help_text(actor: Actor | None) -> str:
    """What this person can do here, by role."""
    if actor is None or not actor.is_member:
        if text_only():
            return _(
                "Hello! This is the bot of the public-opinion collaborator network.\n\n"
                "To join, send here the invite code that the Propaganda Board staff gave you "
                "(ten letters and digits, like K7M2Q-9XD4B). If you have no code, please contact the board."
            )
        return _(
            "Hello! This is the bot of the public-opinion collaborator network.\n\n"
            "To join, open the invite link that the Propaganda Board staff sent you "
            "(it looks like t.me/…?start=…). If you have no link, please contact the board."
        )
    lines = [
        _("Hello, {name}! What you can do here:").format(
            name=escape(actor.person.full_name) if actor.person else ""
        )
    ]
    lines.append(_("/report — send an incident report at any time"))
    if text_only():
        lines.append(
            _("To report on topic N: write “báo cáo N” here, or start a message in your group with #N.")
        )
    else:
        lines.append(_("Reply to a topic post in your group, or press its 📝 button, to report on a topic."))
    if actor.has_role(Role.STAFF) or actor.has_role(Role.ADMIN):
        lines.append(_("/topic — publish a monthly topic"))
        lines.append(_("/invite — create an invite link for new collaborators"))
        lines.append(_("/setup — (in a group) register the group for a unit"))
    if actor.has_role(Role.LEADER) or actor.has_role(Role.ADMIN):
        lines.append(_("/summary [MM/YYYY] — the month's figures"))
    lines.append(_("/lang — change the language · /cancel — stop what you are filling in"))
    lines.append(_("/link — use your membership on your other account (Zalo or Telegram)"))
    return "\n".join(lines)


async def set_locale(services: Services, *, actor: Actor, locale: str) -> Outcome:
    if locale not in LOCALES:
        return Outcome(alert=_("This button has expired."))
    if actor.person is None:
        return Outcome(alert=help_text(actor))
    actor.person.locale = locale
    await menus.queue_menu_change(services.replies, services.i18n, actor.person, actor.roles)
    services.session.add(actor.person)
    with in_locale(services.i18n, locale):
        text = _("Language set to English.") if locale == "en" else _("Language set to Vietnamese.")
    return Outcome(screen=Screen(text=text), finished=True)


async def set_reachability(services: Services, *, actor: Actor | None, status: str) -> None:
    """RapidPro's lesson: stop writing to people who blocked the bot, resume when they return."""
    if actor is None or actor.person is None:
        return
    blocked = status in ("kicked", "left")
    actor.person.reachability = Reachability.BLOCKED if blocked else Reachability.ACTIVE
    services.session.add(actor.person)


def channels_line(channels: dict[str, int]) -> str:
    """How many active collaborators are on each channel (the counts beside it cover both)."""
    return _("Collaborators by channel: Telegram {telegram} · Zalo {zalo}").format(
        telegram=channels.get(Channel.TELEGRAM, 0), zalo=channels.get(Channel.ZALO, 0)
    )


def private_only_text(services: Services) -> str:
    """Where a command given in a group works: in a private chat with the bot."""
    if text_only() or not services.bot_username:
        return _("This command works in a private chat with me: write to the bot directly.")
    return _("This command works in a private chat with me: {link}").format(
        link=f"https://t.me/{services.bot_username}"
    )

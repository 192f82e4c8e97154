"""Things about a person that several handlers need: help text by role, language choice."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot import menus
from bot.access import Actor, Permission, refusal_text
from bot.clock import format_datetime
from bot.conversation import Outcome, Services
from bot.delivery.splitting import split_html
from bot.i18n import LOCALES, board, in_locale
from bot.tags import tag_of
from bot.ui import Choice, ForgetButton, Screen, escape, text_only, truncate
from storage import audit, reports, topics
from storage import outbox as outbox_store
from storage import people as people_store
from storage.models import Channel, Reachability, TopicKind


def help_text(actor: Actor | None) -> str:
    """What this person can do here, by role."""
    if actor is None or not actor.is_member:
        if text_only():
            return _(
                "Hello! This is the bot of the public-opinion collaborator network.\n\n"
                "To join, send here the invite code that the staff of {board} gave you "
                "(ten letters and digits, like K7M2Q-9XD4B). If you have no code, please contact {board}."
            ).format(board=board())
        return _(
            "Hello! This is the bot of the public-opinion collaborator network.\n\n"
            "To join, open the invite link that the staff of {board} sent you "
            "(it looks like t.me/…?start=…). If you have no link, please contact {board}."
        ).format(board=board())
    lines = [
        _("Hello, {name}! What you can do here:").format(
            name=escape(actor.person.full_name) if actor.person else ""
        )
    ]
    if text_only():
        lines.append(
            _("To report on topic N: write “báo cáo N” here, or start a message in your group with #N.")
        )
    else:
        lines.append(_("Reply to a topic post in your group, or press its 📝 button, to report on a topic."))
    # The same commands as the person's menu (bot/menus.py), from the same policy.
    described = menus.describe()
    lines.extend(
        f"/{name} — {described[name]}" for name in menus.private_commands(actor.roles) if name != "help"
    )
    if actor.allows(Permission.SETUP_GROUP):
        lines.append(_("/setup — (in a group) register the group for a unit"))
    return "\n".join(lines)


async def set_locale(services: Services, *, actor: Actor, locale: str) -> Outcome:
    if locale not in LOCALES:
        return Outcome(alert=_("This button has expired."))
    if actor.person is None:  # nobody to keep a language for yet (an alert holds 200 characters)
        return Outcome(alert=refusal_text(Permission.REPORT, actor))
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


MYDATA_REPORTS_SHOWN = 20


async def my_data(services: Services, *, actor: Actor) -> Outcome:
    """/mydata: everything the bot keeps about the person asking (the right of access)."""
    person = actor.person
    if person is None or person.id is None:
        return Outcome(alert=nothing_kept_text())
    session = services.session
    unit = await people_store.get_unit(session=session, unit_id=person.unit_id) if person.unit_id else None
    identities = await people_store.identities_of(session=session, person_id=person.id)
    kept = await reports.reports_of(session=session, person_id=person.id)
    drafts = await reports.drafts_of(session=session, person_id=person.id)
    tz = services.tz
    lines = [
        _("🔎 <b>What is kept about you</b>"),
        _("Name: {value}").format(value=escape(person.full_name or "—")),
        _("Phone: {value}").format(value=escape(person.phone or "—")),
        _("Field of work: {value}").format(value=escape(person.field_of_work or "—")),
        _("Unit: {value}").format(value=escape(unit.name if unit else "—")),
        _("Roles: {value}").format(value=", ".join(sorted(role.value for role in actor.roles)) or "—"),
        _("Registered: {value}").format(
            value=format_datetime(person.registered_at, tz) if person.registered_at else "—"
        ),
        _("Accounts: {value}").format(
            value=", ".join(sorted({identity.channel.capitalize() for identity in identities})) or "—"
        ),
        _("Reports: {count}").format(count=len(kept)),
    ]
    named = await topics.numbers_of(
        session=session,
        topic_ids=[report.topic_id for report in kept[:MYDATA_REPORTS_SHOWN] if report.topic_id],
    )
    for report in kept[:MYDATA_REPORTS_SHOWN]:
        topic = named.get(report.topic_id) if report.topic_id else None
        if topic is None:
            subject = _("incident report")
        elif topic.kind == TopicKind.URGENT:
            subject = _("urgent matter No. {number}").format(number=tag_of(topic))
        else:
            subject = _("topic No. {number}").format(number=tag_of(topic))
        lines.append(
            f"• {format_datetime(report.submitted_at, tz)} · {subject} · {escape(truncate(report.text or '', 80))}"
        )
    if len(kept) > MYDATA_REPORTS_SHOWN:
        earlier = len(kept) - MYDATA_REPORTS_SHOWN
        lines.append(
            ngettext("… and {count} earlier report", "… and {count} earlier reports", earlier).format(
                count=earlier
            )
        )
    if drafts:
        lines.append(
            ngettext("Unfinished: {count} draft", "Unfinished: {count} drafts", len(drafts)).format(
                count=len(drafts)
            )
        )
    lines += ["", _("/forget withdraws your consent and removes your personal details.")]
    return Outcome(messages=[Screen(text=part) for part in split_html("\n".join(lines))])


def holds_personal_data(actor: Actor) -> bool:
    """Whether anything personal is kept about this person (not after /forget)."""
    person = actor.person
    return person is not None and (bool(person.full_name) or person.phone is not None)


def nothing_kept_text() -> str:
    return _("Nothing is kept about you: you are not registered.")


def forget_screen() -> Screen:
    text = _(
        "<b>Withdraw consent and remove your personal details?</b>\n\n"
        "Your name, phone number, field of work, unit and accounts are removed and you leave the "
        "network: you will get no more topics. Your reports stay in the figures, without your name. "
        "This cannot be undone; to come back you would need a new invite."
    )
    return Screen(
        text=text,
        choices=[
            [Choice(label=_("🗑 Yes, remove my details"), data=ForgetButton(confirm=True).pack())],
            [Choice(label=_("Keep my details"), data=ForgetButton(confirm=False).pack())],
        ],
    )


async def forget(services: Services, *, actor: Actor, confirm: bool) -> Outcome:
    """/forget, confirmed: the right to withdraw consent and have one's data deleted."""
    person = actor.person
    if not confirm:
        return Outcome(screen=Screen(text=_("Nothing was changed.")), finished=True)
    if person is None or person.id is None or not holds_personal_data(actor):
        return Outcome(alert=nothing_kept_text())
    await people_store.forget_person(session=services.session, person=person)
    await outbox_store.cancel_pending_for_person(session=services.session, person_id=person.id)
    await audit.record(session=services.session, action="person.forget", actor_id=person.id, details={})
    return Outcome(
        screen=Screen(
            text=_("Done: your personal details are removed. Thank you for your work for the network.")
        ),
        finished=True,
    )

"""Joining the network: invite links, the registration questionnaire, the invite wizard."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from aiogram.types import User
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import menus
from bot.access import Actor, Permission
from bot.clock import format_date
from bot.conversation import Conversations, Outcome, Services, WizardPurpose
from bot.delivery import payloads
from bot.forms import FormDefinition, text_for
from bot.i18n import N_, board, client_locale, in_locale, localized, normalize_locale
from bot.ui import Screen, current_locale, deep_link, escape, use_channel
from bot.units import tree_order
from storage import audit, people
from storage.addresses import channel_of
from storage.models import Channel, Draft, Invite, Person, PersonStatus, Reachability, Role, Unit

REGISTRATION_SLOT = "registration"
INVITE_SLOT = "invite"

FIELDS_OF_WORK = (
    ("can_bo_cong_chuc", N_("Officials and civil servants")),
    ("luc_luong_vu_trang", N_("Armed forces")),
    ("giao_duc", N_("Education")),
    ("y_te", N_("Health care")),
    ("doanh_nghiep", N_("Business")),
    ("nong_nghiep", N_("Agriculture")),
    ("doan_the", N_("Mass organisations")),
    ("huu_tri", N_("Retired")),
    ("khac", N_("Other")),
)


class InviteProblem(StrEnum):
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED_UP = "used_up"
    REVOKED = "revoked"


# Invite codes are typed on Zalo: Crockford's base32 (no I, L, O, U), two groups of five,
# 50 random bits; looked up by hash, single- or limited-use and expiring.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
INVITE_CODE = re.compile(r"^[0-9A-Za-z]{5}-?[0-9A-Za-z]{5}$")


def normalize_code(token: str) -> str:
    """A code as typed (any case, with or without the dash, O for 0 and I/L for 1)."""
    code = token.strip().upper().replace(" ", "").replace("-", "")
    return code.translate(str.maketrans("OIL", "011"))


def hash_token(token: str) -> str:
    code = token.strip()
    if INVITE_CODE.match(code):
        code = normalize_code(code)
    return hashlib.sha256(code.encode()).hexdigest()


def new_token() -> str:
    """A short code, also the Telegram deep-link payload (letters, digits and a dash)."""
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))
    return f"{code[:5]}-{code[5:]}"


def looks_like_invite_code(text: str) -> bool:
    return bool(INVITE_CODE.match(text.strip()))


async def create_invite(
    *,
    session: AsyncSession,
    unit: Unit,
    created_by: int | None,
    uses: int,
    days: int,
    now: datetime,
    role: Role = Role.COLLABORATOR,
) -> tuple[Invite, str]:
    """A new invite; the token is returned once and only its hash is stored."""
    if uses < 1 or days < 1:
        raise ValueError("an invite needs at least one use and one day")
    assert unit.id is not None
    token = new_token()
    invite = Invite(
        token_hash=hash_token(token),
        unit_id=unit.id,
        role=role,
        max_uses=uses,
        expires_at=now + timedelta(days=days),
        created_by=created_by,
    )
    await people.add_invite(session=session, invite=invite)
    await audit.record(
        session=session,
        action="invite.create",
        actor_id=created_by,
        unit_id=unit.id,
        details={"invite_id": invite.id, "uses": uses, "days": days, "role": role},
    )
    return invite, token


def invite_problem(invite: Invite | None, now: datetime) -> InviteProblem | None:
    if invite is None:
        return InviteProblem.UNKNOWN
    if invite.revoked_at is not None:
        return InviteProblem.REVOKED
    if invite.expires_at <= now:
        return InviteProblem.EXPIRED
    if invite.uses >= invite.max_uses:
        return InviteProblem.USED_UP
    return None


def invite_problem_text(problem: InviteProblem) -> str:
    return {
        InviteProblem.UNKNOWN: _(
            "This invite link is not valid. Please check the link or ask the staff of {board} for a new one."
        ),
        InviteProblem.EXPIRED: _(
            "This invite link has expired. Please ask the staff of {board} for a new one."
        ),
        InviteProblem.USED_UP: _(
            "This invite link has already been used the allowed number of times. "
            "Please ask the staff of {board} for a new one."
        ),
        InviteProblem.REVOKED: _(
            "This invite link was withdrawn. Please ask the staff of {board} for a new one."
        ),
    }[problem].format(board=board())


def registration_form(services: Services, role: str = Role.COLLABORATOR) -> FormDefinition:
    """Built from the catalogs so the questions follow the person's language. Staff and
    leaders are the board's own people: they are not asked a collaborator's field of work."""
    i18n = services.i18n
    collaborator = role == Role.COLLABORATOR
    title = {
        Role.STAFF: N_("Staff registration"),
        Role.LEADER: N_("Leader registration"),
        Role.ADMIN: N_("Administrator registration"),
    }.get(Role(role), N_("Collaborator registration"))
    return FormDefinition.model_validate(
        {
            "key": "registration",
            "title": localized(i18n, title),
            "questions": [
                {
                    "key": "full_name",
                    "type": "text",
                    "label": localized(i18n, "Your full name"),
                    "short_label": localized(i18n, "Full name"),
                    "help": localized(i18n, "As on your ID card, for example: Nguyễn Văn An."),
                    "min_length": 4,
                    "max_length": 100,
                    "pattern": r"[^\d<>@#$%^&*_=+{}\[\]|\\/~`!?;:\"\u200d]+",
                    "pattern_hint": localized(i18n, "A name has letters and spaces only."),
                },
                {
                    "key": "phone",
                    "type": "text",
                    "format": "phone_vn",
                    "input_hint": "contact",
                    "label": localized(i18n, "Your phone number"),
                    "short_label": localized(i18n, "Phone"),
                },
                *(
                    [
                        {
                            "key": "field_of_work",
                            "type": "choice",
                            "label": localized(i18n, "Your field of work"),
                            "short_label": localized(i18n, "Field of work"),
                            "options": [
                                {"value": value, "label": localized(i18n, label)}
                                for value, label in FIELDS_OF_WORK
                            ],
                        }
                    ]
                    if collaborator
                    else []
                ),
            ],
        }
    )


async def open_invite(
    services: Services, conversations: Conversations, *, user: User, actor: Actor, token: str
) -> Outcome:
    """/start <token>: check the invite, then start (or resume) the registration questionnaire.
    A link code (`/link`) adds this account to the person who asked for it instead."""
    now = services.clock.now()
    invite = await people.get_invite_by_hash(session=services.session, token_hash=hash_token(token))
    if invite is not None and invite.role == LINK_ROLE:
        return await _link_account(services, actor=actor, invite=invite)
    if actor.is_member:
        unit = await _unit_of(services.session, actor.person)
        return Outcome(
            alert=_("You are already registered as a member of {unit}.").format(
                unit=escape(unit.name if unit else "—")
            )
        )
    problem = invite_problem(invite, now)
    if problem is not None:
        return Outcome(alert=invite_problem_text(problem))
    assert invite is not None and invite.id is not None
    person = actor.person
    if person is None:
        person = Person(
            chat_id=user.id,
            username=user.username,
            status=PersonStatus.PENDING,
            # what they read until /lang: their Telegram app's language, if the bot speaks it
            locale=client_locale(user.language_code),
            created_at=services.clock.now(),
        )
        await people.add_person(session=services.session, person=person)
    person.username = user.username
    assert person.id is not None
    return await conversations.start(
        services,
        person_id=person.id,
        slot=REGISTRATION_SLOT,
        definition=registration_form(services, invite.role),
        context={"invite_id": invite.id, "unit_id": invite.unit_id},
    )


# A link code is an invite of this role: single use, minutes long, made by the person it links to.
LINK_ROLE = "link"
LINK_MINUTES = 15


async def create_link_code(services: Services, *, actor: Actor) -> Outcome:
    """/link: a code that, sent to the bot on another channel, makes that account this
    person's too (RapidPro's second URN): same unit, roles, reports and drafts."""
    person = actor.person
    if not actor.is_member or person is None or person.id is None or person.unit_id is None:
        return Outcome(alert=_("Only registered members can link another account."))
    now = services.clock.now()
    token = new_token()
    invite = Invite(
        token_hash=hash_token(token),
        unit_id=person.unit_id,
        role=LINK_ROLE,
        max_uses=1,
        expires_at=now + timedelta(minutes=LINK_MINUTES),
        created_by=person.id,
    )
    await people.add_invite(session=services.session, invite=invite)
    text = _(
        "To use your membership on your other account (Zalo or Telegram), send the bot there, "
        "within {minutes} minutes:\n<code>/link {code}</code>\n\n"
        "From then on the bot writes to you on that account; /link there brings it back here."
    ).format(minutes=LINK_MINUTES, code=token)
    return Outcome(screen=Screen(text=text), finished=True)


async def _link_account(services: Services, *, actor: Actor, invite: Invite) -> Outcome:
    problem = invite_problem(invite, services.clock.now())
    if problem is not None or invite.created_by is None:
        return Outcome(
            alert=_("This link code is not valid or has expired. Send /link again on your other account.")
        )
    if actor.person is not None and actor.person.id != invite.created_by:
        return Outcome(
            alert=_(
                "This account already belongs to someone in the network and cannot be linked to another person."
            )
        )
    person = await people.get_person(session=services.session, person_id=invite.created_by)
    assert invite.id is not None
    if person is None or not await people.consume_invite(
        session=services.session, invite_id=invite.id, now=services.clock.now()
    ):
        return Outcome(
            alert=_("This link code is not valid or has expired. Send /link again on your other account.")
        )
    if actor.person is None:
        await people.add_identity(session=services.session, person_id=person.id or 0, address=actor.address)
    # Their private chat on this account: the bot writes to them here now (linking back from
    # the other account moves it back). The account it leaves is told, in case it was not them.
    previous = person.chat_id
    person.chat_id = actor.address
    person.reachability = Reachability.ACTIVE
    if previous != actor.address:
        locale = normalize_locale(person.locale, services.settings.default_locale)
        with in_locale(services.i18n, locale), use_channel(channel_of(previous)):
            notice = _(
                "Your membership is now used on another account ({channel}), and the bot writes to you "
                "there. If that was not you, tell the staff of {board} at once."
            ).format(
                channel="Zalo" if channel_of(actor.address) is Channel.ZALO else "Telegram", board=board()
            )
            await services.replies.add(previous, payloads.message(notice))
    services.session.add(person)
    await audit.record(
        session=services.session,
        action="person.link",
        actor_id=person.id,
        unit_id=person.unit_id,
        details={"channel": channel_of(actor.address)},
    )
    return Outcome(
        screen=Screen(
            text=_(
                "✅ Linked. This account is now {name}'s too: same unit, roles and reports. "
                "The bot writes to you here from now on."
            ).format(name=escape(person.full_name))
        ),
        finished=True,
    )


async def _unit_of(session: AsyncSession, person: Person | None) -> Unit | None:
    if person is None or person.unit_id is None:
        return None
    return await people.get_unit(session=session, unit_id=person.unit_id)


# Which consent text a person agreed to (recorded with their registration).
CONSENT_VERSION = "2026-12"


def consent_text() -> str:
    return _(
        "<b>Your personal data.</b> {board} keeps your name, phone number, field of "
        "work and unit, and the reports you send, to run the collaborator network: to send you "
        "guidance topics and to compile public-opinion summaries. Only the board's staff and "
        "leaders responsible for your unit see them; summaries show figures and opinions, not "
        "your name. /mydata shows everything kept about you; /forget withdraws your consent and "
        "removes your personal details (your reports stay, without your name, in the figures)."
    ).format(board=board())


class RegistrationPurpose(WizardPurpose):
    name = REGISTRATION_SLOT

    def intro(self, services: Services, draft: Draft, form: FormDefinition) -> str | None:
        heading = f"📝 <b>{escape(text_for(form.title, current_locale()))}</b>\n"
        return heading + _(
            "Welcome to the public-opinion collaborator network. "
            "{count} short questions register you; you can go back or cancel at any time."
        ).format(count=len(form.questions))

    def review(self, services: Services, draft: Draft, form: FormDefinition) -> tuple[str, str, str | None]:
        # Consent before anything is kept as a member's (Personal Data Protection Law,
        # Decree 13/2023): what, why, who sees it, how to withdraw; confirming is agreeing.
        return _("Please confirm your details"), _("✅ I agree and register"), consent_text()

    async def complete(
        self, services: Services, actor: Actor, draft: Draft, answers: dict[str, Any]
    ) -> Outcome:
        session, now = services.session, services.clock.now()
        invite_id = int(draft.context["invite_id"])
        invite = await session.get(Invite, invite_id)
        problem = invite_problem(invite, now)
        if problem is None and not await people.consume_invite(session=session, invite_id=invite_id, now=now):
            problem = InviteProblem.USED_UP
        if problem is not None or invite is None:
            return Outcome(
                screen=Screen(text=invite_problem_text(problem or InviteProblem.UNKNOWN)), finished=True
            )
        person = await people.get_person(session=session, person_id=draft.person_id)
        unit = await people.get_unit(session=session, unit_id=invite.unit_id)
        assert person is not None and unit is not None and person.id is not None
        person.full_name = " ".join(str(answers["full_name"]).split())
        person.phone = str(answers["phone"])
        person.field_of_work = str(answers["field_of_work"]) if "field_of_work" in answers else None
        person.unit_id = unit.id
        person.status = PersonStatus.ACTIVE
        person.registered_at = now
        person.invite_id = invite_id
        session.add(person)
        await people.grant_role(session=session, person=person, role=Role(invite.role), unit_id=unit.id)
        roles = {grant.role for grant in actor.grants} | {Role(invite.role)}
        await menus.queue_menu_change(services.replies, services.i18n, person, roles)
        await audit.record(
            session=session,
            action="person.register",
            actor_id=person.id,
            unit_id=unit.id,
            details={"invite_id": invite_id, "role": invite.role, "consent": CONSENT_VERSION},
        )
        if invite.role == Role.COLLABORATOR:
            text = _(
                "✅ Registration complete. Welcome, {name}! You are a collaborator of <b>{unit}</b>.\n\n"
                "When the board publishes a topic you will find it in your group, with a button to report. "
                "/report sends an incident report at any time, /lang changes the language."
            ).format(name=escape(person.full_name), unit=escape(unit.name))
        else:
            role_name = {
                Role.STAFF: _("a staff member"),
                Role.LEADER: _("a leader"),
                Role.ADMIN: _("an administrator"),
            }.get(Role(invite.role), _("a member"))
            text = _(
                "✅ Registration complete. Welcome, {name}! You are {role} of <b>{unit}</b>.\n\n"
                "/help lists what you can do here."
            ).format(name=escape(person.full_name), role=role_name, unit=escape(unit.name))
        return Outcome(screen=Screen(text=text), finished=True)


def invite_form(services: Services, units: list[Unit]) -> FormDefinition:
    i18n = services.i18n
    return FormDefinition.model_validate(
        {
            "key": "invite_wizard",
            "title": localized(i18n, "New invite link"),
            "questions": [
                # With one unit in scope there is nothing to ask (a choice needs two options).
                *(
                    [
                        {
                            "key": "unit",
                            "type": "choice",
                            "label": localized(i18n, "Which unit will the new collaborators join?"),
                            "short_label": localized(i18n, "Unit"),
                            "options": [
                                {"value": str(unit.id), "label": {"vi": unit.name}} for unit in units
                            ],
                        }
                    ]
                    if len(units) > 1
                    else []
                ),
                {
                    "key": "uses",
                    "type": "number",
                    "integer": True,
                    "min": 1,
                    "max": 1000,
                    "label": localized(i18n, "How many people may use this link?"),
                    "short_label": localized(i18n, "Number of uses"),
                    "help": localized(i18n, "1 for one person; for example 30 for a whole group."),
                },
                {
                    "key": "days",
                    "type": "choice",
                    "label": localized(i18n, "How long is the link valid?"),
                    "short_label": localized(i18n, "Valid for"),
                    "options": [
                        {"value": "1", "label": localized(i18n, "1 day")},
                        {"value": "7", "label": localized(i18n, "7 days")},
                        {"value": "30", "label": localized(i18n, "30 days")},
                    ],
                },
            ],
        }
    )


async def open_invite_wizard(services: Services, conversations: Conversations, *, actor: Actor) -> Outcome:
    units = await units_in_scope(services.session, actor, Permission.INVITE)
    if not units:
        return Outcome(alert=no_units_text())
    assert actor.person is not None and actor.person.id is not None
    return await conversations.start(
        services,
        person_id=actor.person.id,
        slot=INVITE_SLOT,
        definition=invite_form(services, units),
        context={"unit_id": units[0].id} if len(units) == 1 else None,
    )


def no_units_text() -> str:
    """Said in the chat: the units are imported on the server, which the person may not run."""
    return _("There is no unit in your scope yet: the administrator imports the list of units first.")


async def units_in_scope(session: AsyncSession, actor: Actor, permission: Permission) -> list[Unit]:
    seen: dict[int, Unit] = {}
    for path in actor.scope_paths(permission):
        for unit in await people.list_units(session=session, under_path=path):
            assert unit.id is not None
            seen[unit.id] = unit
    return tree_order(seen.values())


class InvitePurpose(WizardPurpose):
    name = INVITE_SLOT

    def intro(self, services: Services, draft: Draft, form: FormDefinition) -> str | None:
        return _("Let's create an invite link for new collaborators.")

    def review(self, services: Services, draft: Draft, form: FormDefinition) -> tuple[str, str, str | None]:
        return _("Check the invite"), _("🔗 Create link"), None

    async def complete(
        self, services: Services, actor: Actor, draft: Draft, answers: dict[str, Any]
    ) -> Outcome:
        unit_id = int(answers["unit"]) if "unit" in answers else int(draft.context.get("unit_id") or 0)
        unit = await people.get_unit(session=services.session, unit_id=unit_id)
        if unit is None or not actor.can_act_on(Permission.INVITE, unit):
            return Outcome(screen=Screen(text=_("That unit is outside your scope.")), finished=True)
        assert actor.person is not None
        invite, token = await create_invite(
            session=services.session,
            unit=unit,
            created_by=actor.person.id,
            uses=int(answers["uses"]),
            days=int(answers["days"]),
            now=services.clock.now(),
        )
        lines = [_("🔗 Invite for <b>{unit}</b>").format(unit=escape(unit.name))]
        if services.bot_username:
            lines.append(_("On Telegram, open: {link}").format(link=deep_link(services.bot_username, token)))
        if services.settings.zalo_enabled:
            lines.append(_("On Zalo, send the bot this code: <code>{code}</code>").format(code=token))
        lines += [
            "",
            ngettext(
                "It can be used {uses} time until {expires}. Send it only to the person who should join; "
                "they open it and answer three short questions.",
                "It can be used {uses} times until {expires}. Send it only to the people who should join; "
                "each person opens it and answers three short questions.",
                invite.max_uses,
            ).format(uses=invite.max_uses, expires=format_date(invite.expires_at, services.tz)),
        ]
        return Outcome(screen=Screen(text="\n".join(lines)), finished=True)

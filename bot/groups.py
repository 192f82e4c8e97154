"""Binding Telegram groups to units (/setup) and keeping that binding current."""

from __future__ import annotations

from typing import Any

from aiogram.filters import BaseFilter
from aiogram.types import Chat, Message
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.access import Actor, Permission
from bot.conversation import Outcome, Services
from bot.delivery import payloads
from bot.forms.words import fold
from bot.i18n import board, in_locale, normalize_locale
from bot.onboarding import no_units_text, units_in_scope
from bot.ui import Choice, Screen, SetupButton, escape, use_channel
from storage import audit, outbox, people
from storage.addresses import channel_of
from storage.models import ChatGroup, PersonStatus, Unit

# /setup shows a province's 120 communes a page at a time, two to a row.
SETUP_PAGE_SIZE = 20


def unregistered_text() -> str:
    return _(
        "This group is not registered with the collaborator network yet. "
        "A staff member of {board} can register it by sending /setup here."
    ).format(board=board())


async def offer_setup(
    services: Services, *, actor: Actor, chat: Chat, page: int = 0, search: str = ""
) -> Outcome:
    """/setup: the units this staff member may bind the group to, as buttons, a page at a
    time; `/setup Bình Minh` lists only the units whose names contain those words."""
    units = await units_in_scope(services.session, actor, Permission.SETUP_GROUP)
    if not units:
        return Outcome(alert=no_units_text())
    existing = await people.get_group(session=services.session, chat_id=chat.id)
    refusal = await _bound_elsewhere(services, actor, existing)
    if refusal is not None:
        return Outcome(alert=refusal)
    wanted = fold(search)
    if wanted:
        units = [unit for unit in units if wanted in fold(unit.name)]
        if not units:
            return Outcome(
                alert=_("No unit in your scope has “{text}” in its name.").format(text=escape(search.strip()))
            )
    pages = -(-len(units) // SETUP_PAGE_SIZE)
    if not 0 <= page < pages:
        return Outcome(alert=_("This button has expired."))
    lines = [_("Which unit does this group belong to?")]
    if existing is not None and existing.is_active:
        unit = await people.get_unit(session=services.session, unit_id=existing.unit_id)
        lines.append(_("It is currently bound to {unit}.").format(unit=escape(unit.name if unit else "—")))
    if pages > 1:
        lines.append(_("Page {page}/{pages}.").format(page=page + 1, pages=pages))
        if not wanted:
            lines.append(
                _("To find a unit by name, send /setup and part of its name, for example /setup Bình.")
            )
    shown = units[page * SETUP_PAGE_SIZE : (page + 1) * SETUP_PAGE_SIZE]
    buttons = [Choice(label=unit.name, data=SetupButton(unit=unit.id or 0).pack()) for unit in shown]
    rows = [buttons[index : index + 2] for index in range(0, len(buttons), 2)]
    if wanted and pages > 1:  # the pages below are of every unit, not of these
        rows = rows[: SETUP_PAGE_SIZE // 2]
        lines[-1:] = [_("More units match: give more of the name.")]
    else:
        moves = []
        if page > 0:
            moves.append(
                Choice(
                    label=_("◀ Page {page}").format(page=page), data=SetupButton(unit=0, page=page - 1).pack()
                )
            )
        if page < pages - 1:
            moves.append(
                Choice(
                    label=_("Page {page} ▶").format(page=page + 2),
                    data=SetupButton(unit=0, page=page + 1).pack(),
                )
            )
        if moves:
            rows.append(moves)
    return Outcome(screen=Screen(text="\n".join(lines), choices=rows))


async def _bound_elsewhere(services: Services, actor: Actor, group: ChatGroup | None) -> str | None:
    """A group already bound to a unit outside this staff member's scope is not theirs to
    move (issue 18: staff of one commune took over another's group, and its next urgent
    matter was pinned there)."""
    if group is None or not group.is_active:
        return None
    current = await people.get_unit(session=services.session, unit_id=group.unit_id)
    if current is None or actor.can_act_on(Permission.SETUP_GROUP, current):
        return None
    return _(
        "This group is registered for {unit}, outside your scope. Its own staff can change that."
    ).format(unit=escape(current.name))


TITLE_MAX = 255  # ChatGroup.title


def setup_in_groups_text() -> str:
    return _("A group is registered from inside the group: send /setup there.")


async def bind_group(services: Services, *, actor: Actor, chat: Chat, unit_id: int) -> Outcome:
    if chat.type == "private":
        return Outcome(alert=setup_in_groups_text())
    unit = await people.get_unit(session=services.session, unit_id=unit_id)
    if unit is None or not actor.can_act_on(Permission.SETUP_GROUP, unit):
        return Outcome(alert=_("That unit is outside your scope."))
    assert actor.person is not None and unit.id is not None
    group = await people.get_group(session=services.session, chat_id=chat.id)
    refusal = await _bound_elsewhere(services, actor, group)
    if refusal is not None:
        return Outcome(alert=refusal)
    previous = (group.unit_id, group.registered_by) if group is not None and group.is_active else None
    if group is None:
        group = ChatGroup(chat_id=chat.id, unit_id=unit.id)
    group.unit_id = unit.id
    group.title = (chat.title or "")[:TITLE_MAX]  # a Zalo group's name has no promised length
    group.is_active = True
    group.registered_by = actor.person.id
    services.session.add(group)
    await audit.record(
        session=services.session,
        action="group.setup",
        actor_id=actor.person.id,
        unit_id=unit.id,
        details={"chat_id": chat.id, "title": chat.title},
    )
    text = _(
        "✅ This group is now registered for <b>{unit}</b>. Topics for this unit will be posted here; "
        "collaborators can reply to a topic post to report."
    ).format(unit=escape(unit.name))
    if previous is not None and previous[0] != unit.id and previous[1] not in (None, actor.person.id):
        await _tell_previous_registrant(services, actor, group, previous, unit)
    return Outcome(screen=Screen(text=text), finished=True)


async def _tell_previous_registrant(
    services: Services, actor: Actor, group: ChatGroup, previous: tuple[int, int | None], unit: Unit
) -> None:
    """Whoever registered the group hears that it now belongs to another unit."""
    registrant = await people.get_person(session=services.session, person_id=previous[1] or 0)
    old_unit = await people.get_unit(session=services.session, unit_id=previous[0])
    if registrant is None or registrant.status != PersonStatus.ACTIVE:
        return
    assert actor.person is not None
    locale = normalize_locale(registrant.locale, services.settings.default_locale)
    with in_locale(services.i18n, locale), use_channel(channel_of(registrant.chat_id)):
        notice = _("The group “{group}” was moved from {old} to {new} by {name}.").format(
            group=escape(group.title or "—"),
            old=escape(old_unit.name if old_unit else "—"),
            new=escape(unit.name),
            name=escape(actor.person.full_name),
        )
        await services.replies.add(registrant.chat_id, payloads.message(notice))


async def migrate_group(services: Services, *, old_chat_id: int, new_chat_id: int) -> None:
    """A group became a supergroup: follow it to its new id, with its queued messages."""
    if await people.move_group(session=services.session, old_chat_id=old_chat_id, new_chat_id=new_chat_id):
        await outbox.move_chat(session=services.session, old_chat_id=old_chat_id, new_chat_id=new_chat_id)


class RegisteredGroup(BaseFilter):
    """Passes in a group bound to a unit, and hands the binding to the handler as `group`."""

    async def __call__(self, message: Message, session: AsyncSession) -> bool | dict[str, Any]:
        group = await people.get_group(session=session, chat_id=message.chat.id)
        if group is None or not group.is_active:
            return False
        return {"group": group}

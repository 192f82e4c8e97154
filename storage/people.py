"""Units, people, roles, invites and registered groups."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, or_, true, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.addresses import ZALO_ADDRESS_BASE, channel_of, forgotten_address
from storage.models import (
    Channel,
    ChatGroup,
    Draft,
    Invite,
    Person,
    PersonIdentity,
    PersonRole,
    PersonStatus,
    Reachability,
    Report,
    Role,
    Unit,
)


async def create_unit(*, session: AsyncSession, code: str, name: str, parent: Unit | None = None) -> Unit:
    unit = Unit(code=code, name=name, parent_id=parent.id if parent else None)
    session.add(unit)
    await session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    await session.flush()
    return unit


async def get_unit(*, session: AsyncSession, unit_id: int) -> Unit | None:
    return await session.get(Unit, unit_id)


async def get_unit_by_code(*, session: AsyncSession, code: str) -> Unit | None:
    return (await session.exec(select(Unit).where(Unit.code == code))).first()


async def list_units(*, session: AsyncSession, under_path: str = "/") -> Sequence[Unit]:
    """Units of a subtree (by materialised path), parents before children."""
    rows = await session.exec(select(Unit).where(col(Unit.path).startswith(under_path)).order_by(Unit.path))
    return rows.all()


async def root_units(*, session: AsyncSession) -> Sequence[Unit]:
    return (
        await session.exec(select(Unit).where(col(Unit.parent_id).is_(None)).order_by(col(Unit.id)))
    ).all()


async def get_person(*, session: AsyncSession, person_id: int) -> Person | None:
    return await session.get(Person, person_id)


async def add_people(*, session: AsyncSession, persons: Sequence[Person]) -> None:
    """New people, each known by the address of their private chat (their user id there)."""
    session.add_all(persons)
    await session.flush()
    session.add_all(
        PersonIdentity(address=person.chat_id, person_id=person.id or 0, channel=channel_of(person.chat_id))
        for person in persons
    )
    await session.flush()


async def add_person(*, session: AsyncSession, person: Person) -> Person:
    await add_people(session=session, persons=[person])
    return person


async def add_identity(*, session: AsyncSession, person_id: int, address: int) -> None:
    """Another channel for the same person (their reports and roles stay theirs)."""
    session.add(PersonIdentity(address=address, person_id=person_id, channel=channel_of(address)))
    await session.flush()


async def get_person_by_chat_id(*, session: AsyncSession, chat_id: int) -> Person | None:
    return (await session.exec(select(Person).where(Person.chat_id == chat_id))).first()


async def person_with_grants(
    *, session: AsyncSession, address: int
) -> tuple[Person | None, list[tuple[str, int | None, str | None]]]:
    """The person known by a user address, and their (role, unit id, unit path) grants, in
    one query: this runs for every update."""
    statement = (
        select(Person, PersonRole.role, PersonRole.unit_id, Unit.path)
        .join(PersonIdentity, col(PersonIdentity.person_id) == Person.id)
        .outerjoin(PersonRole, col(PersonRole.person_id) == Person.id)
        .outerjoin(Unit, col(Unit.id) == PersonRole.unit_id)
        .where(PersonIdentity.address == address)
    )
    rows = (await session.exec(statement)).all()
    if not rows:
        return None, []
    grants: list[tuple[str, int | None, str | None]] = [
        (role, unit_id, path) for _person, role, unit_id, path in rows if role is not None
    ]
    return rows[0][0], grants


async def grant_role(
    *, session: AsyncSession, person: Person, role: Role, unit_id: int | None, granted_by: int | None = None
) -> PersonRole:
    """Give a role over a unit's subtree (None: the whole organisation); re-granting moves it."""
    existing = (
        await session.exec(
            select(PersonRole).where(PersonRole.person_id == person.id, PersonRole.role == role)
        )
    ).first()
    if existing is not None:
        existing.unit_id = unit_id
        existing.granted_by = granted_by
        session.add(existing)
        return existing
    assert person.id is not None
    grant = PersonRole(person_id=person.id, role=role, unit_id=unit_id, granted_by=granted_by)
    session.add(grant)
    return grant


async def count_active_collaborators(*, session: AsyncSession, under_path: str) -> int:
    statement = (
        select(func.count())
        .select_from(Person)
        .join(Unit, col(Unit.id) == Person.unit_id)
        .join(PersonRole, col(PersonRole.person_id) == Person.id)
        .where(
            Person.status == PersonStatus.ACTIVE,
            PersonRole.role == Role.COLLABORATOR,
            col(Unit.path).startswith(under_path),
        )
    )
    return (await session.exec(statement)).one()


async def add_invite(*, session: AsyncSession, invite: Invite) -> Invite:
    session.add(invite)
    await session.flush()
    return invite


async def get_invite_by_hash(*, session: AsyncSession, token_hash: str) -> Invite | None:
    return (await session.exec(select(Invite).where(Invite.token_hash == token_hash))).first()


async def consume_invite(*, session: AsyncSession, invite_id: int, now: datetime) -> bool:
    """Count one use, atomically: two people racing for the last use cannot both win."""
    result = await session.exec(  # type: ignore[call-overload]
        update(Invite)
        .where(
            col(Invite.id) == invite_id,
            col(Invite.uses) < col(Invite.max_uses),
            col(Invite.expires_at) > now,
            col(Invite.revoked_at).is_(None),
        )
        .values(uses=col(Invite.uses) + 1)
    )
    return bool(result.rowcount)


async def get_group(*, session: AsyncSession, chat_id: int) -> ChatGroup | None:
    return (await session.exec(select(ChatGroup).where(ChatGroup.chat_id == chat_id))).first()


@dataclass(frozen=True)
class Member:
    person_id: int
    chat_id: int
    full_name: str
    locale: str | None
    unit_id: int


def _member_columns() -> Any:
    """What a Member is read from (sqlmodel types select() for up to 4 columns)."""
    return select(Person.id, Person.chat_id, Person.full_name, Person.locale, Person.unit_id)  # type: ignore[call-overload]


async def _members(session: AsyncSession, statement: Any) -> list[Member]:
    return [
        Member(person_id=pid, chat_id=chat_id, full_name=name, locale=locale, unit_id=unit_id or 0)
        for pid, chat_id, name, locale, unit_id in (await session.exec(statement)).all()
    ]


async def active_collaborators(*, session: AsyncSession, unit_paths: Sequence[str]) -> list[Member]:
    """Active collaborators of the given subtrees, by unit then name (one row each)."""
    if not unit_paths:
        return []
    statement = (
        _member_columns()
        .join(Unit, col(Unit.id) == Person.unit_id)
        .where(
            Person.status == PersonStatus.ACTIVE,
            or_(*[col(Unit.path).startswith(path) for path in unit_paths]),
            col(Person.id).in_(select(PersonRole.person_id).where(PersonRole.role == Role.COLLABORATOR)),
        )
        .order_by(col(Unit.path), Person.full_name)
    )
    return await _members(session, statement)


async def staff_of_units(
    *, session: AsyncSession, unit_ids: Sequence[int], except_person: int | None = None
) -> list[Member]:
    """Active staff whose role is held at one of these units (not in their subtrees): who
    hears at once of an urgent report from a unit (bot/reporting.py)."""
    if not unit_ids:
        return []
    statement = (
        _member_columns()
        .join(PersonRole, col(PersonRole.person_id) == Person.id)
        .where(
            Person.status == PersonStatus.ACTIVE,
            Person.reachability == Reachability.ACTIVE,
            PersonRole.role == Role.STAFF,
            col(PersonRole.unit_id).in_(unit_ids),
            Person.id != except_person if except_person is not None else true(),
        )
        .distinct()
        .order_by(Person.full_name)
    )
    return await _members(session, statement)


async def readers_of_units(
    *, session: AsyncSession, unit_ids: Sequence[int], roles: Sequence[Role] = (Role.STAFF, Role.LEADER)
) -> list[tuple[Member, int]]:
    """Active staff and leaders (or `roles`) whose role is held at one of these units, each
    with that unit (whose figures they read): who gets a topic's summary when it closes."""
    if not unit_ids:
        return []
    statement = (
        select(  # type: ignore[call-overload]
            Person.id, Person.chat_id, Person.full_name, Person.locale, Person.unit_id, PersonRole.unit_id
        )
        .join(PersonRole, col(PersonRole.person_id) == Person.id)
        .where(
            Person.status == PersonStatus.ACTIVE,
            Person.reachability == Reachability.ACTIVE,
            col(PersonRole.role).in_(list(roles)),
            col(PersonRole.unit_id).in_(unit_ids),
        )
        .distinct()
        .order_by(Person.full_name)
    )
    return [
        (
            Member(person_id=pid, chat_id=chat_id, full_name=name, locale=locale, unit_id=unit_id or 0),
            int(grant),
        )
        for pid, chat_id, name, locale, unit_id, grant in (await session.exec(statement)).all()
    ]


async def move_group(*, session: AsyncSession, old_chat_id: int, new_chat_id: int) -> bool:
    """Follow a group to its new chat id (supergroup migration); False if nothing to move."""
    group = await get_group(session=session, chat_id=old_chat_id)
    if group is None or await get_group(session=session, chat_id=new_chat_id) is not None:
        return False
    group.chat_id = new_chat_id
    session.add(group)
    return True


async def groups_for_units(*, session: AsyncSession, unit_paths: Sequence[str]) -> Sequence[ChatGroup]:
    """Active groups bound to any unit inside the given subtrees."""
    if not unit_paths:
        return []
    statement = (
        select(ChatGroup)
        .join(Unit, col(Unit.id) == ChatGroup.unit_id)
        .where(ChatGroup.is_active, or_(*[col(Unit.path).startswith(path) for path in unit_paths]))
        .order_by(col(ChatGroup.id))
    )
    return (await session.exec(statement)).all()


async def people_with_roles(*, session: AsyncSession) -> list[tuple[Person, frozenset[Role]]]:
    """Active people with their roles (for menus at start)."""
    rows = (
        await session.exec(
            select(Person, PersonRole.role)
            .join(PersonRole, col(PersonRole.person_id) == Person.id)
            .where(Person.status == PersonStatus.ACTIVE)
            .order_by(col(Person.id))
        )
    ).all()
    grouped: dict[int, tuple[Person, set[Role]]] = {}
    for person, role in rows:
        grouped.setdefault(person.id or 0, (person, set()))[1].add(Role(role))
    return [(person, frozenset(roles)) for person, roles in grouped.values()]


async def set_menu_key(*, session: AsyncSession, person_id: int, key: str | None) -> None:
    await session.exec(  # type: ignore[call-overload]
        update(Person).where(col(Person.id) == person_id).values(menu_key=key)
    )


async def admin_chat_ids(*, session: AsyncSession, admin_ids: Sequence[int]) -> list[int]:
    """Whom to tell about what needs an administrator: active admins and ADMIN_IDS."""
    statement = (
        select(Person.chat_id)
        .join(PersonRole, col(PersonRole.person_id) == Person.id)
        .where(PersonRole.role == Role.ADMIN, Person.status == PersonStatus.ACTIVE)
    )
    found = set((await session.exec(statement)).all())
    return sorted(found | set(admin_ids))


async def collaborators_by_channel(*, session: AsyncSession, unit_paths: Sequence[str]) -> dict[str, int]:
    """Active collaborators of the given subtrees, counted by the channel they are on."""
    if not unit_paths:
        return {}
    channel = case(
        (func.abs(Person.chat_id) >= ZALO_ADDRESS_BASE, Channel.ZALO.value), else_=Channel.TELEGRAM.value
    )
    statement = (
        select(channel, func.count())
        .select_from(Person)
        .join(Unit, col(Unit.id) == Person.unit_id)
        .where(
            Person.status == PersonStatus.ACTIVE,
            or_(*[col(Unit.path).startswith(path) for path in unit_paths]),
            col(Person.id).in_(select(PersonRole.person_id).where(PersonRole.role == Role.COLLABORATOR)),
        )
        .group_by(channel)
    )
    return {str(name): int(count) for name, count in (await session.exec(statement)).all()}


async def expire_pending(*, session: AsyncSession, created_before: datetime) -> int:
    """People who opened an invite and never finished registering, longer ago than the cutoff,
    are deleted with their drafts and identities: their name and phone were kept for nothing."""
    stale = list(
        (
            await session.exec(
                select(Person.id).where(
                    Person.status == PersonStatus.PENDING,
                    col(Person.created_at) < created_before,
                    col(Person.id).not_in(select(Report.person_id)),
                )
            )
        ).all()
    )
    if not stale:
        return 0
    await session.exec(delete(Draft).where(col(Draft.person_id).in_(stale)))  # type: ignore[call-overload]
    await session.exec(delete(PersonIdentity).where(col(PersonIdentity.person_id).in_(stale)))  # type: ignore[call-overload]
    await session.exec(delete(PersonRole).where(col(PersonRole.person_id).in_(stale)))  # type: ignore[call-overload]
    await session.exec(delete(Person).where(col(Person.id).in_(stale)))  # type: ignore[call-overload]
    return len(stale)


async def identities_of(*, session: AsyncSession, person_id: int) -> Sequence[PersonIdentity]:
    return (await session.exec(select(PersonIdentity).where(PersonIdentity.person_id == person_id))).all()


async def forget_person(*, session: AsyncSession, person: Person) -> None:
    """Remove a person's personal details, accounts, roles and drafts; the row stays (without
    a name) so that their reports still count in the figures, as reports of their unit."""
    assert person.id is not None
    await session.exec(delete(PersonIdentity).where(PersonIdentity.person_id == person.id))  # type: ignore[call-overload,arg-type]
    await session.exec(delete(PersonRole).where(PersonRole.person_id == person.id))  # type: ignore[call-overload,arg-type]
    await session.exec(delete(Draft).where(Draft.person_id == person.id))  # type: ignore[call-overload,arg-type]
    person.chat_id = forgotten_address(person.id)
    person.full_name = ""
    person.phone = None
    person.username = None
    person.field_of_work = None
    person.locale = None
    person.menu_key = None
    person.unit_id = None
    person.status = PersonStatus.INACTIVE
    session.add(person)

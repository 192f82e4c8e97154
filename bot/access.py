"""Who may do what, and over which units: the one place access is decided.

Handlers declare what they need with a flag, `flags={"permission": Permission.X}`;
`bot.middlewares.AccessMiddleware` checks it with `Actor.allows` for every message and
callback before the handler runs and answers `refusal_text` otherwise. Scope is a unit subtree, matched by materialised path.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from aiogram.types import User
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import people
from storage.models import Person, PersonStatus, Role, Unit

ROOT_PATH = "/"


class Permission(StrEnum):
    REPORT = "report"
    INVITE = "invite"
    SETUP_GROUP = "setup_group"
    PUBLISH_TOPIC = "publish_topic"
    VIEW_SUMMARY = "view_summary"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.COLLABORATOR: frozenset({Permission.REPORT}),
    Role.STAFF: frozenset(
        {Permission.REPORT, Permission.INVITE, Permission.SETUP_GROUP, Permission.PUBLISH_TOPIC}
    ),
    Role.LEADER: frozenset({Permission.REPORT, Permission.VIEW_SUMMARY}),
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True)
class Grant:
    role: Role
    unit_id: int | None
    path: str  # subtree the role covers; "/" for the whole organisation


@dataclass(frozen=True)
class Actor:
    """The person behind an update, with their roles; built once per update."""

    address: int  # their user id on the channel the update came from (storage/addresses.py)
    person: Person | None
    grants: tuple[Grant, ...] = ()

    @property
    def is_member(self) -> bool:
        return self.person is not None and self.person.status == PersonStatus.ACTIVE

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(grant.role for grant in self.grants) if self.is_member else frozenset()

    def has_role(self, role: Role) -> bool:
        return role in self.roles

    def allows(self, permission: Permission) -> bool:
        if permission is Permission.REPORT and not (self.person and self.person.unit_id):
            return False
        return any(permission in ROLE_PERMISSIONS[role] for role in self.roles)

    def scope_paths(self, permission: Permission) -> list[str]:
        """Subtrees where the permission applies, without nested duplicates."""
        if not self.is_member:
            return []
        paths = sorted(
            {grant.path for grant in self.grants if permission in ROLE_PERMISSIONS[grant.role]}, key=len
        )
        kept: list[str] = []
        for path in paths:
            if not any(path.startswith(parent) for parent in kept):
                kept.append(path)
        return kept

    def can_act_on(self, permission: Permission, unit: Unit) -> bool:
        return any(unit.path.startswith(path) for path in self.scope_paths(permission))

    @property
    def locale(self) -> str | None:
        return self.person.locale if self.person else None


async def load_actor(*, session: AsyncSession, user: User, admin_ids: frozenset[int]) -> Actor:
    """Load the person and grants; people listed in ADMIN_IDS become admins on first contact."""
    person, rows = await people.person_with_grants(session=session, address=user.id)
    if user.id in admin_ids:
        if person is None:
            person = Person(
                chat_id=user.id,
                username=user.username,
                full_name=user.full_name,
                status=PersonStatus.ACTIVE,
            )
            await people.add_person(session=session, person=person)
        elif person.status != PersonStatus.ACTIVE:
            person.status = PersonStatus.ACTIVE
            session.add(person)
    if person is None:
        return Actor(address=user.id, person=None)
    grants = [Grant(role=Role(role), unit_id=unit_id, path=path or ROOT_PATH) for role, unit_id, path in rows]
    if user.id in admin_ids and not any(g.role is Role.ADMIN for g in grants):
        grants.append(Grant(role=Role.ADMIN, unit_id=None, path=ROOT_PATH))
    return Actor(address=user.id, person=person, grants=tuple(grants))


def refusal_text(permission: Permission, actor: Actor | None) -> str:
    if (actor is None or not actor.is_member) and permission is Permission.REPORT:
        return _(
            "You are not registered yet. To join the collaborator network, open the invite "
            "link that the Propaganda Board staff sent you."
        )
    if permission is Permission.VIEW_SUMMARY:
        return _("Sorry, the summary is only available to leaders.")
    if permission is Permission.REPORT:
        return _("Sorry, only registered collaborators can send reports.")
    return _("Sorry, this command is only for Propaganda Board staff.")

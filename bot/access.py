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

from bot.i18n import board
from storage import people
from storage.models import Person, PersonStatus, Role, Unit

ROOT_PATH = "/"


class Permission(StrEnum):
    REPORT = "report"
    INVITE = "invite"
    SETUP_GROUP = "setup_group"
    PUBLISH_TOPIC = "publish_topic"
    VIEW_SUMMARY = "view_summary"
    MANAGE_SCHEDULE = "manage_schedule"  # admins only (Role.ADMIN holds every permission)


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.COLLABORATOR: frozenset({Permission.REPORT}),
    # Staff write the monthly report to the provincial committee: they read /summary too.
    Role.STAFF: frozenset(
        {
            Permission.REPORT,
            Permission.INVITE,
            Permission.SETUP_GROUP,
            Permission.PUBLISH_TOPIC,
            Permission.VIEW_SUMMARY,
        }
    ),
    Role.LEADER: frozenset({Permission.REPORT, Permission.VIEW_SUMMARY}),
    Role.ADMIN: frozenset(Permission),
}


class ChatKind(StrEnum):
    PRIVATE = "private"
    GROUP = "group"  # a group registered to a unit
    UNREGISTERED = "unregistered group"


PRIVATE = frozenset({ChatKind.PRIVATE})
GROUPS = frozenset({ChatKind.GROUP, ChatKind.UNREGISTERED})


@dataclass(frozen=True)
class Rule:
    """Who may take an action, where, and on what: one row of the policy (docs/ACCESS.md)."""

    action: str  # a command ("/topic") or a button, by its callback prefix ("button su")
    permission: Permission | None  # None: anyone who writes to the bot (see `members_only`)
    chats: frozenset[ChatKind]
    what: str  # what the action reaches, and the scope it is checked against
    # In a registered group: the group's unit must lie in the actor's scope for `permission`.
    group_scope: bool = False
    # Open to everyone, but it only does something for an active member with a unit.
    members_only: bool = False
    # The object (an urgent matter) must be addressed to the actor's unit or one above it.
    addressed: bool = False
    # Open to anyone the bot knows (registered or registering): there is a person to act on.
    known_only: bool = False

    def allows(
        self, actor: Actor | None, chat: ChatKind, group_unit: Unit | None = None, *, addressed: bool = True
    ) -> bool:
        """What the policy says of this actor here (handlers enforce it; the generated access
        test, tests/e2e/test_access.py, checks that they do)."""
        if chat not in self.chats:
            return False
        if self.known_only and (actor is None or actor.person is None):
            return False
        if self.members_only and not (
            actor is not None and actor.is_member and actor.person and actor.person.unit_id
        ):
            return False
        if self.permission is None:
            return True
        if actor is None or not actor.allows(self.permission):
            return False
        if self.addressed and not addressed:
            return False
        if self.group_scope and chat is ChatKind.GROUP:
            return group_unit is not None and actor.can_act_on(self.permission, group_unit)
        return True


def button(prefix: str) -> str:
    return f"button {prefix}"


POLICY: dict[str, Rule] = {
    rule.action: rule
    for rule in (
        Rule(
            "/start",
            None,
            PRIVATE,
            "an invite code (valid, unexpired, uses left), a report link, or resuming one's own draft",
        ),
        Rule("/help", None, PRIVATE, "what the person's own roles can do"),
        Rule("/lang", None, PRIVATE, "the person's own language"),
        Rule("/cancel", None, PRIVATE, "the person's own draft"),
        Rule(
            "/link",
            None,
            PRIVATE,
            "a code for the person's own other account (with a code: joining that person)",
            members_only=True,
        ),
        Rule("/mydata", None, PRIVATE, "what is kept about the person asking"),
        Rule("/forget", None, PRIVATE, "the person's own personal details, after confirming"),
        Rule("/report", Permission.REPORT, PRIVATE, "a report for the collaborator's own unit"),
        Rule("/topic", Permission.PUBLISH_TOPIC, PRIVATE, "target units within the staff member's scope"),
        Rule(
            "/topics",
            Permission.PUBLISH_TOPIC,
            PRIVATE,
            "monthly topics with a target unit within scope (an admin: all)",
        ),
        Rule("/invite", Permission.INVITE, PRIVATE, "an invite to a unit within scope"),
        Rule("/urgent", Permission.PUBLISH_TOPIC, PRIVATE, "target units within scope"),
        Rule(
            "/urgent_status",
            Permission.PUBLISH_TOPIC,
            PRIVATE,
            "urgent matters sent to units within scope, counted within scope",
        ),
        Rule("/broadcasts", Permission.PUBLISH_TOPIC, PRIVATE, "the staff member's own deliveries"),
        Rule(
            "/briefing",
            Permission.PUBLISH_TOPIC,
            PRIVATE,
            "the monthly briefing of a unit within scope (its bound groups are reminded)",
        ),
        Rule(
            "/setup",
            Permission.SETUP_GROUP,
            GROUPS,
            "the group: its current unit and the new one both within scope",
            group_scope=True,
        ),
        Rule(
            "/summary",
            Permission.VIEW_SUMMARY,
            frozenset({ChatKind.PRIVATE, ChatKind.GROUP}),
            "private: the leader's scope; a group: that group's unit, within scope",
            group_scope=True,
        ),
        Rule(
            "/schedule", Permission.MANAGE_SCHEDULE, PRIVATE, "the scheduled jobs of the whole organisation"
        ),
        Rule(button("f"), None, PRIVATE, "the presser's own draft, at its current step, on its own prompt"),
        Rule(button("lg"), None, PRIVATE, "the presser's own language", known_only=True),
        Rule(button("fg"), None, PRIVATE, "the presser's own personal details"),
        Rule(button("rp"), Permission.REPORT, PRIVATE, "the presser's own earlier report on a topic"),
        Rule(
            button("ak"),
            Permission.REPORT,
            frozenset({ChatKind.PRIVATE, ChatKind.GROUP}),
            "an urgent matter addressed to the presser's unit (or one above it)",
            addressed=True,
        ),
        Rule(
            button("rv"),
            Permission.VIEW_SUMMARY,
            PRIVATE,
            "a report from a unit within scope (the alert of an urgent report or an incident)",
        ),
        Rule(
            button("bc"),
            Permission.PUBLISH_TOPIC,
            PRIVATE,
            "a delivery the staff member started (or within an admin's scope)",
        ),
        Rule(
            button("tp"),
            Permission.PUBLISH_TOPIC,
            PRIVATE,
            "a monthly topic whose units all lie within scope (an admin: any); reminding its silent"
            " (from a roll-call): a topic with a unit within scope, reaching the silent within scope",
        ),
        Rule(
            button("su"),
            Permission.SETUP_GROUP,
            GROUPS,
            "as /setup: the group's current unit and the chosen one within scope",
            group_scope=True,
        ),
    )
}
"""Every command and every button. Before any rule: a press counts only if its data carries
the bot's mark for the chat and the pressed message shows that very button
(bot/channels/callback_signing.py, bot/middlewares.py). Scheduled jobs act for the board and
`dlxh` commands for whoever runs the server; neither has a chat to check."""


def flags(action: str) -> dict[str, Permission]:
    """The handler flags of an action, taken from the policy."""
    permission = POLICY[action].permission
    return {"permission": permission} if permission is not None else {}


def policy_table() -> str:
    """The policy as the Markdown table in docs/ACCESS.md (a test keeps the two equal)."""
    lines = ["| action | who | where | what it reaches |", "|---|---|---|---|"]
    for rule in POLICY.values():
        if rule.permission is None:
            who = (
                "active members with a unit"
                if rule.members_only
                else "registered or registering people"
                if rule.known_only
                else "anyone"
            )
        else:
            roles = [role.value for role, granted in ROLE_PERMISSIONS.items() if rule.permission in granted]
            who = ", ".join(roles)
        where = ", ".join(kind.value for kind in ChatKind if kind in rule.chats)
        lines.append(f"| `{rule.action}` | {who} | {where} | {rule.what} |")
    return "\n".join(lines) + "\n"


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


def topic_scope(actor: Actor) -> list[str] | None:
    """The subtrees whose topics staff list and remind (None: an admin's, everywhere)."""
    return None if actor.has_role(Role.ADMIN) else actor.scope_paths(Permission.PUBLISH_TOPIC)


def manages_topic(actor: Actor, target_paths: list[str]) -> bool:
    """Staff move, cancel or reopen a topic whose target units all lie within their scope
    (whoever created it: a scope that changed since counts as it is now); admins any."""
    if actor.person is None or not actor.allows(Permission.PUBLISH_TOPIC):
        return False
    if actor.has_role(Role.ADMIN):
        return True
    scope = actor.scope_paths(Permission.PUBLISH_TOPIC)
    return bool(target_paths) and all(any(path.startswith(own) for own in scope) for path in target_paths)


def reaches_topic(actor: Actor, target_paths: list[str]) -> bool:
    """Staff with a unit among a topic's (a roll-call's reader) remind its silent within
    their scope; admins all."""
    if actor.person is None or not actor.allows(Permission.PUBLISH_TOPIC):
        return False
    if actor.has_role(Role.ADMIN):
        return True
    scope = actor.scope_paths(Permission.PUBLISH_TOPIC)
    return any(path.startswith(own) or own.startswith(path) for path in target_paths for own in scope)


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
    if actor is not None and actor.person is not None and actor.person.status == PersonStatus.PENDING:
        # They opened an invite and have not finished: the way on is to finish, not to look
        # for another invite.
        return _("Please finish registering first: send /start to continue where you stopped.")
    if (actor is None or not actor.is_member) and permission is Permission.REPORT:
        return _(
            "You are not registered yet. To join the collaborator network, open the invite "
            "link that the staff of {board} sent you."
        ).format(board=board())
    if permission is Permission.VIEW_SUMMARY:
        return _("Sorry, the summary is only for leaders and staff.")
    if permission is Permission.MANAGE_SCHEDULE:
        return _("Sorry, this command is only for administrators.")
    if permission is Permission.REPORT:
        return _("Sorry, only registered collaborators can send reports.")
    return _("Sorry, this command is only for the staff of {board}.").format(board=board())

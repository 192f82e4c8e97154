from bot.access import Actor, Grant, Permission
from storage.models import Person, PersonStatus, Role, Unit


def _actor(*grants: Grant, status: str = PersonStatus.ACTIVE, unit_id: int | None = 2) -> Actor:
    person = Person(id=1, chat_id=10, status=status, unit_id=unit_id)
    return Actor(address=10, person=person, grants=grants)


def test_staff_scope_is_their_subtree() -> None:
    actor = _actor(Grant(role=Role.STAFF, unit_id=2, path="/1/2/"))
    assert actor.allows(Permission.PUBLISH_TOPIC)
    assert actor.can_act_on(Permission.PUBLISH_TOPIC, Unit(id=5, code="X", name="X", path="/1/2/5/"))
    assert not actor.can_act_on(Permission.PUBLISH_TOPIC, Unit(id=3, code="Y", name="Y", path="/1/3/"))
    assert not actor.can_act_on(Permission.PUBLISH_TOPIC, Unit(id=1, code="Z", name="Z", path="/1/"))
    assert actor.allows(Permission.VIEW_SUMMARY)  # staff write the monthly report (issue 19)


def test_nested_scopes_collapse_to_the_outer_one() -> None:
    actor = _actor(
        Grant(role=Role.STAFF, unit_id=2, path="/1/2/"), Grant(role=Role.ADMIN, unit_id=None, path="/")
    )
    assert actor.scope_paths(Permission.INVITE) == ["/"]


def test_a_collaborator_reports_but_does_not_publish() -> None:
    actor = _actor(Grant(role=Role.COLLABORATOR, unit_id=2, path="/1/2/"))
    assert actor.allows(Permission.REPORT)
    assert not actor.allows(Permission.PUBLISH_TOPIC)
    assert not actor.allows(Permission.INVITE)


def test_inactive_people_have_no_roles() -> None:
    actor = _actor(Grant(role=Role.STAFF, unit_id=2, path="/1/2/"), status=PersonStatus.INACTIVE)
    assert not actor.allows(Permission.PUBLISH_TOPIC)
    assert actor.scope_paths(Permission.PUBLISH_TOPIC) == []


def test_reporting_needs_a_unit() -> None:
    actor = _actor(Grant(role=Role.ADMIN, unit_id=None, path="/"), unit_id=None)
    assert not actor.allows(Permission.REPORT)
    assert actor.allows(Permission.VIEW_SUMMARY)


def test_every_command_and_button_the_bot_registers_has_a_row_in_the_policy() -> None:
    """A new command or button without a row fails here (and the generated access test,
    tests/e2e/test_access.py, walks every row)."""
    from aiogram.filters import Command, CommandStart
    from aiogram.filters.callback_data import CallbackQueryFilter

    from bot.access import POLICY, button
    from handlers import routers

    registered: set[str] = set()
    for router in routers():
        for observer in (router.message, router.callback_query):
            for handler in observer.handlers:
                for filter_object in handler.filters or []:
                    check = filter_object.callback
                    if isinstance(check, CommandStart):
                        registered.add("/start")
                    elif isinstance(check, Command):
                        registered.update(f"/{command}" for command in check.commands)
                    elif isinstance(check, CallbackQueryFilter):
                        registered.add(button(check.callback_data.__prefix__))
    assert registered == set(POLICY)


def test_docs_access_md_shows_the_policy_table() -> None:
    from pathlib import Path

    from bot.access import policy_table

    docs = (Path(__file__).parents[3] / "docs" / "ACCESS.md").read_text(encoding="utf-8")
    assert policy_table() in docs, "regenerate the table in docs/ACCESS.md from bot.access.policy_table()"


def test_the_policy_itself() -> None:
    """A few rows read as sentences (the generated e2e test checks the bot against them all)."""
    from bot.access import POLICY, ChatKind

    province, district, other = (
        Unit(id=1, code="T", name="T", path="/1/"),
        Unit(id=2, code="A", name="A", path="/1/2/"),
        Unit(id=3, code="B", name="B", path="/1/3/"),
    )
    district_staff = _actor(Grant(role=Role.STAFF, unit_id=2, path="/1/2/"))
    leader = _actor(Grant(role=Role.LEADER, unit_id=2, path="/1/2/"))
    setup, summary, link = POLICY["/setup"], POLICY["/summary"], POLICY["/link"]
    assert setup.allows(district_staff, ChatKind.GROUP, district)
    assert not setup.allows(district_staff, ChatKind.GROUP, other)  # another district's group
    assert not setup.allows(district_staff, ChatKind.GROUP, province)  # the province's group
    assert setup.allows(district_staff, ChatKind.UNREGISTERED)
    assert not setup.allows(district_staff, ChatKind.PRIVATE)
    assert summary.allows(leader, ChatKind.GROUP, district) and not summary.allows(
        leader, ChatKind.GROUP, other
    )
    assert not summary.allows(leader, ChatKind.UNREGISTERED)
    assert not link.allows(None, ChatKind.PRIVATE)
    assert not link.allows(_actor(status=PersonStatus.PENDING), ChatKind.PRIVATE)
    assert link.allows(_actor(Grant(role=Role.COLLABORATOR, unit_id=2, path="/1/2/")), ChatKind.PRIVATE)


def test_every_menu_key_fits_its_column() -> None:
    """PostgreSQL enforces person.menu_key's 64 characters (SQLite does not: CI's PostgreSQL
    pass found the command list itself stored there)."""
    from itertools import combinations

    from bot.menus import menu_key
    from storage.models import Person

    limit = Person.model_fields["menu_key"].metadata
    width = next(item.max_length for item in limit if hasattr(item, "max_length"))
    roles = list(Role)
    for size in range(len(roles) + 1):
        for chosen in combinations(roles, size):
            assert len(menu_key(set(chosen), "vi")) <= width
    assert menu_key({Role.STAFF}, "vi") != menu_key({Role.LEADER}, "vi")

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
    assert not actor.allows(Permission.VIEW_SUMMARY)


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

"""The per-update actor query: one query for the person and their grants."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from storage import people
from storage.models import Person, PersonStatus, Role
from tests.unit.storage.databases import migrated_sqlite


async def test_person_with_grants_joins_the_session_like_an_orm_load(tmp_path: Path) -> None:
    engine, factory = await migrated_sqlite(tmp_path / "p.db")
    async with factory() as session:
        province = await people.create_unit(session=session, code="TINH", name="Tỉnh")
        district = await people.create_unit(session=session, code="HUYEN", name="Huyện", parent=province)
        person = Person(chat_id=42, full_name="Bình", status=PersonStatus.ACTIVE, unit_id=district.id)
        await people.add_person(session=session, person=person)
        await people.grant_role(session=session, person=person, role=Role.COLLABORATOR, unit_id=district.id)
        await people.grant_role(session=session, person=person, role=Role.STAFF, unit_id=province.id)
        await session.commit()
        ids = (province.path, district.path, person.id)

    async with factory() as session:
        loaded, grants = await people.person_with_grants(session=session, address=42)
        assert loaded is not None and loaded.full_name == "Bình"
        assert sorted(grants) == sorted(
            [("collaborator", district.id, ids[1]), ("staff", province.id, ids[0])]
        )
        assert await session.get(Person, ids[2]) is loaded  # the session's own instance
        loaded.locale = "en"
        session.add(loaded)
        await session.commit()  # an UPDATE: an INSERT would break the unique chat_id

    async with factory() as session:
        rows = (await session.exec(select(Person).where(Person.chat_id == 42))).all()
        assert [(row.id, row.locale) for row in rows] == [(ids[2], "en")]
        assert await people.person_with_grants(session=session, address=43) == (None, [])
    await engine.dispose()

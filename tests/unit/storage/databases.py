"""A migrated SQLite file opened the way the application opens it, for the storage tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from storage import people, reports
from storage.db import SessionFactory, create_engine, create_session_factory, upgrade_database
from storage.models import Draft, Person, PersonStatus


async def migrated_sqlite(path: Path, **engine_options: Any) -> tuple[AsyncEngine, SessionFactory]:
    engine = create_engine(f"sqlite+aiosqlite:///{path}", **engine_options)
    await upgrade_database(engine)
    return engine, create_session_factory(engine)


async def seed_person_with_draft(factory: SessionFactory) -> int:
    """A person (Telegram id 7) with an ad-hoc report draft at step 0; returns the draft's id."""
    async with factory() as session:
        person = Person(chat_id=7, full_name="An", status=PersonStatus.ACTIVE)
        await people.add_person(session=session, person=person)
        draft = await reports.save_draft(
            session=session, draft=Draft(person_id=person.id or 0, slot="report:adhoc", state={"step": 0})
        )
        await session.commit()
    assert draft.id is not None
    return draft.id

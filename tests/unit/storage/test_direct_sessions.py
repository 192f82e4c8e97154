"""Sessions run on their SQLite driver directly (`storage.db.run_directly`): prepared
statements and the ORM share one transaction; commit, rollback and discard end both and
always give the write gate back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import inbox, people, reports
from storage.db import (
    SessionFactory,
    begin_write,
    commit,
    create_engine,
    create_session_factory,
    direct_driver,
    discard_direct,
    rollback,
    run_directly,
)
from storage.models import Draft, Inbox, InboxStatus, Person, PersonStatus, Unit
from tests.unit.storage.databases import migrated_sqlite

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


async def _setup(tmp_path: Path) -> tuple[AsyncEngine, SessionFactory, int]:
    engine, factory = await migrated_sqlite(tmp_path / "d.db")
    async with factory() as session:
        person = Person(telegram_id=7, full_name="An", status=PersonStatus.ACTIVE)
        session.add(person)
        await begin_write(session)
        await session.flush()
        draft = await reports.save_draft(
            session=session, draft=Draft(person_id=person.id or 0, slot="report:adhoc", state={"step": 0})
        )
        await inbox.store_updates(session=session, rows=[(1, 7, "{}"), (2, 7, "{}")], now=NOW)
        await session.commit()
    assert draft.id is not None
    return engine, factory, draft.id


@asynccontextmanager
async def _direct(engine: AsyncEngine, factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """What the intake does for each update: a kept connection, a session run on it directly."""
    async with engine.connect() as connection, factory(bind=connection) as session:
        assert run_directly(session, connection)
        try:
            yield session
        finally:
            discard_direct(session)
        assert not connection.in_transaction()


async def _state(factory: SessionFactory, draft_id: int) -> tuple[dict[str, int], list[str]]:
    async with factory() as session:
        draft = await reports.get_draft(session=session, draft_id=draft_id)
        statuses = (await session.exec(select(Inbox.status).order_by(Inbox.update_id))).all()
    assert draft is not None
    return draft.state, [str(status) for status in statuses]


async def _gate_is_free(factory: SessionFactory) -> None:
    """Another transaction can take the write gate (it would wait forever if it leaked)."""
    async with factory() as session:
        await asyncio.wait_for(begin_write(session), timeout=2)
        await session.rollback()


async def _press(session: AsyncSession, draft_id: int) -> None:
    """A button press's database work: actor, draft read, draft staged, inbox row done."""
    person, _grants = await people.person_with_grants(session=session, telegram_id=7)
    assert person is not None
    draft = await reports.get_draft(session=session, draft_id=draft_id)
    assert draft is not None
    draft.state = {"step": 1}
    await reports.save_draft(session=session, draft=draft)
    await begin_write(session)
    await inbox.mark_done(session=session, update_id=1, now=NOW)


async def test_prepared_work_alone_is_committed_by_the_driver(tmp_path: Path) -> None:
    # The actor joins the session (`session.add`), which begins an ORM transaction without a
    # connection: committing that transaction alone would have committed nothing.
    engine, factory, draft_id = await _setup(tmp_path)
    async with _direct(engine, factory) as session:
        await _press(session, draft_id)
        assert session.in_transaction()
        await commit(session)
        assert direct_driver(session) is not None and not direct_driver(session).connection.in_transaction
    assert await _state(factory, draft_id) == ({"step": 1}, [InboxStatus.DONE, InboxStatus.PENDING])
    await _gate_is_free(factory)
    await engine.dispose()


async def test_orm_and_prepared_writes_commit_together(tmp_path: Path) -> None:
    engine, factory, draft_id = await _setup(tmp_path)
    async with _direct(engine, factory) as session:
        await _press(session, draft_id)
        session.add(Unit(code="HUYEN", name="Huyện", path="/9/"))
        await commit(session)
    assert await _state(factory, draft_id) == ({"step": 1}, [InboxStatus.DONE, InboxStatus.PENDING])
    async with factory() as session:
        assert (await session.exec(select(Unit.name).where(Unit.code == "HUYEN"))).one() == "Huyện"
    await _gate_is_free(factory)
    await engine.dispose()


async def test_rollback_drops_orm_and_prepared_writes(tmp_path: Path) -> None:
    engine, factory, draft_id = await _setup(tmp_path)
    async with _direct(engine, factory) as session:
        await _press(session, draft_id)
        session.add(Unit(code="HUYEN", name="Huyện", path="/9/"))
        await session.flush()
        await rollback(session)
    assert await _state(factory, draft_id) == ({"step": 0}, [InboxStatus.PENDING, InboxStatus.PENDING])
    async with factory() as session:
        assert (await session.exec(select(Unit).where(Unit.code == "HUYEN"))).first() is None
    await _gate_is_free(factory)
    await engine.dispose()


async def test_an_update_abandoned_half_way_leaves_nothing_behind(tmp_path: Path) -> None:
    # A cancelled update ends in `discard_direct` only: its write is undone, the gate freed.
    engine, factory, draft_id = await _setup(tmp_path)
    async with engine.connect() as connection:
        async with factory(bind=connection) as session:
            assert run_directly(session, connection)
            await _press(session, draft_id)
            assert direct_driver(session).connection.in_transaction  # type: ignore[union-attr]
            discard_direct(session)
            assert not direct_driver(session).connection.in_transaction  # type: ignore[union-attr]
        await _gate_is_free(factory)
        # The same connection serves the next update as if nothing had happened.
        async with factory(bind=connection) as session:
            assert run_directly(session, connection)
            await _press(session, draft_id)
            await commit(session)
    assert await _state(factory, draft_id) == ({"step": 1}, [InboxStatus.DONE, InboxStatus.PENDING])
    await engine.dispose()


async def test_only_the_inline_sqlite_driver_is_run_directly() -> None:
    engine = create_engine("sqlite+aiosqlite:///:memory:")  # aiosqlite's own driver
    factory = create_session_factory(engine)
    async with engine.connect() as connection, factory(bind=connection) as session:
        assert not run_directly(session, connection)
        assert direct_driver(session) is None
    await engine.dispose()

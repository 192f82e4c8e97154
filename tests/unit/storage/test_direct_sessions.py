"""Sessions run on their SQLite driver directly (`storage.db.run_directly`): prepared
statements and the ORM share one transaction; commit, rollback and discard end both and
always give the write gate back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import inbox, people, reports, topics
from storage.db import (
    SessionFactory,
    begin_write,
    commit,
    create_engine,
    create_session_factory,
    direct_driver,
    discard_direct,
    leftover_on_driver,
    rollback,
    run_directly,
)
from storage.models import Inbox, InboxStatus, Report, ReportAnswer, Topic, Unit
from tests.unit.storage.databases import migrated_sqlite, seed_person_with_draft

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


async def _setup(tmp_path: Path) -> tuple[AsyncEngine, SessionFactory, int]:
    engine, factory = await migrated_sqlite(tmp_path / "d.db")
    draft_id = await seed_person_with_draft(factory)
    async with factory() as session:
        await begin_write(session)
        await inbox.store_updates(session=session, rows=[(1, 7, "{}"), (2, 7, "{}")], now=NOW)
        await session.commit()
    return engine, factory, draft_id


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


async def test_after_commit_listeners_hear_a_direct_commit(tmp_path: Path) -> None:
    """The outbox wakes its sender from the ORM's after_commit: a session with a listener
    commits through the ORM even when its writes were all prepared statements."""
    engine, factory, draft_id = await _setup(tmp_path)
    heard: list[str] = []
    async with _direct(engine, factory) as session:
        await _press(session, draft_id)
        event.listen(session.sync_session, "after_commit", lambda _s: heard.append("committed"), once=True)
        await commit(session)
        assert not direct_driver(session).connection.in_transaction  # type: ignore[union-attr]
    assert heard == ["committed"]
    assert await _state(factory, draft_id) == ({"step": 1}, [InboxStatus.DONE, InboxStatus.PENDING])
    await _gate_is_free(factory)
    await engine.dispose()


async def test_an_open_driver_transaction_is_a_leftover(tmp_path: Path) -> None:
    engine, factory, draft_id = await _setup(tmp_path)
    async with engine.connect() as connection, factory(bind=connection) as session:
        assert run_directly(session, connection)
        assert not leftover_on_driver(connection)
        await _press(session, draft_id)
        assert leftover_on_driver(connection) and not connection.in_transaction()
        await commit(session)
        assert not leftover_on_driver(connection)
    await engine.dispose()


async def _private_report(session: AsyncSession, topic_id: int) -> Report | None:
    return await reports.get_private_report(session=session, person_id=1, topic_id=topic_id)


async def test_a_report_is_replaced_with_its_answers(tmp_path: Path) -> None:
    engine, factory, _draft_id = await _setup(tmp_path)
    async with factory() as session:
        unit = await people.create_unit(session=session, code="TINH", name="Tỉnh")
        form = await topics.ensure_form(session=session, key="f", version=1, title="F", definition={})
        topic = Topic(title="T", guidance="G", form_id=form.id or 0, period="2026-12", due_at=NOW)
        await topics.add_topic(session=session, topic=topic, target_unit_ids=[unit.id or 0])
        report = Report(
            person_id=1, unit_id=unit.id or 0, topic_id=topic.id, period="2026-12", source_update_id=1
        )
        await reports.save_report(session=session, report=report, choice_values=[("tam_trang", "on_dinh")])
        await session.commit()
    assert report.id is not None and topic.id is not None
    async with _direct(engine, factory) as session:
        earlier = await _private_report(session, topic.id)
        assert earlier is not None and earlier.id == report.id and earlier not in session
        earlier.revision += 1
        earlier.answers = {"tam_trang": "buc_xuc", "noi_dung": "Ý kiến <b>mới</b>"}
        earlier.source_update_id = 2
        await reports.save_report(
            session=session, report=earlier, choice_values=[("tam_trang", "buc_xuc"), ("muc_do", "khan_cap")]
        )
        await commit(session)
    async with factory() as session:
        stored = await _private_report(session, topic.id)
        answers = (await session.exec(select(ReportAnswer.question_key, ReportAnswer.value))).all()
    assert stored is not None and (stored.id, stored.revision, stored.source_update_id) == (report.id, 2, 2)
    assert stored.answers == {"tam_trang": "buc_xuc", "noi_dung": "Ý kiến <b>mới</b>"}
    assert sorted(answers) == [("muc_do", "khan_cap"), ("tam_trang", "buc_xuc")]
    await engine.dispose()


async def test_save_report_refuses_a_report_it_cannot_write_alone(tmp_path: Path) -> None:
    engine, factory, _draft_id = await _setup(tmp_path)
    async with factory() as session:
        unit = await people.create_unit(session=session, code="TINH", name="Tỉnh")
        attached = Report(person_id=1, unit_id=unit.id or 0, period="2026-12", source_update_id=5)
        session.add(attached)
        with pytest.raises(ValueError, match="belong to no session"):
            await reports.save_report(session=session, report=attached, choice_values=[])
        session.expunge(attached)
        gone = Report(id=999, person_id=1, unit_id=unit.id or 0, period="2026-12", source_update_id=6)
        with pytest.raises(LookupError, match="999"):
            await reports.save_report(session=session, report=gone, choice_values=[("tam_trang", "on_dinh")])
        await session.rollback()
    await engine.dispose()


async def test_a_row_expired_by_a_rollback_is_adopted_fresh(tmp_path: Path) -> None:
    engine, factory, _draft_id = await _setup(tmp_path)
    async with factory() as session:
        unit = await people.create_unit(session=session, code="TINH", name="Tỉnh")
        await session.commit()
    async with factory() as session:
        held = await session.get(Unit, unit.id)
        assert held is not None
        await session.rollback()  # expires everything the session holds
        again = await people.get_unit(session=session, unit_id=unit.id or 0)
        assert again is held and again.name == "Tỉnh" and again.path == f"/{unit.id}/"
    await engine.dispose()

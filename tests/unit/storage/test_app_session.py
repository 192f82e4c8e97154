"""Leaving a session: in place when it holds no transaction, a rollback when it does."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlmodel import select

from storage.db import AppSession, begin_write
from storage.models import Person, PersonStatus
from tests.unit.storage.databases import migrated_sqlite


async def test_a_committed_session_forgets_its_objects_and_frees_its_connection(tmp_path: Path) -> None:
    engine, factory = await migrated_sqlite(tmp_path / "s.db")
    async with factory() as session:
        assert isinstance(session, AppSession)
        person = Person(telegram_id=7, full_name="An", status=PersonStatus.ACTIVE)
        session.add(person)
        await begin_write(session)
        await session.commit()
        assert person in session and not session.in_transaction()
    assert person not in session
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    async with factory() as session:
        assert [p.full_name for p in (await session.exec(select(Person))).all()] == ["An"]
    await engine.dispose()


async def test_leaving_with_a_transaction_open_rolls_it_back_and_frees_the_gate(tmp_path: Path) -> None:
    engine, factory = await migrated_sqlite(tmp_path / "s.db")
    async with factory() as session:
        session.add(Person(telegram_id=8, full_name="Bình", status=PersonStatus.ACTIVE))
        await begin_write(session)
        await session.flush()
        assert session.in_transaction()
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    async with factory() as session:
        await asyncio.wait_for(begin_write(session), timeout=5)  # the gate was given back
        assert (await session.exec(select(Person))).all() == []
    await engine.dispose()

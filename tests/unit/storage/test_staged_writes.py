"""Draft writes staged for commit: written once with what the draft holds at commit,
dropped by a rollback, refused without the write gate."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import reports
from storage.db import begin_write, commit
from storage.models import Draft
from tests.unit.storage.databases import migrated_sqlite, seed_person_with_draft


async def _setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine, factory = await migrated_sqlite(tmp_path / "s.db")
    return engine, factory, await seed_person_with_draft(factory)


async def _session_commit(session: AsyncSession) -> None:
    await session.commit()


# `storage.db.commit` runs staged writes as prepared statements (the update path); a plain
# `session.commit()` runs them through SQLAlchemy in its before_commit hook.
COMMITS = pytest.mark.parametrize("commit_with", [commit, _session_commit], ids=["prepared", "session"])


@COMMITS
async def test_a_staged_draft_is_written_at_commit_with_its_latest_values(
    tmp_path: Path, commit_with: Callable[[AsyncSession], Awaitable[None]]
) -> None:
    engine, factory, draft_id = await _setup(tmp_path)
    async with factory() as session:
        draft = await reports.get_draft(session=session, draft_id=draft_id)
        assert draft is not None and draft.state == {"step": 0}
        draft.state = {"step": 1}
        await reports.save_draft(session=session, draft=draft)
        draft.prompt_message_id = 99  # changed after staging: still written
        await begin_write(session)
        await commit_with(session)
    async with factory() as session:
        stored = (await session.exec(select(Draft).where(Draft.id == draft_id))).one()
        assert (stored.state, stored.prompt_message_id) == ({"step": 1}, 99)
    await engine.dispose()


async def test_rollback_drops_staged_writes_and_delete_wins(tmp_path: Path) -> None:
    engine, factory, draft_id = await _setup(tmp_path)
    async with factory() as session:
        draft = await reports.get_draft(session=session, draft_id=draft_id)
        assert draft is not None
        draft.state = {"step": 5}
        await reports.save_draft(session=session, draft=draft)
        await session.rollback()
        await begin_write(session)
        await session.commit()  # nothing staged survives the rollback
    async with factory() as session:
        draft = await reports.get_draft(session=session, draft_id=draft_id)
        assert draft is not None and draft.state == {"step": 0}
        draft.state = {"step": 6}
        await reports.save_draft(session=session, draft=draft)
        await reports.delete_draft(session=session, draft=draft)
        await session.commit()
    async with factory() as session:
        assert await reports.get_draft(session=session, draft_id=draft_id) is None
    await engine.dispose()


@COMMITS
async def test_staged_writes_need_the_write_gate(
    tmp_path: Path, commit_with: Callable[[AsyncSession], Awaitable[None]]
) -> None:
    engine, factory, draft_id = await _setup(tmp_path)
    async with factory() as session:
        draft = await reports.get_draft(session=session, draft_id=draft_id)
        assert draft is not None
        await reports.save_draft(session=session, draft=draft)
        with pytest.raises(RuntimeError, match="write gate"):
            await commit_with(session)
    await engine.dispose()

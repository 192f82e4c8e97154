"""The inline SQLite driver: statements run on the loop's thread, waits never do.

Real files, a real second connection holding the write lock (as another process would).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import checkpoint_wal, create_engine, offloaded
from storage.sqlite_inline import InlineConnection


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    path = tmp_path / "inline.db"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    return path


def _thread_recorder() -> tuple[list[str], object]:
    seen: list[str] = []

    def record(value: object) -> object:
        seen.append(threading.current_thread().name)
        return value

    return seen, record


async def test_statements_run_on_the_loop_thread_and_offloaded_ones_do_not(db_file: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{db_file}")
    try:
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            assert isinstance(raw.driver_connection, InlineConnection)
            seen, record = _thread_recorder()
            raw.driver_connection._conn.create_function("record", 1, record)
            assert (await connection.execute(text("SELECT record('a')"))).scalar() == "a"
            with offloaded():
                assert (await connection.execute(text("SELECT record('b')"))).scalar() == "b"
            assert seen[0] == threading.current_thread().name
            assert seen[1] != threading.current_thread().name and seen[1].startswith("sqlite")
    finally:
        await engine.dispose()


async def test_a_locked_database_is_waited_for_off_the_loop(db_file: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{db_file}")
    holder = sqlite3.connect(db_file, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another writer, e.g. the CLI in another process
    holder.execute("INSERT INTO item (name) VALUES ('theirs')")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def release_later() -> None:
        await asyncio.sleep(0.3)
        await asyncio.to_thread(holder.execute, "COMMIT")

    try:
        ticking = asyncio.create_task(ticker())
        releasing = asyncio.create_task(release_later())
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO item (name) VALUES ('ours')"))
        await releasing
        ticking.cancel()
        # The loop kept running while the insert waited for the other writer's lock.
        assert ticks >= 15
        async with engine.connect() as connection:
            names = (await connection.execute(text("SELECT name FROM item ORDER BY id"))).scalars().all()
        assert names == ["theirs", "ours"]
        async with engine.connect() as connection:
            assert (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 0
    finally:
        holder.close()
        await engine.dispose()


async def test_errors_rollback_and_checkpoint(db_file: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{db_file}")
    try:
        with pytest.raises(Exception, match="no such table"):
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO item (name) VALUES ('kept?')"))
                await connection.execute(text("SELECT * FROM missing"))
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM item"))).scalar() == 0
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO item (name) VALUES ('x')"))
            result = await connection.execute(
                text("INSERT INTO item (name) VALUES (:name)"), [{"name": "y"}, {"name": "z"}]
            )
            assert result.rowcount == 2
        await checkpoint_wal(engine)
    finally:
        await engine.dispose()
    # Everything committed reached the database file: a plain connection sees it.
    with sqlite3.connect(db_file) as connection:
        assert [row[0] for row in connection.execute("SELECT name FROM item ORDER BY id")] == ["x", "y", "z"]

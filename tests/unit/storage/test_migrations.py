"""The models and the migrations describe the same schema (no autogenerate drift)."""

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

import storage.models  # noqa: F401
from storage.db import create_engine, upgrade_database


async def test_migrations_match_models(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        await upgrade_database(engine)
        async with engine.connect() as connection:

            def diff(sync_connection):  # type: ignore[no-untyped-def]
                context = MigrationContext.configure(sync_connection, opts={"compare_type": True})
                return compare_metadata(context, SQLModel.metadata)

            assert await connection.run_sync(diff) == []
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {"inbox", "report", "report_answer", "draft", "topic_post", "invite"} <= tables
    finally:
        await engine.dispose()


async def test_upgrade_twice_is_harmless(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        await upgrade_database(engine)
        await upgrade_database(engine)
    finally:
        await engine.dispose()


async def test_people_of_earlier_versions_keep_their_telegram_identity(tmp_path: Path) -> None:
    """0004 renames telegram_id to chat_id and makes it each person's Telegram identity."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        await upgrade_database(engine, "0003")
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO person (telegram_id, full_name, status, reachability, created_at) "
                    "VALUES (123456789, 'An', 'active', 'active', '2026-01-01 00:00:00')"
                )
            )
        await upgrade_database(engine)
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    text(
                        "SELECT p.chat_id, i.address, i.channel FROM person p "
                        "JOIN person_identity i ON i.person_id = p.id"
                    )
                )
            ).all()
        assert [tuple(row) for row in rows] == [(123456789, 123456789, "telegram")]
    finally:
        await engine.dispose()


async def test_the_sqlite_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """Issue 18: the database (names, phones, reports) was created world-readable."""
    path = tmp_path / "private.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade_database(engine)
        modes = _modes(tmp_path)
    finally:
        await engine.dispose()
    assert modes["private.db"] == 0o600
    assert all(mode == 0o600 for mode in modes.values()), modes
    _loosen(path)  # an older file is tightened at the next start
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await engine.dispose()
    assert _modes(tmp_path)["private.db"] == 0o600


def _modes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()}


def _loosen(path: Path) -> None:
    path.chmod(0o644)


async def test_reports_of_earlier_versions_keep_their_proposals(tmp_path: Path) -> None:
    """0006 copies each report's "de_xuat" answer into report.proposal, for /summary."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        await upgrade_database(engine, "0005")
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO unit (id, code, name, path, created_at) "
                    "VALUES (1, 'TINH', 'Tỉnh', '/1/', '2026-01-01 00:00:00')"
                )
            )
            await connection.execute(
                text(
                    "INSERT INTO person (id, chat_id, full_name, status, reachability, created_at) "
                    "VALUES (1, 5, 'An', 'active', 'active', '2026-01-01 00:00:00')"
                )
            )
            for report_id, answers in (
                (1, '{"noi_dung": "Ý kiến", "de_xuat": "  Đề nghị đối thoại  "}'),
                (2, '{"noi_dung": "Ý kiến"}'),
                (3, '{"de_xuat": "   "}'),
            ):
                await connection.execute(
                    text(
                        "INSERT INTO report (id, person_id, unit_id, channel, answers, period, status, "
                        "revision, source_update_id, submitted_at, updated_at) VALUES (:id, 1, 1, 'private', "
                        ":answers, '2026-11', 'new', 1, :id, '2026-11-02 00:00:00', '2026-11-02 00:00:00')"
                    ),
                    {"id": report_id, "answers": answers},
                )
        await upgrade_database(engine)
        async with engine.connect() as connection:
            rows = (await connection.execute(text("SELECT id, proposal FROM report ORDER BY id"))).all()
        assert [tuple(row) for row in rows] == [(1, "Đề nghị đối thoại"), (2, None), (3, None)]
    finally:
        await engine.dispose()


async def test_topics_of_earlier_versions_keep_the_numbers_people_were_shown(tmp_path: Path) -> None:
    """0007 keeps the numbers people were shown (the ids) for topics stored before; new ones
    go on from the largest number of their kind (storage/topics.py)."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        await upgrade_database(engine, "0006")
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO form (id, key, version, title, definition, created_at) VALUES (1, 'f', 1, 'F', '{}', '2026-01-01')"
                )
            )
            for topic_id, kind in enumerate(["monthly", "urgent", "monthly", "urgent", "urgent"], start=1):
                await connection.execute(
                    text(
                        "INSERT INTO topic (id, kind, title, guidance, form_id, period, due_at, status, created_at) "
                        "VALUES (:id, :kind, 'T', 'G', 1, '2026-11', '2026-11-30', 'published', '2026-11-01')"
                    ),
                    {"id": topic_id, "kind": kind},
                )
        await upgrade_database(engine)
        async with engine.connect() as connection:
            rows = (await connection.execute(text("SELECT id, kind, number FROM topic ORDER BY id"))).all()
        assert [tuple(row) for row in rows] == [
            (1, "monthly", 1),
            (2, "urgent", 2),
            (3, "monthly", 3),
            (4, "urgent", 4),
            (5, "urgent", 5),
        ]
    finally:
        await engine.dispose()


async def test_a_table_rebuilt_by_a_migration_keeps_the_rows_that_point_at_it(tmp_path: Path) -> None:
    """SQLite rebuilds `topic` (0005, 0007) by copy, drop and rename: with foreign keys on,
    dropping it failed as soon as a report or a target pointed at a topic."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        await upgrade_database(engine, "0004")
        async with engine.begin() as connection:
            for statement in (
                "INSERT INTO unit (id, code, name, path, created_at) VALUES (1, 'T', 'Tỉnh', '/1/', '2026-01-01')",
                "INSERT INTO form (id, key, version, title, definition, created_at) "
                "VALUES (1, 'f', 1, 'F', '{}', '2026-01-01')",
                "INSERT INTO topic (id, kind, title, guidance, form_id, period, due_at, status, created_at) "
                "VALUES (1, 'monthly', 'T', 'G', 1, '2026-11', '2026-11-30', 'published', '2026-11-01')",
                "INSERT INTO topic_target (topic_id, unit_id) VALUES (1, 1)",
            ):
                await connection.execute(text(statement))
        await upgrade_database(engine)
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT number FROM topic"))).scalar_one() == 1
            assert (await connection.execute(text("SELECT count(*) FROM topic_target"))).scalar_one() == 1
            # and foreign keys are on again for the connections that follow
            assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
    finally:
        await engine.dispose()

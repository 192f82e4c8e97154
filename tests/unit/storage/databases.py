"""A migrated SQLite file opened the way the application opens it, for the storage tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import SessionFactory, create_engine, create_session_factory, upgrade_database


async def migrated_sqlite(path: Path, **engine_options: Any) -> tuple[AsyncEngine, SessionFactory]:
    engine = create_engine(f"sqlite+aiosqlite:///{path}", **engine_options)
    await upgrade_database(engine)
    return engine, create_session_factory(engine)

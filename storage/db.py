"""Engine and sessions: one session type, one rule for writes.

A unit of work is `async with session_factory() as session: … await session.commit()`.
Functions in `storage/` take the session and never commit; the caller commits once, and
makes no network call while its transaction is open (DESIGN.md, "How an update flows").

SQLite has one writer. The engine keeps a single connection for it, so transactions of
this process queue for the connection in order (FIFO, on the event loop) instead of
meeting in SQLite's busy handler, and every transaction starts with BEGIN IMMEDIATE, so one
that reads before it writes cannot fail half-way when another process wrote in between
(SQLAlchemy's documented recipe for pysqlite/aiosqlite). Other processes (the CLI, a second
bot) are waited for up to the busy timeout. PostgreSQL gets an ordinary pool.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# How long a statement waits for another process's write lock before it fails (and the
# caller retries the whole unit of work later, with backoff).
SQLITE_BUSY_TIMEOUT_MS = 10_000

log = logging.getLogger(__name__)

SessionFactory = async_sessionmaker[AsyncSession]


def sqlite_file(url: str) -> Path | None:
    """The file behind a SQLite URL (None for another database or an in-memory one)."""
    for prefix in ("sqlite+aiosqlite:///", "sqlite:///"):
        if url.startswith(prefix) and not url.endswith(":memory:"):
            return Path(url[len(prefix) :])
    return None


def create_engine(
    url: str, *, echo: bool = False, pool_size: int = 10, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS
) -> AsyncEngine:
    """The async engine for a URL; creates a SQLite file's folder if needed."""
    kwargs: dict[str, Any] = {"echo": echo}
    if url.startswith("sqlite"):
        path = sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            _owner_only(path)
            # One connection: SQLite serialises writers anyway, and a pool queue is fair
            # and costs no sleeping (see the module docstring).
            kwargs.update(pool_size=1, max_overflow=0, pool_timeout=60)
    else:
        kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):

        def connect(dbapi_connection: Any, _record: Any) -> None:
            _sqlite_connect(dbapi_connection, busy_timeout_ms)

        event.listen(engine.sync_engine, "connect", connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def _owner_only(path: Path) -> None:
    """The database holds people's names, phones and reports: readable by its owner only
    (SQLite creates its -wal and -shm files with the database file's permissions)."""
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(descriptor)
        for suffix in ("", "-wal", "-shm"):
            sibling = path.with_name(path.name + suffix)
            if sibling.exists():
                sibling.chmod(0o600)
    except OSError as error:  # a file that cannot be opened now is the connection's to report (and wait out)
        log.warning("could not restrict the permissions of %s: %s", path, error)


def _sqlite_connect(dbapi_connection: Any, busy_timeout_ms: int) -> None:
    # The driver must not emit its own BEGIN: `_sqlite_begin` does (IMMEDIATE).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers in other processes run beside the writer; NORMAL sync is durable in
    # WAL mode against process crashes (only an OS crash can lose the last transactions).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    """Objects stay readable after commit (`expire_on_commit=False`): the sender and the
    renderers use what a unit of work loaded after it has committed."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def alembic_config() -> Config:
    """Alembic configured in code: the project keeps no alembic.ini at the top level."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


async def upgrade_database(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations through the given engine (used by the CLI, the app and tests)."""

    def _upgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            # A migration that rebuilds a table (SQLite's batch mode: copy, drop, rename) must
            # run with foreign keys off, or dropping a table that rows point at fails; the
            # pragma is a no-op inside a transaction, so it is set on the driver, before BEGIN.
            await driver.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            async with connection.begin():
                await connection.run_sync(_upgrade)
                if sqlite:
                    broken = (await connection.exec_driver_sql("PRAGMA foreign_key_check")).all()
                    if broken:
                        raise RuntimeError(f"the migration left rows pointing at nothing: {broken[:5]}")
        finally:
            if sqlite:
                await driver.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


async def create_database(admin_url: str, name: str, *, template: str | None = None) -> str:
    """Create a PostgreSQL database on the server `admin_url` reaches (a copy of `template`,
    if given); returns its URL. For the test harness and the benchmarks, which give each run
    a database of its own."""
    await _on_server(admin_url, f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(url: str) -> None:
    """Drop the PostgreSQL database a URL names (connected to the server's `postgres`)."""
    parsed = make_url(url)
    admin_url = parsed.set(database="postgres").render_as_string(hide_password=False)
    await _on_server(admin_url, f"DROP DATABASE IF EXISTS {parsed.database} WITH (FORCE)")


async def _on_server(admin_url: str, statement: str) -> None:
    engine = create_async_engine(admin_url)
    try:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(statement))
    finally:
        await engine.dispose()

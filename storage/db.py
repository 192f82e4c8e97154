"""Engine and sessions. SQLite gets WAL, foreign keys and a busy timeout on every connection."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import sqlite_inline

if TYPE_CHECKING:
    from storage.prepared import Prepared

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

log = logging.getLogger(__name__)

# Queries whose cost grows with the data (analytics, exports) run inside this, so on SQLite
# they go to a worker thread instead of the event loop's (a no-op for PostgreSQL).
offloaded = sqlite_inline.offloaded

SessionFactory = async_sessionmaker[AsyncSession]


def _sqlite_file(url: str) -> Path | None:
    for prefix in ("sqlite+aiosqlite:///", "sqlite:///"):
        if url.startswith(prefix) and not url.endswith(":memory:"):
            return Path(url[len(prefix) :])
    return None


def create_engine(url: str, *, echo: bool = False, pool_size: int = 20) -> AsyncEngine:
    """Build the async engine; creates the SQLite file's folder if needed.

    A SQLite file is opened through `storage.sqlite_inline`: short statements run on the
    event loop's thread instead of a hand-off to a worker thread per call."""
    kwargs: dict[str, Any] = {"echo": echo}
    sqlite_file = _sqlite_file(url)
    if url.startswith("sqlite"):
        if sqlite_file is not None:
            sqlite_file.parent.mkdir(parents=True, exist_ok=True)
            path = str(sqlite_file)
            kwargs["async_creator"] = lambda: sqlite_inline.connect(path)
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = 0
        else:  # in memory: one connection, shared (SQLAlchemy's StaticPool), no pool to size
            kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_size"] = pool_size
        kwargs["max_overflow"] = 10
        kwargs["pool_pre_ping"] = True
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


# SQLite checkpoints the WAL inside whichever commit crosses this many pages (4 KiB each).
# The bot checkpoints on a worker thread every few seconds (`checkpoint_wal`), so in the bot
# this is only a safety net; short-lived tools checkpoint when they close.
AUTOCHECKPOINT_PAGES = 10_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the single writer; NORMAL sync is durable in WAL mode
    # against process crashes (only an OS crash can lose the last transactions).
    inline = isinstance(dbapi_connection.driver_connection, sqlite_inline.InlineConnection)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    if inline:
        # Never wait inside a call on the event loop: a locked database is waited for on
        # the connection's worker thread (see storage.sqlite_inline).
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
    else:
        cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


async def checkpoint_wal(engine: AsyncEngine) -> None:
    """Copy committed WAL pages into the database file, on a worker thread (it writes and
    fsyncs): the bot runs this periodically instead of inside a commit on the event loop."""
    if engine.dialect.name != "sqlite":
        return
    with sqlite_inline.offloaded():
        async with engine.connect() as connection:
            await connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


async def checkpoint_periodically(engine: AsyncEngine, interval: float = 2.0) -> None:
    """Run until cancelled. A passive checkpoint waits for nobody: pages still needed by an
    open read are left for the next round."""
    while True:
        await asyncio.sleep(interval)
        try:
            await checkpoint_wal(engine)
        except Exception:  # a missed round only leaves the WAL longer until the next
            log.exception("WAL checkpoint failed")


GATE_KEY = "write_gate"
HELD_KEY = "write_gate_held"


class WriteGate:
    """SQLite has a single writer. Transactions that write queue here, in order, instead of
    spinning in SQLite's busy handler (which sleeps 1, 2, 5 … 100 ms between tries and
    collapses throughput under contention). Taken at a transaction's first write, released
    when the transaction ends, whatever ends it."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    async def enter(self, session: AsyncSession) -> None:
        if session.info.get(HELD_KEY) is not None:
            return
        # Hold a pooled connection before queueing: a gate holder must never wait for the pool
        # while the sessions queued behind it keep every connection. (A session run on its
        # driver directly already holds one.)
        if DIRECT_KEY not in session.info:
            await transaction_connection(session)
        await self._lock.acquire()
        session.info[HELD_KEY] = self

    def release(self) -> None:
        self._lock.release()


STAGED_KEY = "staged_writes"


@dataclass(frozen=True)
class StagedWrite:
    """A prepared write and its parameters, read when the transaction commits."""

    statement: Prepared
    parameters: Callable[[], dict[str, Any]]


class GatedSession(Session):
    """A sync Session that gives the write gate back when its transaction ends."""


class AppSession(AsyncSession):
    """The async session every factory makes: leaving it closes in place when its
    transaction, if any, never took a connection.

    AsyncSession's exit runs `close` in a task of its own through the greenlet bridge so a
    cancellation cannot abandon a rollback half-way. Without a connection in its transaction
    there is nothing to roll back and no I/O, only the loaded objects to forget; every update
    paid a task and a turn of the event loop for that."""

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        if ORM_CONNECTED_KEY in self.info:
            await super().__aexit__(type_, value, traceback)
        else:  # no transaction, or one that never took a connection (adding an object begins one)
            self.sync_session.close()


def stage_write(session: AsyncSession, key: Hashable, write: StagedWrite | None) -> None:
    """Run `write` on the session's connection when the transaction commits, before the
    ORM flush; a later stage under the same key replaces it (None: nothing after all).

    For rows a handler changes early and often (drafts): the write, and so SQLite's single
    write lock, waits until the handler's Bot API calls are over, as an ORM flush at commit
    would, without the unit of work's cost. A rollback drops what was staged.
    """
    staged: dict[Hashable, StagedWrite | None] = session.info.setdefault(STAGED_KEY, {})
    staged[key] = write


def _take_staged(info: dict[Any, Any]) -> list[StagedWrite]:
    staged: dict[Hashable, StagedWrite | None] = info.pop(STAGED_KEY, {})
    writes = [write for write in staged.values() if write is not None]
    if writes and info.get(GATE_KEY) is not None and info.get(HELD_KEY) is None:
        raise RuntimeError("staged writes need the write gate: call begin_write before commit")
    return writes


async def commit(session: AsyncSession) -> None:
    """Commit, running the staged writes first as prepared statements (the update path).

    A session run on its driver directly (`run_directly`) whose work was all prepared
    statements has nothing for the ORM to do: the driver commits, and the ORM's transaction
    machinery is skipped. When the ORM has work (a connection in its transaction, objects to
    flush, or someone listening for its `after_commit`), the ORM commits, which commits the
    same driver connection; the driver then commits whatever the ORM did not. A direct
    session holds the write gate until the driver has committed."""
    for write in _take_staged(session.info):
        await write.statement.execute(session, write.parameters())
    direct: DirectDriver | None = session.info.get(DIRECT_KEY)
    if direct is None:
        await session.commit()
        return
    try:
        if _orm_has_work(session):
            await session.commit()
        if direct.connection.in_transaction:
            await direct.connection.commit()
    finally:
        _release_gate(session.info)


async def rollback(session: AsyncSession) -> None:
    """Roll back the ORM's transaction and, for a session run directly, the driver's."""
    try:
        await session.rollback()
    finally:
        discard_direct(session)


def _orm_has_work(session: AsyncSession) -> bool:
    """Whether the ORM's transaction has a connection, objects to flush, or `after_commit`
    listeners waiting (the outbox wakes its sender so). Its transaction alone says nothing:
    adding an object begins one without touching the database."""
    return (
        ORM_CONNECTED_KEY in session.info
        or bool(session.new or session.dirty or session.deleted)
        or bool(session.sync_session.dispatch.after_commit)
    )


def _release_gate(info: dict[Any, Any]) -> None:
    gate = info.pop(HELD_KEY, None)
    if gate is not None:
        gate.release()


@event.listens_for(GatedSession, "before_commit")
def _write_staged(session: Session) -> None:
    """Writes staged in a transaction committed with `session.commit()` rather than
    `commit(session)`: run through SQLAlchemy, which is slower but the same."""
    writes = _take_staged(session.info)
    if not writes:
        return
    connection = session.connection()
    for write in writes:
        connection.execute(write.statement.statement, write.parameters())


ORM_CONNECTED_KEY = "orm_connected"


@event.listens_for(GatedSession, "after_begin")
def _orm_connected(session: Session, _transaction: SessionTransaction, _connection: Connection) -> None:
    session.info[ORM_CONNECTED_KEY] = True


@event.listens_for(GatedSession, "after_transaction_end")
def _end_of_transaction(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(STAGED_KEY, None)
        session.info.pop(CONNECTION_KEY, None)
        session.info.pop(ORM_CONNECTED_KEY, None)
        if DIRECT_KEY not in session.info:  # a direct session's driver may still hold writes
            _release_gate(session.info)


DIRECT_KEY = "direct_driver"


@dataclass(frozen=True)
class DirectDriver:
    """The SQLite driver under a session bound to a connection its caller holds."""

    connection: sqlite_inline.InlineConnection
    dialect: Dialect


def run_directly(session: AsyncSession, connection: AsyncConnection) -> bool:
    """Let prepared statements and `commit` use the driver of `connection` (which the session
    is bound to) without going through the session; False where it cannot (not the inline
    SQLite driver).

    Why: for an update whose statements are all prepared (a button press), beginning and
    committing the ORM's transaction, each through SQLAlchemy's greenlet bridge, cost about
    twice the statements themselves. The driver connection is the same one the session
    would use, so its statements and the ORM's share one SQLite transaction: whichever
    commits (or rolls back) does so for both. The caller must end with `commit`, `rollback`
    or `discard_direct`, which also gives back the write gate that a direct transaction
    holds outside the ORM's knowledge.
    """
    driver = inline_driver(connection)
    if driver is None:
        return False
    session.info[DIRECT_KEY] = DirectDriver(driver, connection.dialect)
    return True


def direct_driver(session: AsyncSession) -> DirectDriver | None:
    direct: DirectDriver | None = session.info.get(DIRECT_KEY)
    return direct


def discard_direct(session: AsyncSession) -> None:
    """Roll back what the driver holds uncommitted and give back the write gate (synchronous,
    so it also runs when the update's task is cancelled, and never raises, so it cannot
    replace that cancellation).

    A driver still busy on its worker thread (a cancelled call that is waiting for SQLite's
    lock) cannot be rolled back here: `leftover_on_driver` then tells the connection's
    keeper to close it, which rolls back once the thread is done."""
    direct: DirectDriver | None = session.info.get(DIRECT_KEY)
    if direct is None:
        return
    session.info.pop(STAGED_KEY, None)
    try:
        if direct.connection.in_transaction:
            direct.connection.rollback_now()
    except Exception:
        log.exception("could not roll back an abandoned update; its connection will be closed")
    finally:
        _release_gate(session.info)


def leftover_on_driver(connection: AsyncConnection) -> bool:
    """Whether the inline driver under `connection` is still busy on its worker thread or
    holds a transaction that SQLAlchemy does not know of: such a connection must be closed,
    not reused."""
    driver = inline_driver(connection)
    return driver is not None and (driver.busy_in_thread or driver.in_transaction)


def inline_driver(connection: AsyncConnection) -> sqlite_inline.InlineConnection | None:
    """The `storage.sqlite_inline` driver under a live connection, if that is its driver."""
    sync_connection = connection.sync_connection
    if sync_connection is None or sync_connection.invalidated:
        return None
    driver = sync_connection.connection.driver_connection
    return driver if isinstance(driver, sqlite_inline.InlineConnection) else None


CONNECTION_KEY = "transaction_connection"


async def transaction_connection(session: AsyncSession) -> AsyncConnection:
    """The connection of the session's current transaction, remembered until it ends.

    `session.connection()` is a round trip through SQLAlchemy's greenlet bridge (about
    40 µs); the statements run for every update ask for it several times.
    """
    connection: AsyncConnection | None = session.info.get(CONNECTION_KEY)
    if connection is None:
        connection = await session.connection()
        if isinstance(session.sync_session, GatedSession):  # its transaction end clears it
            session.info[CONNECTION_KEY] = connection
    return connection


async def begin_write(session: AsyncSession) -> None:
    """Call before a transaction's first write (flush or UPDATE/DELETE/INSERT statement)."""
    gate: WriteGate | None = session.info.get(GATE_KEY)
    if gate is not None:
        await gate.enter(session)


async def flush(session: AsyncSession) -> None:
    """Write pending changes now (to get ids), taking the write gate first."""
    await begin_write(session)
    await session.flush()


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions without autoflush (writes happen where the code says so, through
    `begin_write`) and, on SQLite, sharing one write gate."""
    info = {GATE_KEY: WriteGate()} if engine.dialect.name == "sqlite" else {}
    return async_sessionmaker(
        engine,
        class_=AppSession,
        sync_session_class=GatedSession,
        expire_on_commit=False,
        autoflush=False,
        info=info,
    )


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

    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)

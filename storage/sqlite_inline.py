"""A SQLite driver connection for SQLAlchemy's aiosqlite dialect that runs short statements
on the event loop's own thread, and hands to a worker thread only what may wait.

Why: aiosqlite sends every call (open a cursor, execute, fetch, close, commit) to a worker
thread and back. On this project's machines one such hand-off costs 60–150 µs of CPU (queue,
thread wake-up, GIL hand-over, self-pipe), while the statements the bot runs per update
(a person by Telegram id, a draft by primary key, one-row updates, a WAL commit with
`synchronous=NORMAL`, which does not fsync) take 1–20 µs inside SQLite. A button press made
about 25 hand-offs: most of the database's cost was the hand-offs, not the database.

What still runs on a worker thread, so the event loop never waits:

- waiting for a lock: connections run with `busy_timeout=0`; a statement that finds the
  database locked by another connection (another process, or an engine without the write
  gate) is retried on the thread with SQLite's busy handler, which is what SQLite would
  have done inside the call;
- anything inside `offloaded()`: scans whose cost grows with the data (analytics, exports);
- closing the connection (the last close checkpoints the WAL) and WAL checkpoints, which
  the application runs periodically (`checkpoint_wal`) instead of SQLite's automatic
  checkpoint inside some commit.

The class implements the part of aiosqlite's API that SQLAlchemy's dialect uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

BUSY_WAIT_MS = 30_000

_offloaded: ContextVar[bool] = ContextVar("sqlite_offloaded", default=False)


@contextlib.contextmanager
def offloaded() -> Iterator[None]:
    """SQLite statements run inside go to a worker thread: for queries whose cost grows
    with the data (analytics, exports), which must not hold up the event loop."""
    token = _offloaded.set(True)
    try:
        yield
    finally:
        _offloaded.reset(token)


def _is_busy(error: sqlite3.OperationalError) -> bool:
    message = str(error)
    return "database is locked" in message or "database table is locked" in message


class InlineCursor:
    """aiosqlite's Cursor API over a sqlite3 cursor (what SQLAlchemy's adapter calls)."""

    def __init__(self, connection: InlineConnection, cursor: sqlite3.Cursor) -> None:
        self._owner = connection
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def __aiter__(self) -> InlineCursor:
        return self

    async def __anext__(self) -> Any:
        row = await self.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> InlineCursor:
        await self._owner._call(self._cursor.execute, sql, parameters if parameters is not None else ())
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> InlineCursor:
        await self._owner._call(self._cursor.executemany, sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return await self._owner._call(self._cursor.fetchone)

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        if size is None:
            return await self._owner._call(self._cursor.fetchmany)
        return await self._owner._call(self._cursor.fetchmany, size)

    async def fetchall(self) -> list[Any]:
        return await self._owner._call(self._cursor.fetchall)

    async def close(self) -> None:
        self._cursor.close()

    async def setinputsizes(self, *_sizes: Any) -> None:
        return None

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _InlineQueue:
    """SQLAlchemy's dialect sets `isolation_level` by posting (future, function) to
    aiosqlite's private queue; here the function runs at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as error:  # handed to the awaiting caller, as aiosqlite does
            if future is not None:
                future.set_exception(error)
            return
        if future is not None:
            future.set_result(result)


class InlineConnection:
    """aiosqlite's Connection API over a sqlite3 connection (see the module docstring)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn: sqlite3.Connection | None = connection
        self._tx = _InlineQueue()
        self._executor: ThreadPoolExecutor | None = None
        # Calls handed to the worker thread and not finished there, even if their caller
        # stopped waiting (cancelled): while there are any, every call goes to the thread
        # too, behind them, so the connection is never used by two threads at once.
        self._in_thread_calls = 0

    # SQLAlchemy's adapter checks `_connection` before commit and rollback.
    @property
    def _connection(self) -> sqlite3.Connection | None:
        return self._conn

    def _sqlite(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("no active connection")  # the text SQLAlchemy's dialect recognises
        return self._conn

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        if _offloaded.get() or self._in_thread_calls:
            return await self._in_thread(function, *args)
        try:
            return function(*args)
        except sqlite3.OperationalError as error:
            if not _is_busy(error):
                raise
        return await self._in_thread(self._waiting_for_lock, function, *args)

    def _waiting_for_lock(self, function: Callable[..., T], *args: Any) -> T:
        """On the worker thread: the call again, with SQLite's busy handler waiting."""
        connection = self._sqlite()
        connection.execute(f"PRAGMA busy_timeout={BUSY_WAIT_MS}")
        try:
            return function(*args)
        finally:
            connection.execute("PRAGMA busy_timeout=0")

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        # One thread per connection, created when first needed: sqlite3 objects are used by
        # one thread at a time, and the caller waits for the result before the next call.
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        loop = asyncio.get_running_loop()
        call = self._executor.submit(function, *args)
        self._in_thread_calls += 1
        # Counted down when the thread is done with it (or it was dropped before starting),
        # not when the awaiting task is cancelled.
        call.add_done_callback(lambda _call: _on_loop(loop, self._thread_call_done))
        return await asyncio.wrap_future(call, loop=loop)

    def _thread_call_done(self) -> None:
        self._in_thread_calls -= 1

    @property
    def busy_in_thread(self) -> bool:
        """Whether a call is still running (or queued) on the worker thread."""
        return self._in_thread_calls > 0

    async def fetch(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        """All rows of one statement, without a cursor object for the caller to manage."""
        return await self._call(self._fetch, sql, parameters)

    async def write(self, sql: str, parameters: Sequence[Any]) -> int:
        """Run one write; returns the number of rows it touched."""
        return await self._call(self._write, sql, parameters)

    def _fetch(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        cursor = self._sqlite().execute(sql, parameters)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()

    async def write_many(self, sql: str, parameter_sets: Sequence[Sequence[Any]]) -> int:
        """Run one write for each set of parameters; returns the number of rows touched."""
        return await self._call(self._write_many, sql, parameter_sets)

    def _write_many(self, sql: str, parameter_sets: Sequence[Sequence[Any]]) -> int:
        cursor = self._sqlite().executemany(sql, parameter_sets)
        try:
            return cursor.rowcount
        finally:
            cursor.close()

    def _write(self, sql: str, parameters: Sequence[Any]) -> int:
        cursor = self._sqlite().execute(sql, parameters)
        try:
            return cursor.rowcount
        finally:
            cursor.close()

    def cursor(self) -> InlineCursor:
        """SQLAlchemy enters what this returns (`async with`), as aiosqlite's cursor()."""
        return InlineCursor(self, self._sqlite().cursor())

    async def commit(self) -> None:
        await self._call(self._sqlite().commit)

    async def rollback(self) -> None:
        await self._call(self._sqlite().rollback)

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open on the driver (sqlite3 begins one before a write)."""
        return self._conn is not None and self._conn.in_transaction

    def rollback_now(self) -> bool:
        """Roll back at once, on the event loop's thread (usable while the task is being
        cancelled); a rollback takes no lock. Refuses, returning False, while a call is still
        running on the worker thread: sqlite3 would make this wait for it (up to the busy
        timeout) with the event loop stopped. The caller then closes the connection."""
        if self._in_thread_calls:
            return False
        if self._conn is not None:
            self._conn.rollback()
        return True

    async def create_function(
        self, name: str, num_params: int, func: Any, deterministic: bool = False
    ) -> None:
        self._sqlite().create_function(name, num_params, func, deterministic=deterministic)

    @property
    def isolation_level(self) -> str | None:
        return self._sqlite().isolation_level

    async def close(self) -> None:
        connection, self._conn = self._conn, None
        if connection is None:
            return
        try:
            # The last connection to close checkpoints the WAL (disk writes and fsync).
            await self._in_thread(connection.close)
        finally:
            self.stop()

    def stop(self) -> None:
        """Release the worker thread (SQLAlchemy's hard terminate also lands here)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None


def _on_loop(loop: asyncio.AbstractEventLoop, callback: Callable[[], Any]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is counting
        loop.call_soon_threadsafe(callback)


async def connect(path: str) -> InlineConnection:
    """Open the file the way SQLAlchemy's pysqlite dialect does, with no busy wait."""
    loop = asyncio.get_running_loop()
    # Opening may run WAL recovery after a crash: off the loop.
    connection = await loop.run_in_executor(
        None, lambda: sqlite3.connect(path, check_same_thread=False, timeout=0)
    )
    return InlineConnection(connection)

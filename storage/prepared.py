"""Statements the bot runs for every update, compiled once and run without SQLAlchemy's
per-call machinery where the driver allows it.

Why: a button press runs four short statements (the person, the draft, the draft written
back, the inbox row marked done). Through `AsyncConnection.execute` each cost 150–250 µs of
CPU in SQLAlchemy (greenlet hand-over, execution context, result wrapping) around 5–20 µs in
SQLite; on the SQLite file the bot opens with `storage.sqlite_inline` they now run on the
driver directly. The statement is still a Core statement built from the models (one source
of truth for the schema), compiled by SQLAlchemy for the dialect, and its values still go
through the column types' own bind and result processors, so what is stored and read back
is what SQLAlchemy would store and read. Elsewhere (PostgreSQL, in-memory SQLite) the same
object runs through SQLAlchemy as usual. A unit test runs every prepared statement of the
code base both ways and compares.

What this path skips: SQLAlchemy's `before_cursor_execute` events and echo logging.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import manager_of_class, set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.selectable import Select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import direct_driver, inline_driver, transaction_connection
from storage.sqlite_inline import InlineConnection

Processor = Callable[[Any], Any] | None
Row = tuple[Any, ...]
M = TypeVar("M")


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    literals: dict[str, Any]
    bind_processors: tuple[Processor, ...]
    result_processors: tuple[Processor, ...]


class Prepared:
    """A Core statement (select, insert, update or delete with named bind parameters).

    `keys` names the columns of the rows it returns: a select's, or a write's RETURNING."""

    def __init__(self, statement: Select[Any] | UpdateBase) -> None:
        self.statement = statement
        self._columns = tuple(
            statement.selected_columns if isinstance(statement, Select) else statement.exported_columns
        )
        self.keys: tuple[str, ...] = tuple(str(column.key) for column in self._columns)
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is not None:
            return found
        compiled = self.statement.compile(dialect=dialect)
        names = tuple(compiled.positiontup or ())
        binds: dict[str, BindParameter[Any]] = {name: compiled.binds[name] for name in names}
        if any(bind.expanding for bind in binds.values()):
            raise ValueError("IN lists (expanding parameters) are not supported by Prepared")
        literals = {name: bind.effective_value for name, bind in binds.items() if not bind.required}
        bind_processors = tuple(
            bind.type.dialect_impl(dialect).bind_processor(dialect) for bind in binds.values()
        )
        result_processors = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in self._columns
        )
        found = _Compiled(str(compiled), names, literals, bind_processors, result_processors)
        self._compiled[dialect.name] = found
        return found

    def _driver_parameters(self, compiled: _Compiled, params: dict[str, Any]) -> list[Any]:
        values = []
        for name, processor in zip(compiled.names, compiled.bind_processors, strict=True):
            value = params[name] if name in params else compiled.literals[name]
            values.append(processor(value) if processor is not None else value)
        return values

    @staticmethod
    def _processed(compiled: _Compiled, rows: Sequence[Sequence[Any]]) -> list[Row]:
        processors = compiled.result_processors
        if not any(processors):
            return [tuple(row) for row in rows]
        return [
            tuple(
                processor(value) if processor is not None else value
                for processor, value in zip(processors, row, strict=True)
            )
            for row in rows
        ]

    async def rows(self, session: AsyncSession, params: dict[str, Any] | None = None) -> list[Row]:
        """All rows, as tuples in the order of `keys`."""
        params = params or {}
        target = await _driver_of(session)
        if isinstance(target, AsyncConnection):
            return [tuple(row) for row in (await target.execute(self.statement, params)).all()]
        inline, dialect = target
        compiled = self._compile(dialect)
        rows = await inline.fetch(compiled.sql, self._driver_parameters(compiled, params))
        return self._processed(compiled, rows)

    async def first(self, session: AsyncSession, params: dict[str, Any] | None = None) -> Row | None:
        rows = await self.rows(session, params)
        return rows[0] if rows else None

    async def execute(self, session: AsyncSession, params: dict[str, Any] | None = None) -> int:
        """Run a write; returns the number of rows it touched. The caller holds the write gate."""
        params = params or {}
        target = await _driver_of(session)
        if isinstance(target, AsyncConnection):
            return int((await target.execute(self.statement, params)).rowcount)  # type: ignore[attr-defined]
        inline, dialect = target
        compiled = self._compile(dialect)
        return await inline.write(compiled.sql, self._driver_parameters(compiled, params))

    async def execute_many(self, session: AsyncSession, parameter_sets: Sequence[dict[str, Any]]) -> int:
        """Run a write once per set of parameters (one driver call); the caller holds the gate.
        Returns the rows touched as the driver counts them (asyncpg's may not)."""
        if not parameter_sets:
            return 0
        target = await _driver_of(session)
        if isinstance(target, AsyncConnection):
            return int((await target.execute(self.statement, list(parameter_sets))).rowcount)  # type: ignore[attr-defined]
        inline, dialect = target
        compiled = self._compile(dialect)
        return await inline.write_many(
            compiled.sql, [self._driver_parameters(compiled, params) for params in parameter_sets]
        )


async def _driver_of(session: AsyncSession) -> tuple[InlineConnection, Dialect] | AsyncConnection:
    """The inline driver (and dialect) to run on, or else the SQLAlchemy connection."""
    direct = direct_driver(session)
    if direct is not None:
        return direct.connection, direct.dialect
    connection = await transaction_connection(session)
    inline = inline_driver(connection)
    return connection if inline is None else (inline, connection.dialect)


def loaded(model: type[M], values: dict[str, Any]) -> M:
    """An instance as the ORM loads one (and then lets go of it): values set directly, no
    change history. SQLModel's constructor sets each field through SQLAlchemy's attribute
    events and pydantic's `__setattr__`, about 100 µs for a person; this is a few."""
    instance: M = manager_of_class(model).new_instance()
    instance.__dict__.update(values)
    make_transient_to_detached(instance)
    return instance


def adopted(session: AsyncSession, model: type[M], values: dict[str, Any]) -> M:
    """The row as the session's own object, as if the ORM had loaded it: the instance its
    identity map already holds, else a `loaded` one added to the session, whose changes
    flush as usual."""
    key = identity_key(model, tuple(values[column.key] for column in inspect(model).primary_key))
    held: M | None = session.sync_session.identity_map.get(key)
    if held is not None:
        # Expired (by a rollback): filled from the row just read, as session.get would
        # refresh it, instead of loading lazily (which async code cannot).
        for name in inspect(held).expired_attributes & values.keys():
            set_committed_value(held, name, values[name])
        return held
    instance = loaded(model, values)
    session.add(instance)
    return instance


async def first_loaded(
    session: AsyncSession, model: type[M], statement: Prepared, params: dict[str, Any]
) -> M | None:
    """The first row of `statement` as a `loaded` instance (belonging to no session), or None."""
    row = await statement.first(session, params)
    return None if row is None else loaded(model, dict(zip(statement.keys, row, strict=True)))


async def first_adopted(
    session: AsyncSession, model: type[M], statement: Prepared, params: dict[str, Any]
) -> M | None:
    """The first row of `statement` as the session's own object (`adopted`), or None."""
    row = await statement.first(session, params)
    return None if row is None else adopted(session, model, dict(zip(statement.keys, row, strict=True)))

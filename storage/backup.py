"""Backups that restore (issue 18): one file per backup, with a checksum beside it.

SQLite is copied with its online backup API, page by page from one read transaction, so
the bot goes on writing (WAL) while the copy is made and the copy is a consistent moment.
PostgreSQL is dumped with `pg_dump` in its custom format, restored with `pg_restore` in one
transaction. Either way the file is written under a temporary name, checksummed, and only
then given its final name: a backup cut off half-way never looks like one.

A restore trusts nothing: the checksum must match, a SQLite copy must pass SQLite's own
integrity check and be a DLXH database, and the target database must be empty (a restore
never merges into, or overwrites, a database that holds anything). Backups hold the same
personal data as the database: files readable by their owner only, in a folder only the
owner can list.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import inspect, make_url

from storage.db import create_engine, sqlite_file

SQLITE_SUFFIX = ".sqlite3"
POSTGRES_SUFFIX = ".pgdump"
CHECKSUM_SUFFIX = ".sha256"
PREFIX = "dlxh-"
BACKUP_NAME = re.compile(
    rf"^{PREFIX}(?P<stamp>\d{{8}}-\d{{6}})(?:-(?P<number>\d+))?(?:{SQLITE_SUFFIX}|{POSTGRES_SUFFIX})$"
)
PARTIAL_SUFFIX = ".partial"
STALE_PARTIAL_SECONDS = 24 * 3600
CHUNK = 1 << 20


class BackupError(Exception):
    """A backup or a restore that cannot go ahead; the message says why, for the operator."""


@dataclass(frozen=True)
class Backup:
    path: Path
    checksum: str
    size: int


def checksum_file(backup: Path) -> Path:
    return backup.with_name(backup.name + CHECKSUM_SUFFIX)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


async def backup(database_url: str, directory: Path, *, now: datetime) -> Backup:
    """Write a backup of the database into `directory`, named by the local time `now`."""
    try:
        return await _backup(database_url, directory, now=now)
    except (OSError, sqlite3.Error) as error:  # a full disk, a folder not ours, a locked file
        raise BackupError(f"the backup could not be written: {error}") from error


async def _backup(database_url: str, directory: Path, *, now: datetime) -> Backup:
    source = sqlite_file(database_url)
    if source is None and not database_url.startswith("postgresql"):
        raise BackupError(f"backups are made of SQLite files and PostgreSQL databases, not {database_url!r}")
    suffix = SQLITE_SUFFIX if source is not None else POSTGRES_SUFFIX
    final = await asyncio.to_thread(_reserve, directory, f"{PREFIX}{now:%Y%m%d-%H%M%S}", suffix)
    partial = final.with_name(final.name + PARTIAL_SUFFIX)
    try:
        if source is not None:
            await asyncio.to_thread(_copy_sqlite, source, partial)
        else:
            await _pg_dump(database_url, partial)
        return await asyncio.to_thread(_seal, partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        checksum_file(final).unlink(missing_ok=True)
        raise


def _reserve(directory: Path, stem: str, suffix: str) -> Path:
    """A free final name, with its temporary file created (owner only) in a private folder."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    final = directory / f"{stem}{suffix}"
    number = 1
    while any(
        path.exists() for path in (final, checksum_file(final), final.with_name(final.name + PARTIAL_SUFFIX))
    ):
        number += 1
        final = directory / f"{stem}-{number}{suffix}"
    _create_private(final.with_name(final.name + PARTIAL_SUFFIX))
    return final


def _seal(partial: Path, final: Path) -> Backup:
    """Checksum the finished copy, write the .sha256, then give the copy its final name."""
    checksum = sha256_of(partial)
    _sync(partial)
    marks = checksum_file(final)
    _create_private(marks)
    marks.write_text(f"{checksum}  {final.name}\n", encoding="ascii")
    _sync(marks)
    partial.rename(final)
    _sync(final.parent)  # the new names are on disk too
    return Backup(path=final, checksum=checksum, size=final.stat().st_size)


def verify(file: Path) -> str:
    """The file's checksum if it matches the one written beside it; else BackupError."""
    if not file.is_file():
        raise BackupError(f"there is no backup file at {file}")
    marks = checksum_file(file)
    if not marks.is_file():
        raise BackupError(f"{marks.name} is missing, so {file.name} cannot be checked")
    expected = marks.read_text(encoding="ascii", errors="replace").split(maxsplit=1)
    actual = sha256_of(file)
    if not expected or expected[0].lower() != actual:
        raise BackupError(f"{file.name} is damaged: its checksum does not match {marks.name}")
    return actual


async def restore(database_url: str, file: Path) -> None:
    """Restore a checked backup into the empty database `database_url` names (migrations
    newer than the backup are the caller's to apply next)."""
    try:
        await _restore(database_url, file)
    except (OSError, sqlite3.Error) as error:
        raise BackupError(f"the backup could not be restored: {error}") from error


async def _restore(database_url: str, file: Path) -> None:
    await asyncio.to_thread(verify, file)
    target = sqlite_file(database_url)
    if file.name.endswith(SQLITE_SUFFIX) != (target is not None):
        kind = "a SQLite" if file.name.endswith(SQLITE_SUFFIX) else "a PostgreSQL"
        raise BackupError(
            f"{file.name} is {kind} backup and cannot be restored into {_redacted(database_url)}"
        )
    await _require_empty(database_url)
    if target is not None:
        await asyncio.to_thread(_restore_sqlite, file, target)
    else:
        await _pg_restore(database_url, file)


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups (and their checksums); the removed ones."""
    found = [(BACKUP_NAME.match(path.name), path) for path in directory.glob(f"{PREFIX}*")]
    backups = sorted((match["stamp"], int(match["number"] or 1), path) for match, path in found if match)
    removed = [path for _, _, path in backups[: max(0, len(backups) - keep)]]
    for path in removed:
        path.unlink(missing_ok=True)
        checksum_file(path).unlink(missing_ok=True)
    # What a killed run left: a copy never finished (a day old: not one being written now)
    # and a checksum whose backup is gone. They hold personal data too.
    for path in directory.glob(f"{PREFIX}*{PARTIAL_SUFFIX}"):
        if time.time() - path.stat().st_mtime > STALE_PARTIAL_SECONDS:
            path.unlink(missing_ok=True)
    for marks in directory.glob(f"{PREFIX}*{CHECKSUM_SUFFIX}"):
        if not marks.with_name(marks.name.removesuffix(CHECKSUM_SUFFIX)).exists():
            marks.unlink(missing_ok=True)
    return removed


def _sync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _create_private(path: Path) -> None:
    descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(descriptor)


def _copy_sqlite(source: Path, destination: Path) -> None:
    if not source.exists():
        raise BackupError(f"there is no database file at {source}")
    # Only read from: the backup API takes the pages in one read transaction, which in WAL
    # mode the bot's writes go on beside.
    with closing(sqlite3.connect(source)) as live, closing(sqlite3.connect(destination)) as copy:
        live.backup(copy)
        # One self-contained file: the copy must not need a -wal file beside it.
        copy.execute("PRAGMA journal_mode=DELETE")
        _check_sqlite(copy, destination.name)


def _restore_sqlite(file: Path, target: Path) -> None:
    with closing(sqlite3.connect(file)) as saved:
        _check_sqlite(saved, file.name)
        with closing(sqlite3.connect(target)) as restored:
            saved.backup(restored)


def _check_sqlite(connection: sqlite3.Connection, name: str) -> None:
    try:
        result = connection.execute("PRAGMA integrity_check").fetchone()
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{name} is not a readable SQLite database: {error}") from error
    if not result or result[0] != "ok":
        raise BackupError(f"{name} fails SQLite's integrity check: {result[0] if result else 'no answer'}")
    if "alembic_version" not in tables:
        raise BackupError(f"{name} is not a DLXH database (it has no migration version)")


async def _require_empty(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await engine.dispose()
    if tables:
        raise BackupError(
            f"{_redacted(database_url)} is not empty ({len(tables)} tables): a backup is restored "
            "into an empty database only"
        )


def _pg_environment(database_url: str) -> dict[str, str]:
    """libpq's variables for the URL: the password stays out of the process list."""
    url = make_url(database_url)
    environment = dict(os.environ)
    for name, value in (
        ("PGHOST", url.host),
        ("PGPORT", url.port),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
        ("PGDATABASE", url.database),
    ):
        if value is not None:
            environment[name] = str(value)
    # What asyncpg's URL may carry that libpq reads from its own variables.
    query = {key: value if isinstance(value, str) else value[0] for key, value in url.query.items()}
    if "host" in query:
        environment["PGHOST"] = query["host"]
    ssl = query.get("sslmode") or query.get("ssl")
    if ssl:
        environment["PGSSLMODE"] = ssl
    return environment


async def _pg_dump(database_url: str, destination: Path) -> None:
    await _run(
        ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={destination}"],
        database_url,
        "pg_dump",
    )


async def _pg_restore(database_url: str, file: Path) -> None:
    database = make_url(database_url).database or ""
    await _run(
        [
            "pg_restore",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={database}",
            str(file),
        ],
        database_url,
        "pg_restore",
    )


async def _run(arguments: list[str], database_url: str, tool: str) -> None:
    try:
        process = await asyncio.create_subprocess_exec(
            *arguments,
            env=_pg_environment(database_url),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError as error:
        raise BackupError(f"{tool} is not installed (PostgreSQL's client tools are needed)") from error
    _, errors = await process.communicate()
    if process.returncode != 0:
        message = errors.decode("utf-8", errors="replace").strip()
        raise BackupError(f"{tool} failed (exit {process.returncode}): {message}")


def _redacted(database_url: str) -> str:
    return make_url(database_url).render_as_string(hide_password=True)

"""`dlxh`: run the bot and do the administrator's chores from a terminal."""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import signal
import socket
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import typer
from aiogram.exceptions import TelegramUnauthorizedError
from aiogram.utils.token import TokenValidationError
from pydantic import ValidationError
from sqlalchemy import make_url

from bot.channels.zalo_api import ZaloUnauthorized
from bot.config import Settings, get_settings
from bot.units import UnitImportError, decode_units_file, import_units, parse_units_csv
from storage import backup as backups
from storage import facts, inbox, people
from storage.db import create_engine, create_session_factory, sqlite_file, upgrade_database
from storage.models import Role

app = typer.Typer(help="DLXH Bot — public-opinion collaborator network on Telegram.", no_args_is_help=True)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
units_app = typer.Typer(help="Organisation units.", no_args_is_help=True)
inbox_app = typer.Typer(help="Updates that could not be handled.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(units_app, name="units")
app.add_typer(inbox_app, name="inbox")


F = TypeVar("F", bound=Callable[..., Any])


def explained(command: F) -> F:
    """A configuration mistake ends a command with one line per mistake, naming the setting
    and what to do, and exit code 2 (not a traceback); anything else is a bug and shows as one."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Exception as error:
            lines = configuration_problem(error)
            if lines is None:
                raise
            for line in lines:
                typer.echo(f"error: {line}", err=True)
            raise typer.Exit(2) from error

    return cast(F, run)


def configuration_problem(error: BaseException) -> list[str] | None:
    """What an operator can act on, for the errors a wrong setting causes. Narrow on purpose:
    anything else (a read-only folder, a damaged database) keeps its traceback, so it is not
    mistaken for a setting and left unrestarted."""
    if isinstance(error, ValidationError) and error.title == Settings.__name__:
        return [f"{_setting_name(problem['loc'])}: {_reason(problem['msg'])}" for problem in error.errors()]
    if isinstance(error, TokenValidationError):
        return ["BOT_TOKEN is not a Telegram bot token: it looks like 123456789:AAE…, as @BotFather gives it"]
    if isinstance(error, TelegramUnauthorizedError):
        return ["BOT_TOKEN was refused by Telegram (401 Unauthorized): copy the token from @BotFather again"]
    if isinstance(error, ZaloUnauthorized):
        return ["ZALO_BOT_TOKEN was refused by Zalo: copy the token from the Zalo Bot Platform again"]
    causes = _causes(error)  # SQLAlchemy wraps the driver's error, which wraps asyncpg's
    for cause in causes:
        if isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE:
            return [f"{cause.strerror or cause}: set SANDBOX_PORT (or WEBHOOK_PORT) to a free port"]
        if isinstance(cause, ConnectionRefusedError | socket.gaierror):
            return [f"the database in DATABASE_URL cannot be reached ({cause}): is PostgreSQL running there?"]
        if type(cause).__name__ in POSTGRES_REFUSALS:
            return [f"PostgreSQL refused the connection in DATABASE_URL: {cause}"]
    database = _sqlite_path()
    for cause in causes:
        unopenable = isinstance(cause, sqlite3.OperationalError) and "unable to open database file" in str(
            cause
        )
        on_its_path = (
            isinstance(cause, OSError)
            and database is not None
            and cause.filename is not None
            and Path(cause.filename).absolute() in (database, *database.parents)
        )
        if unopenable or on_its_path:
            return [f"DATABASE_URL: the SQLite file cannot be created or written at {database} ({cause})"]
    return None


# asyncpg's answers to a wrong user, password or database name.
POSTGRES_REFUSALS = {
    "InvalidPasswordError",
    "InvalidAuthorizationSpecificationError",
    "InvalidCatalogNameError",
}


def _causes(error: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in found and len(found) < 10:
        found.append(current)
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return found


def _sqlite_path() -> Path | None:
    try:
        url = get_settings().database_url
    except ValidationError:
        return None
    path = sqlite_file(url)
    return path.absolute() if path is not None else None


def _setting_name(location: tuple[int | str, ...]) -> str:
    return str(location[0]).upper() if location else "settings"


def _reason(message: str) -> str:
    return message.removeprefix("Value error, ")


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    # APScheduler says "Running job … executed successfully" at every tick; the jobs log what
    # they did themselves (bot.scheduling)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    if settings.sandbox_mode:  # the demo's transcript is the output; libraries speak up only to warn
        for name in ("aiogram", "aiohttp", "alembic", "bot", "schedules"):
            logging.getLogger(name).setLevel(logging.WARNING)


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def run_bot(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM: against Telegram with a token, else against the sandbox."""
    if settings.sandbox_mode:
        from bot.demo import run_sandbox

        await run_sandbox(settings, until=_wait_for_signal)
        return
    from bot.app import Application

    application = Application(settings=settings)
    try:
        await application.start()
    except BaseException:
        await application.stop()  # what start opened (the database, the HTTP sessions)
        raise
    try:
        await _wait_for_signal()
    finally:
        await application.stop()


@app.command()
@explained
def run() -> None:
    """Start the bot (long polling; the local sandbox and a demo month when BOT_TOKEN is empty)."""
    settings = get_settings()
    _logging(settings)
    asyncio.run(run_bot(settings))


@db_app.command("upgrade")
@explained
def db_upgrade() -> None:
    """Apply all migrations to DATABASE_URL."""
    settings = get_settings()

    async def _run() -> None:
        engine = create_engine(settings.database_url)
        try:
            await upgrade_database(engine)
        finally:
            await engine.dispose()

    asyncio.run(_run())
    typer.echo(f"database is up to date: {settings.database_url}")


@app.command()
@explained
def backup(
    to: Path | None = typer.Option(None, "--to", help="Folder to write into (default: BACKUP_DIR)."),
    keep: int | None = typer.Option(None, min=1, help="Backups to keep there (default: BACKUP_KEEP)."),
) -> None:
    """Back up the database while the bot runs: a timestamped file and its .sha256 beside it."""
    settings = get_settings()
    directory = to or settings.backup_dir
    try:
        written = asyncio.run(backups.backup(settings.database_url, directory, now=datetime.now(settings.tz)))
    except backups.BackupError as error:
        typer.echo(f"error: {error}; no backup was written", err=True)
        raise typer.Exit(2) from error
    removed = backups.prune(directory, keep or settings.backup_keep)
    typer.echo(f"backup written: {written.path} ({written.size} bytes, sha256 {written.checksum})")
    if removed:
        typer.echo(f"older backups removed: {len(removed)}")


@app.command()
@explained
def restore(
    file: Path = typer.Argument(..., help="A backup written by `dlxh backup` (its .sha256 beside it)."),
) -> None:
    """Restore a backup into the empty database DATABASE_URL names, then bring it up to date."""
    settings = get_settings()

    async def _run() -> None:
        await backups.restore(settings.database_url, file)
        engine = create_engine(settings.database_url)
        try:
            await upgrade_database(engine)
        finally:
            await engine.dispose()

    try:
        asyncio.run(_run())
    except backups.BackupError as error:
        typer.echo(f"error: {error}; nothing was restored", err=True)
        raise typer.Exit(2) from error
    typer.echo(f"restored {file.name} into {make_url(settings.database_url).render_as_string()}")


@inbox_app.command("failed")
@explained
def inbox_failed(limit: int = typer.Option(20, min=1, max=1000, help="How many, newest first.")) -> None:
    """List the updates that were set aside after failing, with their error."""
    settings = get_settings()

    async def _run() -> list[tuple[int, int, int, str, str]]:
        engine = create_engine(settings.database_url)
        try:
            await upgrade_database(engine)
            async with create_session_factory(engine)() as session:
                rows = await inbox.failed_rows(session=session, limit=limit)
                return [
                    (
                        row.update_id,
                        row.chat_key,
                        row.attempts,
                        row.received_at.strftime("%d/%m/%Y %H:%M"),
                        (row.error or "").splitlines()[0][:200] if row.error else "",
                    )
                    for row in rows
                ]
        finally:
            await engine.dispose()

    rows = asyncio.run(_run())
    if not rows:
        typer.echo("no failed updates")
        return
    for update_id, chat, attempts, received, error in rows:
        typer.echo(f"{update_id}\tchat {chat}\t{attempts} tries\treceived {received} UTC\t{error}")


@inbox_app.command("retry")
@explained
def inbox_retry(
    update_ids: list[int] = typer.Argument(None, help="Update ids, as `dlxh inbox failed` lists them."),
    all_failed: bool = typer.Option(False, "--all", help="Every failed update."),
) -> None:
    """Put failed updates back in the queue; the running bot handles them within 30 s."""
    if bool(update_ids) == all_failed:
        typer.echo("error: give update ids or --all (not both)", err=True)
        raise typer.Exit(2)
    settings = get_settings()

    async def _run() -> list[int]:
        engine = create_engine(settings.database_url)
        try:
            await upgrade_database(engine)
            async with create_session_factory(engine)() as session:
                found = await inbox.requeue_failed(
                    session=session, update_ids=None if all_failed else update_ids
                )
                await session.commit()
                return found
        finally:
            await engine.dispose()

    found = asyncio.run(_run())
    missing = sorted(set(update_ids or []) - set(found))
    if found:
        typer.echo(f"requeued {len(found)} update(s): {', '.join(map(str, found))}")
    if missing:
        typer.echo(f"error: not failed or not found: {', '.join(map(str, missing))}", err=True)
        raise typer.Exit(2)
    if not found:
        typer.echo("no failed updates")


@units_app.command("import")
@explained
def units_import(file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True)) -> None:
    """Import units from a CSV with the columns code, name, parent_code (UTF-8; commas or semicolons)."""
    settings = get_settings()
    try:
        rows = parse_units_csv(decode_units_file(file.read_bytes()))
    except UnitImportError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error

    async def _run() -> tuple[int, int]:
        engine = create_engine(settings.database_url)
        try:
            await upgrade_database(engine)
            async with create_session_factory(engine)() as session:
                result = await import_units(session=session, rows=rows)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    try:
        created, updated = asyncio.run(_run())
    except UnitImportError as error:
        typer.echo(f"error: {error}; nothing was imported", err=True)
        raise typer.Exit(2) from error
    typer.echo(f"units imported: {created} created, {updated} renamed")


@app.command()
@explained
def invite(
    unit: str = typer.Option(..., "--unit", help="Unit code, as in the units CSV."),
    uses: int = typer.Option(1, min=1, max=10000, help="How many people may use the link."),
    days: int = typer.Option(7, min=1, max=365, help="Days until the link expires."),
    role: Role = typer.Option(Role.COLLABORATOR, help="Role given to whoever registers with it."),
) -> None:
    """Create an invite link (for example the first staff member's, with --role staff)."""
    from bot.clock import SystemClock
    from bot.onboarding import create_invite

    settings = get_settings()

    async def _run() -> str | None:
        engine = create_engine(settings.database_url)
        try:
            await upgrade_database(engine)
            async with create_session_factory(engine)() as session:
                found = await people.get_unit_by_code(session=session, code=unit)
                if found is None:
                    known.extend(sorted(u.code for u in await people.list_units(session=session)))
                    return None
                _invite, token = await create_invite(
                    session=session,
                    unit=found,
                    created_by=None,
                    uses=uses,
                    days=days,
                    now=SystemClock().now(),
                    role=role,
                )
                await session.commit()
                return token
        finally:
            await engine.dispose()

    known: list[str] = []
    token = asyncio.run(_run())
    if token is None:
        listed = ", ".join(known[:40]) + (f" … ({len(known)} in all)" if len(known) > 40 else "")
        typer.echo(
            f"error: there is no unit with the code {unit!r}; "
            + (f"the codes are: {listed}" if known else "no units yet: run `dlxh units import FILE` first"),
            err=True,
        )
        raise typer.Exit(2)
    username, reached = asyncio.run(_bot_username(settings))
    if username:
        typer.echo(f"https://t.me/{username}?start={token}")
    else:
        typer.echo(f"/start {token}")
    typer.echo(f"code for Zalo: {token}")
    if not reached and settings.bot_token.get_secret_value():
        typer.echo(
            "note: Telegram could not be reached; "
            + (
                f"the link uses @{username}, the username the bot had when it last started"
                if username
                else "the bot's username is not known until the bot has started once: "
                "send the person /start with the code, or create the invite again later"
            ),
            err=True,
        )


async def _bot_username(settings: Settings) -> tuple[str | None, bool]:
    """The bot's Telegram username, and whether Telegram answered: from getMe, or, where
    Telegram cannot be reached (blocked in Vietnam without a VPN), as the running bot last
    saw it (bot_fact)."""
    if not settings.bot_token.get_secret_value():  # the sandbox, or Zalo alone
        return None, True
    from aiogram.exceptions import TelegramNetworkError, TelegramServerError

    from bot.telegram import create_bot

    bot = create_bot(settings)
    try:
        return (await asyncio.wait_for(bot.me(), timeout=10)).username, True
    except (
        TelegramNetworkError,
        TelegramServerError,
        TimeoutError,
        OSError,
    ):  # not reached (a refused token is not this)
        pass
    finally:
        await bot.session.close()
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            return await facts.recall(session=session, key=facts.TELEGRAM_USERNAME), False
    finally:
        await engine.dispose()


@app.command()
@explained
def sandbox(host: str = typer.Option("127.0.0.1"), port: int = typer.Option(8080)) -> None:
    """Run only the local Bot API sandbox."""
    from bot.sandbox.__main__ import main as sandbox_main

    sandbox_main(["--host", host, "--port", str(port)])


schedule_app = typer.Typer(
    help="Scheduled jobs: list them, change when they run, pause them.", no_args_is_help=True
)
app.add_typer(schedule_app, name="schedule")

RULE_PROBLEMS = {
    "empty": "write when it runs, e.g. '20,25 09:00', 'first monday 08:00', 'daily 03:00'",
    "no_time": "a time of day is missing, e.g. '20 09:00' or '20 9h'",
    "bad_time": "{value} is not a time of day (00:00 to 23:59)",
    "bad_day": "there is no day {value} in a month (1 to 31; 31 means the last day of a shorter month)",
    "no_day": "which days is missing: day numbers, 'last', 'first monday', or 'daily'",
    "no_fifth": "a month has four of each weekday for sure: use first to fourth, or 'last'",
    "unreadable": "'{value}' is not a rule: write e.g. '20,25 09:00', 'first monday 08:00', 'last 17:00' or 'daily 03:00'",
    "unknown_job": "there is no job '{job}'; the jobs are: {jobs}",
    "no_rule": "'{job}' has no rule of its own: it runs at each topic's own time (pause or resume it)",
}


def _runner(settings: Settings, engine: Any) -> Any:
    from bot.clock import SystemClock
    from bot.delivery.media import MediaStore
    from bot.scheduling import JobContext, JobRunner

    context = JobContext(settings=settings, clock=SystemClock(), media=MediaStore(settings.media_dir))
    return JobRunner(context=context, session_factory=create_session_factory(engine))


def _schedule_call(settings: Settings, job: str | None, change: Callable[[Any], Awaitable[Any]]) -> Any:
    from bot.scheduling import CATALOG, ScheduleError

    async def _run() -> Any:
        engine = create_engine(settings.database_url)
        try:
            await upgrade_database(engine)
            return await change(_runner(settings, engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(_run())
    except ScheduleError as error:
        code = error.rule_error.code if error.rule_error else str(error)
        params = dict(error.rule_error.params) if error.rule_error else {}
        message = RULE_PROBLEMS.get(code, code).format(job=job, jobs=", ".join(CATALOG), **params)
        typer.echo(f"error: {message}; nothing was changed", err=True)
        raise typer.Exit(2) from None


def _echo_state(state: Any, settings: Settings) -> None:
    if state.rule is None:
        rule, when = "(each topic's time)", "at each topic's time"
    else:
        rule, when = (
            state.rule.text,
            "next " + state.next_run.astimezone(settings.tz).strftime("%d/%m/%Y %H:%M"),
        )
    typer.echo(f"{state.info.name:<14} {rule:<22} {'paused' if state.paused else when}")


@schedule_app.command("list")
@explained
def schedule_list() -> None:
    """Every job, its rule, and its next run in the organisation's time zone."""
    settings = get_settings()
    for state in _schedule_call(settings, None, lambda runner: runner.states()):
        _echo_state(state, settings)
        typer.echo(f"{'':<14} {state.info.description}")


@schedule_app.command("set")
@explained
def schedule_set(
    job: str = typer.Argument(..., help="The job, as `dlxh schedule list` names it."),
    rule: str = typer.Argument(
        ..., help="e.g. '20,25 09:00', 'first monday 08:00', 'last 17:00', 'daily 03:00'."
    ),
) -> None:
    """Change when a job runs (from now on: times already past are not caught up)."""
    settings = get_settings()
    _echo_state(_schedule_call(settings, job, lambda runner: runner.set_rule(job, rule)), settings)


@schedule_app.command("pause")
@explained
def schedule_pause(job: str = typer.Argument(...)) -> None:
    """Stop a job until it is resumed."""
    settings = get_settings()
    _echo_state(_schedule_call(settings, job, lambda runner: runner.set_paused(job, True)), settings)


@schedule_app.command("resume")
@explained
def schedule_resume(job: str = typer.Argument(...)) -> None:
    """Run a paused job again (what it missed while paused is not caught up)."""
    settings = get_settings()
    _echo_state(_schedule_call(settings, job, lambda runner: runner.set_paused(job, False)), settings)

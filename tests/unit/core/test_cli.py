"""The `dlxh` commands an administrator runs: migrate, import units, create an invite."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app

runner = CliRunner()


def test_upgrade_import_and_invite(env: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0 and "up to date" in result.output
    csv = env / "units.csv"
    csv.write_text(
        "code,name,parent_code\nHUYEN_A,Huyện Bình Minh,TINH\nTINH,Tỉnh An Phú,\n", encoding="utf-8"
    )
    result = runner.invoke(app, ["units", "import", str(csv)])
    assert result.exit_code == 0 and "2 created" in result.output
    result = runner.invoke(app, ["units", "import", str(csv)])
    assert "0 created, 0 renamed" in result.output
    result = runner.invoke(app, ["invite", "--unit", "HUYEN_A", "--uses", "3", "--role", "staff"])
    assert result.exit_code == 0 and result.output.startswith("/start ")
    code = result.output.split()[1]
    assert f"code for Zalo: {code}" in result.output and len(code) == 11
    result = runner.invoke(app, ["invite", "--unit", "huyen_a"])
    assert result.exit_code == 2
    assert "no unit with the code 'huyen_a'; the codes are: HUYEN_A, TINH" in result.output


def test_bad_input_is_refused_and_nothing_changes(env: Path) -> None:
    bad = env / "bad.csv"
    bad.write_text("code,name,parent_code\nX,Xã,KHONG_CO\n", encoding="utf-8")
    result = runner.invoke(app, ["units", "import", str(bad)])
    assert result.exit_code == 2
    assert "line 2: the parent KHONG_CO of X is neither in the file nor imported before" in result.output
    result = runner.invoke(app, ["invite", "--unit", "NOPE"])
    assert result.exit_code == 2 and "no unit with the code 'NOPE'; no units yet" in result.output
    result = runner.invoke(app, ["invite", "--unit", "X", "--uses", "0"])
    assert result.exit_code == 2


def test_failed_updates_are_listed_and_requeued(env: Path) -> None:
    import asyncio

    from storage import inbox as inbox_queries
    from storage.db import create_engine, create_session_factory, upgrade_database
    from storage.models import Inbox, InboxStatus, utcnow

    async def seed() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{env / 'cli.db'}")
        await upgrade_database(engine)
        async with create_session_factory(engine)() as session:
            now = utcnow()
            await inbox_queries.store_updates(session=session, rows=[(7, 5, "{}"), (8, 5, "{}")], now=now)
            await inbox_queries.record_failure(
                session=session, update_id=7, error="RuntimeError: boom\ntrace", park=True, now=now
            )
            await session.commit()
        await engine.dispose()

    async def statuses() -> dict[int, str]:
        engine = create_engine(f"sqlite+aiosqlite:///{env / 'cli.db'}")
        async with create_session_factory(engine)() as session:
            rows = (await session.exec(select(Inbox))).all()
        await engine.dispose()
        return {row.update_id: row.status for row in rows}

    from sqlmodel import select

    asyncio.run(seed())
    result = runner.invoke(app, ["inbox", "failed"])
    assert (
        result.exit_code == 0
        and result.output.startswith("7\tchat 5\t1 tries")
        and "RuntimeError: boom" in result.output
    )
    assert "trace" not in result.output
    # Bad input: neither ids nor --all, an id that is not failed; nothing changes.
    assert runner.invoke(app, ["inbox", "retry"]).exit_code == 2
    result = runner.invoke(app, ["inbox", "retry", "8"])
    assert result.exit_code == 2 and "not failed or not found: 8" in result.output
    assert asyncio.run(statuses()) == {7: InboxStatus.FAILED, 8: InboxStatus.PENDING}
    result = runner.invoke(app, ["inbox", "retry", "--all"])
    assert result.exit_code == 0 and "requeued 1 update(s): 7" in result.output
    assert asyncio.run(statuses()) == {7: InboxStatus.PENDING, 8: InboxStatus.PENDING}
    assert runner.invoke(app, ["inbox", "failed"]).output.strip() == "no failed updates"


@pytest.mark.parametrize(
    ("setting", "value", "said"),
    [
        (
            "ADMIN_IDS",
            "12345,abc",
            "ADMIN_IDS: Telegram user ids are numbers, comma-separated; not a number: 'abc'",
        ),
        ("ORG_TIMEZONE", "Mars/Base", "ORG_TIMEZONE: 'Mars/Base' is not a time zone"),
        ("DATABASE_URL", "nonsense", "DATABASE_URL: 'this' is not a database URL the bot can use"),
        (
            "DATABASE_URL",
            "postgresql://dlxh:s3cret@db/dlxh",
            "'postgresql://dlxh:***@db/dlxh' is not a database URL",
        ),
        (
            "DATABASE_URL",
            "postgresql+asyncpg://u@127.0.0.1:1/x",
            "the database in DATABASE_URL cannot be reached",
        ),
        (
            "DATABASE_URL",
            "sqlite+aiosqlite:////proc/nowhere/x.db",
            "DATABASE_URL: the SQLite file cannot be created",
        ),
        ("DEFAULT_LOCALE", "fr", "DEFAULT_LOCALE: the languages are 'vi' and 'en'"),
    ],
)
def test_a_configuration_mistake_is_one_line_and_exit_2(
    env: Path, monkeypatch: pytest.MonkeyPatch, setting: str, value: str, said: str
) -> None:
    """Issue 19: the setting named, what to do, exit code 2, no traceback."""
    monkeypatch.setenv(setting, value)
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2, result.output
    assert said in result.output and "Traceback" not in result.output
    assert "s3cret" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_malformed_bot_token_and_a_busy_sandbox_port_are_named(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    monkeypatch.setenv("BOT_TOKEN", "not-a-token")
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 2 and "BOT_TOKEN is not a Telegram bot token" in result.output
    monkeypatch.setenv("BOT_TOKEN", "")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        monkeypatch.setenv("SANDBOX_PORT", str(busy.getsockname()[1]))
        monkeypatch.setenv("SANDBOX_DATABASE_URL", f"sqlite+aiosqlite:///{env / 'sandbox.db'}")
        result = runner.invoke(app, ["run"])
    assert result.exit_code == 2, result.output
    assert "set SANDBOX_PORT (or WEBHOOK_PORT) to a free port" in result.output


def test_units_as_excel_in_vietnam_saves_them(env: Path) -> None:
    """Issue 19: semicolons and a BOM are read; Windows-1258 is refused with what to do; a
    duplicate names both lines."""
    excel = env / "excel.csv"
    excel.write_bytes(
        "code;name;parent_code\r\nTINH;Tỉnh An Phú;\r\nXA_1;Xã Bình Minh;TINH\r\n".encode("utf-8-sig")
    )
    result = runner.invoke(app, ["units", "import", str(excel)])
    assert result.exit_code == 0 and "2 created" in result.output, result.output
    legacy = env / "legacy.csv"
    # "Xã Tân An" as Windows-1258 writes it: a, then its tilde as a combining mark (0xDE)
    legacy.write_bytes(b"code,name,parent_code\nXA_2,Xa\xde T\xe2n An,TINH\n")
    result = runner.invoke(app, ["units", "import", str(legacy)])
    assert result.exit_code == 2 and "CSV UTF-8" in result.output and "Windows-1258" in result.output
    twice = env / "twice.csv"
    twice.write_text(
        "code,name,parent_code\nXA_3,Xã Một,TINH\nXA_4,Xã Hai,TINH\nXA_3,Xã Ba,TINH\n", encoding="utf-8"
    )
    result = runner.invoke(app, ["units", "import", str(twice)])
    assert result.exit_code == 2 and "line 4: the code XA_3 is already on line 2" in result.output


def test_an_invite_is_made_while_telegram_cannot_be_reached(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Telegram is blocked in Vietnam: the link uses the username the bot last started with."""
    import asyncio

    from storage import facts
    from storage.db import create_engine, create_session_factory, upgrade_database
    from storage.models import utcnow

    monkeypatch.setenv("BOT_TOKEN", "123456:" + "A" * 35)
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:9")  # nothing listens there
    (env / "units.csv").write_text("code,name,parent_code\nTINH,Tỉnh An Phú,\n", encoding="utf-8")
    assert runner.invoke(app, ["units", "import", str(env / "units.csv")]).exit_code == 0
    result = runner.invoke(app, ["invite", "--unit", "TINH", "--role", "staff"])
    assert result.exit_code == 0 and result.stdout.startswith("/start ")
    assert "the bot's username is not known until the bot has started once" in result.stderr

    async def seen_at_start() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{env / 'cli.db'}")
        await upgrade_database(engine)
        async with create_session_factory(engine)() as session:
            await facts.remember(
                session=session, key=facts.TELEGRAM_USERNAME, value="dlxh_anphu_bot", now=utcnow()
            )
            await session.commit()
        await engine.dispose()

    asyncio.run(seen_at_start())
    result = runner.invoke(app, ["invite", "--unit", "TINH", "--role", "staff"])
    assert result.exit_code == 0 and result.stdout.startswith("https://t.me/dlxh_anphu_bot?start=")
    assert "the username the bot had when it last started" in result.stderr

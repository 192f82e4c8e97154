"""Webhook intake: refused without the secret header; otherwise stored before the 200."""

from pathlib import Path

from aiogram import Bot, Dispatcher
from aiohttp.test_utils import TestClient, TestServer

from bot.clock import SystemClock
from bot.intake.poller import Intake
from bot.intake.processor import InboxProcessor
from bot.intake.webhook import SECRET_HEADER, create_webhook_app
from storage.db import create_engine, create_session_factory, upgrade_database
from storage.models import Inbox

UPDATE = {
    "update_id": 77,
    "message": {
        "message_id": 1,
        "date": 0,
        "chat": {"id": 5, "type": "private"},
        "from": {"id": 5, "is_bot": False, "first_name": "A"},
        "text": "chào",
    },
}


async def test_webhook_needs_the_secret_and_writes_the_inbox_first(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    await upgrade_database(engine)
    factory = create_session_factory(engine)
    bot = Bot("1:test")
    processor = InboxProcessor(dispatcher=Dispatcher(), bot=bot, session_factory=factory, clock=SystemClock())
    intake = Intake(session_factory=factory, processor=processor, clock=SystemClock())
    client = TestClient(TestServer(create_webhook_app(bot=bot, intake=intake, secret="s3cret")))
    await client.start_server()
    try:
        assert (await client.post("/webhook", json=UPDATE)).status == 401
        assert (await client.post("/webhook", json=UPDATE, headers={SECRET_HEADER: "wrong"})).status == 401
        # a header that is not ASCII is a wrong secret too, not a server error (issue 18)
        assert (await client.post("/webhook", json=UPDATE, headers={SECRET_HEADER: "mật-khẩu"})).status == 401
        assert (await client.post("/webhook", data="nope", headers={SECRET_HEADER: "s3cret"})).status == 400
        for not_an_update in ([UPDATE], {"message": {}}, {"update_id": "77"}):
            answer = await client.post("/webhook", json=not_an_update, headers={SECRET_HEADER: "s3cret"})
            assert (answer.status, await answer.text()) == (400, "not an update")
        async with factory() as session:
            assert await session.get(Inbox, 77) is None
        assert (await client.post("/webhook", json=UPDATE, headers={SECRET_HEADER: "s3cret"})).status == 200
        async with factory() as session:
            row = await session.get(Inbox, 77)
        assert row is not None and row.chat_key == 5
        await processor.wait_idle()
    finally:
        await client.close()
        await processor.close()
        await bot.session.close()
        await engine.dispose()


def test_settings_refuse_a_webhook_secret_telegram_would_refuse() -> None:
    import pytest
    from pydantic import ValidationError

    from bot.config import Settings

    with pytest.raises(ValidationError):
        Settings(_env_file=None, webhook_url="https://b.example/webhook", webhook_secret="có dấu cách")  # type: ignore[call-arg]
    Settings(_env_file=None, webhook_url="https://b.example/webhook", webhook_secret="Ab-9_x")  # type: ignore[call-arg]

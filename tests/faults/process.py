"""A real `python -m bot` process for fault tests, and small waits on its database."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from bot.sandbox import SandboxClient
from storage import outbox
from storage.models import Inbox, InboxStatus

ROOT = Path(__file__).resolve().parents[2]


def bot_env(token: str, api_url: str, db_url: str, **extra: str) -> dict[str, str]:
    """The environment of a bot process: this one's, minus any bot settings, plus these."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE_", "TELEGRAM_", "ADMIN_"))
    }
    env.update(
        BOT_TOKEN=token,
        TELEGRAM_API_URL=api_url,
        DATABASE_URL=db_url,
        POLLING_TIMEOUT="1",
        LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


class BotProcess:
    """`python -m bot` against the sandbox, as in production, killable with SIGKILL."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot"], cwd=ROOT, env=self.env, stdout=handle, stderr=handle
        )

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


async def _settle(factory, update_id: int, limit: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + limit
    while asyncio.get_running_loop().time() < deadline:
        async with factory() as session:
            row = await session.get(Inbox, update_id)
            handled = row is not None and row.status != InboxStatus.PENDING
            if handled and not await outbox.pending_for_update(session=session, update_id=update_id):
                return  # handled, and its answers are out
        await asyncio.sleep(0.05)
    raise TimeoutError(f"update {update_id} not processed")


async def _button_message(client: SandboxClient, chat_id: int, text: str) -> int:
    for message in reversed(await client.chat_messages(chat_id)):
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        if any(button["text"] == text for row in rows for button in row):
            return int(message["message_id"])
    raise AssertionError(f"no button {text!r}")

"""The answers to one update, written as outbox rows in the update's own transaction.

Handling an update is read, decide, write: the person's action, the update's done-mark and
what the bot will say commit together, and only then does anything go out (the sender
delivers these rows first, ahead of bulk messages). A reply that fails later is retried
like any outgoing message and never undoes the action.

The answer to a pressed button (the callback query) is not a message: it is kept here and
given right after the commit, best effort, since Telegram refuses it after a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.delivery.adapt import for_chat
from storage import menus, outbox
from storage.models import OutboxStatus
from storage.outbox import PendingRow


@dataclass(frozen=True)
class CallbackAnswer:
    query_id: str
    text: str | None = None
    alert: bool = False


@dataclass
class ReplyQueue:
    session: AsyncSession
    update_id: int | None
    now: datetime
    rows: list[PendingRow] = field(default_factory=list)  # written, for the sender after the commit
    callback: CallbackAnswer | None = None
    # Set when the update came from a chat without buttons (Zalo) and was read as a press:
    # the answer a press would get as a small notice is a message there.
    text_answers_to: int | None = None
    _unwritten: list[dict[str, Any]] = field(default_factory=list)

    async def add(self, chat_id: int, payload: dict[str, Any], *, need_id: bool = False) -> int | None:
        """Queue one message (or operation) for `chat_id`, as that chat's channel takes it
        (Zalo: plain text, maybe in parts, its choices numbered and remembered for the chat).
        `need_id` writes it now and returns the id of its last row, for a later row (or a
        draft) to refer to; otherwise it is written by `write()`."""
        parts, menu = for_chat(chat_id, payload, asked=True)
        for part in parts:
            self._queue(chat_id, part)
        if menu is not None:
            await menus.set_menu(session=self.session, chat_id=chat_id, menu=menu.to_json(), now=self.now)
        if not need_id or not parts:
            return None
        await self.write()
        return self.rows[-1].id

    def _queue(self, chat_id: int, payload: dict[str, Any]) -> None:
        self._unwritten.append(
            {
                "chat_id": chat_id,
                "update_id": self.update_id,
                "payload": payload,
                "part": 0,
                "status": OutboxStatus.PENDING,
                "attempts": 0,
                "not_before": self.now,
                "created_at": self.now,
            }
        )

    async def write(self) -> None:
        """Write the rows added since the last write, in order, in one statement (the
        processor calls this before it commits the update)."""
        if not self._unwritten:
            return
        values, self._unwritten = self._unwritten, []
        ids = await outbox.insert_rows(session=self.session, values=values)
        self.rows.extend(
            PendingRow(
                id=row_id,
                broadcast_id=None,
                chat_id=value["chat_id"],
                person_id=None,
                chat_group_id=None,
                topic_id=None,
                payload=value["payload"],
                attempts=0,
                not_before=self.now,
                created_at=self.now,
            )
            for row_id, value in zip(ids, values, strict=True)
        )

    def answer_callback(self, query_id: str, text: str | None = None, *, alert: bool = False) -> None:
        """The first answer counts (Telegram takes one per query)."""
        if self.text_answers_to is not None:
            if text:
                parts, _menu = for_chat(self.text_answers_to, {"text": text}, asked=True)
                for part in parts:
                    self._queue(self.text_answers_to, part)
            return
        if self.callback is None:
            self.callback = CallbackAnswer(query_id=query_id, text=text, alert=alert)

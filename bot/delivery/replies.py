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

from storage.models import Outbox


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
    rows: list[Outbox] = field(default_factory=list)
    callback: CallbackAnswer | None = None

    async def add(self, chat_id: int, payload: dict[str, Any], *, need_id: bool = False) -> Outbox:
        """Queue one row for `chat_id`; `need_id` flushes it now, for a later row (or a
        draft) to refer to it."""
        row = Outbox(
            chat_id=chat_id,
            update_id=self.update_id,
            payload=payload,
            not_before=self.now,
            created_at=self.now,
        )
        self.session.add(row)
        if need_id:
            await self.session.flush()
        self.rows.append(row)
        return row

    def answer_callback(self, query_id: str, text: str | None = None, *, alert: bool = False) -> None:
        """The first answer counts (Telegram takes one per query)."""
        if self.callback is None:
            self.callback = CallbackAnswer(query_id=query_id, text=text, alert=alert)

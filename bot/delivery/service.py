"""`Delivery.deliver` is the only way a feature sends to many people, or sends a
notification that is not the immediate answer to someone's own action.

Messages become outbox rows in the caller's transaction (so a topic and its deliveries
are committed together or not at all), rendered in each recipient's language and split
to fit Telegram's limits; the sender is woken when that transaction commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiogram.utils.i18n import I18n
from sqlalchemy import event
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.delivery.adapt import for_chat
from bot.delivery.payloads import choices_json
from bot.delivery.sender import Sender
from bot.delivery.splitting import split_caption, split_html
from bot.i18n import in_locale
from bot.ui import Choice, use_channel
from storage import menus, outbox
from storage.addresses import channel_of
from storage.models import Broadcast, BroadcastStatus, Channel, Outbox


@dataclass(frozen=True)
class Recipient:
    chat_id: int
    locale: str
    person_id: int | None = None
    chat_group_id: int | None = None

    @property
    def is_group(self) -> bool:
        return self.chat_group_id is not None or self.chat_id < 0


@dataclass(frozen=True)
class Outgoing:
    """One message as written (HTML); `deliver` splits it if it is too long."""

    text: str
    photo: str | None = None  # a Telegram file id
    choices: list[list[Choice]] = field(default_factory=list)
    pin: bool = False


@dataclass(frozen=True)
class ProgressTarget:
    """Where the progress of a broadcast is shown: one message, edited as it goes."""

    chat_id: int
    locale: str


def payloads(message: Outgoing) -> list[dict[str, Any]]:
    """The rows' payloads for one message: a photo with what fits of its caption, then the
    rest as text; the buttons ride on the last part, the pin on the first."""
    parts: list[dict[str, Any]] = []
    if message.photo:
        caption, rest = split_caption(message.text)
        parts.append({"photo": message.photo, "text": caption})
        parts.extend({"text": chunk} for chunk in rest)
    else:
        parts.extend({"text": chunk} for chunk in split_html(message.text))
    if message.choices:
        parts[-1]["choices"] = choices_json(message.choices)
    if message.pin:
        parts[0]["pin"] = True
    return parts


class Delivery:
    def __init__(self, *, i18n: I18n, clock: Clock, sender: Sender | None = None) -> None:
        self.i18n = i18n
        self.clock = clock
        self.sender = sender

    async def deliver(
        self,
        session: AsyncSession,
        *,
        key: str,
        recipients: Iterable[Recipient],
        render: Callable[[Recipient], Outgoing],
        broadcast: Broadcast | None = None,
        topic_id: int | None = None,
        personal: bool = False,
    ) -> int:
        """Queue one message per recipient; returns how many recipients were new.

        `key` identifies the message (e.g. "topic:12"): queueing the same key for the same
        chat again is a no-op, so retried handlers and schedules never send twice. `render`
        runs in the recipient's language and channel (`bot.ui.use_channel`) and may
        depend only on those and on whether the recipient is a group (its results are reused),
        unless `personal` (a reminder naming where the person stopped). Group posts carrying
        `topic_id` are remembered as topic posts when sent, so replies to them are captured.
        """
        now = self.clock.now()
        rendered: dict[tuple[str, bool, Channel, int], list[dict[str, Any]]] = {}
        rows: list[Outbox] = []
        chats: set[int] = set()
        for recipient in recipients:
            if recipient.chat_id in chats:
                continue
            chats.add(recipient.chat_id)
            channel = channel_of(recipient.chat_id)
            cache_key = (recipient.locale, recipient.is_group, channel, recipient.chat_id if personal else 0)
            if cache_key not in rendered:
                with in_locale(self.i18n, recipient.locale), use_channel(channel):
                    rendered[cache_key] = [
                        part
                        for payload in payloads(render(recipient))
                        for part in for_chat(recipient.chat_id, payload, asked=False)[0]
                    ]
            for index, payload in enumerate(rendered[cache_key]):
                rows.append(
                    Outbox(
                        broadcast_id=broadcast.id if broadcast is not None else None,
                        dedupe_key=f"{key}:{recipient.chat_id}:{index}",
                        chat_id=recipient.chat_id,
                        part=index,
                        person_id=recipient.person_id,
                        chat_group_id=recipient.chat_group_id,
                        topic_id=topic_id if recipient.chat_group_id is not None else None,
                        payload=payload,
                        not_before=now,
                        created_at=now,
                    )
                )
        queued = await outbox.add_rows(session=session, rows=rows)
        # On Zalo a typed number answers the last numbered message; this one is newer.
        await menus.drop_menus(
            session=session, chat_ids={chat for chat in chats if channel_of(chat) is Channel.ZALO}
        )
        if broadcast is not None:
            broadcast.total += len(chats)
            session.add(broadcast)
        if queued:
            self._wake_after_commit(session)
        return queued

    async def start_broadcast(
        self,
        session: AsyncSession,
        *,
        kind: str,
        title: str,
        created_by: int | None,
        progress: ProgressTarget | None,
        topic_id: int | None = None,
    ) -> Broadcast:
        broadcast = Broadcast(
            kind=kind,
            title=title[:255],
            topic_id=topic_id,
            created_by=created_by,
            status=BroadcastStatus.RUNNING,
            progress_chat_id=progress.chat_id if progress else None,
            progress_locale=progress.locale if progress else self.i18n.default_locale,
            created_at=self.clock.now(),
        )
        return await outbox.add_broadcast(session=session, broadcast=broadcast)

    async def cancel(self, session: AsyncSession, broadcast: Broadcast) -> int:
        """Stop a running broadcast: pending rows are dropped, sent ones stay sent."""
        assert broadcast.id is not None
        dropped = await outbox.cancel_pending(session=session, broadcast_id=broadcast.id)
        await outbox.finish_broadcast(
            session=session, broadcast_id=broadcast.id, status=BroadcastStatus.CANCELLED, now=self.clock.now()
        )
        if self.sender is not None:
            self.sender.forget(broadcast.id)
        self._wake_after_commit(session)
        return dropped

    def _wake_after_commit(self, session: AsyncSession) -> None:
        sender = self.sender
        if sender is None:
            return
        event.listen(session.sync_session, "after_commit", lambda _session: sender.wake(), once=True)

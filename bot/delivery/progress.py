"""The progress message: one message per broadcast, edited as delivery proceeds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from babel.numbers import format_decimal

from bot.clock import Clock
from bot.delivery import payloads
from bot.delivery.adapt import for_chat
from bot.delivery.gateway import DeliveryError, Gateway
from bot.i18n import in_locale
from bot.ui import BroadcastButton, Choice, escape
from storage import jsoncodec, outbox
from storage.addresses import channel_of
from storage.db import SessionFactory
from storage.models import Broadcast, BroadcastStatus, Channel, OutboxStatus

log = logging.getLogger(__name__)

BAR_WIDTH = 12
RATE_WINDOW = timedelta(seconds=10)
# Where a message cannot be edited (Zalo), progress is a new message at each of these
# shares of the recipients done, and at the end.
MILESTONES = 4


@dataclass(frozen=True)
class Counts:
    """Recipients (chats), not rows: a long message split in three is one recipient."""

    sent: int
    failed: int
    unreachable: int
    cancelled: int
    pending: int

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.unreachable + self.cancelled

    @property
    def total(self) -> int:
        return self.done + self.pending


def counts_from(rows: dict[str, int]) -> Counts:
    return Counts(
        sent=rows.get(OutboxStatus.SENT, 0),
        failed=rows.get(OutboxStatus.FAILED, 0),
        unreachable=rows.get(OutboxStatus.UNREACHABLE, 0),
        cancelled=rows.get(OutboxStatus.CANCELLED, 0),
        pending=rows.get(OutboxStatus.PENDING, 0),
    )


def progress_bar(done: int, total: int) -> str:
    filled = BAR_WIDTH if total == 0 else round(BAR_WIDTH * done / total)
    percent = 100 if total == 0 else int(100 * done / total)
    return f"{'▓' * filled}{'░' * (BAR_WIDTH - filled)} {percent}%"


def duration_text(seconds: float) -> str:
    seconds = max(1, round(seconds))
    if seconds < 60:
        return _("{seconds} s").format(seconds=seconds)
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return _("{minutes} min {seconds} s").format(minutes=minutes, seconds=seconds)
    hours, minutes = divmod(minutes, 60)
    return _("{hours} h {minutes} min").format(hours=hours, minutes=minutes)


def progress_text(broadcast: Broadcast, counts: Counts, rate: float, locale: str) -> str:
    """The message staff watch: a bar, the counts, and (while running) rate and time left."""
    lines = [
        _("📤 <b>Delivery No. {number}</b>: {title}").format(
            number=broadcast.id, title=escape(broadcast.title)
        ),
        progress_bar(counts.done, counts.total),
        _("Sent: {sent} · Failed: {failed} · Unreachable: {unreachable} · Remaining: {pending}").format(
            sent=counts.sent, failed=counts.failed, unreachable=counts.unreachable, pending=counts.pending
        ),
    ]
    if broadcast.status == BroadcastStatus.RUNNING and counts.pending:
        if rate > 0:
            lines.append(
                _("Rate: {rate} messages/s · about {left} left").format(
                    rate=format_decimal(round(rate, 1), locale=locale),
                    left=duration_text(counts.pending / rate),
                )
            )
        else:
            lines.append(_("Waiting to send…"))
    elif broadcast.status == BroadcastStatus.CANCELLED:
        lines.append(
            _("⛔ Cancelled: {sent} sent before stopping, {dropped} not sent.").format(
                sent=counts.sent, dropped=counts.cancelled
            )
        )
    else:
        lines.append(
            _("✅ Finished: {sent} of {total} received it.").format(sent=counts.sent, total=counts.total)
        )
    return "\n".join(lines)


def progress_choices(broadcast: Broadcast, counts: Counts) -> list[list[Choice]]:
    assert broadcast.id is not None
    rows: list[list[Choice]] = []
    running = broadcast.status == BroadcastStatus.RUNNING and counts.pending > 0
    if running:
        rows.append(
            [
                Choice(
                    label=_("⛔ Stop sending"),
                    data=BroadcastButton(broadcast=broadcast.id, action="x").pack(),
                )
            ]
        )
    missed = counts.failed + counts.unreachable
    if missed and not running:
        rows.append(
            [
                Choice(
                    label=_("👥 Not reached ({count})").format(count=missed),
                    data=BroadcastButton(broadcast=broadcast.id, action="u").pack(),
                )
            ]
        )
    if broadcast.kind == "urgent" and broadcast.topic_id is not None:
        rows.append(
            [
                Choice(
                    label=_("📊 Urgent matter status"),
                    data=BroadcastButton(broadcast=broadcast.id, action="s").pack(),
                )
            ]
        )
    return rows


async def broadcast_counts(session: object, broadcast_id: int) -> Counts:
    return counts_from(await outbox.recipient_counts(session=session, broadcast_id=broadcast_id))  # type: ignore[arg-type]


def milestone(broadcast: Broadcast, counts: Counts) -> str:
    """What a channel that cannot edit shows anew: the start, each quarter, the end."""
    if broadcast.status != BroadcastStatus.RUNNING:
        return f"end:{broadcast.status}|True"  # "|True": the final state is shown (outbox.unshown_finished)
    reached = 0 if counts.total == 0 else MILESTONES * counts.done // counts.total
    return f"at:{min(reached, MILESTONES - 1)}|False"


class ProgressReporter:
    """Edits each running broadcast's message at most every `interval` seconds (sends a new
    one at milestones where the channel cannot edit), and closes broadcasts whose rows are
    all settled."""

    def __init__(
        self,
        *,
        gateways: Mapping[Channel, Gateway],
        session_factory: SessionFactory,
        i18n: I18n,
        clock: Clock,
        interval: float = 3.0,
    ) -> None:
        self.gateways = dict(gateways)
        self.session_factory = session_factory
        self.i18n = i18n
        self.clock = clock
        self.interval = interval
        self._stopping = asyncio.Event()
        self._nudge = asyncio.Event()

    def nudge(self) -> None:
        """Something changed (a new broadcast, a cancel): show it without waiting a full tick."""
        self._nudge.set()

    def stop(self) -> None:
        self._stopping.set()
        self._nudge.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.tick()
            except Exception:  # progress is cosmetic; delivery goes on whatever happens here
                log.exception("progress update failed")
            self._nudge.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._nudge.wait(), timeout=self.interval)
            if not self._stopping.is_set():
                # Even when nudged, edits stay at least a second apart.
                await asyncio.sleep(min(1.0, self.interval))

    async def tick(self) -> None:
        async with self.session_factory() as session:
            broadcasts = list(await outbox.running_broadcasts(session=session))
            shown = list(await outbox.unshown_finished(session=session))
        for broadcast in broadcasts + shown:
            await self.show(broadcast)

    async def show(self, broadcast: Broadcast) -> None:
        assert broadcast.id is not None
        now = self.clock.now()
        async with self.session_factory() as session:
            counts = await broadcast_counts(session, broadcast.id)
            rate = await outbox.sent_since(
                session=session, broadcast_id=broadcast.id, since=now - RATE_WINDOW
            )
            if broadcast.status == BroadcastStatus.RUNNING and counts.pending == 0:
                await outbox.finish_broadcast(
                    session=session, broadcast_id=broadcast.id, status=BroadcastStatus.DONE, now=now
                )
                await session.commit()
                broadcast.status = BroadcastStatus.DONE
        if broadcast.progress_chat_id is None:
            await self._mark_shown(broadcast, f"||{broadcast.status != BroadcastStatus.RUNNING}")
            return
        chat_id = broadcast.progress_chat_id
        with in_locale(self.i18n, broadcast.progress_locale):
            text = progress_text(
                broadcast, counts, rate / RATE_WINDOW.total_seconds(), broadcast.progress_locale
            )
            payload = payloads.message(text, progress_choices(broadcast, counts))
            shown = for_chat(chat_id, payload, asked=False)[0]
        final = broadcast.status != BroadcastStatus.RUNNING
        gateway = self.gateways.get(channel_of(chat_id))
        if gateway is None:
            await self._mark_shown(broadcast, f"||{final}")
            return
        if gateway.can_edit:
            state = f"{text}|{jsoncodec.dumps(payload.get('choices'))}|{final}"
        else:
            state = milestone(broadcast, counts)
        if state == broadcast.progress_shown:
            return
        message_id = broadcast.progress_message_id if gateway.can_edit else None
        try:
            for part in shown[:-1]:
                await gateway.show(chat_id, part, None)
            message_id = await gateway.show(chat_id, shown[-1], message_id)
        except DeliveryError as error:
            log.warning("progress message of broadcast %s: %s", broadcast.id, error.message)
            return
        broadcast.progress_message_id = message_id
        await self._mark_shown(broadcast, state)

    async def _mark_shown(self, broadcast: Broadcast, state: str) -> None:
        assert broadcast.id is not None
        async with self.session_factory() as session:
            await outbox.set_progress(
                session=session,
                broadcast_id=broadcast.id,
                message_id=broadcast.progress_message_id,
                shown=state,
            )
            await session.commit()
        broadcast.progress_shown = state

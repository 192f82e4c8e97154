"""The Zalo adapter's way in: Zalo events become updates in the inbox, shaped as the Bot API
updates the dispatcher already routes, so one set of handlers serves both channels.

An event's ids are strings; its chat and sender get their addresses (storage/addresses.py)
and the update its id from the event's `message_id` (`zalo_update_id`), so an event Zalo
sends twice is the same inbox row and is handled once. The event itself is kept beside the
update (`"zalo"`), as it came.

Group messages reach the bot only to be answered when they begin with a topic's tag
(`#12 …`) or a command; ordinary conversation in a group is not stored at all.

Polling (`getUpdates`) hands each event out once: an event received and not yet stored when
the process dies is lost, so production uses the webhook, whose 200 is given only after the
inbox row is committed. A webhook request without the right secret header gets 401 and
nothing is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from bot.channels.zalo_api import ZaloApiError, ZaloBotApi, ZaloEvent, parse_event
from bot.intake.poller import Intake
from storage import addresses, jsoncodec
from storage.db import SessionFactory

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Bot-Api-Secret-Token"
# Update ids of Zalo events: far above Telegram's (which count up from below 2**32), and
# below 2**62 so every key derived from them fits a signed 64-bit column. The event's own time
# (milliseconds since 2025, 41 bits: until 2094) is the high part, so that a chat's events
# replay in the order they were sent; 20 bits of the message id's hash tell apart the events
# of one millisecond. The same event always gets the same id, so one sent twice is one row.
ZALO_UPDATE_BASE = 1 << 61
ZALO_EPOCH_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
_TIME_BITS, _HASH_BITS = 41, 20


def zalo_update_id(message_id: str, date_ms: int) -> int:
    moment = min(max(0, date_ms - ZALO_EPOCH_MS), (1 << _TIME_BITS) - 1)
    digest = hashlib.sha256(message_id.encode("utf-8")).digest()
    return (
        ZALO_UPDATE_BASE
        + (moment << _HASH_BITS)
        + (int.from_bytes(digest[:4], "big") & ((1 << _HASH_BITS) - 1))
    )


def worth_storing(event: ZaloEvent) -> bool:
    """Private messages always; group messages only when they begin with a tag or a command."""
    message = event.message
    if message is None:
        return False
    if not message.is_group:
        return True
    text = (message.text or message.caption or "").lstrip()
    return text.startswith(("#", "/"))


def update_json(event: ZaloEvent, *, chat: int, sender: int) -> dict[str, Any]:
    """The event as a Bot API update (chat and sender by address)."""
    message = event.message
    assert message is not None
    update_id = zalo_update_id(message.message_id, message.date_ms)
    chat_json: dict[str, Any] = {"id": chat, "type": "group" if message.is_group else "private"}
    if message.is_group:
        chat_json["title"] = ""
    else:
        chat_json["first_name"] = message.sender_name or "Zalo"
    body: dict[str, Any] = {
        "message_id": update_id,
        "date": message.date_ms // 1000,
        "chat": chat_json,
        "from": {"id": sender, "is_bot": False, "first_name": message.sender_name or "Zalo"},
    }
    if event.is_text:
        body["text"] = message.text or ""
    elif event.is_image and message.photo_url:
        unique = hashlib.sha1(message.photo_url.encode()).hexdigest()[:16]
        body["photo"] = [{"file_id": message.photo_url, "file_unique_id": unique, "width": 0, "height": 0}]
        if message.caption:
            body["caption"] = message.caption
    elif event.name == "message.sticker.received":
        sticker_id = str(event.raw.get("message", {}).get("sticker") or "sticker")
        body["sticker"] = {
            "file_id": sticker_id,
            "file_unique_id": sticker_id[:32],
            "type": "regular",
            "width": 0,
            "height": 0,
            "is_animated": False,
            "is_video": False,
        }
    # anything else (an unsupported message) carries no content the bot can read
    return {"update_id": update_id, "message": body, "zalo": event.raw}


class ZaloIntake:
    """Stores Zalo events in the inbox and hands the new ones to the processor."""

    def __init__(self, *, session_factory: SessionFactory, intake: Intake) -> None:
        self.session_factory = session_factory
        self.intake = intake

    async def accept(self, events: Sequence[ZaloEvent]) -> int:
        kept = [event for event in events if worth_storing(event)]
        if not kept:
            return 0
        updates = []
        async with self.session_factory() as session:
            for event in kept:
                message = event.message
                assert message is not None
                chat = await addresses.zalo_address_for(
                    session=session, external_id=message.chat_id, group=message.is_group
                )
                sender = (
                    chat
                    if message.sender_id == message.chat_id
                    else await addresses.zalo_address_for(
                        session=session, external_id=message.sender_id, group=False, title=message.sender_name
                    )
                )
                updates.append(update_json(event, chat=chat, sender=sender))
            await session.commit()
        return await self.intake.accept(updates)

    async def accept_raw(self, raw: Any) -> int:
        """A webhook's body: one event (or a list). ValueError when it is not an event."""
        if isinstance(raw, dict) and "result" in raw and "event_name" not in raw:
            raw = raw["result"]  # some deliveries wrap the event as an API answer
        items = raw if isinstance(raw, list) else [raw]
        events = [parse_event(item) for item in items if isinstance(item, dict)]
        if not events:
            raise ValueError("no event in the body")
        return await self.accept(events)


def add_webhook_route(app: web.Application, *, path: str, intake: ZaloIntake, secret: str) -> None:
    """POST <path>: the event is committed to the inbox before Zalo gets its 200."""
    expected = secret.encode("utf-8")

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "surrogateescape")
        if not expected or not hmac.compare_digest(given, expected):
            return web.Response(status=401, text="wrong secret token")
        try:
            raw = jsoncodec.loads(await request.text())
            await intake.accept_raw(raw)
        except ValueError:
            return web.Response(status=400, text="not an event")
        except Exception:  # Zalo sends it again: nothing is lost by refusing now
            log.exception("could not store a Zalo event; asking Zalo to send it again")
            return web.Response(status=503, text="try again later")
        return web.Response(status=200)

    app.router.add_post(path, receive)


class ZaloPoller:
    """getUpdates in a loop, for development: see the module docstring for what can be lost."""

    def __init__(
        self, *, api: ZaloBotApi, intake: ZaloIntake, timeout: float, max_backoff: float = 30.0
    ) -> None:
        self.api = api
        self.intake = intake
        self.timeout = timeout
        self.max_backoff = max_backoff
        self._stopped = asyncio.Event()

    def stop(self) -> None:
        self._stopped.set()

    async def run(self) -> None:
        failures = 0
        while not self._stopped.is_set():
            try:
                events = await self.api.get_updates(wait=self.timeout)
                if events:
                    await self.intake.accept(events)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures += 1
                delay = min(self.max_backoff, 0.5 * 2 ** min(failures - 1, 8))
                if isinstance(error, ZaloApiError | ValueError):
                    log.warning("Zalo getUpdates failed (%s); retrying in %.1fs", error, delay)
                else:
                    log.exception("could not take Zalo events in; retrying in %.1fs", delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopped.wait(), timeout=delay)
                continue
            failures = 0

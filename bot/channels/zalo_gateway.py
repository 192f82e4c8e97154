"""Zalo as the sender's channel: a row's payload as Zalo Bot API calls, paced with Zalo's own
limits, and Zalo's errors in the sender's words (bot/delivery/gateway.py).

Zalo cannot edit, remove buttons, react or pin: an edit is sent as a new message, taking
buttons away and menus need nothing, a reaction becomes its short text. Zalo message ids
are strings that no later call can use; the row's own id stands for the message it made
(a topic post is found by it, bot/channels/zalo.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bot.channels import zalo_text
from bot.channels.zalo_api import (
    ZaloApiError,
    ZaloBadRequest,
    ZaloBotApi,
    ZaloNetworkError,
    ZaloRetryAfter,
    ZaloServerError,
    ZaloUnauthorized,
    unreachable,
)
from bot.delivery import payloads
from bot.delivery.gateway import Outage, Refused, RetryAfter, TargetLookup, Unreachable
from bot.delivery.limits import Pacer
from bot.delivery.media import MediaStore, is_media
from storage import addresses
from storage.db import SessionFactory
from storage.models import Channel
from storage.outbox import PendingRow

log = logging.getLogger(__name__)


class ZaloGateway:
    channel = Channel.ZALO
    can_edit = False

    def __init__(
        self,
        *,
        api: ZaloBotApi,
        pacer: Pacer,
        session_factory: SessionFactory,
        media: MediaStore | None = None,
    ) -> None:
        self.api = api
        self.media = media
        self.pacer = pacer
        self.session_factory = session_factory
        self._external: dict[int, str] = {}  # address → Zalo id (rows never change)
        self._known_up_to = 0  # channel_chat rows read so far

    async def external_id(self, address: int) -> str:
        """A chat's Zalo id. An address not seen yet reads every Zalo chat numbered since the
        last read: a broadcast to thousands of new people costs one query, not thousands."""
        found = self._external.get(address)
        if found is None:
            async with self.session_factory() as session:
                for known, external in await addresses.zalo_chats_after(
                    session=session, after_id=self._known_up_to
                ):
                    self._external[known] = external
                    self._known_up_to = max(self._known_up_to, addresses.row_id_of(known))
            found = self._external.get(address)
            if found is None:
                raise Unreachable(f"no Zalo chat has the address {address}", blocked=False)
        return found

    async def carry_out(self, row: PendingRow, target: TargetLookup, *, bulk: bool) -> int | None:
        payload = row.payload
        op = payload.get("op")
        if op in (payloads.CLEAR, payloads.MENU):
            return None
        if op == payloads.REACT:
            payload = {"text": payload["fallback"]}
        await self._send(row.chat_id, payload, bulk=bulk)
        return row.id

    async def _send(self, address: int, payload: dict[str, Any], *, bulk: bool) -> None:
        chat = await self.external_id(address)
        if payload.get("plain"):
            parts = [payload]
        else:  # a row written without Zalo in mind: its text as Zalo can show it (no buttons)
            parts, _menu = zalo_text.render({"text": payload.get("text") or ""}, asked=False)
        async with _translated():
            for part in parts:
                await self.pacer.acquire_global(bulk=bulk)
                photo = part.get("photo")
                if is_media(photo):  # a photo the bot made: by its public address, if there is one
                    photo = self.media.url(photo) if self.media is not None else None
                if photo:
                    await self.api.send_photo(chat, photo, caption=part.get("text") or None)
                else:
                    await self.api.send_message(chat, part["text"])

    async def pin(self, chat_id: int, message_id: int) -> None:
        """Zalo's Bot API cannot pin: the post stays where it is."""

    async def show(self, chat_id: int, payload: dict[str, Any], message_id: int | None) -> int | None:
        await self._send(chat_id, payload, bulk=False)
        return None


@asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    try:
        yield
    except ZaloRetryAfter as error:
        raise RetryAfter(str(error), error.retry_after) from error
    except (ZaloNetworkError, ZaloServerError) as error:
        raise Outage(str(error)) from error
    except ZaloUnauthorized as error:  # a wrong token fails every call: waited out, and loud
        log.error("Zalo refused the bot's token: %s", error)
        raise Outage(str(error)) from error
    except ZaloApiError as error:
        if unreachable(error):
            raise Unreachable(str(error), blocked="block" in error.description.lower()) from error
        if isinstance(error, ZaloBadRequest):
            raise Refused(str(error)) from error
        raise Outage(str(error)) from error
    except ValueError as error:  # a text the client refuses (empty, too long)
        raise Refused(str(error)) from error

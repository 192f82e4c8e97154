"""A message payload as the recipient's channel takes it, decided when the row is written
(in the recipient's language): Telegram takes it as it is; Zalo gets plain text within its
limit and its choices as numbers or words (bot/channels/zalo_text.py)."""

from __future__ import annotations

from typing import Any

from bot.channels import zalo_text
from bot.channels.zalo_text import Menu
from bot.delivery import payloads
from storage.addresses import channel_of, is_group
from storage.models import Channel


def for_chat(
    chat_id: int, payload: dict[str, Any], *, asked: bool
) -> tuple[list[dict[str, Any]], Menu | None]:
    """The rows' payloads for one message to `chat_id`, and the menu it leaves there (Zalo).

    An empty list: nothing to do on that channel (taking buttons away on Zalo)."""
    if channel_of(chat_id) is not Channel.ZALO:
        return [payload], None
    op = payload.get("op")
    if op in (payloads.CLEAR, payloads.MENU):
        return [], None
    if op == payloads.REACT:
        return zalo_text.render({"text": payload["fallback"]}, asked=False)
    return zalo_text.render(payload, asked=asked, group=is_group(chat_id))

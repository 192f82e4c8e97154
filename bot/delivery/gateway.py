"""What the sender needs of a channel: carry out one outbox row, and say what went wrong in
words every channel shares.

Each channel (bot/channels/telegram_gateway.py, bot/channels/zalo_gateway.py) turns a row's
channel-neutral payload into its own calls, paces them with its own limits, and maps its
errors onto the classes below, so the sender's rules (retry, back off, give up, mark a
person unreachable) are written once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from bot.delivery.limits import Pacer
from storage.models import Channel
from storage.outbox import PendingRow

# The message an edit or a clear refers to, from the payload's "message_id" or "ref".
TargetLookup = Callable[[dict[str, Any]], Awaitable[int | None]]


class DeliveryError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RetryAfter(DeliveryError):
    """Too fast: come back in `retry_after` seconds (429)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Outage(DeliveryError):
    """The network or the platform failed (5xx, timeouts, a page that is not the API's)."""


class Unreachable(DeliveryError):
    """The person or group cannot get messages from the bot: `blocked` by choice, or never
    reachable (never opened the bot, unknown chat, removed from the group)."""

    def __init__(self, message: str, *, blocked: bool) -> None:
        super().__init__(message)
        self.blocked = blocked


class Refused(DeliveryError):
    """This call will never work as it is; the row fails."""


class ChatMoved(DeliveryError):
    """The group has a new id (a Telegram group that became a supergroup)."""

    def __init__(self, message: str, new_chat_id: int) -> None:
        super().__init__(message)
        self.new_chat_id = new_chat_id


class Gateway(Protocol):
    channel: Channel
    pacer: Pacer
    # Whether a sent message can be edited in place (progress messages are edited, or sent
    # anew at milestones).
    can_edit: bool

    async def carry_out(self, row: PendingRow, target: TargetLookup, *, bulk: bool) -> int | None:
        """The call(s) for one row; the id of the message it shows, if any. Raises the
        errors above."""
        ...

    async def pin(self, chat_id: int, message_id: int) -> None:
        """Best effort: a group that did not let the bot pin still got the post."""
        ...

    async def show(self, chat_id: int, payload: dict[str, Any], message_id: int | None) -> int | None:
        """Show a message (progress): edit `message_id` where the channel can, else send.
        Returns the message now showing it. Raises the errors above."""
        ...

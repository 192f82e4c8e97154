"""Button data that only the bot can have written, for the chat it was sent to.

Callback data comes back from the client as it is, and any client can send any data: a
button's data proves nothing by itself (issue 18: a collaborator pressing language or form
data "on" the board's pinned post turned it into their own screen). So every button the bot
sends carries an HMAC of the chat and the data under a server key; a press is accepted only
when the mark matches the chat it comes from. A forged press, or a button copied from
another chat, is refused before any handler sees it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SEPARATOR = "~"
MARK_LENGTH = 11  # base64url characters of the HMAC kept: 66 bits


class CallbackSigner:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a callback key needs at least 16 bytes")
        self._key = key

    @classmethod
    def from_secret(cls, secret: str) -> CallbackSigner:
        """A key derived from a secret the bot already has (its token, or a setting)."""
        return cls(hashlib.sha256(b"dlxh-callback-data:" + secret.encode("utf-8")).digest())

    def _mark(self, chat_id: int, data: str) -> str:
        digest = hmac.new(self._key, f"{chat_id}:{data}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii")[:MARK_LENGTH]

    def sign(self, chat_id: int, data: str) -> str:
        return f"{data}{SEPARATOR}{self._mark(chat_id, data)}"

    def verify(self, chat_id: int, signed: str) -> str | None:
        """The data, if the mark is the one this bot made for this chat; else None."""
        data, separator, mark = signed.rpartition(SEPARATOR)
        if not separator or not hmac.compare_digest(mark, self._mark(chat_id, data)):
            return None
        return data

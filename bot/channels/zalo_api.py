"""A small client for the Zalo Bot API, on the aiohttp the bot already runs.

`POST {base}/bot<TOKEN>/<method>` with a JSON body; the answer is `{"ok": true, "result": …}`
or `{"ok": false, "error_code", "description"}`. Errors become the classes below, shaped
like aiogram's so the sender can treat both channels alike: a network error or a 5xx is an
outage (retried), a 429 says when to come back, 403 or an unknown chat means the person
cannot be reached, 401 is a wrong token.

Why not `python-zalo-bot` (0.1.9, issue 17): it is a fork of python-telegram-bot, which this
project does not use, and brings a second HTTP stack (httpx) beside aiohttp; its webhook
methods call `asyncio.run()` and so cannot be used from a running bot; it still carries
Telegram's passport and deprecation machinery, placeholder project metadata and the older
`bot-api.zapps.me` address. The API is a handful of JSON methods: this module is about as
long as the glue around that package would be, and it is ours to test against the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from storage import jsoncodec

DEFAULT_API_URL = "https://bot-api.zaloplatforms.com"
MAX_TEXT = 2000  # characters of a sendMessage text (and of a caption)
# Zalo's getUpdates holds a request at most this long when asked to wait (seconds).
LONG_POLL_SECONDS = 30


class ZaloApiError(Exception):
    """What the Bot API refused, or could not be asked."""

    def __init__(self, method: str, description: str, code: int | None = None) -> None:
        super().__init__(f"{method}: {description}" + (f" ({code})" if code is not None else ""))
        self.method = method
        self.description = description
        self.code = code


class ZaloNetworkError(ZaloApiError):
    """No answer: connection refused or reset, a timeout, a page that is not the API's JSON."""


class ZaloServerError(ZaloApiError):
    """A 5xx: the platform failed; retried like an outage."""


class ZaloBadRequest(ZaloApiError):
    """A 400: this call will never work as it is (or the chat is unknown, see `unreachable`)."""


class ZaloForbidden(ZaloApiError):
    """A 403: the bot may not write there (blocked, removed from the group)."""


class ZaloUnauthorized(ZaloApiError):
    """A 401: the token is wrong; nothing works until it is fixed."""


class ZaloRetryAfter(ZaloApiError):
    """A 429: too fast. Zalo documents no `retry_after`; one is assumed when it gives none."""

    def __init__(self, method: str, description: str, retry_after: float) -> None:
        super().__init__(method, description, 429)
        self.retry_after = retry_after


UNREACHABLE_HINTS = ("chat not found", "user not found", "not a follower", "blocked", "not exist")
DEFAULT_RETRY_AFTER = 5.0


def unreachable(error: ZaloApiError) -> bool:
    """Whether an error means the person or group cannot get messages from the bot."""
    if isinstance(error, ZaloForbidden):
        return True
    return isinstance(error, ZaloBadRequest) and any(
        hint in error.description.lower() for hint in UNREACHABLE_HINTS
    )


@dataclass(frozen=True)
class ZaloMessage:
    """The message of an event, as our code needs it (every id is a string on Zalo)."""

    message_id: str
    chat_id: str
    is_group: bool
    sender_id: str
    sender_name: str
    date_ms: int
    text: str | None = None
    photo_url: str | None = None
    caption: str | None = None


@dataclass(frozen=True)
class ZaloEvent:
    name: str  # message.text.received, message.image.received, message.sticker.received, …
    message: ZaloMessage | None
    raw: dict[str, Any]

    @property
    def is_text(self) -> bool:
        return self.name == "message.text.received"

    @property
    def is_image(self) -> bool:
        return self.name == "message.image.received"


def parse_event(raw: dict[str, Any]) -> ZaloEvent:
    """An event from its JSON; ValueError when it has no event name or a message without ids."""
    name = raw.get("event_name")
    if not isinstance(name, str) or not name:
        raise ValueError("an event without event_name")
    data = raw.get("message")
    if data is None:
        return ZaloEvent(name=name, message=None, raw=raw)
    if not isinstance(data, dict):
        raise ValueError("an event whose message is not an object")
    chat = data.get("chat") or {}
    sender = data.get("from") or {}
    if not isinstance(chat, dict) or not isinstance(sender, dict):
        raise ValueError("an event whose chat or sender is not an object")
    message_id, chat_id, sender_id = data.get("message_id"), chat.get("id"), sender.get("id")
    if message_id in (None, "") or chat_id in (None, "") or sender_id in (None, ""):
        raise ValueError("a message without message_id, chat.id or from.id")
    photo = data.get("photo") or data.get("photo_url")  # both spellings are seen
    if isinstance(photo, list):  # tolerate Telegram-like sizes: the last is the largest
        photo = (photo[-1] or {}).get("url") if photo and isinstance(photo[-1], dict) else None
    return ZaloEvent(
        name=name,
        message=ZaloMessage(
            message_id=str(message_id),
            chat_id=str(chat_id),
            is_group=str(chat.get("chat_type") or "").upper() == "GROUP",
            sender_id=str(sender_id),
            sender_name=str(sender.get("display_name") or sender.get("name") or ""),
            date_ms=int(data.get("date") or 0),
            text=data.get("text") if isinstance(data.get("text"), str) else None,
            photo_url=photo if isinstance(photo, str) and photo else None,
            caption=data.get("caption") if isinstance(data.get("caption"), str) else None,
        ),
        raw=raw,
    )


class ZaloBotApi:
    """One bot's calls. Pass an aiohttp session to share it, or let the client own one."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_API_URL,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 15.0,
    ) -> None:
        if not token:
            raise ValueError("a Zalo bot token is needed")
        self._url = f"{base_url.rstrip('/')}/bot{token}/"
        self._session = session
        self._owns_session = session is None
        self.timeout = timeout

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def call(
        self, method: str, params: dict[str, Any] | None = None, *, seconds: float | None = None
    ) -> Any:
        """One call; its `result`, or one of the errors above."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        body = {key: value for key, value in (params or {}).items() if value is not None}
        try:
            async with self._session.post(
                self._url + method,
                data=jsoncodec.dumps(body),
                headers={"Content-Type": "application/json"},
                timeout=aiohttp.ClientTimeout(total=seconds or self.timeout),
            ) as response:
                status, text = response.status, await response.text()
        except (TimeoutError, aiohttp.ClientError) as error:
            raise ZaloNetworkError(method, f"{type(error).__name__}: {error}") from error
        try:
            answer = jsoncodec.loads(text)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or "ok" not in answer:
            if status >= 500:
                raise ZaloServerError(method, f"HTTP {status} without an API answer", status)
            raise ZaloNetworkError(method, f"HTTP {status}: not an API answer ({text[:80]!r})", status)
        if answer.get("ok"):
            return answer.get("result")
        raise _error(method, answer, status)

    async def get_me(self) -> dict[str, Any]:
        return dict(await self.call("getMe") or {})

    async def get_updates(self, *, wait: float = LONG_POLL_SECONDS) -> list[ZaloEvent]:
        """The next event, if one comes within `wait` seconds (Zalo hands out one per call,
        and an event handed out is gone: at most once)."""
        result = await self.call("getUpdates", {"timeout": int(wait)}, seconds=wait + self.timeout)
        if not result:
            return []
        raws = result if isinstance(result, list) else [result]
        return [parse_event(raw) for raw in raws if isinstance(raw, dict)]

    async def set_webhook(self, url: str, secret_token: str) -> None:
        if not 8 <= len(secret_token) <= 256:
            raise ValueError("a Zalo webhook secret has 8 to 256 characters")
        await self.call("setWebhook", {"url": url, "secret_token": secret_token})

    async def delete_webhook(self) -> None:
        await self.call("deleteWebhook")

    async def get_webhook_info(self) -> dict[str, Any]:
        return dict(await self.call("getWebhookInfo") or {})

    async def send_message(self, chat_id: str, text: str) -> str | None:
        """Sends one text (1 to MAX_TEXT characters); returns the new message's id, if given."""
        if not text or len(text) > MAX_TEXT:
            raise ValueError(f"a Zalo text has 1 to {MAX_TEXT} characters, not {len(text)}")
        return _message_id(await self.call("sendMessage", {"chat_id": chat_id, "text": text}))

    async def send_photo(self, chat_id: str, photo_url: str, caption: str | None = None) -> str | None:
        if caption is not None and len(caption) > MAX_TEXT:
            raise ValueError(f"a Zalo caption has at most {MAX_TEXT} characters")
        return _message_id(
            await self.call("sendPhoto", {"chat_id": chat_id, "photo": photo_url, "caption": caption})
        )

    async def send_chat_action(self, chat_id: str, action: str = "typing") -> None:
        await self.call("sendChatAction", {"chat_id": chat_id, "action": action})


def _message_id(result: Any) -> str | None:
    if isinstance(result, dict) and result.get("message_id") not in (None, ""):
        return str(result["message_id"])
    return None


def _error(method: str, answer: dict[str, Any], status: int) -> ZaloApiError:
    code = answer.get("error_code")
    code = int(code) if isinstance(code, int | str) and str(code).lstrip("-").isdigit() else status
    description = str(answer.get("description") or "no description")
    if code == 429:
        parameters = answer.get("parameters") or {}
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        return ZaloRetryAfter(method, description, float(retry_after or DEFAULT_RETRY_AFTER))
    if code == 401:
        return ZaloUnauthorized(method, description, code)
    if code == 403:
        return ZaloForbidden(method, description, code)
    if code >= 500:
        return ZaloServerError(method, description, code)
    return ZaloBadRequest(method, description, code)

"""Python client of the sandbox control API, for tests, the demo and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp


class SandboxError(RuntimeError):
    """The control API refused an action (for example: no button with that text)."""


@dataclass(frozen=True)
class BotInfo:
    id: int
    token: str
    username: str


@dataclass(frozen=True)
class SandboxUser:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None


@dataclass(frozen=True)
class SandboxChat:
    id: int
    type: str
    title: str | None


@dataclass(frozen=True)
class ActionResult:
    """What a user action produced: the update the bot will receive and the user's message."""

    update_id: int | None
    message: dict[str, Any] | None = None
    callback_query_id: str | None = None
    seq: int = 0  # the event log's position before the action: the bot's answer comes after it


class SandboxClient:
    def __init__(self, base_url: str, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> SandboxClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
            self._session = None

    async def _call(self, action: str, **body: Any) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.post(f"{self.base_url}/sandbox/{action}", json=body) as response:
            data = await response.json()
        if not data.get("ok"):
            raise SandboxError(data.get("description", "sandbox refused the action"))
        return data["result"]

    async def reset(self) -> None:
        await self._call("reset")

    async def create_bot(self, username: str = "dlxh_bot", first_name: str = "DLXH Bot") -> BotInfo:
        return BotInfo(**await self._call("create_bot", username=username, first_name=first_name))

    async def create_user(
        self,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "vi",
        user_id: int | None = None,
        started: list[str | int] | None = None,
    ) -> SandboxUser:
        data = await self._call(
            "create_user",
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
            user_id=user_id,
            started=started,
        )
        return SandboxUser(**data)

    async def create_group(
        self, title: str, member_ids: list[int], kind: str = "group", admins: list[int] | None = None
    ) -> SandboxChat:
        return SandboxChat(
            **await self._call("create_group", title=title, member_ids=member_ids, kind=kind, admins=admins)
        )

    async def add_bot_to_group(self, chat_id: int, bot: str | int, by_user_id: int) -> ActionResult:
        return _result(await self._call("add_bot_to_group", chat_id=chat_id, bot=bot, by_user_id=by_user_id))

    async def add_member(self, chat_id: int, user_id: int) -> None:
        await self._call("add_member", chat_id=chat_id, user_id=user_id)

    async def remove_member(self, chat_id: int, user_id: int) -> None:
        await self._call("remove_member", chat_id=chat_id, user_id=user_id)

    async def migrate_group(self, chat_id: int) -> tuple[int, list[int]]:
        """Upgrade a group to a supergroup: (new chat id, update ids the bots received)."""
        data = await self._call("migrate_group", chat_id=chat_id)
        return int(data["chat_id"]), list(data["update_ids"])

    async def send_message(
        self,
        bot: str | int,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        reply_to_message_id: int | None = None,
    ) -> ActionResult:
        return _result(
            await self._call(
                "send_message",
                bot=bot,
                user_id=user_id,
                text=text,
                chat_id=chat_id,
                reply_to_message_id=reply_to_message_id,
            )
        )

    async def send_contact(
        self,
        bot: str | int,
        user_id: int,
        phone_number: str,
        first_name: str,
        *,
        contact_user_id: int | None = None,
        chat_id: int | None = None,
    ) -> ActionResult:
        return _result(
            await self._call(
                "send_contact",
                bot=bot,
                user_id=user_id,
                phone_number=phone_number,
                first_name=first_name,
                contact_user_id=contact_user_id,
                chat_id=chat_id,
            )
        )

    async def send_photo(
        self,
        bot: str | int,
        user_id: int,
        *,
        chat_id: int | None = None,
        caption: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> ActionResult:
        return _result(
            await self._call(
                "send_photo",
                bot=bot,
                user_id=user_id,
                chat_id=chat_id,
                caption=caption,
                reply_to_message_id=reply_to_message_id,
            )
        )

    async def send_document(
        self,
        bot: str | int,
        user_id: int,
        file_name: str,
        mime_type: str,
        *,
        chat_id: int | None = None,
        caption: str | None = None,
    ) -> ActionResult:
        return _result(
            await self._call(
                "send_document",
                bot=bot,
                user_id=user_id,
                file_name=file_name,
                mime_type=mime_type,
                chat_id=chat_id,
                caption=caption,
            )
        )

    async def press_button(
        self, bot: str | int, user_id: int, chat_id: int, message_id: int, text: str
    ) -> ActionResult:
        return _result(
            await self._call(
                "press_button", bot=bot, user_id=user_id, chat_id=chat_id, message_id=message_id, text=text
            )
        )

    async def press_callback_data(
        self, bot: str | int, user_id: int, chat_id: int, message_id: int, data: str
    ) -> ActionResult:
        return _result(
            await self._call(
                "press_callback_data",
                bot=bot,
                user_id=user_id,
                chat_id=chat_id,
                message_id=message_id,
                data=data,
            )
        )

    async def press_reply_button(self, bot: str | int, user_id: int, text: str) -> ActionResult:
        return _result(await self._call("press_reply_button", bot=bot, user_id=user_id, text=text))

    async def block_bot(self, bot: str | int, user_id: int, *, blocked: bool = True) -> None:
        await self._call("block_bot", bot=bot, user_id=user_id, blocked=blocked)

    async def events(
        self,
        chat_id: int | None = None,
        after_seq: int = 0,
        *,
        kinds: list[str] | None = None,
        bot: str | int | None = None,
    ) -> list[dict[str, Any]]:
        return list(await self._call("events", chat_id=chat_id, after_seq=after_seq, kinds=kinds, bot=bot))

    async def wait_events(
        self,
        chat_id: int | None,
        after_seq: int,
        count: int = 1,
        wait_seconds: float = 5.0,
        kinds: list[str] | None = None,
        *,
        strict: bool = True,
    ) -> list[dict[str, Any]]:
        """Wait on the server until `count` bot events exist; `strict` raises if fewer came."""
        found = list(
            await self._call(
                "wait_events",
                chat_id=chat_id,
                after_seq=after_seq,
                count=count,
                timeout=wait_seconds,
                kinds=kinds,
            )
        )
        if strict and len(found) < count:
            raise TimeoutError(f"expected {count} event(s) in chat {chat_id}, got {len(found)}: {found}")
        return found

    async def chat_messages(self, chat_id: int, bot: str | int | None = None) -> list[dict[str, Any]]:
        return list(await self._call("chat_messages", chat_id=chat_id, bot=bot))

    async def message(self, chat_id: int, message_id: int, bot: str | int | None = None) -> dict[str, Any]:
        return dict(await self._call("message", chat_id=chat_id, message_id=message_id, bot=bot))

    async def last_seq(self) -> int:
        return int(await self._call("last_seq"))

    async def callback_answer(self, callback_query_id: str) -> dict[str, Any] | None:
        return await self._call("callback_answer", callback_query_id=callback_query_id)

    async def commands(self, bot: str | int) -> dict[str, list[dict[str, Any]]]:
        return dict(await self._call("commands", bot=bot))

    async def configure(self, **options: Any) -> None:
        await self._call("configure", **options)

    async def stats(self) -> dict[str, Any]:
        return dict(await self._call("stats"))

    async def reset_stats(self) -> None:
        await self._call("reset_stats")

    async def pending_updates(self, bot: str | int) -> int:
        return int(await self._call("pending_updates", bot=bot))

    # ------------------------------------------------------------------ Zalo

    async def zalo_create_bot(self, name: str = "DLXH Bot", *, can_join_groups: bool = True) -> ZaloBotInfo:
        data = await self._call("zalo_create_bot", name=name, can_join_groups=can_join_groups)
        return ZaloBotInfo(id=str(data["id"]), token=str(data["token"]), name=str(data["name"]))

    async def zalo_create_user(self, display_name: str) -> str:
        return str((await self._call("zalo_create_user", display_name=display_name))["id"])

    async def zalo_create_group(self, name: str, member_ids: list[str]) -> str:
        return str((await self._call("zalo_create_group", name=name, member_ids=member_ids))["id"])

    async def zalo_add_bot_to_group(self, group_id: str, bot: str) -> None:
        await self._call("zalo_add_bot_to_group", group_id=group_id, bot=bot)

    async def zalo_send_text(
        self, bot: str, user_id: str, text: str, *, group_id: str | None = None
    ) -> ZaloSent:
        return _zalo_sent(
            await self._call("zalo_send_text", bot=bot, user_id=user_id, text=text, group_id=group_id)
        )

    async def zalo_send_photo(
        self,
        bot: str,
        user_id: str,
        *,
        photo: str = "https://zalo.example/photo.jpg",
        caption: str | None = None,
        group_id: str | None = None,
    ) -> ZaloSent:
        return _zalo_sent(
            await self._call(
                "zalo_send_photo", bot=bot, user_id=user_id, photo=photo, caption=caption, group_id=group_id
            )
        )

    async def zalo_send_sticker(self, bot: str, user_id: str, *, group_id: str | None = None) -> ZaloSent:
        return _zalo_sent(await self._call("zalo_send_sticker", bot=bot, user_id=user_id, group_id=group_id))

    async def zalo_send_unsupported(self, bot: str, user_id: str, *, group_id: str | None = None) -> ZaloSent:
        return _zalo_sent(
            await self._call("zalo_send_unsupported", bot=bot, user_id=user_id, group_id=group_id)
        )

    async def zalo_redeliver(self, bot: str, message_id: str) -> None:
        await self._call("zalo_redeliver", bot=bot, message_id=message_id)

    async def zalo_block(self, bot: str, user_id: str, *, blocked: bool = True) -> None:
        await self._call("zalo_block", bot=bot, user_id=user_id, blocked=blocked)

    async def zalo_messages(self, chat_id: str) -> list[dict[str, Any]]:
        return list(await self._call("zalo_messages", chat_id=chat_id))

    async def zalo_webhook_deliveries(self, message_id: str) -> int:
        """How many times the bot's webhook took this event with a 200."""
        return int(await self._call("zalo_webhook_deliveries", message_id=message_id))

    async def zalo_pending(self, bot: str) -> int:
        return int(await self._call("zalo_pending", bot=bot))

    async def zalo_configure(
        self, *, global_per_second: float | None = None, per_chat_per_second: float | None = None
    ) -> None:
        await self._call(
            "zalo_configure", global_per_second=global_per_second, per_chat_per_second=per_chat_per_second
        )


@dataclass(frozen=True)
class ZaloBotInfo:
    id: str
    token: str
    name: str


@dataclass(frozen=True)
class ZaloSent:
    """A user's message to a Zalo bot: its id (what the bot dedupes on) and the log position."""

    message_id: str
    chat_id: str
    seq: int
    date_ms: int = 0

    @property
    def update_id(self) -> int:
        """The id the bot gives this message's update (bot/channels/zalo.py)."""
        from bot.channels.zalo import zalo_update_id

        return zalo_update_id(self.message_id, self.date_ms)


def _zalo_sent(data: dict[str, Any]) -> ZaloSent:
    return ZaloSent(
        message_id=str(data["message_id"]),
        chat_id=str(data["chat_id"]),
        seq=int(data.get("seq") or 0),
        date_ms=int(data.get("date") or 0),
    )


def _result(data: dict[str, Any]) -> ActionResult:
    return ActionResult(
        update_id=data.get("update_id"),
        message=data.get("message"),
        callback_query_id=data.get("callback_query_id"),
        seq=int(data.get("seq") or 0),
    )

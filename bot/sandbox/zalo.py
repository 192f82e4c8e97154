"""The Zalo side of the sandbox: Zalo bots, users and groups, the Zalo Bot API's shapes and
errors, and webhook delivery, sharing the world's event log and clock.

What it models, from the platform's public documentation (issue 17): ids are strings; an
event is `{"event_name", "message": {"message_id", "chat": {"id", "chat_type"}, "from":
{"id", "display_name"}, "date" (ms), "text" | "photo" + "caption"}}`; `getUpdates` hands out
one event per call and forgets it (at most once); with a webhook set, events are POSTed with
the secret in `X-Bot-Api-Secret-Token` (retried a few times when the bot does not answer 200,
as a platform would, so the bot sees repeats); `sendMessage` takes 1 to 2000 characters; a
bot may write only to people who have written to it and have not blocked it, and to groups
it is in. Zalo publishes no rate limits: the sandbox's are set with `configure` and answer
429 without `retry_after`. Unknown methods are errors, never silent successes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import secrets
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from bot.sandbox.world import World

MAX_TEXT = 2000
# A webhook that does not answer 200 gets the event again, backing off up to WEBHOOK_MAX_DELAY
# (about 20 s in all): long enough for a killed bot to come back.
WEBHOOK_ATTEMPTS = 8
WEBHOOK_MAX_DELAY = 5.0
SENDING = {"sendmessage", "sendphoto", "sendsticker"}


class ZaloError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description

    def payload(self) -> dict[str, Any]:
        return {"ok": False, "error_code": self.code, "description": self.description}


@dataclass
class ZaloBot:
    id: str
    token: str
    name: str
    can_join_groups: bool = True
    events: deque[dict[str, Any]] = field(default_factory=deque)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    webhook_url: str = ""
    webhook_secret: str = ""
    delivered: dict[str, dict[str, Any]] = field(default_factory=dict)  # message id → event


@dataclass
class ZaloUser:
    id: str
    display_name: str
    talked_to: set[str] = field(default_factory=set)  # bots this user has written to
    blocked: set[str] = field(default_factory=set)


@dataclass
class ZaloGroup:
    id: str
    name: str
    members: set[str] = field(default_factory=set)
    bots: set[str] = field(default_factory=set)


@dataclass
class ZaloLimits:
    global_per_second: float | None = None
    per_chat_per_second: float | None = None


class ZaloWorld:
    def __init__(self, world: World) -> None:
        self.world = world
        self.bots: dict[str, ZaloBot] = {}
        self.bots_by_token: dict[str, ZaloBot] = {}
        self.users: dict[str, ZaloUser] = {}
        self.groups: dict[str, ZaloGroup] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}  # chat id → messages, both ways
        self.limits = ZaloLimits()
        self.ids = itertools.count(1)
        self._sent: dict[Any, deque[float]] = {}
        self._webhook_tasks: set[asyncio.Task[None]] = set()
        self.webhook_deliveries: Counter[str] = Counter()  # message id → posts answered 200
        self._http: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        for task in list(self._webhook_tasks):
            task.cancel()
        if self._http is not None:
            await self._http.close()

    # ---------------------------------------------------------------- setup

    def _new_id(self) -> str:
        return f"{next(self.ids):04x}{secrets.token_hex(8)}"

    def create_bot(self, name: str = "DLXH Bot", can_join_groups: bool = True) -> ZaloBot:
        bot_id = str(9_000_000 + next(self.ids))
        bot = ZaloBot(id=bot_id, token=f"{bot_id}:{secrets.token_urlsafe(24)}", name=name)
        bot.can_join_groups = can_join_groups
        self.bots[bot.id] = bot
        self.bots_by_token[bot.token] = bot
        return bot

    def bot(self, ref: str) -> ZaloBot:
        found = self.bots.get(ref) or self.bots_by_token.get(ref)
        if found is None:
            raise ZaloError(404, "no such Zalo bot")
        return found

    def create_user(self, display_name: str) -> ZaloUser:
        user = ZaloUser(id=self._new_id(), display_name=display_name)
        self.users[user.id] = user
        return user

    def user(self, user_id: str) -> ZaloUser:
        found = self.users.get(user_id)
        if found is None:
            raise ZaloError(400, "user not found")
        return found

    def create_group(self, name: str, member_ids: list[str]) -> ZaloGroup:
        group = ZaloGroup(id=self._new_id(), name=name, members={self.user(m).id for m in member_ids})
        self.groups[group.id] = group
        return group

    def add_bot_to_group(self, group_id: str, bot_ref: str) -> None:
        bot, group = self.bot(bot_ref), self._group(group_id)
        if not bot.can_join_groups:
            raise ZaloError(403, "this bot cannot join groups")
        group.bots.add(bot.id)

    def _group(self, group_id: str) -> ZaloGroup:
        found = self.groups.get(group_id)
        if found is None:
            raise ZaloError(400, "chat not found")
        return found

    def block(self, bot_ref: str, user_id: str, blocked: bool = True) -> None:
        bot, user = self.bot(bot_ref), self.user(user_id)
        if blocked:
            user.blocked.add(bot.id)
        else:
            user.blocked.discard(bot.id)

    # ---------------------------------------------------------------- users acting

    def user_sends(
        self,
        bot_ref: str,
        user_id: str,
        content: dict[str, Any],
        event_name: str,
        group_id: str | None = None,
    ) -> dict[str, Any]:
        """A user writes to the bot (or in a group the bot is in); the bot gets the event."""
        bot, user = self.bot(bot_ref), self.user(user_id)
        if group_id is not None:
            group = self._group(group_id)
            if user.id not in group.members:
                raise ZaloError(400, "the user is not in that group")
            if bot.id not in group.bots:
                raise ZaloError(400, "the bot is not in that group")
            chat = {"id": group.id, "chat_type": "GROUP"}
        else:
            user.talked_to.add(bot.id)
            user.blocked.discard(bot.id)
            chat = {"id": user.id, "chat_type": "PRIVATE"}
        message = {
            "message_id": secrets.token_hex(16),
            "chat": chat,
            "from": {"id": user.id, "display_name": user.display_name, "is_bot": False},
            "date": int(time.time() * 1000),
            **content,
        }
        event = {"event_name": event_name, "message": message}
        self.messages.setdefault(chat["id"], []).append({"from": "user", **message})
        self.world.record(bot.id, chat["id"], "user_message", message_id=message["message_id"], **content)
        self._deliver(bot, event)
        return {"message_id": message["message_id"], "chat_id": chat["id"], "date": message["date"]}

    def redeliver(self, bot_ref: str, message_id: str) -> dict[str, Any]:
        """The platform sends an event again (a retry after a timeout, say)."""
        bot = self.bot(bot_ref)
        event = bot.delivered.get(message_id)
        if event is None:
            raise ZaloError(400, "no such event")
        self._deliver(bot, event)
        return {"message_id": message_id}

    def _deliver(self, bot: ZaloBot, event: dict[str, Any]) -> None:
        bot.delivered[event["message"]["message_id"]] = event
        if bot.webhook_url:
            task = asyncio.get_running_loop().create_task(self._post(bot, event))
            self._webhook_tasks.add(task)
            task.add_done_callback(self._webhook_tasks.discard)
        else:
            bot.events.append(event)
            bot.arrived.set()

    async def _post(self, bot: ZaloBot, event: dict[str, Any]) -> None:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        for attempt in range(WEBHOOK_ATTEMPTS):
            try:
                async with self._http.post(
                    bot.webhook_url,
                    json=event,
                    headers={"X-Bot-Api-Secret-Token": bot.webhook_secret},
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as response:
                    if response.status == 200:
                        self.webhook_deliveries[event["message"]["message_id"]] += 1
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(min(WEBHOOK_MAX_DELAY, 0.2 * 2**attempt))

    def configure(
        self, *, global_per_second: float | None = None, per_chat_per_second: float | None = None
    ) -> None:
        self.limits = ZaloLimits(global_per_second=global_per_second, per_chat_per_second=per_chat_per_second)

    def pending(self, bot_ref: str) -> int:
        return len(self.bot(bot_ref).events)

    # ---------------------------------------------------------------- Bot API

    def call(self, bot: ZaloBot, method: str, params: dict[str, Any]) -> Any:
        name = method.lower()
        handler = getattr(self, f"_m_{name}", None)
        if handler is None:
            raise ZaloError(404, "method not found")
        self.world.stats.calls[f"zalo.{method}"] += 1
        if name in SENDING:
            self._check_limits(bot, params)
        return handler(bot, params)

    def _check_limits(self, bot: ZaloBot, params: dict[str, Any]) -> None:
        now = self.world.clock()
        checks: list[tuple[str, Any, float | None]] = [
            ("zalo_global", bot.id, self.limits.global_per_second),
            ("zalo_chat", (bot.id, str(params.get("chat_id"))), self.limits.per_chat_per_second),
        ]
        for scope, key, limit in checks:
            if not limit:
                continue
            times = self._sent.setdefault(key, deque())
            while times and times[0] <= now - 1.0:
                times.popleft()
            if len(times) >= max(1, math.floor(limit)):
                self.world.stats.http_429 += 1
                self.world.stats.http_429_by_scope[scope] += 1
                raise ZaloError(429, "Too Many Requests")
        for _scope, key, limit in checks:
            if limit:
                self._sent[key].append(now)

    def _m_getme(self, bot: ZaloBot, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": bot.id,
            "account_name": bot.name,
            "account_type": "BASIC",
            "can_join_groups": bot.can_join_groups,
        }

    async def get_updates(self, bot: ZaloBot, params: dict[str, Any]) -> dict[str, Any] | None:
        if bot.webhook_url:
            raise ZaloError(409, "webhook is active; getUpdates is not allowed")
        timeout = float(params.get("timeout") or 0)
        if not bot.events and timeout > 0:
            bot.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(bot.arrived.wait(), min(timeout, 30))
        if not bot.events:
            return None
        return bot.events.popleft()

    def _m_setwebhook(self, bot: ZaloBot, params: dict[str, Any]) -> dict[str, Any]:
        url, secret = str(params.get("url") or ""), str(params.get("secret_token") or "")
        if not url.startswith(("http://", "https://")):
            raise ZaloError(400, "url is invalid")
        if not 8 <= len(secret) <= 256:
            raise ZaloError(400, "secret_token must have 8 to 256 characters")
        bot.webhook_url, bot.webhook_secret = url, secret
        # events waiting for getUpdates go to the webhook now
        while bot.events:
            self._deliver(bot, bot.events.popleft())
        return {"url": url}

    def _m_deletewebhook(self, bot: ZaloBot, params: dict[str, Any]) -> dict[str, Any]:
        bot.webhook_url, bot.webhook_secret = "", ""
        return {"url": ""}

    def _m_getwebhookinfo(self, bot: ZaloBot, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": bot.webhook_url}

    def _target(self, bot: ZaloBot, params: dict[str, Any]) -> str:
        chat_id = str(params.get("chat_id") or "")
        if chat_id in self.groups:
            if bot.id not in self.groups[chat_id].bots:
                raise ZaloError(403, "the bot is not a member of this group")
            return chat_id
        user = self.users.get(chat_id)
        if user is None:
            raise ZaloError(400, "chat not found")
        if bot.id in user.blocked:
            raise ZaloError(403, "the user blocked the bot")
        if bot.id not in user.talked_to:
            raise ZaloError(403, "the user has not interacted with the bot")
        return chat_id

    def _sent_message(self, bot: ZaloBot, chat_id: str, content: dict[str, Any]) -> dict[str, Any]:
        message_id = secrets.token_hex(16)
        date = int(time.time() * 1000)
        self.messages.setdefault(chat_id, []).append(
            {"from": "bot", "message_id": message_id, "date": date, **content}
        )
        self.world.record(bot.id, chat_id, "send", message_id=message_id, **content)
        self.world.stats.sent_per_chat[chat_id] += 1  # type: ignore[index]
        return {"message_id": message_id, "date": date}

    def _m_sendmessage(self, bot: ZaloBot, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._target(bot, params)
        text = params.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= MAX_TEXT:
            raise ZaloError(400, f"text must have 1 to {MAX_TEXT} characters")
        return self._sent_message(bot, chat_id, {"text": text})

    def _m_sendphoto(self, bot: ZaloBot, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._target(bot, params)
        photo = params.get("photo")
        if not isinstance(photo, str) or not photo.startswith(("http://", "https://")):
            raise ZaloError(400, "photo must be a URL")
        caption = params.get("caption")
        if caption is not None and (not isinstance(caption, str) or len(caption) > MAX_TEXT):
            raise ZaloError(400, f"caption must have at most {MAX_TEXT} characters")
        return self._sent_message(bot, chat_id, {"photo": photo, "text": caption or ""})

    def _m_sendsticker(self, bot: ZaloBot, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._target(bot, params)
        return self._sent_message(bot, chat_id, {"sticker": str(params.get("sticker") or "")})

    def _m_sendchataction(self, bot: ZaloBot, params: dict[str, Any]) -> bool:
        self._target(bot, params)
        return True

    def chat_messages(self, chat_id: str) -> list[dict[str, Any]]:
        return list(self.messages.get(chat_id, []))

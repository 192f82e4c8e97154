"""The sandbox world: bots, users, chats, messages and the event log, in memory.

It implements the Bot API methods the way Telegram answers them (shapes, errors, limits),
so the bot runs against it unchanged, and a control surface to act as users and observe
what the bot did. Unknown methods and malformed parameters are errors, never silent
successes: a test cannot pass by accident.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import copy
import html
import itertools
import json
import math
import random
import re
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from bot.sandbox.zalo import ZaloWorld

ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-emoji",
}
BAD_AMPERSAND = re.compile(r"&(?!(amp|lt|gt|quot|#\d+|#x[0-9a-fA-F]+);)")
DEEP_LINK = re.compile(
    r"^https?://t\.me/(?P<username>[A-Za-z0-9_]+)\?start=(?P<payload>[A-Za-z0-9_-]{1,64})$"
)
COMMAND = re.compile(r"^/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]+)?")
CHAT_BURST_SECONDS = 3.0
EDITING_METHODS = {"editmessagetext", "editmessagereplymarkup", "editmessagecaption"}
SENDING_METHODS = {
    "sendmessage",
    "sendphoto",
    "senddocument",
    "copymessage",
    "editmessagetext",
    "editmessagereplymarkup",
    "pinchatmessage",
}
MAX_TEXT = 4096
MAX_CAPTION = 1024


class ApiError(Exception):
    """A Telegram-shaped error answer."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            data["parameters"] = self.parameters
        return data


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class _HtmlChecker(HTMLParser):
    """Telegram's HTML subset: known tags, properly nested; collects the plain text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.parts: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.error = self.error or f'unsupported start tag "{tag}"'
        if tag == "a" and not any(name == "href" for name, _ in attrs):
            self.error = self.error or "a tag needs href"
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.error = self.error or f'unmatched end tag "{tag}"'
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def parse_html(text: str) -> str:
    """The plain text of an HTML message, or a 400 like Telegram's."""
    match = BAD_AMPERSAND.search(text)
    if match:
        raise bad_request(
            f"can't parse entities: Character '&' is reserved and must be escaped (offset {match.start()})"
        )
    checker = _HtmlChecker()
    checker.feed(text)
    checker.close()
    if checker.error is None and checker.stack:
        checker.error = f'can\'t find end tag corresponding to start tag "{checker.stack[-1]}"'
    if checker.error:
        raise bad_request(f"can't parse entities: {checker.error}")
    return "".join(checker.parts)


@dataclass
class Bot:
    id: int
    token: str
    username: str
    first_name: str
    updates: deque[dict[str, Any]] = field(default_factory=deque)
    next_update_id: int = 1
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    commands: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    webhook_url: str = ""

    def user_json(self) -> dict[str, Any]:
        return {"id": self.id, "is_bot": True, "first_name": self.first_name, "username": self.username}


@dataclass
class User:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "vi"
    started: set[int] = field(default_factory=set)  # bots this user has written to
    blocked: set[int] = field(default_factory=set)

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        return data


@dataclass
class Chat:
    id: int
    type: str  # private, group, supergroup
    title: str | None = None
    owner_bot: int | None = None  # private chats belong to one bot
    members: dict[int, str] = field(default_factory=dict)  # user or bot id → status
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_message_id: int = 1
    migrated_to: int | None = None
    pinned: int | None = None

    def json(self, world: World) -> dict[str, Any]:
        if self.type == "private":
            user = world.users[self.id]
            data = {"id": self.id, "type": "private", "first_name": user.first_name}
            if user.username:
                data["username"] = user.username
            return data
        return {"id": self.id, "type": self.type, "title": self.title or ""}


@dataclass
class Limits:
    global_per_second: float | None = None
    per_chat_per_second: float | None = None
    per_group_per_minute: float | None = None


@dataclass
class Faults:
    error_rate: float = 0.0
    error_kinds: tuple[str, ...] = ("500", "502", "timeout")
    latency_ms: float = 0.0
    timeout_seconds: float = 2.0
    methods: frozenset[str] | None = None  # None: every sending method
    # How many faults to inject in all (None: no limit), for "exactly this many" tests.
    budget: int | None = None
    # One-off answers to the next getUpdates calls, in order: "409" (another instance is
    # polling), "html_502" (a proxy's HTML error page), "500".
    next_get_updates: list[str] = field(default_factory=list)


@dataclass
class Stats:
    calls: Counter[str] = field(default_factory=Counter)
    http_429: int = 0
    http_429_by_scope: Counter[str] = field(default_factory=Counter)  # global / chat / group
    http_429_at: list[float] = field(default_factory=list)  # the world's clock at each 429
    faults: int = 0
    sent_per_chat: Counter[int] = field(default_factory=Counter)
    # Calls on the wire at once, by method, and the most there ever were: with latency on,
    # how far the bot's calls overlap (serialised calls never exceed one).
    in_flight: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)  # 4xx answers (not 429), by method
    max_in_flight: Counter[str] = field(default_factory=Counter)

    def begin_call(self, method: str) -> None:
        self.in_flight[method] += 1
        self.max_in_flight[method] = max(self.max_in_flight[method], self.in_flight[method])

    def end_call(self, method: str) -> None:
        self.in_flight[method] -= 1

    def json(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "http_429": self.http_429,
            "http_429_by_scope": dict(self.http_429_by_scope),
            "faults": self.faults,
            "sent_per_chat": {str(k): v for k, v in self.sent_per_chat.items()},
            "max_in_flight": dict(self.max_in_flight),
            "refused": dict(self.refused),
        }


class World:
    """Everything the sandbox knows. Not thread-safe: one event loop owns it."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        self.bots: dict[int, Bot] = {}
        self.bots_by_token: dict[str, Bot] = {}
        self.users: dict[int, User] = {}
        self.chats: dict[tuple[int, int], Chat] = {}  # (owner bot or 0, chat id)
        self.events: list[dict[str, Any]] = []
        self.event_seqs: list[int] = []
        self.events_by_chat: dict[int | str, list[dict[str, Any]]] = {}
        self.waiters: dict[int | str | None, list[asyncio.Event]] = {}
        self.seq = itertools.count(1)
        self.last_seq = 0
        self.ids = itertools.count(100_001)
        self.group_ids = itertools.count(4_001)
        self.file_ids = itertools.count(1)
        self.files: dict[str, dict[str, Any]] = {}
        self.callback_queries: dict[str, dict[str, Any]] = {}
        self.limits = Limits()
        self.faults = Faults()
        self.rng = random.Random(0)
        self.stats = Stats()
        self._global: dict[int, deque[float]] = {}
        self._per_chat: dict[tuple[int, int], deque[float]] = {}
        self._per_group: dict[tuple[int, int], deque[float]] = {}
        self.zalo = ZaloWorld(self)

    # ---------------------------------------------------------------- setup

    def create_bot(self, username: str = "dlxh_bot", first_name: str = "DLXH Bot") -> Bot:
        bot_id = next(self.ids) + 7_000_000_000
        bot = Bot(
            id=bot_id, token=f"{bot_id}:{secrets.token_urlsafe(24)}", username=username, first_name=first_name
        )
        self.bots[bot.id] = bot
        self.bots_by_token[bot.token] = bot
        return bot

    def bot(self, token_or_id: str | int) -> Bot:
        if isinstance(token_or_id, int) or str(token_or_id).isdigit():
            found = self.bots.get(int(token_or_id))
        else:
            found = self.bots_by_token.get(str(token_or_id))
            if found is None:  # by hand (README): the bot's @username will do
                wanted = str(token_or_id).lstrip("@").casefold()
                found = next((bot for bot in self.bots.values() if bot.username.casefold() == wanted), None)
        if found is None:
            raise ApiError(404, "Not Found: no such bot")
        return found

    def create_user(
        self,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "vi",
        user_id: int | None = None,
        started: list[str | int] | None = None,
    ) -> User:
        """`started` names bots this user has already opened (as if they had pressed Start
        earlier), so bulk tests can have thousands of reachable people without updates."""
        user = User(
            id=user_id or next(self.ids),
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        if user.id in self.users:
            raise bad_request("user exists")
        self.users[user.id] = user
        for ref in started or []:
            bot = self.bot(ref)
            self.private_chat(bot, user.id, create=True)
            user.started.add(bot.id)
        return user

    def user(self, user_id: int) -> User:
        if user_id not in self.users:
            raise bad_request("user not found")
        return self.users[user_id]

    def create_group(
        self, title: str, member_ids: list[int], kind: str = "group", admins: list[int] | None = None
    ) -> Chat:
        if kind not in ("group", "supergroup"):
            raise bad_request("kind must be group or supergroup")
        number = next(self.group_ids)
        chat_id = -number if kind == "group" else -(10**12 + number)
        chat = Chat(id=chat_id, type=kind, title=title)
        for index, member in enumerate(member_ids):
            self.user(member)
            chat.members[member] = "creator" if index == 0 else "member"
        for admin in admins or []:
            chat.members[admin] = "administrator"
        self.chats[(0, chat.id)] = chat
        return chat

    def group(self, chat_id: int) -> Chat:
        chat = self.chats.get((0, chat_id))
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def private_chat(self, bot: Bot, user_id: int, *, create: bool = False) -> Chat | None:
        key = (bot.id, user_id)
        chat = self.chats.get(key)
        if chat is None and create:
            chat = Chat(
                id=user_id, type="private", owner_bot=bot.id, members={user_id: "member", bot.id: "member"}
            )
            self.chats[key] = chat
        return chat

    def chat_for(self, bot: Bot | None, chat_id: int) -> Chat:
        if chat_id < 0:
            return self.group(chat_id)
        if bot is not None:
            chat = self.private_chat(bot, chat_id)
            if chat is not None:
                return chat
        else:
            for (owner, cid), chat in self.chats.items():
                if owner and cid == chat_id:
                    return chat
        raise bad_request("chat not found")

    def add_bot_to_group(self, chat_id: int, bot_ref: str | int, by_user_id: int) -> dict[str, Any]:
        """The bot joins: a my_chat_member update and a new_chat_members service message."""
        bot, chat = self.bot(bot_ref), self.group(chat_id)
        old = chat.members.get(bot.id, "left")
        chat.members[bot.id] = "member"
        self._push_update(
            bot, "my_chat_member", self._member_update(chat, by_user_id, bot.user_json(), old, "member")
        )
        message = self._new_message(
            chat, self.user(by_user_id).json(), {"new_chat_members": [bot.user_json()]}
        )
        delivered = self._deliver_to_bots(chat, message, exclude=None)
        return {"update_id": delivered.get(bot.id), "message": message}

    def add_member(self, chat_id: int, user_id: int) -> None:
        self.group(chat_id).members[self.user(user_id).id] = "member"

    def remove_member(self, chat_id: int, user_id: int) -> None:
        self.group(chat_id).members[user_id] = "left"

    def migrate_group(self, chat_id: int) -> dict[str, Any]:
        old = self.group(chat_id)
        if old.type != "group":
            raise bad_request("only basic groups migrate")
        new = Chat(
            id=-(10**12 + next(self.group_ids)),
            type="supergroup",
            title=old.title,
            members=dict(old.members),
            messages=old.messages,
            next_message_id=old.next_message_id,
        )
        self.chats[(0, new.id)] = new
        old.migrated_to = new.id
        actor = next((uid for uid, st in old.members.items() if st == "creator"), None)
        sender = (
            self.users[actor].json() if actor in self.users else {"id": 0, "is_bot": False, "first_name": "?"}
        )
        in_old = self._deliver_to_bots(
            old, self._new_message(old, sender, {"migrate_to_chat_id": new.id}), exclude=None
        )
        in_new = self._deliver_to_bots(
            new, self._new_message(new, sender, {"migrate_from_chat_id": old.id}), exclude=None
        )
        return {"chat_id": new.id, "update_ids": sorted([*in_old.values(), *in_new.values()])}

    def block_bot(self, bot_ref: str | int, user_id: int, blocked: bool = True) -> None:
        bot, user = self.bot(bot_ref), self.user(user_id)
        chat = self.private_chat(bot, user_id, create=True)
        assert chat is not None
        if blocked:
            user.blocked.add(bot.id)
            update = self._member_update(chat, user_id, bot.user_json(), "member", "kicked")
        else:
            user.blocked.discard(bot.id)
            update = self._member_update(chat, user_id, bot.user_json(), "kicked", "member")
        self._push_update(bot, "my_chat_member", update)

    def configure(self, **options: Any) -> None:
        limit_keys = {"global_per_second", "per_chat_per_second", "per_group_per_minute"}
        fault_keys = {
            "error_rate",
            "error_kinds",
            "latency_ms",
            "timeout_seconds",
            "fault_methods",
            "next_get_updates",
            "fault_budget",
        }
        unknown = set(options) - limit_keys - fault_keys - {"seed"}
        if unknown:
            raise bad_request(f"unknown options {sorted(unknown)}")
        for key in limit_keys & set(options):
            setattr(self.limits, key, options[key])
        for key in fault_keys & set(options):
            value = options[key]
            if key == "error_kinds":
                value = tuple(value)
                if not set(value) <= {"400", "500", "502", "timeout", "late_500"}:
                    raise bad_request("error kinds are 400, 500, 502, timeout, late_500")
            if key == "fault_methods":
                key, value = "methods", (frozenset(m.lower() for m in value) if value else None)
            if key == "fault_budget":
                key = "budget"
            if key == "next_get_updates":
                if not set(value) <= {"409", "html_502", "500"}:
                    raise bad_request("getUpdates faults are 409, html_502, 500")
                value = list(value)
            setattr(self.faults, key, value)
        if "seed" in options:
            self.rng = random.Random(options["seed"])

    # ---------------------------------------------------------------- users acting

    def user_sends(
        self,
        bot_ref: str | int,
        user_id: int,
        content: dict[str, Any],
        chat_id: int | None = None,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """A user posts a message; the bot(s) in that chat receive it as an update."""
        user = self.user(user_id)
        bot = self.bot(bot_ref)
        if chat_id is None or chat_id == user_id:
            chat = self.private_chat(bot, user_id, create=True)
            assert chat is not None
            user.started.add(bot.id)
        else:
            chat = self.group(chat_id)
            if chat.members.get(user_id) in (None, "left", "kicked"):
                raise bad_request("user is not a member of the chat")
        extra = dict(content)
        if reply_to_message_id is not None:
            replied = chat.messages.get(reply_to_message_id)
            if replied is None:
                raise bad_request("message to be replied not found")
            extra["reply_to_message"] = {k: v for k, v in replied.items() if k != "reply_to_message"}
        text = extra.get("text")
        if isinstance(text, str):
            match = COMMAND.match(text)
            if match:
                extra["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": utf16_length(match.group(0))}
                ]
        message = self._new_message(chat, user.json(), extra)
        update_ids = self._deliver_to_bots(chat, message, exclude=None)
        self._record(
            bot,
            chat,
            "user_message",
            message_id=message["message_id"],
            user_id=user_id,
            text=text or extra.get("caption") or "",
        )
        return {"update_id": update_ids.get(bot.id), "message": message}

    def press_button(
        self, bot_ref: str | int, user_id: int, chat_id: int, message_id: int, text: str
    ) -> dict[str, Any]:
        bot = self.bot(bot_ref)
        chat = self.chat_for(bot, chat_id)
        message = chat.messages.get(message_id)
        if message is None:
            raise bad_request("message not found")
        markup = message.get("reply_markup") or {}
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if button.get("text") != text:
                    continue
                if "callback_data" in button:
                    return self.press_callback_data(
                        bot.token, user_id, chat_id, message_id, button["callback_data"]
                    )
                url = button.get("url", "")
                link = DEEP_LINK.match(url)
                if link and link.group("username").lower() == bot.username.lower():
                    return self.user_sends(bot.token, user_id, {"text": f"/start {link.group('payload')}"})
                raise bad_request(f"button {text!r} opens {url!r}, which the sandbox cannot follow")
        raise bad_request(f"no inline button {text!r} on message {message_id}")

    def press_callback_data(
        self, bot_ref: str | int, user_id: int, chat_id: int, message_id: int, data: str
    ) -> dict[str, Any]:
        bot = self.bot(bot_ref)
        chat = self.chat_for(bot, chat_id)
        message = chat.messages.get(message_id)
        if message is None:
            raise bad_request("message not found")
        query_id = str(next(self.file_ids) * 7919 + 10**9)
        query = {
            "id": query_id,
            "from": self.user(user_id).json(),
            # As Telegram does: the message as it is at the press, not as later edits leave it
            # by the time the bot takes the update.
            "message": copy.deepcopy(message),
            "chat_instance": str(abs(chat.id)),
            "data": data,
        }
        self.callback_queries[query_id] = {
            "answered": False,
            "answer": None,
            "bot": bot.id,
            "chat_id": chat.id,
        }
        update_id = self._push_update(bot, "callback_query", query)
        return {"update_id": update_id, "callback_query_id": query_id, "message": None}

    def press_reply_button(self, bot_ref: str | int, user_id: int, text: str) -> dict[str, Any]:
        """Press a button of the reply keyboard the bot last showed in the private chat."""
        bot = self.bot(bot_ref)
        chat = self.private_chat(bot, user_id)
        if chat is None:
            raise bad_request("chat not found")
        for message in reversed(list(chat.messages.values())):
            markup = message.get("reply_markup_shown") or {}
            for row in markup.get("keyboard", []):
                for button in row:
                    button = {"text": button} if isinstance(button, str) else button
                    if button.get("text") != text:
                        continue
                    if button.get("request_contact"):
                        user = self.user(user_id)
                        contact = {
                            "phone_number": "+84912345678",
                            "first_name": user.first_name,
                            "user_id": user.id,
                        }
                        return self.user_sends(bot.token, user_id, {"contact": contact})
                    return self.user_sends(bot.token, user_id, {"text": text})
        raise bad_request(f"no reply keyboard button {text!r}")

    def new_file(
        self, kind: str, name: str | None = None, mime: str | None = None, size: int = 1000
    ) -> dict[str, Any]:
        number = next(self.file_ids)
        data: dict[str, Any] = {
            "file_id": f"{kind}-{number}-{secrets.token_hex(4)}",
            "file_unique_id": f"u{number}",
            "file_size": size,
        }
        if kind == "photo":
            data.update(width=800, height=600)
        if name:
            data["file_name"] = name
        if mime:
            data["mime_type"] = mime
        self.files[data["file_id"]] = {"kind": kind, **data}
        return data

    # ---------------------------------------------------------------- Bot API

    def call(self, bot: Bot, method: str, params: dict[str, Any]) -> Any:
        name = method.lower()
        handler = getattr(self, f"_m_{name}", None)
        if handler is None:
            raise ApiError(404, "Not Found: method not found")
        self.stats.calls[method] += 1
        if name in SENDING_METHODS:
            self._check_limits(bot, name, params)
        return handler(bot, params)

    def fault_for(self, method: str) -> str | None:
        faults = self.faults
        name = method.lower()
        if faults.error_rate <= 0:
            return None
        applies = name in faults.methods if faults.methods is not None else name in SENDING_METHODS
        if not applies or self.rng.random() >= faults.error_rate:
            return None
        if faults.budget is not None:
            if faults.budget <= 0:
                return None
            faults.budget -= 1
        self.stats.faults += 1
        return self.rng.choice(faults.error_kinds)

    def _check_limits(self, bot: Bot, method: str, params: dict[str, Any]) -> None:
        now = self.clock()
        chat_id = _int(params.get("chat_id"), "chat_id")
        # Telegram: "avoid sending more than one message per second in a particular chat. We
        # may allow short bursts that go over this limit". Every call counts towards the
        # bot's 30 a second; in a private chat only new messages count towards its one a
        # second, CHAT_BURST_SECONDS of them at once (edits of the bot's own messages, as
        # answers to button presses are, do not send anything new); in a group every call
        # counts, one a second and 20 a minute (edits there are limited too).
        chat_window = CHAT_BURST_SECONDS if chat_id > 0 else 1.0
        checks: list[tuple[str, dict[Any, deque[float]], Any, float | None, float]] = [
            ("global", self._global, bot.id, self.limits.global_per_second, 1.0),
        ]
        if chat_id < 0 or method not in EDITING_METHODS:
            checks.append(
                ("chat", self._per_chat, (bot.id, chat_id), self.limits.per_chat_per_second, chat_window)
            )
        if chat_id < 0:
            checks.append(
                ("group", self._per_group, (bot.id, chat_id), self.limits.per_group_per_minute, 60.0)
            )
        for scope, store, key, limit, window in checks:
            if not limit:
                continue
            times = store.setdefault(key, deque())
            while times and times[0] <= now - window:
                times.popleft()
            capacity = max(1, int(limit)) if scope == "group" else max(1, int(limit * window))
            if len(times) >= capacity:
                self.stats.http_429 += 1
                self.stats.http_429_by_scope[scope] += 1
                self.stats.http_429_at.append(now)
                retry = max(1, math.ceil(times[0] + window - now))
                raise ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
        for _scope, store, key, limit, _window in checks:
            if limit:
                store[key].append(now)

    def _m_getme(self, bot: Bot, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **bot.user_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": True,
            "supports_inline_queries": False,
        }

    def _m_deletewebhook(self, bot: Bot, params: dict[str, Any]) -> bool:
        bot.webhook_url = ""
        if _bool(params.get("drop_pending_updates")):
            bot.updates.clear()
        return True

    def _m_setwebhook(self, bot: Bot, params: dict[str, Any]) -> bool:
        bot.webhook_url = str(params.get("url") or "")
        return True

    def _m_getwebhookinfo(self, bot: Bot, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": bot.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(bot.updates),
        }

    def confirm(self, bot: Bot, offset: int | None) -> list[dict[str, Any]]:
        """Drop confirmed updates; return the pending ones (getUpdates without the wait)."""
        if offset is not None:
            if offset < 0:
                while len(bot.updates) > -offset:
                    bot.updates.popleft()
            else:
                while bot.updates and bot.updates[0]["update_id"] < offset:
                    bot.updates.popleft()
        if not bot.updates:
            bot.arrived.clear()
        return list(bot.updates)

    def _m_sendmessage(self, bot: Bot, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._target_chat(bot, params)
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise bad_request("message text is empty")
        plain = self._plain(text, params.get("parse_mode"))
        if utf16_length(plain) > MAX_TEXT:
            raise bad_request("message is too long")
        extra: dict[str, Any] = {"text": plain}
        return self._bot_message(bot, chat, extra, params, html_text=text)

    def _m_sendphoto(self, bot: Bot, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._target_chat(bot, params)
        photo = self._file(params.get("photo"), "photo")
        extra = {"photo": [photo]}
        return self._bot_message(bot, chat, {**extra, **self._caption(params)}, params)

    def _m_senddocument(self, bot: Bot, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._target_chat(bot, params)
        document = self._file(params.get("document"), "document")
        return self._bot_message(bot, chat, {"document": document, **self._caption(params)}, params)

    def _m_copymessage(self, bot: Bot, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._target_chat(bot, params)
        source = self.chat_for(bot, _int(params.get("from_chat_id"), "from_chat_id"))
        original = source.messages.get(_int(params.get("message_id"), "message_id"))
        if original is None:
            raise bad_request("message to copy not found")
        content: dict[str, Any] = {
            k: original[k] for k in ("text", "photo", "document", "caption") if k in original
        }
        message = self._bot_message(bot, chat, content, params)
        return {"message_id": message["message_id"]}

    def _m_editmessagetext(self, bot: Bot, params: dict[str, Any]) -> dict[str, Any]:
        chat, message = self._editable(bot, params)
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise bad_request("message text is empty")
        plain = self._plain(text, params.get("parse_mode"))
        if utf16_length(plain) > MAX_TEXT:
            raise bad_request("message is too long")
        markup = self._markup(params.get("reply_markup"))
        if (
            message.get("text") == plain
            and message.get("html") == text
            and message.get("reply_markup") == markup
        ):
            raise bad_request(
                "message is not modified: specified new message content and reply markup are exactly the same "
                "as a current content and reply markup of the message"
            )
        message["text"], message["html"] = plain, text
        _set_markup(message, markup)
        message["edit_date"] = int(time.time())
        self._record(
            bot, chat, "edit", message_id=message["message_id"], text=plain, html=text, reply_markup=markup
        )
        return message

    def _m_editmessagereplymarkup(self, bot: Bot, params: dict[str, Any]) -> dict[str, Any]:
        chat, message = self._editable(bot, params)
        markup = self._markup(params.get("reply_markup"))
        if message.get("reply_markup") == markup:
            raise bad_request(
                "message is not modified: specified new message content and reply markup are exactly "
                "the same as a current content and reply markup of the message"
            )
        _set_markup(message, markup)
        self._record(
            bot,
            chat,
            "edit",
            message_id=message["message_id"],
            text=message.get("text", ""),
            html=message.get("html"),
            reply_markup=markup,
            buttons_only=True,  # the text stayed: not an answer a person reads
        )
        return message

    def _m_deletemessage(self, bot: Bot, params: dict[str, Any]) -> bool:
        chat = self.chat_for(bot, _int(params.get("chat_id"), "chat_id"))
        message_id = _int(params.get("message_id"), "message_id")
        if chat.messages.pop(message_id, None) is None:
            raise bad_request("message to delete not found")
        self._record(bot, chat, "delete", message_id=message_id)
        return True

    def _m_answercallbackquery(self, bot: Bot, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        query = self.callback_queries.get(query_id)
        if query is None or query["bot"] != bot.id or query["answered"]:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        query["answered"] = True
        query["answer"] = {"text": text, "show_alert": _bool(params.get("show_alert"))}
        chat = self.chat_for(bot, query["chat_id"])
        self._record(
            bot,
            chat,
            "answer_callback",
            callback_query_id=query_id,
            text=text or "",
            show_alert=_bool(params.get("show_alert")),
        )
        return True

    def _m_setmessagereaction(self, bot: Bot, params: dict[str, Any]) -> bool:
        chat = self.chat_for(bot, _int(params.get("chat_id"), "chat_id"))
        message = chat.messages.get(_int(params.get("message_id"), "message_id"))
        if message is None:
            raise bad_request("message to react not found")
        reaction = _json(params.get("reaction")) or []
        if not isinstance(reaction, list) or any(
            r.get("type") != "emoji" or not r.get("emoji") for r in reaction
        ):
            raise bad_request("REACTION_INVALID")
        message["reactions"] = [r["emoji"] for r in reaction]
        self._record(bot, chat, "reaction", message_id=message["message_id"], reaction=message["reactions"])
        return True

    def _m_pinchatmessage(self, bot: Bot, params: dict[str, Any]) -> bool:
        chat = self.chat_for(bot, _int(params.get("chat_id"), "chat_id"))
        message_id = _int(params.get("message_id"), "message_id")
        if message_id not in chat.messages:
            raise bad_request("message to pin not found")
        chat.pinned = message_id
        self._record(bot, chat, "pin", message_id=message_id)
        return True

    def _m_unpinchatmessage(self, bot: Bot, params: dict[str, Any]) -> bool:
        chat = self.chat_for(bot, _int(params.get("chat_id"), "chat_id"))
        chat.pinned = None
        self._record(bot, chat, "unpin", message_id=params.get("message_id"))
        return True

    def _m_sendchataction(self, bot: Bot, params: dict[str, Any]) -> bool:
        chat = self._target_chat(bot, params)
        self._record(bot, chat, "chat_action", action=params.get("action"))
        return True

    def _m_setmycommands(self, bot: Bot, params: dict[str, Any]) -> bool:
        commands = _json(params.get("commands"))
        if not isinstance(commands, list) or not all(
            isinstance(c, dict)
            and re.fullmatch(r"[a-z0-9_]{1,32}", str(c.get("command", "")))
            and c.get("description")
            for c in commands
        ):
            raise bad_request("BOT_COMMANDS_INVALID")
        scope = _json(params.get("scope")) or {"type": "default"}
        key = json.dumps([scope, params.get("language_code") or ""], sort_keys=True)
        bot.commands[key] = commands
        self._record(
            bot,
            None,
            "set_commands",
            scope=scope,
            language_code=params.get("language_code") or "",
            commands=commands,
        )
        return True

    def _m_getmycommands(self, bot: Bot, params: dict[str, Any]) -> list[dict[str, Any]]:
        scope = _json(params.get("scope")) or {"type": "default"}
        return bot.commands.get(json.dumps([scope, params.get("language_code") or ""], sort_keys=True), [])

    def _m_deletemycommands(self, bot: Bot, params: dict[str, Any]) -> bool:
        scope = _json(params.get("scope")) or {"type": "default"}
        bot.commands.pop(json.dumps([scope, params.get("language_code") or ""], sort_keys=True), None)
        return True

    def _m_getchat(self, bot: Bot, params: dict[str, Any]) -> dict[str, Any]:
        chat = self.chat_for(bot, _int(params.get("chat_id"), "chat_id"))
        data = chat.json(self)
        data["accent_color_id"] = 0
        data["max_reaction_count"] = 11
        # Required in ChatFullInfo since Bot API 9.0.
        data["accepted_gift_types"] = {
            "unlimited_gifts": True,
            "limited_gifts": True,
            "unique_gifts": True,
            "premium_subscription": True,
            "gifts_from_channels": True,
        }
        return data

    def _m_getchatmember(self, bot: Bot, params: dict[str, Any]) -> dict[str, Any]:
        chat = self.chat_for(bot, _int(params.get("chat_id"), "chat_id"))
        user_id = _int(params.get("user_id"), "user_id")
        status = chat.members.get(user_id, "left")
        person = bot.user_json() if user_id == bot.id else self.user(user_id).json()
        data: dict[str, Any] = {"status": status, "user": person}
        if status == "administrator":
            data.update(
                can_be_edited=False,
                is_anonymous=False,
                can_manage_chat=True,
                can_delete_messages=True,
                can_manage_video_chats=True,
                can_restrict_members=True,
                can_promote_members=False,
                can_change_info=True,
                can_invite_users=True,
                can_post_stories=False,
                can_edit_stories=False,
                can_delete_stories=False,
            )
        if status == "creator":
            data["is_anonymous"] = False
        if status == "kicked":
            data["until_date"] = 0
        return data

    def _m_leavechat(self, bot: Bot, params: dict[str, Any]) -> bool:
        chat = self.chat_for(bot, _int(params.get("chat_id"), "chat_id"))
        chat.members[bot.id] = "left"
        return True

    def _m_getfile(self, bot: Bot, params: dict[str, Any]) -> dict[str, Any]:
        file = self.files.get(str(params.get("file_id")))
        if file is None:
            raise bad_request("invalid file_id")
        return {
            "file_id": file["file_id"],
            "file_unique_id": file["file_unique_id"],
            "file_size": file.get("file_size", 0),
            "file_path": f"files/{file['file_id']}",
        }

    # ---------------------------------------------------------------- helpers

    def _target_chat(self, bot: Bot, params: dict[str, Any]) -> Chat:
        chat_id = _int(params.get("chat_id"), "chat_id")
        if chat_id > 0:
            user = self.users.get(chat_id)
            if user is None:
                raise bad_request("chat not found")
            if bot.id in user.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            chat = self.private_chat(bot, chat_id)
            if chat is None or bot.id not in user.started:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            return chat
        chat = self.group(chat_id)
        if chat.migrated_to is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat.migrated_to},
            )
        if chat.members.get(bot.id) not in ("member", "administrator", "creator"):
            kind = "supergroup" if chat.type == "supergroup" else "group"
            raise ApiError(403, f"Forbidden: bot is not a member of the {kind} chat")
        return chat

    def _editable(self, bot: Bot, params: dict[str, Any]) -> tuple[Chat, dict[str, Any]]:
        if params.get("inline_message_id"):
            raise bad_request("inline messages are not supported by the sandbox")
        chat = self.chat_for(bot, _int(params.get("chat_id"), "chat_id"))
        message = chat.messages.get(_int(params.get("message_id"), "message_id"))
        if message is None:
            raise bad_request("message to edit not found")
        if message.get("from", {}).get("id") != bot.id:
            raise bad_request("message can't be edited")
        return chat, message

    def _plain(self, text: str, parse_mode: Any) -> str:
        if parse_mode in (None, ""):
            return text
        if str(parse_mode).upper() != "HTML":
            raise bad_request(f"unsupported parse_mode {parse_mode!r} (the sandbox speaks HTML)")
        return parse_html(text)

    def _caption(self, params: dict[str, Any]) -> dict[str, Any]:
        caption = params.get("caption")
        if caption in (None, ""):
            return {}
        plain = self._plain(str(caption), params.get("parse_mode"))
        if utf16_length(plain) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        return {"caption": plain, "caption_html": str(caption)}

    def _file(self, value: Any, kind: str) -> dict[str, Any]:
        if isinstance(value, dict) and "upload" in value:
            upload = value["upload"]
            data = self.new_file(
                kind,
                name=upload.get("filename"),
                mime=upload.get("content_type"),
                size=int(upload.get("size", 0)),
            )
        elif isinstance(value, str) and value in self.files:
            data = {k: v for k, v in self.files[value].items() if k != "kind"}
        elif (
            isinstance(value, str)
            and value.startswith(("http://", "https://"))
            and "unreachable" not in value
        ):
            # Telegram fetches a photo given by URL (a Zalo photo's); one it cannot fetch is refused
            data = self.new_file(kind, name=value.rsplit("/", 1)[-1])
        else:
            raise bad_request("wrong file identifier/HTTP URL specified")
        return data

    def _markup(self, raw: Any) -> dict[str, Any] | None:
        markup = _json(raw)
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            for row in markup["inline_keyboard"]:
                for button in row:
                    actions = [
                        key
                        for key in (
                            "callback_data",
                            "url",
                            "switch_inline_query",
                            "web_app",
                            "login_url",
                            "pay",
                            "copy_text",
                        )
                        if key in button
                    ]
                    if not button.get("text") or len(actions) != 1:
                        raise bad_request("BUTTON_TYPE_INVALID")
                    if (
                        "callback_data" in button
                        and not 1 <= len(str(button["callback_data"]).encode()) <= 64
                    ):
                        raise bad_request("BUTTON_DATA_INVALID")
                    if "url" in button and not re.match(r"^(https?|tg)://", str(button["url"])):
                        raise bad_request("BUTTON_URL_INVALID")
        elif "keyboard" in markup:
            if not markup["keyboard"]:
                raise bad_request("keyboard must be non-empty")
        elif not markup.get("remove_keyboard") and not markup.get("force_reply"):
            raise bad_request("can't parse reply keyboard markup JSON object")
        return markup

    def _bot_message(
        self,
        bot: Bot,
        chat: Chat,
        content: dict[str, Any],
        params: dict[str, Any],
        html_text: str | None = None,
    ) -> dict[str, Any]:
        markup = self._markup(params.get("reply_markup"))
        extra = dict(content)
        if html_text is not None:
            extra["html"] = html_text
        reply_to = params.get("reply_to_message_id")
        reply_parameters = _json(params.get("reply_parameters"))
        if isinstance(reply_parameters, dict):
            reply_to = reply_parameters.get("message_id")
        if reply_to is not None:
            replied = chat.messages.get(_int(reply_to, "reply_to_message_id"))
            if replied is None:
                allow = isinstance(reply_parameters, dict) and reply_parameters.get(
                    "allow_sending_without_reply"
                )
                if not allow:
                    raise bad_request("message to be replied not found")
            else:
                extra["reply_to_message"] = {k: v for k, v in replied.items() if k != "reply_to_message"}
        message = self._new_message(chat, bot.user_json(), extra)
        _set_markup(message, markup if markup and "inline_keyboard" in markup else None)
        self.stats.sent_per_chat[chat.id] += 1
        self._record(
            bot,
            chat,
            "send",
            message_id=message["message_id"],
            text=message.get("text") or message.get("caption") or "",
            html=html_text,
            reply_markup=markup,
            photo="photo" in message,
            document="document" in message,
        )
        if markup and "keyboard" in markup:
            message["reply_markup_shown"] = (
                markup  # the reply keyboard the user now sees (press_reply_button)
            )
        return {
            k: v
            for k, v in message.items()
            if not k.startswith("_") and k not in ("html", "caption_html", "reactions", "reply_markup_shown")
        }

    def _new_message(self, chat: Chat, sender: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
        message = {
            "message_id": chat.next_message_id,
            "from": sender,
            "chat": chat.json(self),
            "date": int(time.time()),
            **content,
        }
        chat.next_message_id += 1
        chat.messages[message["message_id"]] = message
        return message

    def _deliver_to_bots(self, chat: Chat, message: dict[str, Any], exclude: int | None) -> dict[int, int]:
        """Every bot in the chat gets the message; returns bot id → update id."""
        delivered: dict[int, int] = {}
        public = {k: v for k, v in message.items() if k not in ("html", "caption_html", "reactions")}
        for member_id, status in chat.members.items():
            bot = self.bots.get(member_id)
            if bot is None or member_id == exclude or status not in ("member", "administrator", "creator"):
                continue
            if chat.type == "private" and chat.owner_bot != bot.id:
                continue
            delivered[bot.id] = self._push_update(bot, "message", public)
        return delivered

    def _member_update(
        self, chat: Chat, by_user: int, member: dict[str, Any], old: str, new: str
    ) -> dict[str, Any]:
        actor = self.users[by_user].json() if by_user in self.users else member

        def status(value: str) -> dict[str, Any]:
            data: dict[str, Any] = {"status": value, "user": member}
            if value == "kicked":
                data["until_date"] = 0
            return data

        return {
            "chat": chat.json(self),
            "from": actor,
            "date": int(time.time()),
            "old_chat_member": status(old),
            "new_chat_member": status(new),
        }

    def _push_update(self, bot: Bot, kind: str, payload: dict[str, Any]) -> int:
        update_id = bot.next_update_id
        bot.next_update_id += 1
        bot.updates.append({"update_id": update_id, kind: payload})
        bot.arrived.set()
        return update_id

    def _record(self, bot: Bot | None, chat: Chat | None, kind: str, **data: Any) -> None:
        self.record(bot.id if bot else None, chat.id if chat else None, kind, **data)

    def record(self, bot_id: int | str | None, chat_key: int | str | None, kind: str, **data: Any) -> None:
        """One event in the log (a Zalo chat is keyed by its string id)."""
        seq = next(self.seq)
        self.last_seq = seq
        event = {"seq": seq, "kind": kind, "bot_id": bot_id, "chat_id": chat_key, **data}
        self.events.append(event)
        self.event_seqs.append(seq)
        if chat_key is not None:
            self.events_by_chat.setdefault(chat_key, []).append(event)
        for key in (chat_key, None):
            for waiter in self.waiters.pop(key, []):
                waiter.set()

    def events_after(
        self,
        chat_id: int | str | None,
        after_seq: int,
        kinds: set[str] | None = None,
        bot_id: int | None = None,
    ) -> list[dict[str, Any]]:
        source = self.events if chat_id is None else self.events_by_chat.get(chat_id, [])
        seqs = self.event_seqs if chat_id is None else [e["seq"] for e in source]
        start = bisect.bisect_right(seqs, after_seq)
        found = source[start:]
        if kinds:
            found = [e for e in found if e["kind"] in kinds]
        if bot_id is not None:
            found = [e for e in found if e["bot_id"] == bot_id]
        return found

    async def wait_events(
        self,
        chat_id: int | str | None,
        after_seq: int,
        count: int = 1,
        wait_seconds: float = 5.0,
        kinds: set[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Events after `after_seq` once `count` of them exist, or what exists at the timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while True:
            found = [e for e in self.events_after(chat_id, after_seq, kinds) if e["kind"] != "user_message"]
            remaining = deadline - loop.time()
            if len(found) >= count or remaining <= 0:
                return found
            waiter = asyncio.Event()
            self.waiters.setdefault(chat_id, []).append(waiter)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), remaining)

    def chat_messages(self, chat_id: int, bot_ref: str | int | None = None) -> list[dict[str, Any]]:
        bot = self.bot(bot_ref) if bot_ref is not None else None
        chat = self.chat_for(bot, chat_id)
        return [_view(message) for message in chat.messages.values()]

    def message(self, chat_id: int, message_id: int, bot_ref: str | int | None = None) -> dict[str, Any]:
        bot = self.bot(bot_ref) if bot_ref is not None else None
        message = self.chat_for(bot, chat_id).messages.get(message_id)
        if message is None:
            raise bad_request("message not found")
        return _view(message)


def _view(message: dict[str, Any]) -> dict[str, Any]:
    """A message as tests read it: its current text, markup, reactions and pin state."""
    view = {k: v for k, v in message.items() if not k.startswith("_")}
    view.setdefault("reactions", [])
    if "reply_markup_shown" in view:
        view["reply_markup"] = view.pop("reply_markup_shown")
    return view


def _set_markup(message: dict[str, Any], markup: dict[str, Any] | None) -> None:
    if markup and "inline_keyboard" in markup:
        message["reply_markup"] = markup
    else:
        message.pop("reply_markup", None)


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"{name} is required and must be an integer") from None


def _bool(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise bad_request("can't parse JSON parameter") from None
    return value


def html_escape(text: str) -> str:
    return html.escape(text, quote=False)

"""The Bot and its HTTP session: how requests to the Bot API are encoded and answers read.

Every button press costs two Bot API calls (answer the query, edit the screen), so the
per-call work of aiogram's generic session shows up in the bot's throughput. This session
keeps aiogram's behaviour (errors, defaults, files) and takes cheaper paths where the
result is the same.
"""

from __future__ import annotations

import contextlib
import inspect
import typing
from collections.abc import Iterator
from contextvars import ContextVar
from http import HTTPStatus
from typing import Any

from aiogram import Bot
from aiogram.client.context_controller import BotContextController
from aiogram.client.default import Default, DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response
from aiogram.types import (
    ForceReply,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from aiohttp.payload import BytesPayload
from pydantic import ValidationError

from bot.config import Settings
from storage import jsoncodec

# Reply markups hold no files and no `Default` placeholders, so pydantic can write them
# straight to JSON-ready dicts (about ten times cheaper than aiogram's recursive `prepare_value`).
_PLAIN_MODELS = (InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove, ForceReply)

_result_unused: ContextVar[bool] = ContextVar("result_unused", default=False)


@contextlib.contextmanager
def result_unused() -> Iterator[None]:
    """Calls made inside do not build the result object when the Bot API answers ok.

    For calls that may answer `True` instead of a message (edits): the caller gets `True`.
    Validating the edited message (with its keyboard) cost as much as building the request,
    and the screens that edit in place never read it. Errors are read as usual; calls whose
    result cannot be `True` are not affected.
    """
    token = _result_unused.set(True)
    try:
        yield
    finally:
        _result_unused.reset(token)


def _may_return_true(returning: Any) -> bool:
    return returning is bool or bool in typing.get_args(returning)


class JsonAiohttpSession(AiohttpSession):
    """Sends requests without files as a JSON body, which every Bot API server accepts.

    aiogram encodes every request as multipart form data; for the short JSON-shaped calls a
    chat bot makes thousands of times an hour, a JSON body is cheaper to build and to parse.
    Requests that upload files keep aiogram's multipart encoding.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("json_loads", jsoncodec.loads)
        kwargs.setdefault("json_dumps", jsoncodec.dumps)
        super().__init__(**kwargs)
        self._response_types: dict[Any, Any] = {}
        self._defaults_of: DefaultBotProperties | None = None
        self._prepared_defaults: dict[str, Any] = {}

    def check_response(  # type: ignore[override]
        self, bot: Bot, method: TelegramMethod[Any], status_code: int, content: str
    ) -> Response[Any]:
        """Reads a successful answer the cheap way; errors go through aiogram's own reading.

        - Inside `result_unused()`, a call that may answer `True` gets `True`.
        - The keyboard of a message the bot just sent or edited is left out of the result:
          it is the one the bot built, nobody reads it back, and with a form's dozen buttons
          it was most of the cost of reading the message.
        - Each `Response[T]` aiogram parametrises is kept: pydantic caches them only weakly,
          so every garbage collection dropped them and the next call rebuilt the model class
          (about 3 ms each time).
        """
        returning = method.__returning__
        response_type = self._response_types.get(returning)
        if response_type is None:
            response_type = self._response_types[returning] = Response[returning]  # type: ignore[valid-type]
        if status_code == HTTPStatus.OK:
            try:
                answer = jsoncodec.loads(content)
            except ValueError:
                answer = None
            if isinstance(answer, dict) and answer.get("ok") is True:
                if _result_unused.get() and _may_return_true(returning):
                    return Response[Any](ok=True, result=True)
                result = answer.get("result")
                if isinstance(result, dict) and "message_id" in result and "reply_markup" in result:
                    result = {key: value for key, value in result.items() if key != "reply_markup"}
                    answer = {**answer, "result": result}
                with contextlib.suppress(ValidationError):  # aiogram's path below reports it
                    return response_type.model_validate(answer, context={"bot": bot})
        return super().check_response(bot, method, status_code, content)

    def build_form_data(self, bot: Bot, method: TelegramMethod[Any]) -> Any:  # type: ignore[override]
        files: dict[str, InputFile] = {}
        body: dict[str, Any] = {}
        fields = {name: getattr(method, name) for name in type(method).model_fields}
        if method.model_extra:
            fields.update(method.model_extra)
        for key, value in fields.items():
            if isinstance(value, Default):
                prepared_default = self._prepared_default(bot, value, files)
                if prepared_default is not None:
                    body[key] = prepared_default
                continue
            if value is None:
                continue
            if isinstance(value, (str, int, float)):  # bool is an int
                body[key] = value
            elif isinstance(value, _PLAIN_MODELS):
                body[key] = value.model_dump(mode="json", exclude_none=True)
            else:
                prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
                if prepared is not None:
                    body[key] = prepared
        if files:
            return super().build_form_data(bot=bot, method=method)
        return BytesPayload(jsoncodec.dumps_bytes(body), content_type="application/json")

    def _prepared_default(self, bot: Bot, placeholder: Default, files: dict[str, InputFile]) -> Any:
        """The bot's default for a field, encoded once: every message carries the default
        link preview options, whose encoding resolves their own defaults field by field."""
        if self._defaults_of is not bot.default:
            self._defaults_of, self._prepared_defaults = bot.default, {}
        if placeholder.name not in self._prepared_defaults:
            value = bot.default[placeholder.name]
            self._prepared_defaults[placeholder.name] = (
                None if value is None else self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            )
        return self._prepared_defaults[placeholder.name]


def _bind_bot_once(self: BotContextController, context: Any, /) -> None:
    """`model_post_init` of every aiogram object: its one private attribute is the Bot from
    the validation context (what aiogram's own `model_post_init` sets)."""
    bot = context.get("bot") if context else None
    private = getattr(self, "__pydantic_private__", None)
    if private is None:
        object.__setattr__(self, "__pydantic_private__", {"_bot": bot})
    else:  # a subclass's own model_post_init set up its private attributes first
        private["_bot"] = bot


def bind_bot_in_one_call() -> int:
    """Give aiogram's types and methods a `model_post_init` that is one call; returns how many
    classes it changed (idempotent).

    Why: pydantic wraps `model_post_init` again in each subclass that inherits private
    attributes, so building a `Message` or an `InlineKeyboardButton` ran three or four nested
    wrappers that each re-checked the private attributes before aiogram set `_bot`. That
    was half the cost of reading an update and of building a keyboard. Only classes whose
    private attributes are exactly aiogram's `_bot` and whose `model_post_init` is not their
    own are changed; anything else keeps pydantic's behaviour.
    """
    changed = 0
    pending = list(BotContextController.__subclasses__())
    seen: set[type] = set()
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        pending.extend(cls.__subclasses__())
        if set(cls.__private_attributes__) != {"_bot"} or not cls.__module__.startswith("aiogram."):
            continue
        if not _post_init_is_aiograms(cls):  # its own, or already changed
            continue
        cls.model_post_init = _bind_bot_once  # type: ignore[method-assign]
        changed += 1
    return changed


def _post_init_is_aiograms(cls: type) -> bool:
    """Whether `model_post_init` on `cls` is aiogram's, under pydantic's wrappers, rather than
    one that a class wrote for itself."""
    return inspect.unwrap(cls.model_post_init) is _AIOGRAM_POST_INIT  # type: ignore[attr-defined]


_AIOGRAM_POST_INIT = inspect.unwrap(BotContextController.model_post_init)


def create_bot(settings: Settings, token: str | None = None) -> Bot:
    """A Bot for whichever Bot API server TELEGRAM_API_URL names (Telegram, self-hosted, sandbox)."""
    bind_bot_in_one_call()
    session = JsonAiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(
        token or settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(
            parse_mode=ParseMode.HTML, link_preview=LinkPreviewOptions(is_disabled=True)
        ),
    )

"""The Zalo Bot API client against a real HTTP server that answers as the platform does."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from bot.channels.zalo_api import (
    MAX_TEXT,
    ZaloBadRequest,
    ZaloBotApi,
    ZaloForbidden,
    ZaloNetworkError,
    ZaloRetryAfter,
    ZaloServerError,
    ZaloUnauthorized,
    parse_event,
    unreachable,
)

TOKEN = "1234567890:secret-part"
TEXT_EVENT = {
    "event_name": "message.text.received",
    "message": {
        "message_id": "mid-1",
        "chat": {"id": "g-9", "chat_type": "GROUP"},
        "from": {"id": "u-7", "display_name": "Nguyễn Văn A"},
        "date": 1765000000000,
        "text": "#12 Bà con đồng tình",
    },
}


class Platform:
    """Records each call; answers with whatever the test queued (else ok with a message id)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any], str | None]] = []
        self.answers: list[web.Response] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(
            (request.match_info["token"], request.match_info["method"], body, request.content_type)
        )
        if self.answers:
            return self.answers.pop(0)
        return web.json_response({"ok": True, "result": {"message_id": "m-1", "date": 1}})


@pytest.fixture
async def platform() -> AsyncIterator[tuple[Platform, str]]:
    state = Platform()
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield state, f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def api(platform: tuple[Platform, str]) -> AsyncIterator[ZaloBotApi]:
    client = ZaloBotApi(TOKEN, base_url=platform[1], timeout=5)
    yield client
    await client.close()


def error(code: int, description: str, status: int | None = None) -> web.Response:
    return web.json_response(
        {"ok": False, "error_code": code, "description": description}, status=status or code
    )


async def test_a_text_is_sent_as_json_to_the_tokens_method(
    api: ZaloBotApi, platform: tuple[Platform, str]
) -> None:
    assert await api.send_message("u-7", "Xin chào đồng chí") == "m-1"
    [(token, method, body, content_type)] = platform[0].calls
    assert (token, method, content_type) == (TOKEN, "sendMessage", "application/json")
    assert body == {"chat_id": "u-7", "text": "Xin chào đồng chí"}


async def test_a_photo_leaves_out_an_empty_caption(api: ZaloBotApi, platform: tuple[Platform, str]) -> None:
    await api.send_photo("u-7", "https://example.org/chart.png")
    assert platform[0].calls[0][2] == {"chat_id": "u-7", "photo": "https://example.org/chart.png"}


@pytest.mark.parametrize("text", ["", "x" * (MAX_TEXT + 1)])
async def test_a_text_zalo_would_refuse_is_not_sent(
    api: ZaloBotApi, platform: tuple[Platform, str], text: str
) -> None:
    with pytest.raises(ValueError):
        await api.send_message("u-7", text)
    assert platform[0].calls == []


async def test_a_webhook_secret_must_have_8_to_256_characters(
    api: ZaloBotApi, platform: tuple[Platform, str]
) -> None:
    with pytest.raises(ValueError):
        await api.set_webhook("https://bot.example.org/zalo", "short")
    await api.set_webhook("https://bot.example.org/zalo", "s" * 32)
    assert platform[0].calls[0][1:3] == (
        "setWebhook",
        {"url": "https://bot.example.org/zalo", "secret_token": "s" * 32},
    )


async def test_get_updates_gives_the_one_event_or_none(
    api: ZaloBotApi, platform: tuple[Platform, str]
) -> None:
    platform[0].answers = [
        web.json_response({"ok": True, "result": TEXT_EVENT}),
        web.json_response({"ok": True, "result": None}),
    ]
    [event] = await api.get_updates(wait=1)
    assert event.is_text and event.message is not None
    assert event.message.chat_id == "g-9" and event.message.is_group
    assert event.message.sender_name == "Nguyễn Văn A" and event.message.text == "#12 Bà con đồng tình"
    assert platform[0].calls[0][2] == {"timeout": 1}
    assert await api.get_updates(wait=1) == []


@pytest.mark.parametrize(
    ("answer", "kind", "cannot_reach"),
    [
        (error(401, "Unauthorized"), ZaloUnauthorized, False),
        (error(403, "Forbidden: bot was blocked"), ZaloForbidden, True),
        (error(400, "Bad Request: chat not found"), ZaloBadRequest, True),
        (error(400, "Bad Request: text is too long"), ZaloBadRequest, False),
        (error(500, "Internal Server Error"), ZaloServerError, False),
        (
            web.Response(status=502, text="<html>502 Bad Gateway</html>", content_type="text/html"),
            ZaloServerError,
            False,
        ),
        (
            web.Response(status=200, text="<html>maintenance</html>", content_type="text/html"),
            ZaloNetworkError,
            False,
        ),
    ],
)
async def test_each_refusal_becomes_its_error(
    api: ZaloBotApi, platform: tuple[Platform, str], answer: web.Response, kind: type, cannot_reach: bool
) -> None:
    platform[0].answers = [answer]
    with pytest.raises(kind) as raised:
        await api.send_message("u-7", "Xin chào")
    assert unreachable(raised.value) is cannot_reach


async def test_too_many_requests_says_when_to_come_back(
    api: ZaloBotApi, platform: tuple[Platform, str]
) -> None:
    platform[0].answers = [
        error(429, "Too Many Requests"),
        web.json_response(
            {"ok": False, "error_code": 429, "description": "slow down", "parameters": {"retry_after": 12}},
            status=429,
        ),
    ]
    with pytest.raises(ZaloRetryAfter) as first:
        await api.send_message("u-7", "Xin chào")
    assert first.value.retry_after == 5.0  # none given: a conservative guess
    with pytest.raises(ZaloRetryAfter) as second:
        await api.send_message("u-7", "Xin chào")
    assert second.value.retry_after == 12.0


async def test_a_platform_that_does_not_answer_is_a_network_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = ZaloBotApi(TOKEN, base_url=f"http://127.0.0.1:{port}", timeout=2)
    try:
        with pytest.raises(ZaloNetworkError):
            await client.get_me()
    finally:
        await client.close()


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"event_name": ""},
        {"event_name": "message.text.received", "message": "text"},
        {"event_name": "message.text.received", "message": {"chat": {"id": "c"}, "from": {"id": "u"}}},
    ],
)
def test_an_event_without_what_it_needs_is_refused(raw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        parse_event(raw)


def test_an_image_event_keeps_its_url_and_caption() -> None:
    raw = json.loads(json.dumps(TEXT_EVENT))
    raw["event_name"] = "message.image.received"
    del raw["message"]["text"]
    raw["message"].update(photo="https://example.org/a.jpg", caption="Ảnh hiện trường")
    raw["message"]["chat"]["chat_type"] = "PRIVATE"
    event = parse_event(raw)
    assert event.is_image and event.message is not None
    assert (event.message.photo_url, event.message.caption) == (
        "https://example.org/a.jpg",
        "Ảnh hiện trường",
    )
    assert not event.message.is_group

"""The sandbox answers the Zalo Bot API as the platform's documentation describes it, read
through our own client over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.channels.zalo_api import ZaloBadRequest, ZaloBotApi, ZaloForbidden, ZaloRetryAfter, ZaloUnauthorized
from bot.sandbox import SandboxClient, SandboxServer


@pytest.fixture
async def zalo(
    sandbox: SandboxServer, sandbox_client: SandboxClient
) -> AsyncIterator[tuple[ZaloBotApi, str]]:
    info = await sandbox_client.zalo_create_bot("Bot thử")
    api = ZaloBotApi(info.token, base_url=sandbox.base_url + "/zalo", timeout=5)
    yield api, info.token
    await api.close()


async def test_an_event_is_handed_out_once_with_the_documented_shape(
    zalo: tuple[ZaloBotApi, str], sandbox_client: SandboxClient
) -> None:
    api, token = zalo
    user = await sandbox_client.zalo_create_user("Lan")
    sent = await sandbox_client.zalo_send_text(token, user, "Xin chào")
    [event] = await api.get_updates(wait=1)
    assert event.is_text and event.message is not None
    assert (event.message.message_id, event.message.chat_id, event.message.sender_id) == (
        sent.message_id,
        user,
        user,
    )
    assert (event.message.text, event.message.is_group, event.message.sender_name) == (
        "Xin chào",
        False,
        "Lan",
    )
    assert await api.get_updates(wait=0.2) == []  # at most once


async def test_the_bot_writes_only_to_people_who_wrote_to_it_and_did_not_block_it(
    zalo: tuple[ZaloBotApi, str], sandbox_client: SandboxClient
) -> None:
    api, token = zalo
    stranger = await sandbox_client.zalo_create_user("Người lạ")
    with pytest.raises(ZaloForbidden):
        await api.send_message(stranger, "Chào")
    await sandbox_client.zalo_send_text(token, stranger, "Chào bot")
    assert await api.send_message(stranger, "Chào đồng chí")
    assert [m["text"] for m in await sandbox_client.zalo_messages(stranger) if m["from"] == "bot"] == [
        "Chào đồng chí"
    ]
    await sandbox_client.zalo_block(token, stranger)
    with pytest.raises(ZaloForbidden):
        await api.send_message(stranger, "Còn đó không?")
    with pytest.raises(ZaloBadRequest):
        await api.call("sendMessage", {"chat_id": "nobody", "text": "x"})


async def test_texts_over_2000_characters_and_wrong_tokens_are_refused(
    zalo: tuple[ZaloBotApi, str], sandbox: SandboxServer, sandbox_client: SandboxClient
) -> None:
    api, token = zalo
    user = await sandbox_client.zalo_create_user("Lan")
    await sandbox_client.zalo_send_text(token, user, "hi")
    with pytest.raises(ZaloBadRequest):
        await api.call("sendMessage", {"chat_id": user, "text": "x" * 2001})
    wrong = ZaloBotApi("1:wrong", base_url=sandbox.base_url + "/zalo")
    with pytest.raises(ZaloUnauthorized):
        await wrong.get_me()
    await wrong.close()


async def test_the_configured_limit_answers_429(
    zalo: tuple[ZaloBotApi, str], sandbox_client: SandboxClient
) -> None:
    api, token = zalo
    user = await sandbox_client.zalo_create_user("Lan")
    await sandbox_client.zalo_send_text(token, user, "hi")
    await sandbox_client.zalo_configure(global_per_second=2)
    await api.send_message(user, "1")
    await api.send_message(user, "2")
    with pytest.raises(ZaloRetryAfter):
        await api.send_message(user, "3")


async def test_a_webhook_gets_events_with_the_secret_and_a_retry_until_it_answers_200(
    zalo: tuple[ZaloBotApi, str], sandbox_client: SandboxClient
) -> None:
    api, token = zalo
    received: list[tuple[str | None, str]] = []
    answers = [500, 200]

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        received.append((request.headers.get("X-Bot-Api-Secret-Token"), body["message"]["message_id"]))
        return web.Response(status=answers.pop(0) if answers else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await api.set_webhook(f"http://127.0.0.1:{port}/hook", "secret-zalo-123")
        user = await sandbox_client.zalo_create_user("Lan")
        sent = await sandbox_client.zalo_send_text(token, user, "qua webhook")
        for _ in range(100):
            if len(received) >= 2:
                break
            await asyncio.sleep(0.05)
        assert received == [("secret-zalo-123", sent.message_id)] * 2
        assert (await api.get_webhook_info())["url"].endswith("/hook")
    finally:
        await runner.cleanup()


async def test_group_messages_reach_a_bot_in_the_group(
    zalo: tuple[ZaloBotApi, str], sandbox_client: SandboxClient
) -> None:
    api, token = zalo
    lan = await sandbox_client.zalo_create_user("Lan")
    group = await sandbox_client.zalo_create_group("Nhóm CTV", [lan])
    await sandbox_client.zalo_add_bot_to_group(group, token)
    await sandbox_client.zalo_send_text(token, lan, "#3 ý kiến", group_id=group)
    [event] = await api.get_updates(wait=1)
    assert event.message is not None and event.message.is_group and event.message.chat_id == group
    assert await api.send_message(group, "Đã ghi nhận")

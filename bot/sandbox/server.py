"""HTTP face of the sandbox: the Bot API at /bot<token>/<method> and a control API at /sandbox/."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web

from bot.sandbox.world import ApiError, World
from bot.sandbox.zalo import ZaloError

JSON_DUMPS = json.dumps


def _answer(payload: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        text=JSON_DUMPS(payload, ensure_ascii=False), status=status, content_type="application/json"
    )


async def _params(request: web.Request) -> dict[str, Any]:
    """Parameters from the query, a JSON body, a form or multipart (uploads become descriptors)."""
    params: dict[str, Any] = dict(request.query)
    if request.method != "POST" or not request.body_exists:
        return params
    content_type = request.content_type
    if content_type == "application/json":
        body = await request.json()
        if not isinstance(body, dict):
            raise ApiError(400, "Bad Request: the body must be a JSON object")
        params.update(body)
        return params
    if content_type == "multipart/form-data":
        reader = await request.multipart()
        async for part in reader:
            assert isinstance(part, BodyPartReader)  # aiogram never nests multipart bodies
            if part.name is None:
                continue
            if getattr(part, "filename", None):
                data = await part.read()
                params[part.name] = {
                    "upload": {
                        "filename": part.filename,
                        "content_type": part.headers.get("Content-Type"),
                        "size": len(data),
                    }
                }
            else:
                params[part.name] = await part.text()
        _resolve_attachments(params)
        return params
    form = await request.post()
    params.update({key: value for key, value in form.items() if isinstance(value, str)})
    return params


def _resolve_attachments(params: dict[str, Any]) -> None:
    """aiogram sends an upload as `attach://<name>` plus a part with that name."""
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            params[key] = params.pop(value[len("attach://") :], value)


def create_sandbox_app(world: World) -> web.Application:
    async def bot_api(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        bot = world.bots_by_token.get(token)
        if bot is None:
            return _answer({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
        try:
            params = await _params(request)
            world.stats.begin_call(method)
            try:
                if world.faults.latency_ms:
                    await asyncio.sleep(world.faults.latency_ms / 1000)
            finally:
                world.stats.end_call(method)
            if method.lower() == "getupdates":
                if world.faults.next_get_updates:
                    return _get_updates_fault(world.faults.next_get_updates.pop(0))
                return _answer({"ok": True, "result": await _get_updates(world, bot, params)})
            fault = world.fault_for(method)
            if fault == "400":  # refused, as Telegram refuses each of these
                return _answer({"ok": False, "error_code": 400, "description": _refusal(method)}, 400)
            if fault in ("500", "502"):
                code = int(fault)
                text = "Internal Server Error" if code == 500 else "Bad Gateway"
                return _answer({"ok": False, "error_code": code, "description": text}, code)
            if fault == "timeout":
                await asyncio.sleep(world.faults.timeout_seconds)
                return _answer({"ok": False, "error_code": 504, "description": "Gateway Timeout"}, 504)
            result = world.call(bot, method, params)
            if fault == "late_500":
                return _answer({"ok": False, "error_code": 500, "description": "Internal Server Error"}, 500)
            return _answer({"ok": True, "result": result})
        except ApiError as error:
            if 400 <= error.code < 500 and error.code != 429:
                world.stats.refused[method] += 1
            return _answer(error.payload(), error.code)

    async def zalo_api(request: web.Request) -> web.Response:
        """The Zalo Bot API: JSON POSTs to /zalo/bot<token>/<method>."""
        zalo = world.zalo
        bot = zalo.bots_by_token.get(request.match_info["token"])
        method = request.match_info["method"]
        if bot is None:
            return _answer({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
        try:
            params = await _params(request)
            world.stats.begin_call(f"zalo.{method}")
            try:
                if world.faults.latency_ms:
                    await asyncio.sleep(world.faults.latency_ms / 1000)
            finally:
                world.stats.end_call(f"zalo.{method}")
            if method.lower() == "getupdates":
                return _answer({"ok": True, "result": await zalo.get_updates(bot, params)})
            fault = world.fault_for(method)
            if fault == "400":
                return _answer({"ok": False, "error_code": 400, "description": "injected refusal"}, 400)
            if fault in ("500", "502"):
                code = int(fault)
                return _answer(
                    {"ok": False, "error_code": code, "description": "Internal Server Error"}, code
                )
            if fault == "timeout":
                await asyncio.sleep(world.faults.timeout_seconds)
                return _answer({"ok": False, "error_code": 504, "description": "Gateway Timeout"}, 504)
            result = zalo.call(bot, method, params)
            if fault == "late_500":
                return _answer({"ok": False, "error_code": 500, "description": "Internal Server Error"}, 500)
            return _answer({"ok": True, "result": result})
        except (ZaloError, ApiError) as error:
            if 400 <= error.code < 500 and error.code != 429:
                world.stats.refused[f"zalo.{method}"] += 1
            return _answer(error.payload(), error.code)

    async def control(request: web.Request) -> web.Response:
        action = request.match_info["action"]
        handler = CONTROL.get(action)
        if handler is None:
            return _answer({"ok": False, "description": f"unknown control action {action!r}"}, 404)
        try:
            body = await request.json() if request.body_exists else {}
            position = world.last_seq
            result = handler(world, **body)
            if asyncio.iscoroutine(result):
                result = await result
            if isinstance(result, dict) and ("update_id" in result or action.startswith("zalo_send")):
                # Where the event log stood before the action: the bot's answer comes after it.
                result = {**result, "seq": position}
            return _answer({"ok": True, "result": result})
        except (ApiError, ZaloError) as error:
            return _answer({"ok": False, "description": error.description}, 400)
        except TypeError as error:
            return _answer({"ok": False, "description": f"bad arguments: {error}"}, 400)

    app = web.Application(client_max_size=60 * 1024 * 1024)
    app.router.add_route("*", "/bot{token}/{method}", bot_api)
    app.router.add_route("*", "/zalo/bot{token}/{method}", zalo_api)
    app.router.add_post("/sandbox/{action}", control)
    return app


def _refusal(method: str) -> str:
    name = method.lower()
    if name == "setmessagereaction":
        return "Bad Request: REACTION_INVALID"  # a group that allows no reactions
    if name.startswith("edit"):
        return "Bad Request: message can't be edited"  # too old, or not the bot's
    return "Bad Request: injected refusal"


def _get_updates_fault(kind: str) -> web.Response:
    if kind == "409":
        description = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
        return _answer({"ok": False, "error_code": 409, "description": description}, 409)
    if kind == "html_502":
        page = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
        return web.Response(status=502, text=page, content_type="text/html")
    return _answer({"ok": False, "error_code": 500, "description": "Internal Server Error"}, 500)


async def _get_updates(world: World, bot: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    offset = params.get("offset")
    limit = int(params.get("limit") or 100)
    timeout = float(params.get("timeout") or 0)
    pending = world.confirm(bot, int(offset) if offset not in (None, "") else None)
    if not pending and timeout > 0:
        try:
            await asyncio.wait_for(bot.arrived.wait(), timeout)
        except TimeoutError:
            return []
        pending = list(bot.updates)
    allowed = params.get("allowed_updates")
    if isinstance(allowed, str) and allowed:
        allowed = json.loads(allowed)
    if allowed:
        pending = [u for u in pending if any(key in u for key in allowed)]
    return pending[: max(1, min(limit, 100))]


def _user_dict(user: Any) -> dict[str, Any]:
    return {
        "id": user.id,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "username": user.username,
        "language_code": user.language_code,
    }


CONTROL: dict[str, Any] = {
    "reset": lambda w: w.reset(),
    "create_bot": lambda w, username="dlxh_bot", first_name="DLXH Bot": (
        lambda b: {"id": b.id, "token": b.token, "username": b.username}
    )(w.create_bot(username, first_name)),
    "create_user": lambda w, **kw: _user_dict(w.create_user(**kw)),
    "create_group": lambda w, title, member_ids, kind="group", admins=None: (
        lambda c: {"id": c.id, "type": c.type, "title": c.title}
    )(w.create_group(title, member_ids, kind, admins)),
    "add_bot_to_group": lambda w, chat_id, bot, by_user_id: w.add_bot_to_group(chat_id, bot, by_user_id),
    "add_member": lambda w, chat_id, user_id: w.add_member(chat_id, user_id),
    "remove_member": lambda w, chat_id, user_id: w.remove_member(chat_id, user_id),
    "migrate_group": lambda w, chat_id: w.migrate_group(chat_id),
    "send_message": lambda w, bot, user_id, text, chat_id=None, reply_to_message_id=None: w.user_sends(
        bot, user_id, {"text": text}, chat_id, reply_to_message_id
    ),
    "send_contact": lambda w, bot, user_id, phone_number, first_name, contact_user_id=None, chat_id=None: (
        w.user_sends(
            bot,
            user_id,
            {
                "contact": {
                    "phone_number": phone_number,
                    "first_name": first_name,
                    **({"user_id": contact_user_id} if contact_user_id else {}),
                }
            },
            chat_id,
        )
    ),
    "send_photo": lambda w, bot, user_id, chat_id=None, caption=None, reply_to_message_id=None: w.user_sends(
        bot,
        user_id,
        {"photo": [w.new_file("photo")], **({"caption": caption} if caption else {})},
        chat_id,
        reply_to_message_id,
    ),
    "send_document": lambda w, bot, user_id, file_name, mime_type, chat_id=None, caption=None: w.user_sends(
        bot,
        user_id,
        {
            "document": w.new_file("document", file_name, mime_type),
            **({"caption": caption} if caption else {}),
        },
        chat_id,
    ),
    "press_button": lambda w, bot, user_id, chat_id, message_id, text: w.press_button(
        bot, user_id, chat_id, message_id, text
    ),
    "press_callback_data": lambda w, bot, user_id, chat_id, message_id, data: w.press_callback_data(
        bot, user_id, chat_id, message_id, data
    ),
    "press_reply_button": lambda w, bot, user_id, text: w.press_reply_button(bot, user_id, text),
    "block_bot": lambda w, bot, user_id, blocked=True: w.block_bot(bot, user_id, blocked),
    "events": lambda w, chat_id=None, after_seq=0, kinds=None, bot=None: w.events_after(
        chat_id, after_seq, set(kinds) if kinds else None, w.bot(bot).id if bot else None
    ),
    "wait_events": lambda w, chat_id=None, after_seq=0, count=1, timeout=5.0, kinds=None: w.wait_events(
        chat_id, after_seq, count, timeout, set(kinds) if kinds else None
    ),
    "chat_messages": lambda w, chat_id, bot=None: w.chat_messages(chat_id, bot),
    "message": lambda w, chat_id, message_id, bot=None: w.message(chat_id, message_id, bot),
    "last_seq": lambda w: w.last_seq,
    "callback_answer": lambda w, callback_query_id: (w.callback_queries.get(callback_query_id) or {}).get(
        "answer"
    ),
    "commands": lambda w, bot: w.bot(bot).commands,
    "configure": lambda w, **options: w.configure(**options),
    "stats": lambda w: w.stats.json(),
    "reset_stats": lambda w: setattr(w, "stats", type(w.stats)()),
    "pending_updates": lambda w, bot: len(w.bot(bot).updates),
    # Zalo: ids are strings; a chat is a user id (private) or a group id.
    "zalo_create_bot": lambda w, name="DLXH Bot", can_join_groups=True: (
        lambda b: {"id": b.id, "token": b.token, "name": b.name}
    )(w.zalo.create_bot(name, can_join_groups)),
    "zalo_create_user": lambda w, display_name: (lambda u: {"id": u.id, "display_name": u.display_name})(
        w.zalo.create_user(display_name)
    ),
    "zalo_create_group": lambda w, name, member_ids: {"id": w.zalo.create_group(name, member_ids).id},
    "zalo_add_bot_to_group": lambda w, group_id, bot: w.zalo.add_bot_to_group(group_id, bot),
    "zalo_send_text": lambda w, bot, user_id, text, group_id=None: w.zalo.user_sends(
        bot, user_id, {"text": text}, "message.text.received", group_id
    ),
    "zalo_send_photo": lambda w, bot, user_id, photo="https://zalo.example/photo.jpg", caption=None, group_id=None: (
        w.zalo.user_sends(
            bot,
            user_id,
            {"photo": photo, **({"caption": caption} if caption else {})},
            "message.image.received",
            group_id,
        )
    ),
    "zalo_send_sticker": lambda w, bot, user_id, group_id=None: w.zalo.user_sends(
        bot,
        user_id,
        {"sticker": "sticker-1", "url": "https://zalo.example/sticker.png"},
        "message.sticker.received",
        group_id,
    ),
    "zalo_send_unsupported": lambda w, bot, user_id, group_id=None: w.zalo.user_sends(
        bot, user_id, {}, "message.unsupported.received", group_id
    ),
    "zalo_redeliver": lambda w, bot, message_id: w.zalo.redeliver(bot, message_id),
    "zalo_block": lambda w, bot, user_id, blocked=True: w.zalo.block(bot, user_id, blocked),
    "zalo_messages": lambda w, chat_id: w.zalo.chat_messages(chat_id),
    "zalo_pending": lambda w, bot: w.zalo.pending(bot),
    "zalo_webhook_deliveries": lambda w, message_id: w.zalo.webhook_deliveries[message_id],
    "zalo_configure": lambda w, **options: w.zalo.configure(**options),
}


@dataclass
class SandboxServer:
    base_url: str
    world: World
    runner: web.AppRunner

    async def close(self) -> None:
        await self.world.zalo.close()
        await self.runner.cleanup()


async def start_sandbox(host: str = "127.0.0.1", port: int = 0, world: World | None = None) -> SandboxServer:
    """Serve a sandbox on host:port (port 0 picks a free one)."""
    world = world or World()
    runner = web.AppRunner(create_sandbox_app(world), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    return SandboxServer(base_url=f"http://{host}:{bound}", world=world, runner=runner)

"""The access policy, generated (issue 18): every command and every button of bot/access.py's
POLICY × every kind of actor × every kind of chat, against the running bot.

What the policy allows must work (an answer that is not a refusal); what it refuses must get
exactly one polite line and change nothing: the database, and every message already in the
chats the actor can see, byte for byte. Buttons are pressed where the bot really shows them to
that actor (a /setup menu in each group, the urgent post, the actor's own /lang and /forget
screens); a button that is nowhere to be pressed in a chat is pressed as forged data, marked
for that chat, on the bot's latest message there, and must be refused the same way (that
checks the layer before the policy: bot/middlewares.py's SignedCallbackMiddleware).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pytest
from aiogram.types import User
from sqlmodel import SQLModel, select

from bot.access import POLICY, Actor, ChatKind, Permission, Rule, load_actor
from bot.sandbox.client import SandboxError
from storage import people
from storage.models import ChatGroup, Person, PersonStatus, Role, Unit
from tests.e2e.flows import send_urgent
from tests.e2e.harness import Persona, Reply, World

pytestmark = pytest.mark.skipif(
    os.environ.get("TEST_DATABASE") == "postgres",
    reason="the policy does not depend on the database; the SQLite pass walks it",
)

# Tables whose rows are the bot's own bookkeeping of a conversation, not what an action did:
# the updates themselves, the answers queued, the one-shot menus of Zalo.
BOOKKEEPING = {"inbox", "outbox", "chat_menu", "alembic_version"}
# Columns that move while a delivery runs on its own: only the rest is compared.
MOVING = {"broadcast": {"status", "progress_message_id", "progress_shown", "finished_at"}}
APOLOGY = "Xin lỗi, đã có lỗi"

# One line each; what a refusal says in Vietnamese (the default locale).
REFUSALS = (
    "Đồng chí chưa đăng ký.",
    "Xin lỗi, chỉ ",
    "Xin lỗi, lệnh này chỉ dành cho",
    "Lệnh này dùng trong cuộc trò chuyện riêng với bot",
    "Lệnh này chỉ dùng khi nhắn riêng",
    "Nhóm này chưa được đăng ký",
    "ngoài phạm vi phụ trách",
    "nằm ngoài phạm vi của đồng chí",
    "Chỉ thành viên đã đăng ký",
    "xin gửi /setup ngay trong nhóm",
    "Nút này đã hết hiệu lực.",
    "Xin hoàn tất việc đăng ký trước",
)


@dataclass
class Cast:
    personas: dict[str, Persona]
    chats: dict[ChatKind | str, int]


ACTORS = {
    # name: (unit, role); None: no person at all; "pending": opened an invite, not finished
    "stranger": None,
    "pending": "pending",
    "collaborator": ("HUYEN_A", Role.COLLABORATOR),
    "staff": ("HUYEN_A", Role.STAFF),
    "leader": ("HUYEN_A", Role.LEADER),
    "child_staff": ("XA_A1", Role.STAFF),
    "child_leader": ("XA_A1", Role.LEADER),
    "other_staff": ("HUYEN_B", Role.STAFF),
    "other_leader": ("HUYEN_B", Role.LEADER),
    "admin": ("TINH", Role.ADMIN),
}
# The chats an actor acts in: kind, and the unit a registered group is bound to.
CHATS: dict[str, tuple[ChatKind, str | None]] = {
    "private": (ChatKind.PRIVATE, None),
    "own group": (ChatKind.GROUP, "HUYEN_A"),
    "other group": (ChatKind.GROUP, "HUYEN_B"),
    "unregistered group": (ChatKind.UNREGISTERED, None),
}


async def cast(world: World) -> Cast:
    async with world.sessions() as session:
        commune = await people.create_unit(
            session=session, code="XA_A1", name="Xã An Bình", parent=world.units["HUYEN_A"]
        )
        await session.commit()
    world.units["XA_A1"] = commune
    personas: dict[str, Persona] = {}
    for name, spec in ACTORS.items():
        persona = await world.person_named(name.replace("_", " ").title())
        personas[name] = persona
        if spec == "pending":
            async with world.sessions() as session:
                await people.add_person(
                    session=session,
                    person=Person(chat_id=persona.user_id, full_name="Chờ", status=PersonStatus.PENDING),
                )
                await session.commit()
        elif isinstance(spec, tuple):
            unit, role = spec
            await world.seed_member(persona, unit=unit, role=role)
    everyone = list(personas.values())
    # the admin adds the bot, so each group starts the same way
    members = [personas["admin"], *(p for p in everyone if p is not personas["admin"])]
    chats: dict[ChatKind | str, int] = {
        "own group": await world.group("Nhóm Huyện A", members, unit="HUYEN_A"),
        "other group": await world.group("Nhóm Huyện B", members, unit="HUYEN_B"),
        "unregistered group": await world.group("Nhóm chưa đăng ký", members),
    }
    return Cast(personas=personas, chats=chats)


async def actor_of(world: World, persona: Persona) -> Actor:
    async with world.sessions() as session:
        return await load_actor(
            session=session,
            user=User(id=persona.user_id, is_bot=False, first_name="x"),
            admin_ids=frozenset(),
        )


async def fingerprint(world: World) -> dict[str, list[Any]]:
    """Every row of every table but the bookkeeping ones."""
    found: dict[str, list[Any]] = {}
    async with world.sessions() as session:
        connection = await session.connection()
        for table in SQLModel.metadata.sorted_tables:
            if table.name in BOOKKEEPING:
                continue
            columns = [c for c in table.columns if c.name not in MOVING.get(table.name, set())]
            rows = (await connection.execute(select(*columns))).all()
            found[table.name] = sorted(repr(tuple(row)) for row in rows)
    return found


async def messages(world: World, chat_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {}
    for chat_id in chat_ids:
        try:
            found[chat_id] = await world.client.chat_messages(chat_id)
        except SandboxError:  # a private chat the person has not opened yet
            found[chat_id] = []
    return found


def is_refusal(line: str) -> bool:
    return any(marker in line for marker in REFUSALS)


def check_allowed(lines: list[str], where: str) -> None:
    """Answered, with neither a refusal nor the apology of a failed update."""
    assert lines, f"{where}: allowed, but nothing was answered"
    assert not any(is_refusal(line) or APOLOGY in line for line in lines), f"{where}: {lines}"


def expected(rule: Rule, actor: Actor, chat: str, world: World) -> bool:
    kind, unit = CHATS[chat]
    group_unit: Unit | None = world.units[unit] if unit else None
    return rule.allows(actor if actor.person is not None else None, kind, group_unit)


async def check_refused(
    world: World,
    reply: Reply,
    before_rows: dict[str, list[Any]],
    before_messages: dict[int, list[dict[str, Any]]],
    where: str,
    *,
    chat_id: int,
    alert: bool = False,
) -> None:
    """One polite line (a message in the chat acted in, or a press's alert), and nothing
    else: no row changed, no message in any chat changed or added."""
    lines = reply.alerts if alert else reply.texts
    assert len(lines) == 1 and is_refusal(lines[0]), f"{where}: {lines}"
    assert await fingerprint(world) == before_rows, f"{where}: the database changed"
    after = await messages(world, list(before_messages))
    for chat, earlier in before_messages.items():
        added = 0 if alert or chat != chat_id else 1
        assert after[chat][: len(earlier)] == earlier, f"{where}: a message in {chat} changed"
        said = [m for m in after[chat][len(earlier) :] if m.get("from", {}).get("is_bot")]
        assert len(said) == added, f"{where}: {said}"


async def test_every_command_for_every_actor_in_every_chat(world: World) -> None:
    cast_ = await cast(world)
    commands = [rule for action, rule in POLICY.items() if action.startswith("/")]
    outcomes: dict[bool, int] = {True: 0, False: 0}
    for actor_name, persona in cast_.personas.items():
        actor = await actor_of(world, persona)
        for chat in CHATS:
            chat_id = persona.user_id if chat == "private" else cast_.chats[chat]
            watched = [persona.user_id, *(cast_.chats[name] for name in CHATS if name != "private")]
            for rule in commands:
                where = f"{rule.action} by {actor_name} in {chat}"
                allowed = expected(rule, actor, chat, world)
                before_rows = await fingerprint(world)
                before_messages = await messages(world, watched)
                reply = await persona.send(rule.action, chat_id=None if chat == "private" else chat_id)
                outcomes[allowed] += 1
                if allowed:
                    check_allowed(reply.texts, where)
                    if chat == "private" and rule.action != "/cancel":
                        await persona.send("/cancel")  # leave no conversation open for the next
                else:
                    await check_refused(world, reply, before_rows, before_messages, where, chat_id=chat_id)
    # 15 commands × 10 actors × 4 chats; most are refused (most commands are for one role, in
    # private), and every one of the allowed ones was answered
    assert sum(outcomes.values()) == len(commands) * len(ACTORS) * len(CHATS)
    print(f"commands: {outcomes[True]} allowed, {outcomes[False]} refused")


def unsigned(data: str) -> str:
    return data.rpartition("~")[0] or data


def wanted(prefix: str, data: str, *, unit_id: int, topic_only: bool = False) -> bool:
    """The button of each kind pressed where it is shown: the one that changes least."""
    plain = unsigned(data)
    if not plain.startswith(f"{prefix}:"):
        return False
    return {
        "su": plain == f"su:{unit_id}:-1",  # the group's own unit (or the presser's, unregistered)
        "lg": plain == "lg:vi",
        "fg": plain == "fg:0",  # keep my details
        "rp": plain.endswith(":0"),  # keep my earlier report
        "bc": plain.endswith(":u"),  # who was not reached
    }.get(prefix, True)


async def shown_button(world: World, chat_id: int, prefix: str, unit_id: int) -> tuple[int, str] | None:
    """The bot's latest message in the chat showing a button of this kind: (message, data)."""
    try:
        found = await world.client.chat_messages(chat_id)
    except SandboxError:
        return None
    for message in reversed(found):
        markup = message.get("reply_markup") or {}
        for row in markup.get("inline_keyboard") or []:
            for key in row:
                data = key.get("callback_data")
                if data and wanted(prefix, data, unit_id=unit_id):
                    return int(message["message_id"]), data
    return None


async def latest_bot_message(world: World, chat_id: int) -> int | None:
    try:
        found = await world.client.chat_messages(chat_id)
    except SandboxError:
        return None
    mine = [m for m in found if m.get("from", {}).get("is_bot")]
    return int(mine[-1]["message_id"]) if mine else None


async def test_every_button_for_every_actor_in_every_chat(world: World) -> None:
    cast_ = await cast(world)
    admin = cast_.personas["admin"]
    await send_urgent(admin)  # to every unit: pinned in both registered groups, and in private
    await admin.press("🚨 Gửi")
    await world.delivered()
    buttons = [rule for action, rule in POLICY.items() if action.startswith("button ")]
    outcomes = {"allowed": 0, "refused": 0, "forged": 0}
    for actor_name, persona in cast_.personas.items():
        actor = await actor_of(world, persona)
        # what this person can open in private: their own screens, where the buttons are
        await persona.send("/lang")
        await persona.send("/forget")
        if actor.allows(Permission.REPORT):
            await persona.send("/report")
        if actor.allows(Permission.PUBLISH_TOPIC):
            await persona.send("/broadcasts")
        own_unit = world.units[ACTORS[actor_name][0]] if isinstance(ACTORS[actor_name], tuple) else None
        for chat in CHATS:
            kind, group_unit_code = CHATS[chat]
            chat_id = persona.user_id if chat == "private" else cast_.chats[chat]
            watched = [persona.user_id, *(cast_.chats[name] for name in CHATS if name != "private")]
            for rule in buttons:
                prefix = rule.action.removeprefix("button ")
                where = f"{rule.action} by {actor_name} in {chat}"
                chosen = (
                    world.units[group_unit_code] if group_unit_code else own_unit or world.units["HUYEN_A"]
                )
                if prefix == "su" and kind is not ChatKind.PRIVATE:
                    await admin.send("/setup", chat_id=chat_id)  # a fresh menu for each presser
                target = await shown_button(world, chat_id, prefix, chosen.id or 0)
                before_rows = await fingerprint(world)
                before_messages = await messages(world, watched)
                if target is None:  # nowhere to press it: forged data, marked for this chat
                    message_id = await latest_bot_message(world, chat_id)
                    if message_id is None:
                        continue  # a chat the bot has never written in: nothing to press on
                    reply = await persona.press_data(
                        world.signed(chat_id, f"{prefix}:1:1"),
                        message_id=message_id,
                        chat_id=None if chat == "private" else chat_id,
                    )
                    outcomes["forged"] += 1
                    await check_refused(
                        world, reply, before_rows, before_messages, where, chat_id=chat_id, alert=True
                    )
                    continue
                message_id, data = target
                reply = await persona.press_data(
                    data, message_id=message_id, chat_id=None if chat == "private" else chat_id
                )
                group_unit = world.units[group_unit_code] if group_unit_code else None
                allowed = rule.allows(
                    actor if actor.person is not None else None,
                    kind,
                    group_unit,
                    addressed=own_unit is not None,
                )
                if prefix == "su" and kind is ChatKind.UNREGISTERED:
                    allowed = allowed and actor.can_act_on(Permission.SETUP_GROUP, chosen)
                outcomes["allowed" if allowed else "refused"] += 1
                if allowed:
                    check_allowed(reply.alerts + reply.texts, where)
                    if prefix == "su" and kind is ChatKind.UNREGISTERED:
                        await unregister(world, chat_id)  # the next presser meets it unregistered
                else:
                    await check_refused(
                        world, reply, before_rows, before_messages, where, chat_id=chat_id, alert=True
                    )
        if actor.allows(Permission.REPORT):
            await persona.send("/cancel")
    print(f"buttons: {outcomes}")
    assert outcomes["allowed"] >= 20 and outcomes["refused"] >= 20 and outcomes["forged"] >= 50, outcomes


async def unregister(world: World, chat_id: int) -> None:
    async with world.sessions() as session:
        for group in (await session.exec(select(ChatGroup).where(ChatGroup.chat_id == chat_id))).all():
            await session.delete(group)
        await session.commit()

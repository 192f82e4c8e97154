"""Driving the bot as people do: through the sandbox Bot API, over real HTTP.

A `World` is one sandbox, one bot process-in-the-loop (the real `Application`: inbox,
processor, dispatcher, SQLite file) and a seeded organisation. A `Persona` is a person with
a Telegram account who types, presses buttons and reads what the bot answered.

Synchronisation is exact, not by sleeping: after an action the harness waits until the
update's inbox row is finished, every outbox row answering it has been carried out, and a
pressed button's query has been answered; by then everything the bot will say about that
action is in the sandbox's event log.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import select

from bot.app import Application
from bot.clock import FrozenClock
from bot.config import Settings
from bot.sandbox.client import SandboxClient
from storage import addresses, outbox, people
from storage.db import MIGRATIONS_DIR, create_database, create_engine, upgrade_database
from storage.db import drop_database as drop_postgres_database
from storage.models import (
    ChatGroup,
    Person,
    PersonStatus,
    Report,
    Role,
    Unit,
)

SETTLE_TIMEOUT = 10.0


@dataclass
class Reply:
    """What the bot did in one chat in answer to one action."""

    events: list[dict[str, Any]]
    update_id: int

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Sent and edited messages, in order (the state after each one)."""
        return [e for e in self.events if e["kind"] in ("send", "edit")]

    @property
    def texts(self) -> list[str]:
        return [m["text"] for m in self.messages]

    @property
    def text(self) -> str:
        """All message texts of this reply, joined (for `in` assertions)."""
        return "\n".join(self.texts)

    @property
    def alerts(self) -> list[str]:
        return [e.get("text") or "" for e in self.events if e["kind"] == "answer_callback" and e.get("text")]

    @property
    def reactions(self) -> list[Any]:
        return [e for e in self.events if e["kind"] == "reaction"]

    @property
    def last(self) -> dict[str, Any]:
        """The last message the person reads: buttons taken away from an earlier question
        (which may come after the answer) do not count, unless that is all there is."""
        assert self.messages, f"the bot said nothing; events: {self.events}"
        read = [message for message in self.messages if not message.get("buttons_only")]
        return (read or self.messages)[-1]

    def buttons(self) -> list[str]:
        return button_texts(self.last)


def button_texts(message: dict[str, Any]) -> list[str]:
    markup = message.get("reply_markup") or {}
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    return [button["text"] if isinstance(button, dict) else str(button) for row in rows for button in row]


@dataclass
class World:
    client: SandboxClient
    app: Application
    bot_token: str
    bot_username: str
    clock: FrozenClock
    zalo_token: str = ""
    units: dict[str, Unit] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)

    @property
    def sessions(self):  # type: ignore[no-untyped-def]
        assert self.app.session_factory is not None
        return self.app.session_factory

    async def settle(self, update_id: int) -> None:
        """Wait until the bot has finished with an update (done or parked) and its answers
        are out."""
        deadline = asyncio.get_running_loop().time() + SETTLE_TIMEOUT
        while True:
            if await self.app.finished(update_id):
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"update {update_id} was not processed in {SETTLE_TIMEOUT}s")
            await asyncio.sleep(0.01)

    async def delivered(self, limit: float = 60.0) -> None:
        """Wait until the outbox is drained and every broadcast's final progress is shown."""
        deadline = asyncio.get_running_loop().time() + limit
        while True:
            async with self.sessions() as session:
                settled = await outbox.settled(session=session)
            # The sender may still be finishing a sent row (pinning it, say).
            if settled and self.app.sender is not None and self.app.sender.idle():
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"delivery not finished in {limit}s")
            await asyncio.sleep(0.05)

    async def person_named(self, first_name: str, **kwargs: Any) -> Persona:
        user = await self.client.create_user(first_name=first_name, **kwargs)
        return Persona(world=self, user_id=user.id, first_name=first_name)

    def signed(self, chat_id: int, data: str) -> str:
        """Button data as the bot marks it for that chat (to test the checks behind the mark)."""
        assert self.app.signer is not None
        return self.app.signer.sign(chat_id, data)

    async def zalo_person(self, display_name: str) -> ZaloPersona:
        user_id = await self.client.zalo_create_user(display_name)
        return ZaloPersona(world=self, zalo_id=user_id, first_name=display_name)

    async def member(
        self,
        channel: str,
        name: str,
        *,
        unit: str,
        role: Role = Role.COLLABORATOR,
        full_name: str | None = None,
    ) -> Persona | ZaloPersona:
        """A registered person on either channel, who has written to the bot before."""
        persona: Persona | ZaloPersona
        persona = await self.zalo_person(name) if channel == "zalo" else await self.person_named(name)
        await self.seed_member(persona, unit=unit, role=role, full_name=full_name)
        await persona.send("/help")
        return persona

    async def seed_member(
        self,
        persona: Persona | ZaloPersona,
        *,
        unit: str,
        role: Role = Role.COLLABORATOR,
        full_name: str | None = None,
    ) -> Person:
        """Put an already-registered person in the database (the org the demo starts from)."""
        chat_id = await persona.address() if isinstance(persona, ZaloPersona) else persona.user_id
        async with self.sessions() as session:
            target = self.units[unit]
            person = Person(
                chat_id=chat_id,
                full_name=full_name or persona.first_name,
                phone="0912345678",
                field_of_work="khac",
                unit_id=target.id,
                status=PersonStatus.ACTIVE,
                registered_at=self.clock.now(),
            )
            await people.add_person(session=session, person=person)
            await people.grant_role(session=session, person=person, role=role, unit_id=target.id)
            await session.commit()
            return person

    async def seed_units(self) -> None:
        async with self.sessions() as session:
            province = await people.create_unit(session=session, code="TINH", name="Tỉnh An Phú")
            district_a = await people.create_unit(
                session=session, code="HUYEN_A", name="Huyện Bình Minh", parent=province
            )
            district_b = await people.create_unit(
                session=session, code="HUYEN_B", name="Huyện Hòa Thuận", parent=province
            )
            await session.commit()
        self.units = {"TINH": province, "HUYEN_A": district_a, "HUYEN_B": district_b}

    async def group(self, title: str, members: list[Persona], *, unit: str | None = None) -> int:
        """A Telegram group with the bot in it; bound to a unit directly when `unit` is given."""
        chat = await self.client.create_group(title=title, member_ids=[m.user_id for m in members])
        added = await self.client.add_bot_to_group(chat.id, self.bot_token, by_user_id=members[0].user_id)
        assert added.update_id is not None
        await self.settle(added.update_id)
        await self.quiet()
        if unit is not None:
            async with self.sessions() as session:
                session.add(ChatGroup(chat_id=chat.id, title=title, unit_id=self.units[unit].id or 0))
                await session.commit()
        self.groups[title] = chat.id
        return chat.id

    async def zalo_group(self, title: str, members: list[ZaloPersona], *, unit: str | None = None) -> str:
        """A Zalo group with the bot in it; bound to a unit directly when `unit` is given."""
        group_id = await self.client.zalo_create_group(title, [m.zalo_id for m in members])
        await self.client.zalo_add_bot_to_group(group_id, self.zalo_token)
        if unit is not None:
            async with self.sessions() as session:
                address = await addresses.zalo_address_for(session=session, external_id=group_id, group=True)
                session.add(ChatGroup(chat_id=address, title=title, unit_id=self.units[unit].id or 0))
                await session.commit()
        return group_id

    async def reports(self) -> list[Report]:
        async with self.sessions() as session:
            return list((await session.exec(select(Report).order_by(Report.id))).all())

    async def person(self, persona: Persona | ZaloPersona) -> Person | None:
        chat_id = await persona.address() if isinstance(persona, ZaloPersona) else persona.user_id
        async with self.sessions() as session:
            return await people.get_person_by_chat_id(session=session, chat_id=chat_id)

    async def idle(self) -> None:
        assert self.app.processor is not None
        await self.app.processor.wait_idle()

    async def quiet(self, limit: float = SETTLE_TIMEOUT) -> None:
        """Until every update the sandbox holds for the bot is taken, handled and answered
        (an action that makes several updates, such as adding the bot to a group)."""
        deadline = asyncio.get_running_loop().time() + limit
        while await self.client.pending_updates(self.bot_token) or (
            self.zalo_token and await self.client.zalo_pending(self.zalo_token)
        ):
            assert asyncio.get_running_loop().time() < deadline, "the bot did not take its updates"
            await asyncio.sleep(0.02)
        await self.idle()
        await self.delivered(limit)


@dataclass
class Persona:
    world: World
    user_id: int
    first_name: str

    @property
    def client(self) -> SandboxClient:
        return self.world.client

    async def _collect(self, result: Any, chat_id: int, after: int) -> Reply:
        update_id = int(result.update_id)
        await self.world.settle(update_id)
        events = await self.client.events(chat_id=chat_id, after_seq=after)
        return Reply(events=[_event_dict(e) for e in events], update_id=update_id)

    async def send(self, text: str, *, chat_id: int | None = None, reply_to: int | None = None) -> Reply:
        chat = chat_id or self.user_id
        after = await self.client.last_seq()
        result = await self.client.send_message(
            self.world.bot_token, self.user_id, text, chat_id=chat_id, reply_to_message_id=reply_to
        )
        return await self._collect(result, chat, after)

    async def share_contact(self, phone: str = "+84912345678", *, own: bool = True) -> Reply:
        after = await self.client.last_seq()
        result = await self.client.send_contact(
            self.world.bot_token,
            self.user_id,
            phone,
            self.first_name,
            contact_user_id=self.user_id if own else self.user_id + 999_999,
        )
        return await self._collect(result, self.user_id, after)

    async def send_photo(
        self, *, chat_id: int | None = None, caption: str | None = None, reply_to: int | None = None
    ) -> Reply:
        chat = chat_id or self.user_id
        after = await self.client.last_seq()
        result = await self.client.send_photo(
            self.world.bot_token, self.user_id, chat_id=chat_id, caption=caption, reply_to_message_id=reply_to
        )
        return await self._collect(result, chat, after)

    async def press(self, text: str, *, chat_id: int | None = None, message_id: int | None = None) -> Reply:
        """Press the button with this text on the bot's latest message that has it."""
        chat = chat_id or self.user_id
        if message_id is None:
            message_id = await self.latest_message_with_button(text, chat)
        after = await self.client.last_seq()
        result = await self.client.press_button(self.world.bot_token, self.user_id, chat, message_id, text)
        target_chat = self.user_id if _is_deep_link(result) else chat
        return await self._collect(result, target_chat, after)

    async def press_data(self, data: str, *, message_id: int, chat_id: int | None = None) -> Reply:
        chat = chat_id or self.user_id
        after = await self.client.last_seq()
        result = await self.client.press_callback_data(
            self.world.bot_token, self.user_id, chat, message_id, data
        )
        return await self._collect(result, chat, after)

    async def wait_for_text(
        self, prefix: str, *, chat_id: int | None = None, limit: float = 15.0
    ) -> dict[str, Any]:
        """A message the bot sends on its own (a progress message, a notification)."""
        deadline = asyncio.get_running_loop().time() + limit
        while True:
            for message in reversed(await self.client.chat_messages(chat_id or self.user_id)):
                if str(message.get("text", "")).startswith(prefix):
                    return dict(message)
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no message starting with {prefix!r} in {limit}s")
            await asyncio.sleep(0.05)

    async def last_message_id(self, chat_id: int | None = None) -> int:
        return int((await self.client.chat_messages(chat_id or self.user_id))[-1]["message_id"])

    async def latest_message_with_button(self, text: str, chat_id: int | None = None) -> int:
        messages = await self.client.chat_messages(chat_id or self.user_id)
        for message in reversed([_event_dict(m) for m in messages]):
            if text in button_texts(message):
                return int(message["message_id"])
        raise AssertionError(f"no message in chat {chat_id or self.user_id} has a button {text!r}")

    async def answer_steps(self, *steps: str) -> Reply:
        """Answer a sequence: 'press:<text>' presses a button, anything else is typed."""
        reply: Reply | None = None
        for step in steps:
            reply = await self.press(step[6:]) if step.startswith("press:") else await self.send(step)
        assert reply is not None
        return reply


CONTROL_WORDS = {
    "⬅️ Quay lại": "quay lại",
    "⏭ Bỏ qua": "bỏ qua",
    "❌ Hủy": "hủy",
    "✅ Xong": "xong",
    "⬅️ Back": "quay lại",
    "⏭ Skip": "bỏ qua",
    "❌ Cancel": "hủy",
    "✅ Done": "xong",
}
MULTI_HINTS = {
    "Trả lời bằng số thứ tự các lựa chọn, ví dụ: 1 3.",
    "Answer with the numbers of your choices, for example: 1 3.",
}
NUMBERED = re.compile(r"^(\d+)\. (.*?)(?: [●✓])?$")


class ZaloReply(Reply):
    def buttons(self) -> list[str]:
        """The numbered choices of the last message (Zalo has no buttons)."""
        return [match.group(2) for line in self.last["text"].splitlines() if (match := NUMBERED.match(line))]


@dataclass
class ZaloPersona:
    """A person on Zalo: types text (numbers and words where Telegram has buttons)."""

    world: World
    zalo_id: str
    first_name: str
    # Choices of a multi-choice "pressed" so far: on Zalo they go as one answer ("1 3") at ✅ Xong.
    _toggled: list[str] = field(default_factory=list)

    @property
    def client(self) -> SandboxClient:
        return self.world.client

    @property
    def token(self) -> str:
        return self.world.zalo_token

    async def address(self) -> int:
        async with self.world.sessions() as session:
            address = await addresses.zalo_address_for(session=session, external_id=self.zalo_id, group=False)
            await session.commit()
        return address

    async def _collect(self, sent: Any, chat: str, *, stored: bool) -> ZaloReply:
        update_id = sent.update_id
        if stored:
            await self.world.settle(update_id)
        else:
            await self.world.quiet()
        events = await self.client.events(chat_id=chat, after_seq=sent.seq)  # type: ignore[arg-type]
        return ZaloReply(events=[_event_dict(e) for e in events], update_id=update_id)

    async def send(self, text: str, *, group: str | None = None) -> ZaloReply:
        sent = await self.client.zalo_send_text(self.token, self.zalo_id, text, group_id=group)
        stored = group is None or text.lstrip().startswith(("#", "/"))
        return await self._collect(sent, group or self.zalo_id, stored=stored)

    async def send_photo(self, *, caption: str | None = None, group: str | None = None) -> ZaloReply:
        sent = await self.client.zalo_send_photo(self.token, self.zalo_id, caption=caption, group_id=group)
        stored = group is None or (caption or "").lstrip().startswith(("#", "/"))
        return await self._collect(sent, group or self.zalo_id, stored=stored)

    async def send_sticker(self) -> ZaloReply:
        sent = await self.client.zalo_send_sticker(self.token, self.zalo_id)
        return await self._collect(sent, self.zalo_id, stored=True)

    async def send_unsupported(self) -> ZaloReply:
        sent = await self.client.zalo_send_unsupported(self.token, self.zalo_id)
        return await self._collect(sent, self.zalo_id, stored=True)

    async def share_contact(self, phone: str = "0912345678", *, own: bool = True) -> ZaloReply:
        """Zalo has no contact button: the number is typed."""
        return await self.send(phone if phone.startswith("0") else "0" + phone.removeprefix("+84"))

    async def bot_messages(self, chat: str | None = None) -> list[dict[str, Any]]:
        return [m for m in await self.client.zalo_messages(chat or self.zalo_id) if m["from"] == "bot"]

    async def press(self, text: str, *, chat_id: str | None = None) -> ZaloReply:
        """What a Telegram user's press is on Zalo: the number of that choice in the bot's
        latest message that lists it, or the word for a control."""
        if text in ("✅ Xong", "✅ Done") and self._toggled:
            numbers, self._toggled = " ".join(self._toggled), []
            return await self.send(numbers, group=chat_id)
        for message in reversed(await self.bot_messages(chat_id)):
            body = str(message.get("text", ""))
            for line in body.splitlines():
                match = NUMBERED.match(line)
                if match and match.group(2) == text:
                    if MULTI_HINTS & set(body.splitlines()):
                        self._toggled.append(match.group(1))
                        return ZaloReply(events=[], update_id=0)
                    return await self.send(match.group(1), group=chat_id)
            break  # only the latest message's numbers apply
        if text in CONTROL_WORDS:
            return await self.send(CONTROL_WORDS[text], group=chat_id)
        if text.startswith("✏️ "):
            return await self.send(f"sửa {text[3:]}", group=chat_id)
        latest = await self.bot_messages(chat_id)
        if latest and "“gửi”" in str(latest[-1].get("text", "")):  # the review's submit button
            return await self.send("gửi", group=chat_id)
        raise AssertionError(f"the bot's latest message offers no {text!r}")

    async def answer_steps(self, *steps: str) -> ZaloReply:
        reply: ZaloReply | None = None
        for step in steps:
            reply = await self.press(step[6:]) if step.startswith("press:") else await self.send(step)
        assert reply is not None
        return reply


def _is_deep_link(result: Any) -> bool:
    message = getattr(result, "message", None) or {}
    text = message.get("text", "") if isinstance(message, dict) else getattr(message, "text", "")
    return str(text).startswith("/start")


def _event_dict(event: Any) -> dict[str, Any]:
    if isinstance(event, dict):
        return event
    if hasattr(event, "to_dict"):
        return event.to_dict()
    return dict(vars(event))


def test_database() -> str:
    """Which database the end-to-end tests run on: TEST_DATABASE=postgres (with
    TEST_POSTGRES_URL) runs them on PostgreSQL, anything else on a SQLite file."""
    return os.environ.get("TEST_DATABASE", "sqlite")


async def fresh_database_url(tmp_path: Path) -> str:
    """A new database for one world, already migrated: a copy of a SQLite file migrated once
    per test run, or a PostgreSQL database created from a template migrated once per schema
    (dropped by `drop_database`). Running the migrations for every world cost CI a minute."""
    if test_database() != "postgres":
        path = tmp_path / "bot.db"
        template = await _sqlite_template()
        await asyncio.to_thread(_copy, template, path)
        return f"sqlite+aiosqlite:///{path}"
    server = os.environ.get("TEST_POSTGRES_URL", "")
    if not server:
        raise RuntimeError("TEST_DATABASE=postgres needs TEST_POSTGRES_URL")
    template = await _postgres_template(server)
    return await create_database(server, f"dlxh_e2e_{uuid.uuid4().hex[:12]}", template=template)


async def empty_database_url(tmp_path: Path) -> str:
    """A database with nothing in it, not even the schema (what `dlxh restore` wants)."""
    if test_database() != "postgres":
        return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"  # its folder: create_engine makes it
    return await create_database(os.environ["TEST_POSTGRES_URL"], f"dlxh_e2e_{uuid.uuid4().hex[:12]}")


def _copy(source: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


# One migrated template per test process (a file) and per schema version (a PostgreSQL
# database, named by the migrations' checksum so that a new migration makes a new one).
_templates: dict[str, str] = {}


def _schema_version() -> str:
    digest = hashlib.sha256()
    for migration in sorted(MIGRATIONS_DIR.glob("versions/*.py")):
        digest.update(migration.read_bytes())
    return digest.hexdigest()[:12]


async def _sqlite_template() -> str:
    if "sqlite" not in _templates:
        folder = Path(tempfile.mkdtemp(prefix="dlxh-template-"))
        path = folder / "template.db"
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade_database(engine)
        await engine.dispose()
        _templates["sqlite"] = str(path)
    return _templates["sqlite"]


async def _postgres_template(server: str) -> str:
    if "postgres" not in _templates:
        name = f"dlxh_template_{_schema_version()}"
        admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as connection:
                exists = (
                    await connection.execute(
                        text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
                    )
                ).first()
        finally:
            await admin.dispose()
        if exists is None:
            url = await create_database(server, name)
            engine = create_engine(url)
            await upgrade_database(engine)
            await engine.dispose()
        _templates["postgres"] = name
    return _templates["postgres"]


async def drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        await drop_postgres_database(url)


# The harness acts at machine speed: a person's thirty presses take a second here, which is
# a flood in a person's hands. Flood tests set the limits they test (tests/e2e/test_flood.py).
MACHINE_SPEED: dict[str, Any] = {"flood_person_burst": 10_000, "flood_chat_burst": 10_000}


async def make_world(
    client: SandboxClient,
    base_url: str,
    tmp_path: Path,
    *,
    admin_ids: list[int] | None = None,
    now: datetime | None = None,
    database_url: str | None = None,
    **overrides: Any,
) -> World:
    info = await client.create_bot(username="dlxh_test_bot", first_name="DLXH")
    zalo = await client.zalo_create_bot("DLXH Zalo")
    clock = FrozenClock(now or datetime(2026, 11, 10, 3, 0, tzinfo=UTC))
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token=info.token,
        telegram_api_url=base_url,
        zalo_bot_token=zalo.token,
        zalo_api_url=f"{base_url}/zalo",
        database_url=database_url or await fresh_database_url(tmp_path),
        admin_ids=admin_ids or [],
        polling_timeout=1,
        # the scheduler ticks at start only: tests move the clock and call the job runner
        **{**MACHINE_SPEED, "media_dir": tmp_path / "media", "scheduler_interval_seconds": 0, **overrides},
    )
    app = Application(settings=settings, clock=clock)
    await app.start()
    world = World(
        client=client,
        app=app,
        bot_token=info.token,
        bot_username=info.username,
        clock=clock,
        zalo_token=zalo.token,
    )
    await world.seed_units()
    return world


def days(n: int) -> timedelta:
    return timedelta(days=n)

"""Tables: the single source of truth for the schema (Alembic migrations follow it).

All times are stored as UTC; `UtcDateTime` hands back aware datetimes on SQLite and
PostgreSQL alike so no caller ever compares naive with aware values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Index, Text, UniqueConstraint, text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes, also on SQLite which has no zone support."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Role(StrEnum):
    COLLABORATOR = "collaborator"
    STAFF = "staff"
    LEADER = "leader"
    ADMIN = "admin"


class PersonStatus(StrEnum):
    PENDING = "pending"  # opened an invite, registration not finished
    ACTIVE = "active"
    INACTIVE = "inactive"


class Reachability(StrEnum):
    """RapidPro's contact status: can we still write to this person?"""

    ACTIVE = "active"
    BLOCKED = "blocked"  # blocked the bot (403)
    STOPPED = "stopped"  # never opened a private chat


class Channel(StrEnum):
    """Where a person or a group is reached."""

    TELEGRAM = "telegram"
    ZALO = "zalo"


class TopicKind(StrEnum):
    MONTHLY = "monthly"
    URGENT = "urgent"
    SURVEY = "survey"


class TopicStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    PUBLISHED = "published"
    CLOSED = "closed"
    CANCELLED = "cancelled"  # a scheduled topic called off before its time


class ReportStatus(StrEnum):
    NEW = "new"
    LATE = "late"  # sent after its topic's due time (taken, and marked)


class ReportChannel(StrEnum):
    PRIVATE = "private"
    GROUP_REPLY = "group_reply"


class InboxStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class BroadcastStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up after retries, or refused for good (the error is kept)
    UNREACHABLE = "unreachable"  # blocked the bot or never opened it (403 / chat not found)
    CANCELLED = "cancelled"


class Unit(SQLModel, table=True):
    """A node of the organisation tree: province → district/ward → agency/commune."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=255)
    parent_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    # Materialised path "/1/4/": a subtree is one indexed prefix match.
    path: str = Field(default="/", max_length=512, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class Person(SQLModel, table=True):
    """Someone in the network. `chat_id` is the address of their private chat, where the bot
    writes to them (see storage/addresses.py); how they are known on each channel is in
    `person_identity`."""

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger, unique=True)
    username: str | None = Field(default=None, max_length=64)
    full_name: str = Field(default="", max_length=255)
    phone: str | None = Field(default=None, max_length=20)
    field_of_work: str | None = Field(default=None, max_length=64)
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    status: str = Field(default=PersonStatus.PENDING, max_length=16, index=True)
    reachability: str = Field(default=Reachability.ACTIVE, max_length=16)
    locale: str | None = Field(default=None, max_length=8)
    invite_id: int | None = None  # the invite used to join (no FK: invite.created_by points back)
    # The command menu last set for this person's chat (roles and language), so start-up
    # and role changes only call setMyCommands when it would change.
    menu_key: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    registered_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class PersonIdentity(SQLModel, table=True):
    """How a person is known on one channel, like a contact URN in RapidPro: the address of
    their user id there (a Telegram user id, or a Zalo user's address). Updates are matched
    to people by it; units, roles, reports and drafts belong to the person."""

    __tablename__ = "person_identity"

    address: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    person_id: int = Field(foreign_key="person.id", index=True)
    channel: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class ChannelChat(SQLModel, table=True):
    """A user or chat of a channel whose ids are strings (Zalo), given a number here: its
    address is `ZALO_ADDRESS_BASE + id` (negative for groups), so every table and queue keeps
    one integer chat id for both channels (storage/addresses.py)."""

    __tablename__ = "channel_chat"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_channel_chat_external"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=128)
    is_group: bool = False
    title: str = Field(default="", max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class ChatMenu(SQLModel, table=True):
    """The numbered choices last shown in a chat without buttons (Zalo), so that a typed
    number means what a press would (bot/channels/zalo_input.py), for the next message only."""

    __tablename__ = "chat_menu"

    chat_id: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    menu: dict[str, Any] = Field(sa_type=JSON)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class PersonRole(SQLModel, table=True):
    """A role held over a unit's subtree; a person holds each role at most once."""

    __tablename__ = "person_role"
    __table_args__ = (UniqueConstraint("person_id", "role", name="uq_person_role"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    role: str = Field(max_length=16)
    # None: the whole organisation (admins bootstrapped from ADMIN_IDS).
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    granted_by: int | None = Field(default=None, foreign_key="person.id")
    granted_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class Invite(SQLModel, table=True):
    """A join link; only the SHA-256 of the token is kept."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    role: str = Field(default=Role.COLLABORATOR, max_length=16)
    max_uses: int = 1
    uses: int = 0
    expires_at: datetime = Field(sa_type=UtcDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class ChatGroup(SQLModel, table=True):
    """A group (Telegram or Zalo, by its address) bound to a unit with /setup."""

    __tablename__ = "chat_group"

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger, unique=True)
    title: str = Field(default="", max_length=255)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    is_active: bool = True
    registered_by: int | None = Field(default=None, foreign_key="person.id")
    registered_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class Form(SQLModel, table=True):
    """A questionnaire definition; a changed definition is a new version, old reports keep theirs."""

    __table_args__ = (UniqueConstraint("key", "version", name="uq_form_key_version"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64)
    version: int = 1
    title: str = Field(max_length=255)
    definition: dict[str, Any] = Field(sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class Topic(SQLModel, table=True):
    """A guidance topic (chủ đề định hướng) that collaborators answer, or an urgent matter.

    `number` counts each kind on its own (topic 1, 2, 3…; urgent matter K1, K2…: bot/tags.py),
    given when the topic is stored; people see and type the number, never the id."""

    __table_args__ = (UniqueConstraint("kind", "number", name="uq_topic_kind_number"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default=TopicKind.MONTHLY, max_length=16)
    number: int = 0
    title: str = Field(max_length=255)
    guidance: str = Field(sa_type=Text)
    form_id: int = Field(foreign_key="form.id")
    period: str = Field(max_length=7, index=True)  # YYYY-MM in the org time zone
    due_at: datetime = Field(sa_type=UtcDateTime)
    status: str = Field(default=TopicStatus.DRAFT, max_length=16, index=True)
    # An urgent matter's photo: a Telegram file_id, or the URL of a photo sent from Zalo (no
    # length is promised for those, and PostgreSQL enforces a VARCHAR's).
    photo_file_id: str | None = Field(default=None, sa_type=Text)
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    published_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # A SCHEDULED topic is published at this time (the publish_scheduled job).
    scheduled_for: datetime | None = Field(default=None, sa_type=UtcDateTime)


class TopicTarget(SQLModel, table=True):
    __tablename__ = "topic_target"

    topic_id: int = Field(foreign_key="topic.id", primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", primary_key=True)


class TopicPost(SQLModel, table=True):
    """Where a topic was posted, so a reply to that post finds its topic."""

    __tablename__ = "topic_post"
    __table_args__ = (UniqueConstraint("chat_id", "message_id", name="uq_topic_post_msg"),)

    id: int | None = Field(default=None, primary_key=True)
    topic_id: int = Field(foreign_key="topic.id", index=True)
    chat_group_id: int = Field(foreign_key="chat_group.id")
    chat_id: int = Field(sa_type=BigInteger)
    message_id: int = Field(sa_type=BigInteger)
    posted_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class Draft(SQLModel, table=True):
    """A conversation in progress (a report or a wizard), kept so a restart loses nothing.

    `slot` names what the draft is for ("report:topic:12", "report:adhoc", "registration",
    "topic", "invite"): a person has at most one draft per slot, and the most recently
    touched one receives typed answers.
    """

    __table_args__ = (UniqueConstraint("person_id", "slot", name="uq_draft_person_slot"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    slot: str = Field(max_length=64)
    form_id: int | None = Field(default=None, foreign_key="form.id")
    topic_id: int | None = Field(default=None, foreign_key="topic.id")
    # Wizards build their questionnaire at run time; its snapshot lives here.
    definition: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    state: dict[str, Any] = Field(sa_type=JSON)
    context: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    # The message showing the current question: known by its id once it is on screen, or by
    # the outbox row that will show it (its id is known when that row has been sent).
    prompt_message_id: int | None = Field(default=None, sa_type=BigInteger)
    prompt_outbox_id: int | None = None
    # "inline" (buttons under it, to take away when it is answered), "reply" (a reply
    # keyboard, removed by the next message) or "" (nothing to take away).
    prompt_keyboard: str = Field(default="", max_length=8)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)


class Report(SQLModel, table=True):
    """A submitted report. `source_update_id` is unique: one update never makes two reports."""

    __table_args__ = (
        # One structured report per collaborator per topic (a new answer replaces it).
        Index(
            "uq_report_private_topic",
            "person_id",
            "topic_id",
            unique=True,
            sqlite_where=text("channel = 'private' AND topic_id IS NOT NULL"),
            postgresql_where=text("channel = 'private' AND topic_id IS NOT NULL"),
        ),
        Index("ix_report_period_unit", "period", "unit_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    unit_id: int = Field(foreign_key="unit.id")
    topic_id: int | None = Field(default=None, foreign_key="topic.id", index=True)
    form_id: int | None = Field(default=None, foreign_key="form.id")
    channel: str = Field(default=ReportChannel.PRIVATE, max_length=16)
    answers: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    text: str | None = Field(default=None, sa_type=Text)  # the main free text, for excerpts
    proposal: str | None = Field(default=None, sa_type=Text)  # "Đề xuất, kiến nghị", for /summary
    urgency: str | None = Field(default=None, max_length=32, index=True)
    period: str = Field(max_length=7)
    status: str = Field(default=ReportStatus.NEW, max_length=16)
    revision: int = 1
    source_update_id: int = Field(sa_type=BigInteger, unique=True)
    source_chat_id: int | None = Field(default=None, sa_type=BigInteger)
    source_message_id: int | None = Field(default=None, sa_type=BigInteger)
    submitted_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class ReportAnswer(SQLModel, table=True):
    """One row per chosen option of a choice question, so SQL can group answers portably.

    JSON functions differ between SQLite and PostgreSQL; a narrow table does not.
    """

    __tablename__ = "report_answer"
    __table_args__ = (Index("ix_report_answer_question_value", "question_key", "value"),)

    report_id: int = Field(foreign_key="report.id", primary_key=True, ondelete="CASCADE")
    question_key: str = Field(max_length=64, primary_key=True)
    value: str = Field(max_length=64, primary_key=True)


class Inbox(SQLModel, table=True):
    """Every update, committed before it is confirmed to the Bot API (reliability rule 1)."""

    __table_args__ = (Index("ix_inbox_status_update", "status", "update_id"),)

    update_id: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    chat_key: int = Field(sa_type=BigInteger)
    payload: str = Field(sa_type=Text)
    status: str = Field(default=InboxStatus.PENDING, max_length=16)
    attempts: int = 0
    error: str | None = Field(default=None, sa_type=Text)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    processed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class Acknowledgement(SQLModel, table=True):
    """A collaborator confirmed they received an urgent matter (the ✅ button)."""

    __table_args__ = (UniqueConstraint("topic_id", "person_id", name="uq_ack_topic_person"),)

    id: int | None = Field(default=None, primary_key=True)
    topic_id: int = Field(foreign_key="topic.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class Broadcast(SQLModel, table=True):
    """One bulk delivery (a topic, an urgent matter, reminders): its outbox rows and the
    progress message shown to whoever started it."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # "topic", "urgent", "notice"
    title: str = Field(default="", max_length=255)
    topic_id: int | None = Field(default=None, foreign_key="topic.id", index=True)
    created_by: int | None = Field(default=None, foreign_key="person.id", index=True)
    status: str = Field(default=BroadcastStatus.RUNNING, max_length=16, index=True)
    total: int = 0
    progress_chat_id: int | None = Field(default=None, sa_type=BigInteger)
    progress_message_id: int | None = Field(default=None, sa_type=BigInteger)
    progress_locale: str = Field(default="vi", max_length=8)
    progress_shown: str | None = Field(default=None, sa_type=Text)  # last text shown, to skip no-op edits
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class Outbox(SQLModel, table=True):
    """One thing to do in one chat, durable until done (reliability rule 2): a message, or
    an edit, a reaction or a menu change (`payload["op"]`, see bot/delivery/payloads.py).

    Replies to an update are committed with it (`update_id`); long texts are several rows
    for the same chat, done in id order. `dedupe_key` makes enqueueing idempotent: a
    retried handler or schedule never queues a message twice.
    """

    __table_args__ = (
        Index("ix_outbox_status_id", "status", "id"),
        Index("ix_outbox_broadcast_status", "broadcast_id", "status"),
        Index("ix_outbox_update_id", "update_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    broadcast_id: int | None = Field(default=None, foreign_key="broadcast.id")
    dedupe_key: str | None = Field(default=None, max_length=128, unique=True)
    chat_id: int = Field(sa_type=BigInteger)
    part: int = 0  # a long message is several rows; progress counts recipients by part 0
    person_id: int | None = Field(default=None, foreign_key="person.id")
    chat_group_id: int | None = Field(default=None, foreign_key="chat_group.id")
    topic_id: int | None = Field(default=None, foreign_key="topic.id")  # a group post to remember
    update_id: int | None = Field(default=None, sa_type=BigInteger)  # the update this answers
    payload: dict[str, Any] = Field(sa_type=JSON)
    status: str = Field(default=OutboxStatus.PENDING, max_length=16)
    attempts: int = 0
    not_before: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    error: str | None = Field(default=None, sa_type=Text)
    message_id: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UtcDateTime, index=True)


class Audit(SQLModel, table=True):
    """Append-only record of actions that change data or read reports in bulk."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)
    actor_id: int | None = Field(default=None, foreign_key="person.id")
    action: str = Field(max_length=64)
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class BotFact(SQLModel, table=True):
    """What the running bot learned about itself (its Telegram username), kept for commands
    run while Telegram cannot be reached (`dlxh invite` prints the link with it)."""

    __tablename__ = "bot_fact"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_type=Text)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class Schedule(SQLModel, table=True):
    """A scheduled job's rule as admins set it (`dlxh schedule`, /schedule); a job without a
    row runs on its default rule. `since`: occurrences before it are never caught up (a new
    install, or a rule just changed, does not fire for times already past)."""

    job: str = Field(primary_key=True, max_length=32)
    rule: str = Field(max_length=64)
    paused: bool = False
    since: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_by: int | None = Field(default=None, foreign_key="person.id")


class JobRun(SQLModel, table=True):
    """The claim of one run of a job for one subject (an occurrence, a topic, a period) and
    one target (a person, a unit, a group, or ""): inserted before the work is done, in the
    same transaction, so that a second run of the same key, after a restart or in another
    process, does nothing."""

    __tablename__ = "job_run"
    __table_args__ = (UniqueConstraint("job", "subject", "target", name="uq_job_run_key"),)

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=32)
    subject: str = Field(max_length=64)
    target: str = Field(default="", max_length=64)
    claimed_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)


class Briefing(SQLModel, table=True):
    """A monthly briefing (giao ban) of a unit, as its staff set it with /briefing; the bound
    groups of the unit's subtree are reminded the day before (the briefing_reminders job).
    A month without a row has its briefing at SCHEDULE_BRIEFING's time."""

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    held_at: datetime = Field(sa_type=UtcDateTime, index=True)
    place: str = Field(max_length=255)
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)

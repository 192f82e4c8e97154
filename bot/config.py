"""Settings: the one place configuration is read (environment or `.env`)."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

# The path Telegram's webhook is served at (bot/intake/webhook.py).
TELEGRAM_WEBHOOK_PATH = "/webhook"
# What Telegram's setWebhook takes as a secret_token.
TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
# What Zalo's setWebhook takes as a secret (sent back in a header, so ASCII).
ZALO_SECRET = re.compile(r"[A-Za-z0-9_-]{8,256}")
# What provincial boards have been called since the 2025 merger; each province's own name
# (with the province, as its people write it) goes in BOARD_NAME.
DEFAULT_BOARD_NAME = "Ban Tuyên giáo và Dân vận Tỉnh ủy"
SUPPORTED_DRIVERS = {"sqlite+aiosqlite", "postgresql+asyncpg"}
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "123456:ABC", "your-token-here"}


class Settings(BaseSettings):
    """Every setting of the bot, with its default; `.env.example` lists the same names."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: SecretStr = SecretStr("")
    telegram_api_url: str = "https://api.telegram.org"
    database_url: str = "sqlite+aiosqlite:///data/dlxh.db"
    sandbox_database_url: str = "sqlite+aiosqlite:///data/sandbox.db"
    # SQLite: how long a statement waits for another process's write lock before the unit
    # of work fails and is retried later.
    database_busy_timeout_ms: int = Field(default=10_000, ge=0)
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    org_timezone: str = "Asia/Ho_Chi_Minh"
    # The board that runs the network, as every text names it ("… the staff of {board}").
    board_name: str = Field(default=DEFAULT_BOARD_NAME, min_length=2, max_length=120)
    default_locale: str = "vi"

    # Intake: how updates come in and how failures are retried. A database that fails is
    # waited out (retries from `intake_retry_seconds`, doubling up to
    # `intake_retry_max_seconds`, for `intake_retry_horizon_seconds`); a handler that fails
    # otherwise gets `intake_max_attempts` tries. Either way the update is then parked
    # (`dlxh inbox failed`, `dlxh inbox retry`). An update that kills the process is parked
    # after `intake_max_restarts` restarts.
    polling_timeout: int = 25
    intake_concurrency: int = 32
    intake_max_attempts: int = Field(default=5, ge=1)
    intake_max_restarts: int = Field(default=3, ge=1)
    intake_retry_seconds: float = Field(default=1.0, gt=0)
    intake_retry_max_seconds: float = Field(default=60.0, gt=0)
    intake_retry_horizon_seconds: float = Field(default=900.0, gt=0)
    webhook_url: str = ""
    webhook_secret: SecretStr = SecretStr("")
    # The key that marks every button's data for the chat it was sent to (a press with data
    # the bot did not make for that chat is refused). Empty: derived from BOT_TOKEN, so a new
    # token makes older buttons expire.
    callback_secret: SecretStr = SecretStr("")
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 8081

    # Telegram's limits, shared by every sender (DESIGN.md reliability rule 2).
    global_rate_per_second: float = 30.0
    per_chat_rate_per_second: float = 1.0
    per_group_rate_per_minute: float = 20.0
    # The sender: how long an answer and a broadcast's message keep being retried (network
    # errors, 5xx, an outage) before they are marked failed, the first retry delay (doubled
    # each time, with jitter, up to the maximum), and how often the progress message of a
    # broadcast may be edited.
    delivery_reply_horizon_seconds: float = Field(default=3600.0, gt=0)
    delivery_bulk_horizon_seconds: float = Field(default=6 * 3600.0, gt=0)
    delivery_retry_seconds: float = Field(default=1.0, gt=0)
    delivery_retry_max_seconds: float = Field(default=60.0, gt=0)
    delivery_request_timeout: float = Field(default=15.0, gt=0)
    progress_edit_seconds: float = Field(default=3.0, ge=0.5)

    # Zalo (issue 17): the bot on the Zalo Bot Platform, beside Telegram or alone. Without a
    # ZALO_WEBHOOK_URL the bot polls (development only: an event taken and not yet stored
    # when the process dies is lost; the webhook's 200 comes after the event is stored).
    # The webhook listens on WEBHOOK_HOST:WEBHOOK_PORT at the path of ZALO_WEBHOOK_URL.
    zalo_bot_token: SecretStr = SecretStr("")
    zalo_api_url: str = "https://bot-api.zaloplatforms.com"
    zalo_webhook_url: str = ""
    zalo_webhook_secret: SecretStr = SecretStr("")
    zalo_admin_ids: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Zalo publishes no rate limits. These stay a third under Telegram's global limit and
    # equal to its per-chat and per-group ones until the platform says more: a bot that is
    # too fast risks being blocked, and a collaborator network's pushes are hundreds of
    # messages, not millions.
    zalo_global_rate_per_second: float = Field(default=10.0, gt=0)
    zalo_per_chat_rate_per_second: float = Field(default=1.0, gt=0)
    zalo_per_group_rate_per_minute: float = Field(default=20.0, gt=0)

    # Personal data: handled updates are deleted from the inbox after this many days (they
    # keep no codes or phone numbers meanwhile); the housekeeping job deletes them.
    inbox_retention_days: int = Field(default=30, ge=1)
    # Someone who opened an invite and did not finish registering is forgotten after this
    # many days (their draft with name and phone too).
    pending_retention_days: int = Field(default=7, ge=1)
    # Flood control: updates taken in per person, and per group, as a burst and a sustained
    # rate. Over it: one notice, then nothing from that person (or group) is stored or
    # handled for `flood_mute_seconds`. A person filling a form sends one update every few
    # seconds; a group of 100 answering a topic post, a few a second.
    flood_person_burst: int = Field(default=20, ge=1)
    flood_person_per_minute: float = Field(default=30.0, gt=0)
    flood_chat_burst: int = Field(default=60, ge=1)
    flood_chat_per_minute: float = Field(default=120.0, gt=0)
    flood_mute_seconds: float = Field(default=60.0, gt=0)
    # `dlxh backup` writes here (created readable by the owner only) and keeps the newest
    # `backup_keep` backups; copy them off the machine as well (README, "Backups").
    backup_dir: Path = Path("data/backups")
    backup_keep: int = Field(default=14, ge=1)
    # The scheduler ticks this often, and once at start, running what is due
    # (bot/scheduling.py); 0: only the tick at start (the tests drive the clock themselves).
    scheduler_interval_seconds: float = Field(default=60.0, ge=0)
    # Default rules of the scheduled jobs; admins change them with /schedule or
    # `dlxh schedule set` (e.g. "20,25 09:00", "first monday 08:00", "last 17:00").
    schedule_housekeeping: str = "daily 03:00"
    schedule_reminders: str = "20,25 09:00"
    # and once more this many hours before each topic's due time (the due_reminders job)
    reminder_hours_before_due: int = Field(default=24, ge=1, le=24 * 14)
    # When "Schedule" in /topic publishes by default: the next time this rule falls (the 1st
    # of the month at 08:00).
    topic_publish_default: str = "1 08:00"
    # Staff of a unit with no topic for the coming month are told this many days before it
    # starts, at the time of SCHEDULE_TOPIC_WARNING's rule (the topic_warning job).
    topic_warning_days_before_month: int = Field(default=3, ge=1, le=27)
    schedule_topic_warning: str = "daily 08:00"
    # Staff get each target unit's roll-call (answered / not yet) this many days before a
    # topic's due time.
    roll_call_days_before_due: int = Field(default=2, ge=1, le=14)
    # A unit whose response rate is below this at a due time or deadline is "behind": its
    # leader is told at a topic's due time, the staff of the unit above at an urgent deadline.
    response_threshold_percent: int = Field(default=60, ge=1, le=100)
    # Silent collaborators get an urgent matter once more when this share of the time
    # between sending and the deadline has passed.
    urgent_repush_fraction: float = Field(default=0.5, gt=0, lt=1)
    # The monthly briefing (giao ban) falls here unless staff set it with /briefing; each
    # bound group gets a reminder this many hours before it.
    schedule_briefing: str = "5 08:00"
    briefing_reminder_hours_before: int = Field(default=24, ge=1, le=24 * 7)
    # An unfinished form untouched this many days gets one reminder; after
    # `draft_discard_days` it is discarded (by the housekeeping job).
    draft_reminder_days: int = Field(default=7, ge=1)
    draft_discard_days: int = Field(default=30, ge=2)
    # When the draft reminders go (the draft_reminders job): in the daytime, never at night.
    schedule_draft_reminders: str = "daily 09:00"
    # Files the bot makes (the /summary chart) wait here until sent, and are removed after
    # `media_retention_days`.
    media_dir: Path = Path("data/media")
    media_retention_days: int = Field(default=7, ge=1)
    # The address at which the bot's web server (WEBHOOK_HOST:WEBHOOK_PORT) is reached from
    # the internet, e.g. https://dlxh.example.gov.vn: Zalo, which takes photos only by URL,
    # fetches the /summary chart from PUBLIC_URL/media/…. Empty: on Zalo the summary is text.
    public_url: str = ""

    # Onboarding defaults.
    invite_default_uses: int = 1
    invite_default_days: int = 7

    # Local sandbox (used only when BOT_TOKEN is empty).
    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = 8080
    sandbox_demo: bool = True

    log_level: str = "INFO"

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
            wrong = [part for part in parts if not part.lstrip("-").isdecimal()]
            if wrong:
                raise ValueError(
                    f"Telegram user ids are numbers, comma-separated; not a number: {wrong[0]!r}"
                )
            return [int(part) for part in parts]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("zalo_admin_ids", mode="before")
    @classmethod
    def _split_zalo_admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        return value

    @field_validator("org_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone; Vietnam's is Asia/Ho_Chi_Minh") from None
        return value

    @field_validator("database_url", "sandbox_database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        """A URL SQLAlchemy can read, with the async driver of a database we support."""
        try:
            url = make_url(value)
            driver, shown = url.drivername, url.render_as_string(hide_password=True)
        except ArgumentError:
            driver, shown = "", "this"
        if driver not in SUPPORTED_DRIVERS:
            raise ValueError(
                f"{shown!r} is not a database URL the bot can use: write sqlite+aiosqlite:///data/dlxh.db, "
                "or postgresql+asyncpg://user:password@host:5432/dlxh for PostgreSQL"
            )
        return value

    @field_validator(
        "schedule_housekeeping",
        "schedule_reminders",
        "schedule_topic_warning",
        "schedule_briefing",
        "schedule_draft_reminders",
        "topic_publish_default",
    )
    @classmethod
    def _readable_rule(cls, value: str) -> str:
        from bot.schedule_rules import RuleError, parse

        try:
            return parse(value).text
        except RuleError as error:
            raise ValueError(
                f"{value!r} is not a schedule: write e.g. '20,25 09:00', 'first monday 08:00', "
                f"'last 17:00' or 'daily 03:00' ({error.code})"
            ) from None

    @field_validator("public_url")
    @classmethod
    def _web_address(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} is not a web address: write e.g. https://dlxh.example.gov.vn")
        return value

    @field_validator("default_locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        if value not in ("vi", "en"):
            raise ValueError("the languages are 'vi' and 'en'")
        return value

    @model_validator(mode="after")
    def _webhook_needs_real_secret(self) -> Settings:
        if self.webhook_url and self.webhook_secret.get_secret_value() in PLACEHOLDER_SECRETS:
            raise ValueError("WEBHOOK_SECRET must be set to a real secret in webhook mode")
        if self.webhook_url and not TELEGRAM_SECRET.fullmatch(self.webhook_secret.get_secret_value()):
            raise ValueError(
                "WEBHOOK_SECRET must be 1 to 256 letters, digits, '-' or '_' (what Telegram accepts)"
            )
        if (
            self.zalo_webhook_url
            and self.webhook_url
            and urlsplit(self.zalo_webhook_url).path == TELEGRAM_WEBHOOK_PATH
        ):
            raise ValueError(f"ZALO_WEBHOOK_URL's path must differ from Telegram's ({TELEGRAM_WEBHOOK_PATH})")
        if self.zalo_webhook_url:
            secret = self.zalo_webhook_secret.get_secret_value()
            if secret in PLACEHOLDER_SECRETS or not ZALO_SECRET.fullmatch(secret):
                raise ValueError(
                    "ZALO_WEBHOOK_SECRET must be 8 to 256 letters, digits, '-' or '_' in Zalo webhook mode"
                )
        return self

    @model_validator(mode="after")
    def _reminder_before_discard(self) -> Settings:
        if self.draft_reminder_days >= self.draft_discard_days:
            raise ValueError(
                "DRAFT_REMINDER_DAYS must be fewer than DRAFT_DISCARD_DAYS: a draft is reminded of "
                "before it is discarded"
            )
        return self

    @property
    def zalo_enabled(self) -> bool:
        return bool(self.zalo_bot_token.get_secret_value())

    @property
    def sandbox_mode(self) -> bool:
        """No token at all means: run against the local sandbox (Telegram and Zalo), never
        against a real platform."""
        return not self.bot_token.get_secret_value() and not self.zalo_enabled

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.org_timezone)

    def sqlite_path(self, url: str | None = None) -> Path | None:
        """The file behind a SQLite URL, so callers can create its folder."""
        url = url or self.database_url
        prefix = "sqlite+aiosqlite:///"
        if not url.startswith(prefix) or url.endswith(":memory:"):
            return None
        return Path(url[len(prefix) :])


def get_settings(**overrides: object) -> Settings:
    """Read settings once at the composition root and pass them down."""
    return Settings(**overrides)  # type: ignore[arg-type]

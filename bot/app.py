"""Composition root: builds the bot, dispatcher, intake and services. Nothing at import time.

This is the only module that imports `handlers` (and, later, `schedules`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramUnauthorizedError,
)
from aiogram.types import Update
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine

import handlers
from bot import briefings, menus, onboarding, reporting, topic_admin, topics, urgent
from bot.channels.callback_signing import CallbackSigner
from bot.channels.telegram_gateway import TelegramGateway
from bot.channels.zalo import ZaloIntake, ZaloPoller, add_webhook_route
from bot.channels.zalo_api import ZaloApiError, ZaloBadRequest, ZaloBotApi, ZaloUnauthorized
from bot.channels.zalo_gateway import ZaloGateway
from bot.channels.zalo_input import ZaloInputMiddleware
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.conversation import Conversations, FormCatalog
from bot.delivery import payloads
from bot.delivery.gateway import Gateway
from bot.delivery.limits import Pacer, RateLimitMiddleware
from bot.delivery.media import MediaStore
from bot.delivery.progress import ProgressReporter
from bot.delivery.sender import Sender
from bot.delivery.service import Delivery
from bot.i18n import create_i18n, in_locale
from bot.intake.flood import FloodGuard, Limit
from bot.intake.poller import Intake, Poller
from bot.intake.processor import InboxProcessor, belongs_to_a_chat, chat_key
from bot.intake.webhook import create_webhook_app
from bot.middlewares import AccessMiddleware, SignedCallbackMiddleware, UpdateContextMiddleware
from bot.scheduling import JobContext, JobRunner
from bot.telegram import create_bot
from bot.ui import escape
from schedules.jobs import RUNS
from schedules.scheduler import start_scheduler
from storage import addresses, facts, inbox, outbox, people
from storage.db import (
    SessionFactory,
    create_engine,
    create_session_factory,
    upgrade_database,
)
from storage.models import Channel, InboxStatus, Outbox
from storage.outbox import PendingRow

log = logging.getLogger(__name__)

# Set after start-up. Almost everything an update allocates is freed by reference counting,
# so with the default first threshold (700) the collector ran every few updates for little.
# A young collection costs about what survives, not what was allocated: a high first
# threshold makes them rarer at the same cost each, and the older generations still run
# (a full pass about every hundred million allocations). Measured with bench/inbound.py:
# 6.6 -> 6.0 ms of CPU per update at (50_000, 20, 10); in interleaved runs 4.7 / 3.8 / 4.2 ms
# there against 4.4 / 3.5 ms here, with the same peak RSS (233 MB).
GC_THRESHOLDS = (1_000_000, 10, 10)
# With Telegram off (a Zalo token alone), the dispatcher's Bot object carries this token; no
# call is ever made with it (no Telegram gateway, poller or webhook is built).
TELEGRAM_OFF_TOKEN = "0:telegram-off"


T = TypeVar("T")


async def until_done(
    what: str,
    call: Callable[[], Awaitable[T]],
    *,
    max_delay: float = 60.0,
    hint: str = "",
    fatal: tuple[type[BaseException], ...] = (
        TelegramUnauthorizedError,
        TelegramBadRequest,
        ZaloUnauthorized,
        ZaloBadRequest,
    ),
) -> T:
    """Start-up calls to a Bot API: a platform that is down (network errors, 5xx, an HTML
    error page) is waited out with backoff and a log line, rather than ending the process;
    a refusal (a wrong token: 401) ends it, since waiting cannot mend it."""
    delay = 1.0
    while True:
        try:
            return await call()
        except fatal:
            raise
        except (TelegramAPIError, ClientDecodeError, ZaloApiError, OSError, TimeoutError) as error:
            log.warning(
                "%s failed (%s: %s); trying again in %.0fs%s",
                what,
                type(error).__name__,
                error,
                delay,
                f" ({hint})" if hint else "",
            )
            await asyncio.sleep(delay)
            delay = min(max_delay, delay * 2)


def create_conversations() -> Conversations:
    return Conversations(
        {
            onboarding.REGISTRATION_SLOT: onboarding.RegistrationPurpose(),
            onboarding.INVITE_SLOT: onboarding.InvitePurpose(),
            topics.TOPIC_SLOT: topics.TopicPurpose(),
            topic_admin.RESCHEDULE_SLOT: topic_admin.ReschedulePurpose(),
            topic_admin.REOPEN_SLOT: topic_admin.ReopenPurpose(),
            urgent.URGENT_SLOT: urgent.UrgentPurpose(),
            briefings.BRIEFING_SLOT: briefings.BriefingPurpose(),
            reporting.ReportPurpose.name: reporting.ReportPurpose(),
        }
    )


def create_dispatcher(
    settings: Settings,
    *,
    admin_addresses: frozenset[int] | None = None,
    clock: Clock,
    forms: FormCatalog,
    i18n: I18n,
    conversations: Conversations,
    bot_username: str,
    delivery: Delivery,
    signer: CallbackSigner | None = None,
    media: MediaStore | None = None,
    job_runner: JobRunner,
) -> Dispatcher:
    # Conversation state lives in the `draft` table (it must survive restarts), so aiogram's
    # in-memory FSM is switched off rather than run for nothing on every update.
    dispatcher = Dispatcher(
        disable_fsm=True,
        settings=settings,
        clock=clock,
        forms=forms,
        i18n=i18n,
        conversations=conversations,
        bot_username=bot_username,
        delivery=delivery,
        media=media,
        job_runner=job_runner,  # /schedule
    )
    # For every update: who is acting, in which language, with which services.
    admins = admin_addresses if admin_addresses is not None else frozenset(settings.admin_ids)
    dispatcher.update.outer_middleware(UpdateContextMiddleware(i18n, admins))
    # Zalo's typed numbers and words as the presses and replies they stand for.
    dispatcher.update.outer_middleware(ZaloInputMiddleware())
    if signer is not None:
        dispatcher.callback_query.outer_middleware(SignedCallbackMiddleware(signer))
    dispatcher.message.middleware(AccessMiddleware())
    dispatcher.callback_query.middleware(AccessMiddleware())
    dispatcher.include_routers(*handlers.routers())
    return dispatcher


@dataclass
class Application:
    """A running bot: engine, dispatcher, intake. `start()` then `stop()`."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    engine: AsyncEngine | None = None
    session_factory: SessionFactory | None = None
    bot: Bot | None = None
    dispatcher: Dispatcher | None = None
    processor: InboxProcessor | None = None
    intake: Intake | None = None
    poller: Poller | None = None
    i18n: I18n | None = None
    bot_username: str = ""
    sender: Sender | None = None
    progress: ProgressReporter | None = None
    delivery: Delivery | None = None
    admin_addresses: frozenset[int] = frozenset()  # ADMIN_IDS and ZALO_ADMIN_IDS, as addresses
    signer: CallbackSigner | None = None
    zalo_api: ZaloBotApi | None = None
    zalo_intake: ZaloIntake | None = None
    zalo_poller: ZaloPoller | None = None
    media: MediaStore = field(init=False)
    job_runner: JobRunner | None = None
    scheduler: AsyncIOScheduler | None = None
    _poll_task: asyncio.Task[None] | None = None
    _zalo_poll_task: asyncio.Task[None] | None = None
    _delivery_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _web_runner: web.AppRunner | None = None

    def __post_init__(self) -> None:
        self.media = MediaStore(self.settings.media_dir, self.settings.public_url)

    async def start(self, *, poll: bool = True) -> None:
        settings = self.settings
        self.engine = create_engine(settings.database_url, busy_timeout_ms=settings.database_busy_timeout_ms)
        await upgrade_database(self.engine)
        self.session_factory = create_session_factory(self.engine)
        self.i18n = create_i18n(settings.default_locale)
        forms = FormCatalog()
        async with self.session_factory() as session:
            await forms.sync_builtin(session)
            await session.commit()
        telegram_on = bool(settings.bot_token.get_secret_value())
        self.signer = CallbackSigner.from_secret(
            settings.callback_secret.get_secret_value()
            or settings.bot_token.get_secret_value()
            or TELEGRAM_OFF_TOKEN
        )
        # The dispatcher routes both channels' updates and needs an aiogram Bot; with Telegram
        # off it is one that no call ever goes through.
        self.bot = create_bot(settings, token=None if telegram_on else TELEGRAM_OFF_TOKEN)
        gateways: dict[Channel, Gateway] = {}
        max_in_flight: dict[Channel, int] = {}
        if telegram_on:
            pacer = Pacer(
                global_per_second=settings.global_rate_per_second,
                per_chat_per_second=settings.per_chat_rate_per_second,
                per_group_per_minute=settings.per_group_rate_per_minute,
            )
            self.bot.session.middleware(RateLimitMiddleware(pacer))
            bot = self.bot
            me = await until_done(
                "getMe",
                bot.me,
                hint=f"is TELEGRAM_API_URL {settings.telegram_api_url} reachable from here? Telegram is "
                "blocked in Vietnam without a VPN or a self-hosted Bot API server",
            )
            self.bot_username = me.username or ""
            async with self.session_factory() as session:  # for `dlxh invite` when Telegram is out of reach
                await facts.remember(
                    session=session,
                    key=facts.TELEGRAM_USERNAME,
                    value=self.bot_username,
                    now=self.clock.now(),
                )
                await session.commit()
            gateways[Channel.TELEGRAM] = TelegramGateway(
                bot=self.bot,
                pacer=pacer,
                signer=self.signer,
                request_timeout=settings.delivery_request_timeout,
                media=self.media,
            )
            # A quarter of a second of bulk calls in flight keeps the pace through the round
            # trip without holding many rows that a cancel would have to wait for.
            max_in_flight[Channel.TELEGRAM] = max(4, int(settings.global_rate_per_second / 4))
        if settings.zalo_enabled:
            self.zalo_api = ZaloBotApi(
                settings.zalo_bot_token.get_secret_value(),
                base_url=settings.zalo_api_url,
                timeout=settings.delivery_request_timeout,
            )
            zalo_api = self.zalo_api
            zalo_me = await until_done("Zalo getMe", zalo_api.get_me)
            log.info("Zalo bot %s (groups: %s)", zalo_me.get("account_name"), zalo_me.get("can_join_groups"))
            zalo_pacer = Pacer(
                global_per_second=settings.zalo_global_rate_per_second,
                per_chat_per_second=settings.zalo_per_chat_rate_per_second,
                per_group_per_minute=settings.zalo_per_group_rate_per_minute,
            )
            gateways[Channel.ZALO] = ZaloGateway(
                api=self.zalo_api, pacer=zalo_pacer, session_factory=self.session_factory, media=self.media
            )
            max_in_flight[Channel.ZALO] = max(4, int(settings.zalo_global_rate_per_second / 4))
        self.progress = ProgressReporter(
            gateways=gateways,
            session_factory=self.session_factory,
            i18n=self.i18n,
            clock=self.clock,
            interval=settings.progress_edit_seconds,
        )
        self.sender = Sender(
            gateways=gateways,
            session_factory=self.session_factory,
            clock=self.clock,
            reply_horizon=settings.delivery_reply_horizon_seconds,
            bulk_horizon=settings.delivery_bulk_horizon_seconds,
            retry_base_seconds=settings.delivery_retry_seconds,
            retry_max_seconds=settings.delivery_retry_max_seconds,
            max_in_flight=max_in_flight,
            max_answers_in_flight=settings.intake_concurrency,
            on_wake=self.progress.nudge,
        )
        self.delivery = Delivery(i18n=self.i18n, clock=self.clock, sender=self.sender)
        self.admin_addresses = await self._admin_addresses()
        # Built before the dispatcher, whose handlers (/schedule) use it; it ticks further down.
        self.job_runner = JobRunner(
            context=JobContext(
                settings=settings,
                clock=self.clock,
                media=self.media,
                delivery=self.delivery,
                forms=forms,
                bot_username=self.bot_username,
            ),
            session_factory=self.session_factory,
            runs=RUNS,
        )
        self.dispatcher = create_dispatcher(
            settings,
            admin_addresses=self.admin_addresses,
            signer=self.signer,
            clock=self.clock,
            forms=forms,
            i18n=self.i18n,
            conversations=create_conversations(),
            bot_username=self.bot_username,
            delivery=self.delivery,
            media=self.media,
            job_runner=self.job_runner,
        )
        self.processor = InboxProcessor(
            dispatcher=self.dispatcher,
            bot=self.bot,
            session_factory=self.session_factory,
            clock=self.clock,
            on_replies=self.sender.push,
            on_parked=self._parked,
            max_attempts=settings.intake_max_attempts,
            max_restarts=settings.intake_max_restarts,
            retry_first=settings.intake_retry_seconds,
            retry_max=settings.intake_retry_max_seconds,
            retry_horizon=settings.intake_retry_horizon_seconds,
            concurrency=settings.intake_concurrency,
        )
        self.intake = Intake(
            session_factory=self.session_factory,
            processor=self.processor,
            clock=self.clock,
            flood=FloodGuard(
                person=Limit(burst=settings.flood_person_burst, per_minute=settings.flood_person_per_minute),
                chat=Limit(burst=settings.flood_chat_burst, per_minute=settings.flood_chat_per_minute),
                mute_seconds=settings.flood_mute_seconds,
            ),
        )
        self.zalo_intake = ZaloIntake(session_factory=self.session_factory, intake=self.intake)
        if telegram_on:
            bot = self.bot
            i18n = self.i18n
            if not settings.webhook_url:
                await until_done("deleteWebhook", lambda: bot.delete_webhook(drop_pending_updates=False))
            await until_done("setMyCommands", lambda: menus.set_default_menus(bot, i18n))
            changed = await menus.sync_all_menus(self.i18n, self.session_factory, self.clock)
            if changed:
                log.info("updated the command menu of %d person(s)", changed)
        self._delivery_tasks = [
            asyncio.create_task(self.sender.run()),
            asyncio.create_task(self.progress.run()),
        ]
        replayed = await self.processor.replay()
        if replayed:
            log.info("replaying %d unfinished update(s) from the inbox", replayed)
        self.processor.start_rescanning()
        # Scheduled jobs (retention among them): what passed while the bot was down runs
        # once now, then APScheduler ticks.
        await self.job_runner.tick()
        if settings.scheduler_interval_seconds > 0:
            self.scheduler = start_scheduler(self.job_runner, settings.scheduler_interval_seconds)
        await self._start_webhooks(telegram=telegram_on)
        if poll and telegram_on and not settings.webhook_url:
            self.poller = Poller(
                bot=self.bot,
                intake=self.intake,
                timeout=settings.polling_timeout,
                allowed_updates=self.dispatcher.resolve_used_update_types(),
            )
            self._poll_task = asyncio.create_task(self.poller.run())
        if (
            poll
            and self.zalo_api is not None
            and self.zalo_intake is not None
            and not settings.zalo_webhook_url
        ):
            zalo_api = self.zalo_api
            await until_done("Zalo deleteWebhook", zalo_api.delete_webhook)
            self.zalo_poller = ZaloPoller(
                api=self.zalo_api, intake=self.zalo_intake, timeout=settings.polling_timeout
            )
            self._zalo_poll_task = asyncio.create_task(self.zalo_poller.run())
        # What start-up built (modules, models, catalogs) lives as long as the process: keep
        # it out of the collector's full passes, which otherwise pause the loop for longer
        # and longer (and bunch up paced sends).
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        log.info("bot @%s is running", self.bot_username)

    async def _admin_addresses(self) -> frozenset[int]:
        """ADMIN_IDS (Telegram user ids) and ZALO_ADMIN_IDS, as addresses."""
        assert self.session_factory is not None
        found = set(self.settings.admin_ids)
        if self.settings.zalo_admin_ids:
            async with self.session_factory() as session:
                for external_id in self.settings.zalo_admin_ids:
                    found.add(
                        await addresses.zalo_address_for(
                            session=session, external_id=external_id, group=False
                        )
                    )
                await session.commit()
        return frozenset(found)

    async def _start_webhooks(self, *, telegram: bool) -> None:
        """Webhook mode: the platforms post to us; the inbox is written before we answer 200.
        Telegram and Zalo share one web server (WEBHOOK_HOST:WEBHOOK_PORT)."""
        assert self.bot is not None and self.intake is not None and self.dispatcher is not None
        settings = self.settings
        web_app: web.Application | None = None
        if telegram and settings.webhook_url:
            secret = settings.webhook_secret.get_secret_value()
            web_app = create_webhook_app(bot=self.bot, intake=self.intake, secret=secret)
            bot, url, used = self.bot, settings.webhook_url, self.dispatcher.resolve_used_update_types()
            await until_done(
                "setWebhook", lambda: bot.set_webhook(url, secret_token=secret, allowed_updates=used)
            )
        if self.zalo_api is not None and self.zalo_intake is not None and settings.zalo_webhook_url:
            web_app = web_app or web.Application()
            secret = settings.zalo_webhook_secret.get_secret_value()
            path = urlsplit(settings.zalo_webhook_url).path or "/"
            add_webhook_route(web_app, path=path, intake=self.zalo_intake, secret=secret)
        if settings.public_url:  # the chart Zalo fetches by its address
            web_app = web_app or web.Application()
            self.media.add_route(web_app)
        if web_app is None:
            return
        self._web_runner = web.AppRunner(web_app)
        await self._web_runner.setup()
        site = web.TCPSite(self._web_runner, settings.webhook_host, settings.webhook_port)
        await site.start()
        if self.zalo_api is not None and settings.zalo_webhook_url:
            zalo_api, url = self.zalo_api, settings.zalo_webhook_url
            zalo_secret = settings.zalo_webhook_secret.get_secret_value()
            await until_done("Zalo setWebhook", lambda: zalo_api.set_webhook(url, zalo_secret))

    async def _parked(self, update: Update, error: str) -> None:
        """Nobody is left in silence: the person gets an apology, the admins one line (both
        through the outbox; with the database down they cannot be queued, and the row stays
        pending for the next rescan instead)."""
        assert self.session_factory is not None and self.i18n is not None and self.sender is not None
        key = chat_key(update)
        now = self.clock.now()
        rows: list[Outbox] = []
        locale = self.settings.default_locale
        async with self.session_factory() as session:
            if belongs_to_a_chat(key):
                with in_locale(self.i18n, locale):
                    text = _(
                        "Sorry, something went wrong while handling your message. Please try again later."
                    )
                rows.append(
                    Outbox(chat_id=key, payload=payloads.message(text), not_before=now, created_at=now)
                )
            summary = error.splitlines()[0][:300] if error else ""
            for admin in await people.admin_chat_ids(session=session, admin_ids=sorted(self.admin_addresses)):
                with in_locale(self.i18n, locale):
                    text = _(
                        "⚠️ Update {update} could not be handled and was set aside: {error}\n"
                        "See it with <code>dlxh inbox failed</code>; <code>dlxh inbox retry {update}</code> "
                        "tries it again."
                    ).format(update=update.update_id, error=escape(summary))
                rows.append(
                    Outbox(
                        chat_id=admin,
                        payload=payloads.message(text),
                        dedupe_key=f"parked:{update.update_id}:{admin}",
                        not_before=now,
                        created_at=now,
                    )
                )
            await outbox.add_rows(session=session, rows=rows)
            await session.commit()
        # rows a dedupe key kept out were never written
        self.sender.push([PendingRow.of(row) for row in rows if row.id is not None])

    async def finished(self, update_id: int) -> bool:
        """Whether the bot is done with an update: handled (or parked), its answers carried
        out and its button's query answered (for the demo and the tests, which act as people
        and then read what the bot said)."""
        assert self.session_factory is not None and self.processor is not None
        async with self.session_factory() as session:
            row = await inbox.get_row(session=session, update_id=update_id)
            if row is None or row.status == InboxStatus.PENDING:
                return False
            if await outbox.pending_for_update(session=session, update_id=update_id):
                return False
        return not self.processor.holds(update_id)

    async def wait(self) -> None:
        if self._poll_task is not None:
            await self._poll_task

    async def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        if self.zalo_poller is not None:
            self.zalo_poller.stop()
        if self._zalo_poll_task is not None:
            self._zalo_poll_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._zalo_poll_task
        if self.poller is not None:
            self.poller.stop()
        if self._poll_task is not None:
            self._poll_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll_task
        if self._web_runner is not None:
            await self._web_runner.cleanup()
        if self.processor is not None:
            await self.processor.close()
        if self.sender is not None:
            self.sender.stop()
        if self.progress is not None:
            self.progress.stop()
        for task in self._delivery_tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.bot is not None:
            await self.bot.session.close()
        if self.zalo_api is not None:
            await self.zalo_api.close()
        if self.engine is not None:
            await self.engine.dispose()

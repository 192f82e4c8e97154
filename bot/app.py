"""Composition root: builds the bot, dispatcher, intake and services. Nothing at import time.

This is the only module that imports `handlers` (and, later, `schedules`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from dataclasses import dataclass, field

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

import handlers
from bot import menus, onboarding, reporting, topics, urgent
from bot.access import AccessMiddleware
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.conversation import Conversations, FormCatalog
from bot.delivery.limits import Pacer, RateLimitMiddleware
from bot.delivery.progress import ProgressReporter
from bot.delivery.sender import Sender
from bot.delivery.service import Delivery
from bot.i18n import create_i18n, in_locale
from bot.intake.poller import Intake, Poller
from bot.intake.processor import InboxProcessor, belongs_to_a_chat, chat_key
from bot.intake.webhook import create_webhook_app
from bot.middlewares import UpdateContextMiddleware
from bot.telegram import create_bot
from storage.db import (
    SessionFactory,
    checkpoint_periodically,
    create_engine,
    create_session_factory,
    upgrade_database,
)

log = logging.getLogger(__name__)

# Set after start-up. Almost everything an update allocates is freed by reference counting,
# so with the default first threshold (700) the collector ran every few updates for little.
# A young collection costs about what survives, not what was allocated: a high first
# threshold makes them rarer at the same cost each, and the older generations still run
# (a full pass about every hundred million allocations). Measured with bench/inbound.py:
# 6.6 -> 6.0 ms of CPU per update at (50_000, 20, 10); in interleaved runs 4.7 / 3.8 / 4.2 ms
# there against 4.4 / 3.5 ms here, with the same peak RSS (233 MB).
GC_THRESHOLDS = (1_000_000, 10, 10)


def create_conversations() -> Conversations:
    return Conversations(
        {
            onboarding.REGISTRATION_SLOT: onboarding.RegistrationPurpose(),
            onboarding.INVITE_SLOT: onboarding.InvitePurpose(),
            topics.TOPIC_SLOT: topics.TopicPurpose(),
            urgent.URGENT_SLOT: urgent.UrgentPurpose(),
            reporting.ReportPurpose.name: reporting.ReportPurpose(),
        }
    )


def create_dispatcher(
    settings: Settings,
    *,
    clock: Clock,
    forms: FormCatalog,
    i18n: I18n,
    conversations: Conversations,
    bot_username: str,
    delivery: Delivery,
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
    )
    # For every update: who is acting, in which language, with which services.
    dispatcher.update.outer_middleware(UpdateContextMiddleware(i18n, frozenset(settings.admin_ids)))
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
    _poll_task: asyncio.Task[None] | None = None
    _delivery_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _web_runner: web.AppRunner | None = None
    _checkpoint_task: asyncio.Task[None] | None = None

    async def start(self, *, poll: bool = True) -> None:
        settings = self.settings
        # The intake keeps one connection per concurrent update; as many again for the rest
        # (the poller, the outbox sender's many small transactions, replays, reports).
        self.engine = create_engine(settings.database_url, pool_size=2 * settings.intake_concurrency + 4)
        await upgrade_database(self.engine)
        self.session_factory = create_session_factory(self.engine)
        self.i18n = create_i18n(settings.default_locale)
        forms = FormCatalog()
        async with self.session_factory() as session:
            await forms.sync_builtin(session)
            await session.commit()
        self.bot = create_bot(settings)
        pacer = Pacer(
            global_per_second=settings.global_rate_per_second,
            per_chat_per_second=settings.per_chat_rate_per_second,
            per_group_per_minute=settings.per_group_rate_per_minute,
        )
        self.bot.session.middleware(RateLimitMiddleware(pacer))
        me = await self.bot.me()
        self.bot_username = me.username or ""
        self.progress = ProgressReporter(
            bot=self.bot,
            session_factory=self.session_factory,
            i18n=self.i18n,
            clock=self.clock,
            interval=settings.progress_edit_seconds,
        )
        self.sender = Sender(
            bot=self.bot,
            session_factory=self.session_factory,
            pacer=pacer,
            clock=self.clock,
            max_attempts=settings.delivery_max_attempts,
            retry_base_seconds=settings.delivery_retry_seconds,
            request_timeout=settings.delivery_request_timeout,
            # Few sends wait for the global bucket at a time, so an immediate answer queues
            # behind at most about a quarter of a second of bulk messages.
            max_in_flight=max(4, int(settings.global_rate_per_second / 4)),
            on_wake=self.progress.nudge,
        )
        self.delivery = Delivery(i18n=self.i18n, clock=self.clock, sender=self.sender)
        self.dispatcher = create_dispatcher(
            settings,
            clock=self.clock,
            forms=forms,
            i18n=self.i18n,
            conversations=create_conversations(),
            bot_username=self.bot_username,
            delivery=self.delivery,
        )
        self.processor = InboxProcessor(
            dispatcher=self.dispatcher,
            bot=self.bot,
            session_factory=self.session_factory,
            clock=self.clock,
            engine=self.engine,
            max_attempts=settings.intake_max_attempts,
            concurrency=settings.intake_concurrency,
            on_failure=self._apologise,
        )
        self.intake = Intake(session_factory=self.session_factory, processor=self.processor, clock=self.clock)
        if not settings.webhook_url:
            await self.bot.delete_webhook(drop_pending_updates=False)
        await menus.set_default_menus(self.bot, self.i18n)
        changed = await menus.sync_all_menus(self.bot, self.i18n, self.session_factory)
        if changed:
            log.info("updated the command menu of %d person(s)", changed)
        self._delivery_tasks = [
            asyncio.create_task(self.sender.run()),
            asyncio.create_task(self.progress.run()),
        ]
        self._checkpoint_task = asyncio.create_task(checkpoint_periodically(self.engine))
        replayed = await self.processor.replay()
        if replayed:
            log.info("replaying %d unfinished update(s) from the inbox", replayed)
        if settings.webhook_url:
            await self._start_webhook()
        elif poll:
            self.poller = Poller(
                bot=self.bot,
                intake=self.intake,
                timeout=settings.polling_timeout,
                allowed_updates=self.dispatcher.resolve_used_update_types(),
            )
            self._poll_task = asyncio.create_task(self.poller.run())
        # What start-up built (modules, models, catalogs) lives as long as the process: keep
        # it out of the collector's full passes, which otherwise pause the loop for longer
        # and longer (and bunch up paced sends).
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        log.info("bot @%s is running", self.bot_username)

    async def _start_webhook(self) -> None:
        """Webhook mode: Telegram posts to us; the inbox is written before we answer 200."""
        assert self.bot is not None and self.intake is not None and self.dispatcher is not None
        secret = self.settings.webhook_secret.get_secret_value()
        web_app = create_webhook_app(bot=self.bot, intake=self.intake, secret=secret)
        self._web_runner = web.AppRunner(web_app)
        await self._web_runner.setup()
        site = web.TCPSite(self._web_runner, self.settings.webhook_host, self.settings.webhook_port)
        await site.start()
        await self.bot.set_webhook(
            self.settings.webhook_url,
            secret_token=secret,
            allowed_updates=self.dispatcher.resolve_used_update_types(),
        )

    async def _apologise(self, update: Update, error: str) -> None:
        """Nobody is left in silence: a parked update gets an apology in the default language."""
        assert self.bot is not None and self.i18n is not None
        key = chat_key(update)
        if not belongs_to_a_chat(key):
            return
        with in_locale(self.i18n, self.settings.default_locale):
            text = _("Sorry, something went wrong while handling your message. Please try again later.")
        await self.bot.send_message(key, text)

    async def wait(self) -> None:
        if self._poll_task is not None:
            await self._poll_task

    async def stop(self) -> None:
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
        if self._checkpoint_task is not None:
            self._checkpoint_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoint_task
        if self.engine is not None:
            await self.engine.dispose()

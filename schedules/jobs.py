"""The scheduled jobs' work. Each gets the session of the transaction that claimed its run:
what it writes commits with the claim or not at all, and it makes no network call (the
delivery engine sends after the commit). Which jobs there are, and when: bot/scheduling.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.briefings import remind_briefings
from bot.clock import awake, morning_after
from bot.closing import close_topic, send_closing_summaries
from bot.drafts import NOT_HANDLED_HERE, remind_untouched
from bot.reminders import (
    HOLD_WHILE_FILLING,
    MANUAL_REMINDERS,
    ReminderPlan,
    due_occasion,
    remind_silent,
    reminder_before_due,
)
from bot.scheduling import JobContext, Run
from bot.topic_cycle import behind_alerts, publish_due, send_roll_calls, warn_missing_topics
from bot.urgent_followup import deadline_status, escalate, repush, repush_at
from storage import inbox, people, reports, topics
from storage import jobs as job_store
from storage.models import Topic, TopicKind, TopicStatus

log = logging.getLogger(__name__)


async def housekeeping(context: JobContext, session: AsyncSession, occurrence: datetime) -> str:
    """Personal data is kept no longer than said: handled updates, unfinished registrations,
    drafts untouched for DRAFT_DISCARD_DAYS, charts already sent."""
    settings, now = context.settings, context.clock.now()
    pruned = await inbox.prune_done(
        session=session, handled_before=now - timedelta(days=settings.inbox_retention_days)
    )
    expired = await people.expire_pending(
        session=session, created_before=now - timedelta(days=settings.pending_retention_days)
    )
    drafts = await reports.discard_untouched(
        session=session,
        touched_before=now - timedelta(days=settings.draft_discard_days),
        except_slots=NOT_HANDLED_HERE,
    )
    charts = await asyncio.to_thread(context.media.prune, older_than_days=settings.media_retention_days)
    return (
        f"{pruned} handled update(s), {expired} unfinished registration(s), {drafts} abandoned draft(s), "
        f"{charts} chart(s) removed"
    )


async def draft_reminders(context: JobContext, session: AsyncSession, occurrence: datetime) -> str:
    """Drafts untouched for DRAFT_REMINDER_DAYS: one reminder each, in the daytime
    (bot/drafts.py says which, and how to go on)."""
    settings = context.settings
    queued = await remind_untouched(
        session,
        _plan(context),
        now=context.clock.now(),
        reminder_days=settings.draft_reminder_days,
        discard_days=settings.draft_discard_days,
        key=f"draft-reminder:{_occasion(context, occurrence)}",
    )
    return f"{queued} draft reminder(s) queued" if queued else ""


async def reminders(context: JobContext, session: AsyncSession, occurrence: datetime) -> str:
    """Each open topic published before this reminder's time: its silent collaborators (a
    topic already in the day before its due time is left to due_reminders: one, not two)."""
    plan = _plan(context)
    now = context.clock.now()
    occasion = _occasion(context, occurrence)
    queued = 0
    for topic in await topics.open_topics(session=session, now=now):
        if now >= due_reminder_at(context, topic):
            continue  # the day before its due time has its own reminder (due_reminders)
        if topic.published_at is not None and topic.published_at <= occurrence:
            queued += await remind_silent(session, plan, topic, occasion=occasion, now=now, due_at=occurrence)
    return f"{queued} reminder(s) queued" if queued else ""


async def due_reminders(context: JobContext, session: AsyncSession, now: datetime) -> str:
    """Each tick: a topic whose due time is REMINDER_HOURS_BEFORE_DUE away or less, and was
    published before that, reminds its silent collaborators once (claimed per topic)."""
    before = timedelta(hours=context.settings.reminder_hours_before_due)

    def in_window(topic: Topic) -> bool:
        start = due_reminder_at(context, topic)
        return now >= start and not (topic.published_at is not None and topic.published_at >= start)

    async def remind(topic: Topic) -> int:
        if topic.due_at - now <= before / 4:  # not a "1 hour left" after downtime
            return 0
        return await remind_silent(
            session,
            _plan(context),
            topic,
            occasion=due_occasion(topic),
            now=now,
            due_at=due_reminder_at(context, topic),
        )

    due = [topic for topic in await topics.open_topics(session=session, now=now) if in_window(topic)]
    _done, queued = await _each_topic(session, "due_reminders", due, now, remind)
    return f"{queued} reminder(s) queued" if queued else ""


async def held_reminders(context: JobContext, session: AsyncSession, now: datetime) -> str:
    """Each tick: the reminders held back from people filling in a form go once the form has
    ended, or HOLD_WHILE_FILLING after their time (the outbox's key keeps the others from
    getting theirs twice)."""
    since = now - HOLD_WHILE_FILLING - timedelta(hours=1)  # a held one has an hour to go
    dated = [
        datetime.fromisoformat(subject)
        for subject in await job_store.recent_subjects(session=session, job="reminders", since=since)
    ]
    due = set(await job_store.recent_subjects(session=session, job="due_reminders", since=since))
    by_hand = await job_store.recent_claims(session=session, job=MANUAL_REMINDERS, since=since)
    if not dated and not due and not by_hand:
        return ""
    plan = _plan(context)
    queued = 0
    for claim in by_hand:  # "remind now", reopening: the part held back
        topic_id, occasion = claim.subject.split("|", 1)
        topic = await topics.get_topic(session=session, topic_id=int(topic_id))
        if topic is not None and topic.status == TopicStatus.PUBLISHED and topic.due_at > now:
            within = claim.target.split(",") if claim.target else None
            queued += await remind_silent(
                session, plan, topic, occasion=occasion, now=now, due_at=claim.claimed_at, within=within
            )
    for topic in await topics.open_topics(session=session, now=now):
        in_last_day = now >= due_reminder_at(context, topic)  # the due reminder's, not a second one
        for occurrence in dated:
            if not in_last_day and topic.published_at is not None and topic.published_at <= occurrence:
                queued += await remind_silent(
                    session, plan, topic, occasion=_occasion(context, occurrence), now=now, due_at=occurrence
                )
        if str(topic.id) in due:
            queued += await remind_silent(
                session,
                plan,
                topic,
                occasion=due_occasion(topic),
                now=now,
                due_at=due_reminder_at(context, topic),
            )
    return f"{queued} held reminder(s) queued" if queued else ""


async def close_topics(context: JobContext, session: AsyncSession, now: datetime) -> str:
    """Each tick: topics whose due time has passed are closed (once, claimed per topic); their
    readers get the summary, and leaders the units behind, at once or, after a due time at
    night (23:59), at 07:00 (claimed apart, as closing_summaries)."""

    async def close(topic: Topic) -> int:
        await close_topic(session, topic)
        return 0

    async def summarise(topic: Topic) -> int:
        if now - morning_after(topic.due_at, context.settings.tz) > CLOSE_STALE:
            return 0  # a first deploy, long downtime: no summary storm
        sent = await send_closing_summaries(session, _plan(context), topic)
        return sent + await behind_alerts(
            session, _plan(context), topic, threshold=context.settings.response_threshold_percent
        )

    closed, _sent = await _each_topic(
        session, "close_topics", await topics.past_due(session=session, now=now), now, close
    )
    recent = await topics.closed_since(
        session=session, since=now - CLOSE_STALE - timedelta(days=1), unclaimed_by="closing_summaries"
    )
    morning = [topic for topic in recent if now >= morning_after(topic.due_at, context.settings.tz)]
    _summarised, queued = await _each_topic(session, "closing_summaries", morning, now, summarise)
    parts = [f"{closed} topic(s) closed"] if closed else []
    parts += [f"{queued} summary message(s) queued"] if queued else []
    return ", ".join(parts)


CLOSE_STALE = timedelta(days=1)


async def urgent_repush(context: JobContext, session: AsyncSession, now: datetime) -> str:
    """Each tick: an urgent matter URGENT_REPUSH_FRACTION of the way from sending to its
    deadline goes once more to its silent collaborators (claimed per matter). One whose
    deadline passed while the bot was down is not re-pushed: it is no longer open."""

    def half_way(topic: Topic) -> bool:
        at = repush_at(topic, context.settings.urgent_repush_fraction)
        return at is not None and now >= at

    async def push(topic: Topic) -> int:
        return await repush(session, _plan(context), topic, now=now)

    open_matters = await topics.open_topics(session=session, now=now, kind=TopicKind.URGENT)
    matters, queued = await _each_topic(
        session, "urgent_repush", [topic for topic in open_matters if half_way(topic)], now, push
    )
    return f"{matters} urgent matter(s) re-pushed, {queued} message(s) queued" if matters else ""


async def urgent_deadline(context: JobContext, session: AsyncSession, now: datetime) -> str:
    """Each tick: at an urgent matter's deadline its staff and sender get its status (claimed
    per matter); one whose deadline is more than CLOSE_STALE past (long downtime, the first
    start of this version) is claimed quietly."""

    async def status(topic: Topic) -> int:
        if now - topic.due_at > CLOSE_STALE:
            return 0
        return await deadline_status(session, _plan(context), topic)

    past = await topics.urgent_past_deadline(session=session, now=now, unclaimed_by="urgent_deadline")
    done, queued = await _each_topic(session, "urgent_deadline", past, now, status)
    return f"{done} urgent deadline(s), {queued} status message(s) queued" if done else ""


async def urgent_escalation(context: JobContext, session: AsyncSession, now: datetime) -> str:
    """Each tick: at an urgent matter's deadline, its target units below
    RESPONSE_THRESHOLD_PERCENT are named to the staff of the unit above (claimed per matter;
    quietly after CLOSE_STALE, as urgent_deadline)."""

    async def escalation(topic: Topic) -> int:
        if now - topic.due_at > CLOSE_STALE:
            return 0
        return await escalate(
            session, _plan(context), topic, threshold=context.settings.response_threshold_percent
        )

    past = await topics.urgent_past_deadline(session=session, now=now, unclaimed_by="urgent_escalation")
    done, queued = await _each_topic(session, "urgent_escalation", past, now, escalation)
    return f"{done} urgent deadline(s), {queued} escalation(s) queued" if done else ""


async def publish_scheduled(context: JobContext, session: AsyncSession, now: datetime) -> str:
    """Each tick: scheduled topics whose time has come are published (claimed per topic)."""

    async def publish(topic: Topic) -> int:
        return int(await publish_due(session, _plan(context), topic, now=now))

    due = await topics.scheduled_due(session=session, now=now)
    _done, published = await _each_topic(session, "publish_scheduled", due, now, publish)
    return f"{published} scheduled topic(s) published" if published else ""


async def topic_warning(context: JobContext, session: AsyncSession, occurrence: datetime) -> str:
    """Staff of units with no topic for the coming month, TOPIC_WARNING_DAYS_BEFORE_MONTH
    before it starts (claimed per month and unit: one warning, even if the rule runs daily)."""
    today = occurrence.astimezone(context.settings.tz).date()
    told = await warn_missing_topics(
        session,
        _plan(context),
        today=today,
        days_before=context.settings.topic_warning_days_before_month,
        now=context.clock.now(),
    )
    return f"{told} staff member(s) told of a month without a topic" if told else ""


async def roll_calls(context: JobContext, session: AsyncSession, now: datetime) -> str:
    """Each tick: ROLL_CALL_DAYS_BEFORE_DUE before a topic's due time, its roll-call to the
    staff of each unit (claimed per topic; a topic published inside that window has none)."""
    before = timedelta(days=context.settings.roll_call_days_before_due)

    def in_window(topic: Topic) -> bool:
        start = awake(topic.due_at - before, context.settings.tz)
        return now >= start and not (topic.published_at is not None and topic.published_at >= start)

    async def call(topic: Topic) -> int:
        return await send_roll_calls(session, _plan(context), topic, now=now)

    due = [topic for topic in await topics.open_topics(session=session, now=now) if in_window(topic)]
    _done, queued = await _each_topic(session, "roll_calls", due, now, call)
    return f"{queued} roll-call message(s) queued" if queued else ""


async def _each_topic(
    session: AsyncSession,
    job: str,
    subjects: Sequence[Topic],
    now: datetime,
    work: Callable[[Topic], Awaitable[int]],
) -> tuple[int, int]:
    """Claim (job, topic) and do the work, topic by topic, each in a savepoint: a topic that
    fails is logged and tried again at the next tick (its claim undone) while the others go
    on; one claimed before is passed by. (Topics done now, what their work counted.)"""
    done = counted = 0
    for topic in subjects:
        try:
            async with session.begin_nested():
                if not await job_store.claim(
                    session=session, job=job, subject=str(topic.id), targets=[""], now=now
                ):
                    continue
                counted += await work(topic)
                done += 1
        except Exception:
            log.exception(
                "scheduled job %s failed for topic %s; it is tried again at the next tick", job, topic.id
            )
    return done, counted


def due_reminder_at(context: JobContext, topic: Topic) -> datetime:
    return reminder_before_due(
        topic, hours=context.settings.reminder_hours_before_due, tz=context.settings.tz
    )


def _occasion(context: JobContext, occurrence: datetime) -> str:
    return occurrence.astimezone(context.settings.tz).strftime("%Y%m%d%H%M")


def _plan(context: JobContext) -> ReminderPlan:
    assert context.delivery is not None and context.forms is not None
    return ReminderPlan(
        delivery=context.delivery,
        forms=context.forms,
        default_locale=context.settings.default_locale,
        bot_username=context.bot_username,
        tz=context.settings.tz,
    )


async def briefing_reminders(context: JobContext, session: AsyncSession, now: datetime) -> str:
    """Each tick: BRIEFING_REMINDER_HOURS_BEFORE before each briefing (set with /briefing, or
    a unit's usual one), its unit's bound groups get one reminder (claimed per briefing)."""
    assert context.delivery is not None
    reminded = await remind_briefings(session, context.delivery, context.settings, now=now)
    return f"{reminded} briefing(s) reminded" if reminded else ""


RUNS: dict[str, Run] = {
    "publish_scheduled": publish_scheduled,
    "topic_warning": topic_warning,
    "roll_calls": roll_calls,
    "housekeeping": housekeeping,
    "draft_reminders": draft_reminders,
    "reminders": reminders,
    "due_reminders": due_reminders,
    "held_reminders": held_reminders,
    "briefing_reminders": briefing_reminders,
    "close_topics": close_topics,
    "urgent_repush": urgent_repush,
    "urgent_deadline": urgent_deadline,
    "urgent_escalation": urgent_escalation,
}

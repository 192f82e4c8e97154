"""The monthly briefing (giao ban, issue 20): staff set its date, time and place with
/briefing, and each bound group of the unit's subtree is reminded before it.

A month with no briefing set still has one at the usual time (SCHEDULE_BRIEFING) for a unit
that has held one before: its groups are reminded of that, in the place of the unit's last
briefing. Cancelling a briefing (a set one or the usual one) leaves that month without any.
A unit that never set a briefing gets no reminder: the bot knows neither that it holds
briefings nor where. Claims in `job_run` make each reminder go once, also after a restart.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.access import Actor, Permission
from bot.config import Settings
from bot.conversation import Conversations, Outcome, Services, WizardPurpose
from bot.delivery.service import Delivery, Outgoing, Recipient
from bot.forms import FormDefinition, FormState
from bot.i18n import LOCALES, N_, WEEKDAY_NAMES, localized
from bot.onboarding import no_units_text, units_in_scope
from bot.schedule_rules import parse
from bot.ui import Screen, escape
from storage import audit, briefings, people
from storage import jobs as job_store
from storage.models import Briefing, Draft, Unit

BRIEFING_SLOT = "briefing"
JOB = "briefing_reminders"
CANCELLED = "cancelled"  # the job_run target that marks a month's usual briefing as called off
PLACE_MAX = 255
MAX_AHEAD = timedelta(days=366)
LISTED = 8  # coming briefings named above the wizard's first question (a message has a limit)
# "8", "08:00", "8h", "8h30", "14g", "8.30", "lúc 8 giờ 30": an hour of the day.
TIME_PATTERN = r"(?i)(?:lúc\s*)?([01]?\d|2[0-3])(?:\s*(?:[:hg.]|giờ)\s*([0-5]\d)?\s*(?:phút)?)?"
WHEN = N_("{weekday}, {date} at {time}")


def parse_time(text: str) -> time | None:
    match = re.fullmatch(TIME_PATTERN, text.strip())
    return time(int(match.group(1)), int(match.group(2) or 0)) if match else None


def when_text(moment: datetime, tz: ZoneInfo, translate: Callable[[str], str] = _) -> str:
    """ "Thứ Bảy, ngày 05/12/2026, lúc 08:00" in the current (or given) language."""
    local = moment.astimezone(tz)
    return translate(WHEN).format(
        weekday=translate(WEEKDAY_NAMES[local.weekday()]),
        date=local.strftime("%d/%m/%Y"),
        time=local.strftime("%H:%M"),
    )


def next_usual(settings: Settings, now: datetime) -> datetime:
    """The next time the usual briefing falls (SCHEDULE_BRIEFING), in UTC."""
    return parse(settings.schedule_briefing).next_after(now, settings.tz).astimezone(UTC)


def month_bounds(moment: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The local month a moment falls in, as [start, end) in UTC."""
    first = moment.astimezone(tz).date().replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return (
        datetime.combine(first, time(0), tzinfo=tz).astimezone(UTC),
        datetime.combine(following, time(0), tzinfo=tz).astimezone(UTC),
    )


def briefing_subject(briefing: Briefing) -> str:
    """Its time and place are in it: a briefing set anew may get the id of one deleted (SQLite
    reuses the highest), and one changed after its reminder is reminded again."""
    place = zlib.crc32(briefing.place.encode())
    return f"briefing:{briefing.id}:{briefing.held_at:%Y%m%d%H%M}:{place:08x}"


def usual_subject(unit_id: int, moment: datetime, tz: ZoneInfo) -> str:
    return f"usual:{unit_id}:{moment.astimezone(tz):%Y-%m}"


# The wizard ------------------------------------------------------------------------------


Translate = Callable[[str], str]


def _each_locale(i18n: I18n, template: str, params: Callable[[Translate], dict[str, str]]) -> dict[str, str]:
    """A catalog text formatted in every locale (a wizard's option labels are data);
    `params` gets each locale's gettext."""
    labels = {}
    for locale in LOCALES:

        def translate(message: str, locale: str = locale) -> str:
            return i18n.gettext(message, locale=locale)

        labels[locale] = translate(template).format(**params(translate))
    return labels


def _cancel_label(i18n: I18n, unit: str, held_at: datetime, tz: ZoneInfo) -> dict[str, str]:
    return _each_locale(
        i18n,
        N_("🗑 Cancel: {unit}, {when}"),
        lambda translate: {"unit": unit, "when": when_text(held_at, tz, translate)},
    )


def briefing_form(
    services: Services, units: list[Unit], upcoming: list[dict[str, Any]], usual_at: datetime
) -> FormDefinition:
    i18n, tz = services.i18n, services.tz
    usual_local = usual_at.astimezone(tz)
    asked_to_set: dict[str, Any] = {}
    questions: list[dict[str, Any]] = []
    if upcoming:
        options = [{"value": "set", "label": localized(i18n, "Set or change a briefing")}]
        for item in upcoming:
            held_at = datetime.fromisoformat(item["held_at"])
            options.append({"value": item["option"], "label": _cancel_label(i18n, item["unit"], held_at, tz)})
        questions.append(
            {
                "key": "action",
                "type": "choice",
                "label": localized(i18n, "What would you like to do?"),
                "short_label": localized(i18n, "Action"),
                "options": options,
            }
        )
        asked_to_set = {"show_if": {"question": "action", "equals": "set"}}
    if len(units) > 1:
        questions.append(
            {
                "key": "unit",
                "type": "choice",
                "label": localized(i18n, "Which unit's briefing?"),
                "short_label": localized(i18n, "Unit"),
                "options": [{"value": str(unit.id), "label": {"vi": unit.name}} for unit in units],
                **asked_to_set,
            }
        )
    questions += [
        {
            "key": "day_mode",
            "type": "choice",
            "label": localized(i18n, "Which day is the briefing?"),
            "short_label": localized(i18n, "Day"),
            "options": [
                {
                    "value": "usual",
                    "label": _each_locale(
                        i18n,
                        N_("{weekday}, {date} (the usual day)"),
                        lambda translate: {
                            "weekday": translate(WEEKDAY_NAMES[usual_local.weekday()]),
                            "date": usual_local.strftime("%d/%m/%Y"),
                        },
                    ),
                },
                {"value": "other", "label": localized(i18n, "Another day")},
            ],
            **asked_to_set,
        },
        {
            "key": "day",
            "type": "date",
            "allow_past": False,
            "label": localized(i18n, "The day of the briefing"),
            "short_label": localized(i18n, "Chosen day"),
            "show_if": {"question": "day_mode", "equals": "other"},
        },
        {
            "key": "time_mode",
            "type": "choice",
            "label": localized(i18n, "At what time?"),
            "short_label": localized(i18n, "Time"),
            "options": [
                {
                    "value": "usual",
                    "label": _each_locale(
                        i18n,
                        N_("{time} (the usual time)"),
                        lambda translate: {"time": usual_local.strftime("%H:%M")},
                    ),
                },
                {"value": "other", "label": localized(i18n, "Another time")},
            ],
            **asked_to_set,
        },
        {
            "key": "time",
            "type": "text",
            "max_length": 20,
            "pattern": TIME_PATTERN,
            "pattern_hint": localized(
                i18n, "Type the time as hours and minutes, for example 08:00, 8h or 14h30."
            ),
            "label": localized(i18n, "The time of the briefing"),
            "short_label": localized(i18n, "Chosen time"),
            "show_if": {"question": "time_mode", "equals": "other"},
        },
        {
            "key": "place",
            "type": "text",
            "min_length": 2,
            "max_length": PLACE_MAX,
            "label": localized(i18n, "Where is the briefing held?"),
            "short_label": localized(i18n, "Place"),
            "help": localized(i18n, "For example: the meeting hall of the commune People's Committee."),
            **asked_to_set,
        },
    ]
    return FormDefinition.model_validate(
        {"key": "briefing_wizard", "title": localized(i18n, "Monthly briefing"), "questions": questions}
    )


async def open_briefing_wizard(services: Services, conversations: Conversations, *, actor: Actor) -> Outcome:
    """/briefing: what is coming up in the staff member's units, then set, change or cancel."""
    session, now = services.session, services.clock.now()
    units = await units_in_scope(session, actor, Permission.PUBLISH_TOPIC)
    if not units:
        return Outcome(alert=no_units_text())
    assert actor.person is not None and actor.person.id is not None
    usual_at = next_usual(services.settings, now)
    upcoming = await _upcoming(services, actor, usual_at)
    context = {
        "usual_at": usual_at.isoformat(),
        "unit_id": units[0].id,  # the unit, when there is only one to ask about
        "unit_name": units[0].name,
        "upcoming": upcoming,
    }
    return await conversations.start(
        services,
        person_id=actor.person.id,
        slot=BRIEFING_SLOT,
        definition=briefing_form(services, units, upcoming, usual_at),
        context=context,
    )


async def _upcoming(services: Services, actor: Actor, usual_at: datetime) -> list[dict[str, Any]]:
    """The briefings set and not yet begun in the actor's scope, and the usual ones of
    `usual_at`'s month (units that held one before and set none), soonest first."""
    session, tz = services.session, services.tz
    paths = actor.scope_paths(Permission.PUBLISH_TOPIC)
    found = [
        {
            "option": f"cancel_b{briefing.id}",
            "unit": unit.name,
            "held_at": briefing.held_at.isoformat(),
            "place": briefing.place,
            "usual": False,
        }
        for briefing, unit in await briefings.upcoming(
            session=session, unit_paths=paths, after=services.clock.now()
        )
    ]
    start, end = month_bounds(usual_at, tz)
    usual = await briefings.usual_units(session=session, month_start=start, month_end=end, unit_paths=paths)
    cancelled = await briefings.claimed_subjects(
        session=session,
        job=JOB,
        subjects=[usual_subject(unit.id or 0, usual_at, tz) for unit, _place in usual],
        target=CANCELLED,
    )
    found += [
        {
            "option": f"cancel_u{unit.id}",
            "unit": unit.name,
            "held_at": usual_at.isoformat(),
            "place": place,
            "usual": True,
        }
        for unit, place in usual
        if usual_subject(unit.id or 0, usual_at, tz) not in cancelled
    ]
    return sorted(found, key=lambda item: item["held_at"])


def _planned(services: Services, draft: Draft, answers: dict[str, Any]) -> datetime | None:
    """The moment the answers name (None: a typed time that cannot be read)."""
    tz = services.tz
    usual_at = datetime.fromisoformat(draft.context["usual_at"]).astimezone(tz)
    day = date.fromisoformat(str(answers["day"])) if answers.get("day_mode") == "other" else usual_at.date()
    at = parse_time(str(answers.get("time", ""))) if answers.get("time_mode") == "other" else usual_at.time()
    if at is None:
        return None
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def _unit_name(draft: Draft, form: FormDefinition, answers: dict[str, Any]) -> str:
    if "unit" in answers and form.has_question("unit"):
        for option in form.question("unit").choices():
            if option.value == answers["unit"]:
                return option.label["vi"]
    return str(draft.context.get("unit_name", ""))


def _chosen(draft: Draft, answers: dict[str, Any]) -> dict[str, Any] | None:
    """The upcoming briefing a cancel answer names."""
    action = answers.get("action")
    return next((item for item in draft.context.get("upcoming", []) if item["option"] == action), None)


def _upcoming_line(item: dict[str, Any], tz: ZoneInfo) -> str:
    line = _("• <b>{unit}</b>: {when}, in {place}").format(
        unit=escape(item["unit"]),
        when=when_text(datetime.fromisoformat(item["held_at"]), tz),
        place=escape(item["place"]),
    )
    return line + (" " + _("(the usual day and place)") if item["usual"] else "")


class BriefingPurpose(WizardPurpose):
    name = BRIEFING_SLOT

    def intro(self, services: Services, draft: Draft, form: FormDefinition) -> str | None:
        upcoming = draft.context.get("upcoming") or []
        if not upcoming:
            usual_at = datetime.fromisoformat(draft.context["usual_at"])
            return _(
                "📅 <b>Monthly briefing</b>\nNo briefing is set yet. The usual one is {when}: "
                "set its day, time and place, and the bound groups are reminded before it."
            ).format(when=when_text(usual_at, services.tz))
        lines = [_("📅 <b>Monthly briefing</b>\nComing up:")]
        lines += [_upcoming_line(item, services.tz) for item in upcoming[:LISTED]]
        if len(upcoming) > LISTED:  # a province's communes: the rest are in the list to cancel
            more = len(upcoming) - LISTED
            lines.append(_("… and {count} more.").format(count=more))
        lines.append(_("Setting a briefing for a month that has one replaces it."))
        return "\n".join(lines)

    def review(self, services: Services, draft: Draft, form: FormDefinition) -> tuple[str, str, str | None]:
        answers = FormState.from_json(draft.state).answers
        chosen = _chosen(draft, answers)
        if chosen is not None:
            return (
                _("Cancel this briefing?"),
                _("🗑 Cancel the briefing"),
                _upcoming_line(chosen, services.tz),
            )
        held_at = _planned(services, draft, answers)
        hours = services.settings.briefing_reminder_hours_before
        preamble = _("<b>{unit}</b>: {when}, in {place}").format(
            unit=escape(_unit_name(draft, form, answers)),
            when=when_text(held_at, services.tz) if held_at is not None else "—",
            place=escape(answers.get("place", "")),
        )
        reminder = ngettext(
            "The bound groups of this unit and the units below it are reminded {count} hour before.",
            "The bound groups of this unit and the units below it are reminded {count} hours before.",
            hours,
        ).format(count=hours)
        return _("Check the briefing"), _("💾 Save"), f"{preamble}\n{reminder}"

    async def complete(
        self, services: Services, actor: Actor, draft: Draft, answers: dict[str, Any]
    ) -> Outcome:
        chosen = _chosen(draft, answers)
        if chosen is not None:
            return await _cancel(services, actor, chosen)
        return await _save(services, actor, draft, answers)


async def _in_scope(services: Services, actor: Actor, unit_id: int) -> Unit | None:
    unit = await people.get_unit(session=services.session, unit_id=unit_id)
    if unit is None or not actor.can_act_on(Permission.PUBLISH_TOPIC, unit):
        return None
    return unit


async def _save(services: Services, actor: Actor, draft: Draft, answers: dict[str, Any]) -> Outcome:
    session, tz, now = services.session, services.tz, services.clock.now()
    unit = await _in_scope(services, actor, int(answers.get("unit") or draft.context["unit_id"]))
    if unit is None or unit.id is None:
        return Outcome(alert=_("That unit is outside your scope."))
    held_at = _planned(services, draft, answers)
    if held_at is None:
        return Outcome(alert=_("Type the time as hours and minutes, for example 08:00, 8h or 14h30."))
    if held_at <= now:
        return Outcome(
            alert=_("{when} has already passed: change the day or the time.").format(
                when=when_text(held_at, tz)
            )
        )
    if held_at - now > MAX_AHEAD:
        return Outcome(alert=_("A briefing can be set at most a year ahead."))
    place = str(answers["place"]).strip()
    assert actor.person is not None
    start, end = month_bounds(held_at, tz)
    briefing, replaced = await briefings.set_briefing(
        session=session,
        unit_id=unit.id,
        held_at=held_at,
        place=place,
        created_by=actor.person.id,
        month_start=start,
        month_end=end,
        now=now,
    )
    await audit.record(
        session=session,
        action="briefing.set",
        actor_id=actor.person.id,
        unit_id=unit.id,
        details={
            "briefing_id": briefing.id,
            "held_at": held_at.isoformat(),
            "place": place,
            "replaced": [row.id for row in replaced],
        },
    )
    lines = [
        _("📅 The briefing of <b>{unit}</b> is set: {when}, in {place}.").format(
            unit=escape(unit.name), when=when_text(held_at, tz), place=escape(place)
        )
    ]
    if replaced:
        lines.append(_("It replaces the one set for {when}.").format(when=when_text(replaced[0].held_at, tz)))
    groups = len(await people.groups_for_units(session=session, unit_paths=[unit.path]))
    remind_at = held_at - timedelta(hours=services.settings.briefing_reminder_hours_before)
    if not groups:
        lines.append(
            _(
                "No registered group in this unit or the units below it yet: add the bot to a group and send /setup there."
            )
        )
    elif remind_at <= now:
        lines.append(
            ngettext(
                "{count} bound group is reminded in a moment.",
                "{count} bound groups are reminded in a moment.",
                groups,
            ).format(count=groups)
        )
    else:
        lines.append(
            ngettext(
                "{count} bound group is reminded at {moment}.",
                "{count} bound groups are reminded at {moment}.",
                groups,
            ).format(count=groups, moment=when_text(remind_at, tz))
        )
    return Outcome(screen=Screen(text="\n".join(lines)), finished=True)


async def _cancel(services: Services, actor: Actor, chosen: dict[str, Any]) -> Outcome:
    """Cancel a set briefing or a month's usual one; either way that month then has none
    (the usual one is not reminded either)."""
    session, tz, now = services.session, services.tz, services.clock.now()
    option = str(chosen["option"])
    held_at = datetime.fromisoformat(chosen["held_at"])
    briefing = None
    if option.startswith("cancel_b"):
        briefing = await briefings.get_briefing(
            session=session, briefing_id=int(option.removeprefix("cancel_b"))
        )
        if briefing is None:
            return _gone()
        unit_id, held_at = briefing.unit_id, briefing.held_at
    else:
        unit_id = int(option.removeprefix("cancel_u"))
    unit = await _in_scope(services, actor, unit_id)
    if unit is None or unit.id is None:
        return Outcome(alert=_("That unit is outside your scope."))
    if held_at <= now:
        return _gone()
    if briefing is not None:
        subject = briefing_subject(briefing)
        await briefings.delete_briefing(session=session, briefing=briefing)
    else:
        subject = usual_subject(unit.id, held_at, tz)
        start, end = month_bounds(held_at, tz)
        still = await briefings.usual_units(
            session=session, month_start=start, month_end=end, unit_paths=[unit.path]
        )
        if not any(found.id == unit.id for found, _place in still):
            return _gone()
    reminded = await briefings.claimed_subjects(session=session, job=JOB, subjects=[subject], target="")
    await job_store.claim(
        session=session, job=JOB, subject=usual_subject(unit.id, held_at, tz), targets=[CANCELLED], now=now
    )
    assert actor.person is not None
    await audit.record(
        session=session,
        action="briefing.cancel",
        actor_id=actor.person.id,
        unit_id=unit.id,
        details={"subject": subject, "held_at": held_at.isoformat()},
    )
    lines = [
        _("🗑 The briefing of <b>{unit}</b> on {when} is cancelled.").format(
            unit=escape(unit.name), when=when_text(held_at, tz)
        )
    ]
    if reminded:
        lines.append(_("Its groups had already been reminded of it: please let them know."))
    return Outcome(screen=Screen(text="\n".join(lines)), finished=True)


def _gone() -> Outcome:
    """A cancel chosen from a list that has changed since (another staff member, or time)."""
    return Outcome(
        screen=Screen(text=_("That briefing is no longer coming up: nothing was changed.")), finished=True
    )


# The reminder ----------------------------------------------------------------------------


def reminder_text(unit_name: str, held_at: datetime, place: str, tz: ZoneInfo, *, usual: bool) -> str:
    lines = [
        _("📅 <b>Monthly briefing of {unit}</b>").format(unit=escape(unit_name)),
        _("🕗 Time: {when}").format(when=when_text(held_at, tz)),
        _("📍 Place: {place}").format(place=escape(place)),
    ]
    if usual:
        lines.append(_("(The usual day, time and place.)"))
    lines.append(_("Please attend on time."))
    return "\n".join(lines)


async def remind_briefings(
    session: AsyncSession, delivery: Delivery, settings: Settings, *, now: datetime
) -> int:
    """Each briefing (set, or a unit's usual one) beginning within
    BRIEFING_REMINDER_HOURS_BEFORE and not yet begun: one message in each bound group of its
    unit's subtree, claimed per briefing. How many briefings were reminded."""
    tz = settings.tz
    until = now + timedelta(hours=settings.briefing_reminder_hours_before)
    due: list[tuple[str, Unit, datetime, str, bool]] = [
        (briefing_subject(briefing), unit, briefing.held_at, briefing.place, False)
        for briefing, unit in await briefings.due_for_reminder(session=session, now=now, until=until)
    ]
    usual_at = next_usual(settings, now)
    if usual_at <= until:
        start, end = month_bounds(usual_at, tz)
        usual = await briefings.usual_units(session=session, month_start=start, month_end=end)
        subjects = [usual_subject(unit.id or 0, usual_at, tz) for unit, _place in usual]
        cancelled = await briefings.claimed_subjects(
            session=session, job=JOB, subjects=subjects, target=CANCELLED
        )
        due += [
            (subject, unit, usual_at, place, True)
            for subject, (unit, place) in zip(subjects, usual, strict=True)
            if subject not in cancelled
        ]
    reminded = 0
    for subject, unit, held_at, place, is_usual in due:
        if not await job_store.claim(session=session, job=JOB, subject=subject, targets=[""], now=now):
            continue
        reminded += 1
        groups = await people.groups_for_units(session=session, unit_paths=[unit.path])
        text = {"unit": unit.name, "held_at": held_at, "place": place}

        def render(recipient: Recipient, text: dict[str, Any] = text, is_usual: bool = is_usual) -> Outgoing:
            return Outgoing(
                text=reminder_text(text["unit"], text["held_at"], text["place"], tz, usual=is_usual)
            )

        await delivery.deliver(
            session,
            key=f"briefing:{subject}",
            recipients=[
                Recipient(chat_id=group.chat_id, locale=settings.default_locale, chat_group_id=group.id)
                for group in groups
            ],
            render=render,
        )
    return reminded

"""/schedule: administrators see and change the scheduled jobs from a private chat, on either
channel, in their own language.

The same core as `dlxh schedule` (bot/scheduling.py's JobRunner), run inside the update's
transaction: the change and its audit entry commit together, and on SQLite a second
transaction would wait for the update's own write lock. Bad input changes nothing and says
what is wrong. The words after /schedule are English (as in `dlxh schedule`) or Vietnamese:
`set`/`đặt`, `pause`/`tạm dừng`/`dừng`, `resume`/`tiếp tục`, `list`/`xem`; a job is named as
listed, or by its number in the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.access import Actor
from bot.clock import format_date
from bot.conversation import Services
from bot.forms.words import fold
from bot.i18n import N_, WEEKDAY_NAMES
from bot.schedule_rules import Rule
from bot.scheduling import CATALOG, JobRunner, JobState, ScheduleError
from bot.ui import escape
from storage import audit


class Action(StrEnum):
    LIST = "list"
    SET = "set"
    PAUSE = "pause"
    RESUME = "resume"


# The word after /schedule, folded (lower case, no diacritics: "tạm dừng" → "tam dung").
WORDS: dict[str, Action] = {
    "list": Action.LIST,
    "xem": Action.LIST,
    "set": Action.SET,
    "dat": Action.SET,
    "pause": Action.PAUSE,
    "tam dung": Action.PAUSE,
    "dung": Action.PAUSE,
    "resume": Action.RESUME,
    "tiep tuc": Action.RESUME,
}
NTH = {
    1: N_("the first {weekday}"),
    2: N_("the second {weekday}"),
    3: N_("the third {weekday}"),
    4: N_("the fourth {weekday}"),
    -1: N_("the last {weekday}"),
}
EXAMPLE_JOB = "reminders"


@dataclass(frozen=True)
class Request:
    """What the admin typed after /schedule."""

    action: Action | None  # None: a word /schedule does not know (`word`)
    word: str = ""  # the subcommand as typed, for examples in the admin's own words
    job: str = ""
    rule: str = ""


def read(args: str | None) -> Request:
    tokens = (args or "").split()
    if not tokens:
        return Request(Action.LIST)
    for size in (2, 1):
        folded = fold(" ".join(tokens[:size]))
        if len(tokens) >= size and folded in WORDS:
            word, rest = " ".join(tokens[:size]), tokens[size:]
            action = WORDS[folded]
            break
    else:
        return Request(None, word=tokens[0])
    if action is Action.SET:
        return Request(action, word, job=rest[0] if rest else "", rule=" ".join(rest[1:]))
    return Request(action, word, job=" ".join(rest))


async def handle(services: Services, runner: JobRunner, actor: Actor, args: str | None) -> str:
    """The answer to `/schedule …`, having made the change it asks for (if any)."""
    request = read(args)
    if request.action is None:
        return _problem(_("/schedule does not know “{word}”.").format(word=escape(request.word)), usage=True)
    session = services.session
    if request.action is Action.LIST:
        return listing(await runner.states(session=session), services.settings.org_timezone, services.tz)
    if not request.job:
        example = f"/schedule {request.word} {EXAMPLE_JOB}" + (
            " 20,25 09:00" if request.action is Action.SET else ""
        )
        return _problem(
            _(
                "Write which job after the command, for example <code>{example}</code>. The jobs are: {jobs}."
            ).format(example=escape(example), jobs=_job_names())
        )
    job = _job_name(request.job)
    person_id = actor.person.id if actor.person is not None else None
    before = next((state for state in await runner.states(session=session) if state.info.name == job), None)
    try:
        if request.action is Action.SET:
            after = await runner.set_rule(job, request.rule, by=person_id, session=session)
        else:
            paused = request.action is Action.PAUSE
            if before is not None and before.paused == paused:  # nothing to change, nothing to record
                return _unchanged(before)
            after = await runner.set_paused(job, paused, by=person_id, session=session)
    except ScheduleError as error:
        return _refusal(error, request)
    assert before is not None  # a job the runner knows is listed by it
    details: dict[str, object] = {"job": job}
    if request.action is Action.SET:
        details |= {
            "rule": after.rule.text if after.rule else "",
            "before": before.rule.text if before.rule else "",
        }
    await audit.record(
        session=session, action=f"schedule.{request.action.value}", actor_id=person_id, details=details
    )
    return _confirmation(request.action, after, services.tz)


def listing(states: list[JobState], zone: str, tz: ZoneInfo) -> str:
    lines = [_("🗓 <b>Scheduled jobs</b> (times in {zone})").format(zone=zone), ""]
    for number, state in enumerate(states, start=1):
        name = state.info.name
        lines.append(f"{number}. <code>{name}</code> — {_(state.info.description)}")
        if state.rule is None:
            lines.append("   " + _("When: at each topic's own time (it has no time of its own)"))
        else:
            lines.append(
                "   "
                + _("When: {when} (<code>{rule}</code>)").format(
                    when=rule_in_words(state.rule), rule=state.rule.text
                )
            )
        if state.paused:
            lines.append("   " + _("⏸ Paused: it does not run until it is resumed"))
        elif state.next_run is not None:
            lines.append("   " + _("Next run: {moment}").format(moment=moment_text(state.next_run, tz)))
    lines.extend(["", how_to_change()])
    return "\n".join(lines)


def how_to_change() -> str:
    return _(
        "<b>To change</b> (a job by its name or its number above):\n"
        "<code>/schedule set JOB RULE</code>, for example <code>/schedule set reminders 20,25 09:00</code>\n"
        "<code>/schedule pause JOB</code>\n"
        "<code>/schedule resume JOB</code>\n"
        "A rule is the days and a time: <code>20,25 09:00</code> (days of the month), "
        "<code>thứ hai đầu tiên 08:00</code> (the first Monday), <code>last 17:00</code> (the last day "
        "of the month), <code>daily 03:00</code> (every day).\n"
        "The Vietnamese words work too: <code>đặt</code>, <code>tạm dừng</code>, <code>tiếp tục</code>."
    )


def rule_in_words(rule: Rule) -> str:
    """A rule as a sentence in the reader's language ("on days 20, 25 of each month at 09:00")."""
    at = rule.at.strftime("%H:%M")
    if rule.daily:
        return _("every day at {time}").format(time=at)
    if rule.weekday is not None and rule.nth is not None:
        which = _(NTH[rule.nth]).format(weekday=_(WEEKDAY_NAMES[rule.weekday]))
        return _("on {which} of each month at {time}").format(which=which, time=at)
    numbered = [day for day in rule.days if day != 0]
    days = ", ".join(str(day) for day in numbered)
    if not numbered:
        text = _("on the last day of each month at {time}").format(time=at)
    elif 0 in rule.days:
        text = _("on days {days} and the last day of each month at {time}").format(days=days, time=at)
    else:
        text = ngettext(
            "on day {days} of each month at {time}", "on days {days} of each month at {time}", len(numbered)
        ).format(days=days, time=at)
    if any(day > 28 for day in numbered):
        text += " " + _("(in a month without that day: its last day)")
    return text


def moment_text(moment: datetime, tz: ZoneInfo) -> str:
    """dd/mm/yyyy HH:MM in the organisation's time zone, as `dlxh schedule list` prints it."""
    return f"{format_date(moment, tz)} {moment.astimezone(tz).strftime('%H:%M')}"


def _confirmation(action: Action, state: JobState, tz: ZoneInfo) -> str:
    job = state.info.name
    if action is Action.PAUSE:
        return _(
            "⏸ <b>{job}</b> is paused: it does not run until <code>/schedule resume {job}</code>."
        ).format(job=job)
    if action is Action.SET:
        assert state.rule is not None and state.next_run is not None
        text = _("✅ <b>{job}</b> now runs {when}.").format(job=job, when=rule_in_words(state.rule))
        text += "\n" + _("Next run: {moment}").format(moment=moment_text(state.next_run, tz))
        text += "\n" + _("Times already past are not caught up.")
        if state.paused:
            text += "\n" + _("It is paused: it runs only after <code>/schedule resume {job}</code>.").format(
                job=job
            )
        return text
    if state.next_run is None:
        return _("▶️ <b>{job}</b> runs again, at each topic's own time.").format(job=job)
    return (
        _("▶️ <b>{job}</b> runs again.").format(job=job)
        + "\n"
        + _("Next run: {moment}").format(moment=moment_text(state.next_run, tz))
        + "\n"
        + _("What it missed while paused is not caught up.")
    )


def _unchanged(state: JobState) -> str:
    if state.paused:
        return _("<b>{job}</b> was already paused; nothing was changed.").format(job=state.info.name)
    return _("<b>{job}</b> is not paused; nothing was changed.").format(job=state.info.name)


def _refusal(error: ScheduleError, request: Request) -> str:
    code = error.rule_error.code if error.rule_error is not None else str(error)
    value = escape(str(error.rule_error.params.get("value", ""))) if error.rule_error is not None else ""
    job = escape(request.job)
    if code == "unknown_job":
        return _problem(
            _("There is no job “{job}”. The jobs are: {jobs}.").format(job=job, jobs=_job_names())
        )
    if code == "no_rule":
        return _problem(
            _(
                "<b>{job}</b> has no time of its own: it acts at each topic's own time, so it can only "
                "be paused or resumed."
            ).format(job=escape(_job_name(request.job)))
        )
    problems = {
        "empty": _("Write when it runs after the job's name, for example <code>{example}</code>.").format(
            example=escape(f"/schedule {request.word} {request.job} 20,25 09:00")
        ),
        "no_time": _(
            "The time of day is missing: write it as 09:00 or 9h, for example <code>20,25 09:00</code>."
        ),
        "bad_time": _("{value} is not a time of day: write a time from 00:00 to 23:59.").format(value=value),
        "bad_day": _(
            "A month has no day {value}: write days from 1 to 31 (31 means the last day of a shorter month)."
        ).format(value=value),
        "no_day": _(
            "Which days is missing: write day numbers (<code>20,25 09:00</code>), a weekday of the month "
            "(<code>first monday 08:00</code>), <code>last 17:00</code> or <code>daily 03:00</code>."
        ),
        "no_fifth": _(
            "Not every month has a fifth such weekday: write first to fourth, or last "
            "(for example <code>last friday 16:00</code>)."
        ),
        "unreadable": _(
            "“{value}” cannot be read as a rule: write for example <code>20,25 09:00</code>, "
            "<code>first monday 08:00</code>, <code>last 17:00</code> or <code>daily 03:00</code>."
        ).format(value=value),
    }
    return _problem(problems.get(code, escape(code)))


def _problem(text: str, *, usage: bool = False) -> str:
    answer = "⚠️ " + text + " " + _("Nothing was changed.")
    return answer + "\n\n" + how_to_change() if usage else answer


def _job_name(typed: str) -> str:
    """A job by its name (any case) or by its number in the list."""
    names = list(CATALOG)
    typed = typed.strip()
    if typed.isdecimal() and typed.isascii() and 1 <= int(typed) <= len(names):
        return names[int(typed) - 1]
    return typed.lower()


def _job_names() -> str:
    return ", ".join(f"<code>{name}</code>" for name in CATALOG)

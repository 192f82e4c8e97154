"""Deadlines as staff in Vietnam type them for an urgent matter, in the organisation's time
zone (`now` carries it):

- an hour of the day: "18h", "18h30", "18g", "lúc 18 giờ", "18:00": today, or tomorrow if
  that time has passed (as "18h" is meant when it is written at 19:00);
- a time and a day: "18h 25/11", "18:00 25/11", "25/11 18:00"; a day alone, "25/11" or
  "25/11/2026", means the end of that day; without a year, the next such day;
- a time from now: "2 giờ", "2 tiếng", "trong 2h", "90 phút", "1 ngày", "24h" (an hour
  past 23 cannot be a time of day).

The preview shows the computed moment, so a slip is seen before anything is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from bot.forms.validators import normalize_text

MAX_AHEAD = timedelta(days=366)

UNITS = {
    "d": 1440, "ngày": 1440, "ngay": 1440, "day": 1440, "days": 1440,
    "h": 60, "giờ": 60, "gio": 60, "tiếng": 60, "tieng": 60, "hour": 60, "hours": 60,
    "m": 1, "p": 1, "phút": 1, "phut": 1, "min": 1, "mins": 1, "minute": 1, "minutes": 1,
}  # fmt: skip
DURATION_PART = re.compile(r"(\d{1,4})\s*(" + "|".join(sorted(UNITS, key=len, reverse=True)) + r")?")
DURATION = re.compile(
    r"^(?:\d{1,4}\s*(?:" + "|".join(sorted(UNITS, key=len, reverse=True)) + r")\s*)+(?:\d{1,2})?$"
)
TIME = r"(\d{1,2})\s*(?::|h|g)\s*(\d{2})?"
# "18h", "18h30", "18g", "lúc 18 giờ", "lúc 18 giờ 30": an hour of the day (if under 24).
HOUR_OF_DAY = re.compile(
    r"^(?:(?:lúc|luc)\s*)?(\d{1,2})\s*(?:h|g)\s*(\d{2})?$"
    r"|^(?:lúc|luc)\s*(\d{1,2})\s*(?:giờ|gio)(?:\s*(\d{1,2})\s*(?:phút|phut)?)?$"
)
WITHIN = re.compile(r"^(?:trong|within|in)\s+")
DATE = r"(\d{1,2})\s*[/.\-]\s*(\d{1,2})(?:\s*[/.\-]\s*(\d{2,4}))?"
TIME_ONLY = re.compile(rf"^{TIME}$")
DATE_ONLY = re.compile(rf"^{DATE}$")
TIME_DATE = re.compile(rf"^{TIME}\s*(?:,|ngày|ngay)?\s*{DATE}$")
DATE_TIME = re.compile(rf"^{DATE}\s*(?:,|lúc|luc|at)?\s*{TIME}$")


@dataclass(frozen=True)
class DeadlineProblem:
    """Why a typed deadline was refused: `in_past`, `too_far`, `invalid_date`,
    `invalid_time`, `empty_duration` or `unrecognised`."""

    code: str
    params: dict[str, str] = field(default_factory=dict)


def format_deadline(moment: datetime) -> str:
    return moment.strftime("%H:%M %d/%m/%Y")


def parse_deadline(
    text: str, now: datetime, *, max_ahead: timedelta = MAX_AHEAD
) -> datetime | DeadlineProblem:
    value = normalize_text(text).lower()
    result = _parse(value, now)
    if isinstance(result, DeadlineProblem):
        return result
    if result <= now:
        return DeadlineProblem("in_past", {"value": format_deadline(result)})
    # Deadlines are kept to the minute (a duration is rounded up to one): a limit that is
    # only passed by that rounding is not passed.
    if result - now >= max_ahead + timedelta(minutes=1):
        return DeadlineProblem("too_far", {"days": str(max_ahead.days)})
    return result


def _parse(value: str, now: datetime) -> datetime | DeadlineProblem:
    if within := WITHIN.match(value):
        rest = value[within.end() :]
        return (
            _duration(rest, now)
            if DURATION.match(rest)
            else DeadlineProblem("unrecognised", {"value": value[:40]})
        )
    if match := HOUR_OF_DAY.match(value):
        hour, minute = (
            (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
        )
        if int(hour) >= 24:
            if minute is None and value.endswith("h") and not value.startswith(("lúc", "luc")):
                return _duration(value, now)  # "24h", "48h": no such hour of a day, so hours from now
            return DeadlineProblem("invalid_time", {"value": value[:40]})
        return _today_or_tomorrow(hour, minute, now)
    if DURATION.match(value):
        return _duration(value, now)
    if match := TIME_ONLY.match(value):
        return _today_or_tomorrow(match.group(1), match.group(2), now)
    if match := DATE_ONLY.match(value):
        day = _date(match.group(1), match.group(2), match.group(3), now)
        return day if isinstance(day, DeadlineProblem) else _at(day, time(23, 59), now)
    if match := TIME_DATE.match(value):
        hour, minute, day_, month, year = match.groups()
    elif match := DATE_TIME.match(value):
        day_, month, year, hour, minute = match.groups()
    else:
        return DeadlineProblem("unrecognised", {"value": value[:40]})
    clock = _time(hour, minute)
    if isinstance(clock, DeadlineProblem):
        return clock
    day = _date(day_, month, year, now, clock=clock)
    return day if isinstance(day, DeadlineProblem) else _at(day, clock, now)


def _today_or_tomorrow(hour: str, minute: str | None, now: datetime) -> datetime | DeadlineProblem:
    clock = _time(hour, minute)
    if isinstance(clock, DeadlineProblem):
        return clock
    moment = _at(now.date(), clock, now)
    return moment if moment > now else _at(now.date() + timedelta(days=1), clock, now)


def _duration(value: str, now: datetime) -> datetime | DeadlineProblem:
    """ "2h", "1h30", "90 phút", "1 ngày 2 giờ": a trailing bare number means minutes."""
    minutes = 0
    for amount, unit in DURATION_PART.findall(value):
        minutes += int(amount) * (UNITS[unit] if unit else 1)
        if minutes > MAX_AHEAD.total_seconds():  # far past any limit: stop before datetime overflows
            return DeadlineProblem("too_far", {"days": str(MAX_AHEAD.days)})
    if minutes <= 0:
        return DeadlineProblem("empty_duration")
    moment = now + timedelta(minutes=minutes)
    # Rounded up to a whole minute, so the deadline shown is exactly the one kept.
    if moment.second or moment.microsecond:
        moment = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return moment


def _time(hour: str, minute: str | None) -> time | DeadlineProblem:
    h, m = int(hour), int(minute or 0)
    if not (0 <= h <= 23 and 0 <= m <= 59):
        return DeadlineProblem("invalid_time", {"value": f"{hour}:{minute or '00'}"})
    return time(h, m)


def _date(
    day: str, month: str, year: str | None, now: datetime, *, clock: time = time(23, 59)
) -> date | DeadlineProblem:
    shown = f"{day}/{month}" + (f"/{year}" if year else "")
    if year is not None and len(year) != 4:
        return DeadlineProblem("invalid_date", {"value": shown})
    try:
        if year is not None:
            return date(int(year), int(month), int(day))
        # No year: the next such day that has not passed (this year, else next year).
        candidate = date(now.year, int(month), int(day))
    except ValueError:
        if year is None and int(month) == 2 and int(day) == 29:
            return _next_leap_day(now)
        return DeadlineProblem("invalid_date", {"value": shown})
    if candidate < now.date():
        try:
            candidate = candidate.replace(year=now.year + 1)
        except ValueError:
            return DeadlineProblem("invalid_date", {"value": shown})
    return candidate


def _next_leap_day(now: datetime) -> date:
    year = now.year
    while True:
        try:
            candidate = date(year, 2, 29)
        except ValueError:
            year += 1
            continue
        if candidate >= now.date():
            return candidate
        year += 1


def _at(day: date, clock: time, now: datetime) -> datetime:
    return datetime.combine(day, clock, tzinfo=now.tzinfo)

"""When a scheduled job runs, as admins write it: pure, so the rules are tested on their own.

A rule is a time of day and which days: days of the month ("20, 25 09:00"; the 31st in a
30-day month is its last day, "cuối tháng" or "last" is the last day of every month), an
Nth weekday ("thứ hai đầu tiên 08:00", "first monday 08:00", "last friday 16:00"), or every
day ("hằng ngày 03:00"). Times are local to the organisation; "9h", "9h30", "09:00" all do.
A rule is stored in its canonical text (`Rule.text`), which `parse` reads back.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from bot.forms.words import fold

WEEKDAYS = {
    "mon": 0, "monday": 0, "thu hai": 0, "t2": 0,
    "tue": 1, "tuesday": 1, "thu ba": 1, "t3": 1,
    "wed": 2, "wednesday": 2, "thu tu": 2, "t4": 2,
    "thu": 3, "thursday": 3, "thu nam": 3, "t5": 3,
    "fri": 4, "friday": 4, "thu sau": 4, "t6": 4,
    "sat": 5, "saturday": 5, "thu bay": 5, "t7": 5,
    "sun": 6, "sunday": 6, "chu nhat": 6, "cn": 6,
}  # fmt: skip
CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ORDINALS = {
    "first": 1, "1st": 1, "dau tien": 1, "thu nhat": 1, "1": 1,
    "second": 2, "2nd": 2, "thu hai": 2, "2": 2,
    "third": 3, "3rd": 3, "thu ba": 3, "3": 3,
    "fourth": 4, "4th": 4, "thu tu": 4, "4": 4,
    "last": -1, "cuoi cung": -1, "cuoi": -1,
}  # fmt: skip
TOO_FAR = {"fifth", "5th", "thu nam", "5"}
TIME = re.compile(r"(?:^|\s)(?:luc\s+|at\s+)?(\d{1,2})(?:[:h](\d{2})?|\s*gio(?:\s*(\d{2}))?)\s*$")
DAILY = {"daily", "every day", "hang ngay", "moi ngay"}
LAST_DAY = {"last", "last day", "cuoi thang", "ngay cuoi thang"}


class RuleError(ValueError):
    """A rule that cannot be read; `code` and `params` say why (the caller words it)."""

    def __init__(self, code: str, **params: str | int) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Rule:
    at: time
    days: tuple[int, ...] = ()  # days of the month; 0 is the last day
    weekday: int | None = None  # 0 is Monday
    nth: int | None = None  # 1–4, or -1 for the last such weekday of the month
    daily: bool = False

    @property
    def text(self) -> str:
        """The canonical form, stored and read back by `parse`."""
        at = self.at.strftime("%H:%M")
        if self.daily:
            return f"daily {at}"
        if self.weekday is not None:
            which = "last" if self.nth == -1 else str(self.nth)
            return f"{which} {CODES[self.weekday]} {at}"
        return ",".join("last" if day == 0 else str(day) for day in self.days) + f" {at}"

    def days_in(self, year: int, month: int) -> list[int]:
        """The days of that month the rule falls on, in order."""
        length = calendar.monthrange(year, month)[1]
        if self.daily:
            return list(range(1, length + 1))
        if self.weekday is not None:
            matching = [d for d in range(1, length + 1) if date(year, month, d).weekday() == self.weekday]
            assert self.nth is not None
            return [matching[-1] if self.nth == -1 else matching[self.nth - 1]]
        return sorted({length if day == 0 else min(day, length) for day in self.days})

    def next_after(self, moment: datetime, tz: ZoneInfo) -> datetime:
        """The first time the rule falls strictly after `moment` (aware), in UTC."""
        local = moment.astimezone(tz)
        year, month = local.year, local.month
        for _ in range(14):
            for day in self.days_in(year, month):
                candidate = datetime.combine(date(year, month, day), self.at, tzinfo=tz)
                if candidate > local:
                    return candidate.astimezone(moment.tzinfo)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        raise AssertionError("a rule falls at least once a month")

    def last_at_or_before(self, moment: datetime, tz: ZoneInfo) -> datetime:
        """The latest time the rule fell at or before `moment` (what a restart catches up)."""
        local = moment.astimezone(tz)
        year, month = local.year, local.month
        for _ in range(14):
            for day in reversed(self.days_in(year, month)):
                candidate = datetime.combine(date(year, month, day), self.at, tzinfo=tz)
                if candidate <= local:
                    return candidate.astimezone(moment.tzinfo)
            year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        raise AssertionError("a rule falls at least once a month")


def parse(text: str) -> Rule:
    """A rule as an admin writes it, in Vietnamese or English; RuleError says what is wrong."""
    folded = fold(text).replace(",", " , ")
    folded = re.sub(r"\s+", " ", folded).strip()
    if not folded:
        raise RuleError("empty")
    found = TIME.search(folded)
    if found is None:
        raise RuleError("no_time")
    hour, minute = int(found.group(1)), int(found.group(2) or found.group(3) or 0)
    if hour > 23 or minute > 59:
        raise RuleError("bad_time", value=f"{hour}:{minute:02d}")
    at = time(hour, minute)
    which = folded[: found.start()].strip()
    which = re.sub(r"^(?:ngay|day|days|vao)\s+", "", which).strip()
    if which in DAILY:
        return Rule(at=at, daily=True)
    weekday = _weekday(which)
    if weekday is not None:
        return Rule(at=at, weekday=weekday[0], nth=weekday[1])
    if which in LAST_DAY:
        return Rule(at=at, days=(0,))
    days: list[int] = []
    for part in re.split(r"\s*(?:,|\band\b|\bva\b|\s)\s*", which):
        if not part:
            continue
        if part in ("last", "cuoi", "cuoi thang"):
            days.append(0)
        elif part.isdecimal() and part.isascii():
            day = int(part)
            if not 1 <= day <= 31:
                raise RuleError("bad_day", value=day)
            days.append(day)
        else:
            raise RuleError("unreadable", value=text.strip())
    if not days:
        raise RuleError("no_day")
    return Rule(at=at, days=tuple(sorted(set(days), key=lambda d: 32 if d == 0 else d)))


def _weekday(which: str) -> tuple[int, int] | None:
    """ "first monday", "monday first", "thứ hai đầu tiên", "last fri" → (weekday, nth)."""
    for name, number in sorted(WEEKDAYS.items(), key=lambda item: -len(item[0])):
        if which.startswith(name + " ") or which.endswith(" " + name):
            rest = (
                which[len(name) + 1 :] if which.startswith(name + " ") else which[: -len(name) - 1]
            ).strip()
            if rest in TOO_FAR:
                raise RuleError("no_fifth")
            if rest in ORDINALS:
                return number, ORDINALS[rest]
    return None

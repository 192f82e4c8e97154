"""Time, injected: tests and the scheduler drive a whole month without sleeping."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FrozenClock:
    """A clock that moves only when told to (tests)."""

    current: datetime = field(default_factory=lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


def local_today(clock: Clock, tz: ZoneInfo) -> date:
    return clock.now().astimezone(tz).date()


def period_of(moment: datetime, tz: ZoneInfo) -> str:
    """The YYYY-MM period a moment belongs to, in the organisation's time zone."""
    return moment.astimezone(tz).strftime("%Y-%m")


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """23:59:59 of a local day, as UTC: a due date means the whole day counts."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=tz).astimezone(UTC)


def format_date(moment: datetime | date, tz: ZoneInfo) -> str:
    if isinstance(moment, datetime):
        moment = moment.astimezone(tz).date()
    return moment.strftime("%d/%m/%Y")


def format_datetime(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%H:%M %d/%m/%Y")


# Pushes counted back from a due time (23:59 of a day) would fall at night: they go at the
# end of the working day before instead.
NIGHT_STARTS, NIGHT_ENDS, EVENING = time(21, 0), time(7, 0), time(17, 0)


def awake(moment: datetime, tz: ZoneInfo) -> datetime:
    """`moment`, or 17:00 before it when it falls between 21:00 and 07:00 local time."""
    local = moment.astimezone(tz)
    if NIGHT_ENDS <= local.time() < NIGHT_STARTS:
        return moment
    day = local.date() if local.time() >= NIGHT_STARTS else local.date() - timedelta(days=1)
    return datetime.combine(day, EVENING, tzinfo=tz).astimezone(UTC)


def morning_after(moment: datetime, tz: ZoneInfo) -> datetime:
    """`moment`, or 07:00 after it when it falls between 21:00 and 07:00 local time (what
    follows a due time of 23:59: the summary of a closed topic)."""
    local = moment.astimezone(tz)
    if NIGHT_ENDS <= local.time() < NIGHT_STARTS:
        return moment
    day = local.date() + timedelta(days=1) if local.time() >= NIGHT_STARTS else local.date()
    return datetime.combine(day, NIGHT_ENDS, tzinfo=tz).astimezone(UTC)

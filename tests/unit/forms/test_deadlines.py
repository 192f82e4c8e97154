"""Deadlines typed for an urgent matter: what is accepted, and why the rest is refused."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.forms.deadlines import MAX_AHEAD, DeadlineProblem, format_deadline, parse_deadline

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 11, 24, 14, 20, 15, tzinfo=TZ)


def at(day: int, month: int, hour: int, minute: int, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        # an hour of the day, as Vietnamese staff write it: today, or tomorrow once passed
        ("18h", at(24, 11, 18, 0)),
        ("18h30", at(24, 11, 18, 30)),
        ("18g", at(24, 11, 18, 0)),
        ("lúc 18 giờ", at(24, 11, 18, 0)),
        ("lúc 18 giờ 30", at(24, 11, 18, 30)),
        ("18:00", at(24, 11, 18, 0)),
        ("  18:00  ", at(24, 11, 18, 0)),
        ("10h", at(25, 11, 10, 0)),  # 10:00 has passed at 14:20: tomorrow's
        ("10:00", at(25, 11, 10, 0)),
        ("2h", at(25, 11, 2, 0)),
        # a time from now
        ("2 giờ", at(24, 11, 16, 21)),  # rounded up to the next whole minute
        ("2 tiếng", at(24, 11, 16, 21)),
        ("trong 2h", at(24, 11, 16, 21)),
        ("trong 2 giờ", at(24, 11, 16, 21)),
        ("1 tiếng", at(24, 11, 15, 21)),
        ("2 giờ 30 phút", at(24, 11, 16, 51)),
        ("90 phút", at(24, 11, 15, 51)),
        ("45p", at(24, 11, 15, 6)),
        ("2 ngày", at(26, 11, 14, 21)),
        ("24h", at(25, 11, 14, 21)),  # no hour 24 of a day: 24 hours from now
        ("48h", at(26, 11, 14, 21)),
        # a time and a day, or a day
        ("18h 25/11", at(25, 11, 18, 0)),
        ("18:00 25/11", at(25, 11, 18, 0)),
        ("18:00 25/11/2026", at(25, 11, 18, 0)),
        ("25/11 18:00", at(25, 11, 18, 0)),
        ("25/11 18h", at(25, 11, 18, 0)),
        ("25/11/2026", at(25, 11, 23, 59)),
        ("25-11-2026", at(25, 11, 23, 59)),
        ("25.11.2026", at(25, 11, 23, 59)),
        ("25/11", at(25, 11, 23, 59)),
        ("31/12", at(31, 12, 23, 59)),
        ("24/11", at(24, 11, 23, 59)),  # today, until the end of the day
        ("08:00 01/01", at(1, 1, 8, 0, year=2027)),  # no year: the next such day
    ],
)
def test_accepted_deadlines(typed: str, expected: datetime) -> None:
    assert parse_deadline(typed, NOW) == expected


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("18:00 23/11/2026", "in_past"),
        ("10:00 24/11", "in_past"),  # with its day said, a passed hour is not moved
        ("23/11/2026", "in_past"),
        ("trong 0 giờ", "empty_duration"),
        ("24g", "invalid_time"),  # "g" is an hour of the day: there is no 24th
        ("lúc 24h", "invalid_time"),  # "lúc" (at) is a time of day too
        ("9999d" * 300, "too_far"),  # stopped before the datetime overflows
        ("trong mai", "unrecognised"),
        ("25:00", "invalid_time"),
        ("18:75 25/11", "invalid_time"),
        ("31/02", "invalid_date"),
        ("25/13/2026", "invalid_date"),
        ("25/11/26", "invalid_date"),  # two-digit years are refused
        ("25/11/2028", "too_far"),
        ("mai", "unrecognised"),
        ("abc", "unrecognised"),
        ("", "unrecognised"),
        ("h", "unrecognised"),
    ],
)
def test_refused_deadlines(typed: str, code: str) -> None:
    result = parse_deadline(typed, NOW)
    assert isinstance(result, DeadlineProblem) and result.code == code


def test_year_rollover_and_midnight() -> None:
    late = datetime(2026, 12, 31, 22, 0, tzinfo=TZ)
    assert parse_deadline("01/01 08:00", late) == datetime(2027, 1, 1, 8, 0, tzinfo=TZ)
    assert parse_deadline("24h", late) == datetime(2027, 1, 1, 22, 0, tzinfo=TZ)
    assert parse_deadline("3 tiếng", late) == datetime(2027, 1, 1, 1, 0, tzinfo=TZ)
    assert parse_deadline("8h", late) == datetime(2027, 1, 1, 8, 0, tzinfo=TZ)


def test_format_deadline() -> None:
    assert format_deadline(at(25, 11, 18, 0)) == "18:00 25/11/2026"


@given(st.text(max_size=40))
def test_never_raises_and_only_future_results(typed: str) -> None:
    result = parse_deadline(typed, NOW)
    if not isinstance(result, DeadlineProblem):
        assert NOW < result <= NOW + MAX_AHEAD
        assert result.tzinfo == TZ


@given(st.integers(min_value=1, max_value=9999), st.sampled_from(["h", "p", "phút", "giờ", "ngày"]))
def test_durations_add_to_now(amount: int, unit: str) -> None:
    """ "trong …" (within) always reads a time from now, "2h" included."""
    result = parse_deadline(f"trong {amount}{unit}", NOW)
    minutes = amount * {"h": 60, "giờ": 60, "p": 1, "phút": 1, "ngày": 1440}[unit]
    if timedelta(minutes=minutes) > MAX_AHEAD:
        assert isinstance(result, DeadlineProblem) and result.code == "too_far"
    else:
        assert result == (NOW + timedelta(minutes=minutes)).replace(second=0) + timedelta(minutes=1)


def test_the_longest_duration_allowed_survives_rounding_to_the_minute() -> None:
    """Found by hypothesis: 366 days from a time with seconds was refused after rounding."""
    assert parse_deadline("366 ngày", NOW) == (NOW + MAX_AHEAD).replace(second=0) + timedelta(minutes=1)
    problem = parse_deadline("367 ngày", NOW)
    assert isinstance(problem, DeadlineProblem) and problem.code == "too_far"


@given(st.integers(min_value=0, max_value=23), st.integers(min_value=0, max_value=59))
def test_an_hour_of_the_day_is_the_next_such_moment(hour: int, minute: int) -> None:
    result = parse_deadline(f"{hour}h{minute:02d}", NOW)
    assert isinstance(result, datetime) and (result.hour, result.minute) == (hour, minute)
    assert NOW < result <= NOW + timedelta(days=1)

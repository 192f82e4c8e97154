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
        ("2h", at(24, 11, 16, 21)),  # rounded up to the next whole minute
        ("24h", at(25, 11, 14, 21)),
        ("2 giờ", at(24, 11, 16, 21)),
        ("1 tiếng", at(24, 11, 15, 21)),
        ("1h30", at(24, 11, 15, 51)),
        ("2 giờ 30 phút", at(24, 11, 16, 51)),
        ("90 phút", at(24, 11, 15, 51)),
        ("45p", at(24, 11, 15, 6)),
        ("2 ngày", at(26, 11, 14, 21)),
        ("18:00", at(24, 11, 18, 0)),
        ("  18:00  ", at(24, 11, 18, 0)),
        ("18:00 25/11", at(25, 11, 18, 0)),
        ("18:00 25/11/2026", at(25, 11, 18, 0)),
        ("25/11 18:00", at(25, 11, 18, 0)),
        ("25/11/2026", at(25, 11, 23, 59)),
        ("25-11-2026", at(25, 11, 23, 59)),
        ("25.11.2026", at(25, 11, 23, 59)),
        ("25/11", at(25, 11, 23, 59)),
        ("24/11", at(24, 11, 23, 59)),  # today, until the end of the day
        ("08:00 01/01", at(1, 1, 8, 0, year=2027)),  # no year: the next such day
    ],
)
def test_accepted_deadlines(typed: str, expected: datetime) -> None:
    assert parse_deadline(typed, NOW) == expected


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("10:00", "in_past"),  # a time today that has passed is not moved to tomorrow
        ("18:00 23/11/2026", "in_past"),
        ("23/11/2026", "in_past"),
        ("0h", "empty_duration"),
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
    assert parse_deadline("3h", late) == datetime(2027, 1, 1, 1, 0, tzinfo=TZ)


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
    result = parse_deadline(f"{amount}{unit}", NOW)
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

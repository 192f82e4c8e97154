"""Schedule rules as admins write them, and when they fall (org time zone)."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.schedule_rules import Rule, RuleError, parse

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ).astimezone(UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("20, 25 09:00", "20,25 09:00"),
        ("ngày 20 và 25 lúc 9h", "20,25 09:00"),
        ("day 5 at 8:00", "5 08:00"),
        ("1 8h30", "1 08:30"),
        ("31 17:00", "31 17:00"),
        ("cuối tháng 17h", "last 17:00"),
        ("last 17:00", "last 17:00"),
        ("thứ Hai đầu tiên 08:00", "1 mon 08:00"),
        ("first monday 8h", "1 mon 08:00"),
        ("last friday 16:00", "last fri 16:00"),
        ("thứ sáu cuối cùng lúc 16 giờ", "last fri 16:00"),
        ("hằng ngày 03:00", "daily 03:00"),
        ("daily 3h", "daily 03:00"),
    ],
)
def test_rules_are_read_as_written_and_stored_in_one_form(written: str, canonical: str) -> None:
    rule = parse(written)
    assert rule.text == canonical
    assert parse(rule.text) == rule


@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("32 09:00", "bad_day"),
        ("20 25:00", "bad_time"),
        ("20 09:75", "bad_time"),
        ("fifth monday 08:00", "no_fifth"),
        ("thứ hai thứ năm 08:00", "no_fifth"),
        ("20", "no_time"),
        ("", "empty"),
        ("sometimes 09:00", "unreadable"),
        ("lúc 09:00", "no_day"),
    ],
)
def test_rules_that_cannot_be_are_refused_with_a_reason(written: str, code: str) -> None:
    with pytest.raises(RuleError) as refused:
        parse(written)
    assert refused.value.code == code


def test_the_31st_in_a_30_day_month_is_its_last_day() -> None:
    rule = parse("31 09:00")
    assert rule.next_after(local(2026, 11, 1), TZ) == local(2026, 11, 30, 9)
    assert rule.next_after(local(2026, 11, 30, 9), TZ) == local(2026, 12, 31, 9)
    assert rule.next_after(local(2027, 1, 31, 10), TZ) == local(2027, 2, 28, 9)
    assert parse("30, 31 09:00").days_in(2027, 2) == [28]  # once, not twice


def test_a_year_boundary_and_the_nth_weekday() -> None:
    rule = parse("first monday 08:00")
    assert rule.next_after(local(2026, 12, 7, 8), TZ) == local(2027, 1, 4, 8)
    assert parse("last friday 16:00").next_after(local(2026, 12, 1), TZ) == local(2026, 12, 25, 16)


def test_what_a_restart_catches_up_is_the_latest_time_passed() -> None:
    rule = parse("20, 25 09:00")
    assert rule.last_at_or_before(local(2026, 12, 21, 12), TZ) == local(2026, 12, 20, 9)
    assert rule.last_at_or_before(local(2026, 12, 20, 9), TZ) == local(2026, 12, 20, 9)
    assert rule.last_at_or_before(local(2027, 1, 3), TZ) == local(2026, 12, 25, 9)
    following, moment = [], local(2026, 12, 1)
    for _ in range(4):
        moment = rule.next_after(moment, TZ)
        following.append(moment)
    assert following == [
        local(2026, 12, 20, 9),
        local(2026, 12, 25, 9),
        local(2027, 1, 20, 9),
        local(2027, 1, 25, 9),
    ]


rules = st.one_of(
    st.builds(
        lambda days, h, m: Rule(at=time(h, m), days=tuple(sorted(set(days)))),
        st.lists(st.integers(0, 31), min_size=1, max_size=4),
        st.integers(0, 23),
        st.integers(0, 59),
    ),
    st.builds(
        lambda wd, nth, h: Rule(at=time(h, 0), weekday=wd, nth=nth),
        st.integers(0, 6),
        st.sampled_from([1, 2, 3, 4, -1]),
        st.integers(0, 23),
    ),
    st.builds(lambda h: Rule(at=time(h, 0), daily=True), st.integers(0, 23)),
)


@given(rules, st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2035, 1, 1)))  # noqa: DTZ001
def test_next_and_last_agree(rule: Rule, naive: datetime) -> None:
    moment = naive.replace(tzinfo=UTC)
    following = rule.next_after(moment, TZ)
    assert moment < following <= moment + timedelta(days=62)
    assert following.astimezone(TZ).time() == rule.at
    assert rule.last_at_or_before(following, TZ) == following
    assert rule.last_at_or_before(following - timedelta(seconds=1), TZ) <= moment
    assert parse(rule.text) == Rule(
        at=rule.at,
        days=tuple(sorted(set(rule.days), key=lambda d: 32 if d == 0 else d)),
        weekday=rule.weekday,
        nth=rule.nth,
        daily=rule.daily,
    )

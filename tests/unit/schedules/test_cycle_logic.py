"""Pure parts of the topic cycle: which units have a topic for a month, the month that is
coming, and when pushes around a due time go (not at night)."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from bot.clock import awake, morning_after
from bot.topic_cycle import coming_month, covered_units
from storage.models import Unit

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# a province (1) with two districts (2, 3); district 2 has two communes (4, 5)
UNITS: dict[int | None, Unit] = {
    1: Unit(id=1, code="T", name="Tỉnh", path="/1/"),
    2: Unit(id=2, code="A", name="Huyện A", path="/1/2/", parent_id=1),
    3: Unit(id=3, code="B", name="Huyện B", path="/1/3/", parent_id=1),
    4: Unit(id=4, code="A1", name="Xã A1", path="/1/2/4/", parent_id=2),
    5: Unit(id=5, code="A2", name="Xã A2", path="/1/2/5/", parent_id=2),
}


def test_a_topic_covers_its_unit_and_everything_below() -> None:
    assert covered_units(UNITS, ["/1/2/"]) == {2, 4, 5}
    assert covered_units(UNITS, ["/1/"]) == {1, 2, 3, 4, 5}
    assert covered_units(UNITS, []) == set()


def test_a_unit_whose_every_unit_below_has_a_topic_has_one() -> None:
    assert covered_units(UNITS, ["/1/2/4/", "/1/2/5/"]) == {2, 4, 5}  # both communes: the district
    assert covered_units(UNITS, ["/1/2/", "/1/3/"]) == {1, 2, 3, 4, 5}  # both districts: the province
    assert covered_units(UNITS, ["/1/3/"]) == {3}  # one district's own topic is not the province's


def test_the_coming_month_within_the_warning_days() -> None:
    assert coming_month(date(2026, 11, 28), 3) == date(2026, 12, 1)
    assert coming_month(date(2026, 11, 27), 3) is None
    assert coming_month(date(2026, 12, 29), 3) == date(2027, 1, 1)  # over the year's end
    assert coming_month(date(2027, 2, 26), 3) == date(2027, 3, 1)  # a 28-day February


@given(
    st.datetimes(
        min_value=datetime(2026, 1, 1),  # noqa: DTZ001 (hypothesis takes naive bounds)
        max_value=datetime(2028, 12, 31),  # noqa: DTZ001
        timezones=st.just(UTC),
    )
)
def test_pushes_around_a_due_time_never_fall_at_night(moment: datetime) -> None:
    before, after = awake(moment, TZ), morning_after(moment, TZ)
    assert before <= moment <= after
    for pushed in (before, after):
        assert 7 <= pushed.astimezone(TZ).hour < 21
    assert (before == moment) == (after == moment)  # daytime moments are kept as they are

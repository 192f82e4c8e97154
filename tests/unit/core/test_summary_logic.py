import pytest

from bot.analytics.summary import PeriodError, UnitFigure, parse_period, percent


@pytest.mark.parametrize(
    ("text", "period"),
    [("11/2026", "2026-11"), ("1/2027", "2027-01"), (" 03-2026 ", "2026-03"), ("12.2025", "2025-12")],
)
def test_months_are_read_as_periods(text: str, period: str) -> None:
    assert parse_period(text) == period


@pytest.mark.parametrize("text", ["13/2026", "0/2026", "abc", "2026-11", "11/26", "", "11/2026/1"])
def test_anything_else_is_not_a_month(text: str) -> None:
    with pytest.raises(PeriodError):
        parse_period(text)


def test_percent_rounds_half_up_to_one_decimal() -> None:
    assert percent(1, 3) == 33.3
    assert percent(2, 3) == 66.7
    assert percent(1, 8) == 12.5
    assert percent(0, 0) == 0.0


def test_rate_is_unknown_without_active_collaborators() -> None:
    assert UnitFigure(unit_id=1, name="A", reports=2, quick=0, reporters=0, active=0).rate is None
    assert UnitFigure(unit_id=1, name="A", reports=2, quick=0, reporters=1, active=4).rate == 0.25


def test_percentages_in_the_readers_number_format() -> None:
    """Issue 19: English readers get 66.7%, not Vietnamese 66,7%."""
    from bot.analytics.render import _pct
    from bot.i18n import create_i18n

    i18n = create_i18n()
    with i18n.context():
        with i18n.use_locale("vi"):
            assert (_pct(66.666), _pct(100.0), _pct(None)) == ("66,7%", "100,0%", "—")
        with i18n.use_locale("en"):
            assert (_pct(66.666), _pct(5.04)) == ("66.7%", "5.0%")

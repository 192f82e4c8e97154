"""The /summary message: figures laid out to be read on a phone."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiogram.utils.i18n import gettext as _
from babel.numbers import format_decimal

from bot.analytics.summary import OptionFigure, Summary
from bot.ui import current_locale, escape, fit, truncate

EXCERPT_LENGTH = 220
MAX_UNITS_SHOWN = 15


def _pct(value: float | None) -> str:
    """One decimal, in the reader's number format: 66,7% in Vietnamese, 66.7% in English."""
    if value is None:
        return "—"
    return format_decimal(round(value, 1), format="0.0", locale=_locale()) + "%"


def _locale() -> str:
    try:
        return current_locale()
    except LookupError:  # rendered outside an update (a unit test): the default language
        return "vi"


def _rate(value: float | None) -> str:
    return _pct(value * 100 if value is not None else None)


def _bar(percent: float, width: int = 10) -> str:
    filled = int(percent / 100 * width + 0.5)
    return "▰" * filled + "▱" * (width - filled)


def render_summary(summary: Summary, tz: ZoneInfo) -> str:
    month = f"{summary.period[5:7]}/{summary.period[:4]}"
    scope = summary.scope_name or _("the whole organisation")
    lines = [_("📊 <b>Public opinion summary {month}</b>").format(month=month), escape(scope), ""]
    if summary.reports == 0:
        lines.append(_("No reports were received in this period."))
        lines.append(_("Active collaborators: {active}.").format(active=summary.active))
        return "\n".join(lines)
    lines.append(_("Reports received: <b>{reports}</b>").format(reports=summary.reports))
    lines.append(
        _("Response rate: <b>{rate}</b> ({reporters} of {active} collaborators reported)").format(
            rate=_rate(summary.rate), reporters=summary.reporters, active=summary.active
        )
    )
    if summary.urgency:
        lines += ["", _("<b>Urgency</b>")]
        lines += [_option_line(option) for option in summary.urgency]
    if summary.units:
        lines += ["", _("<b>By unit</b>")]
        for unit in summary.units[:MAX_UNITS_SHOWN]:
            lines.append(
                _("• {unit}: {reports} report(s), {reporters}/{active} collaborators ({rate})").format(
                    unit=escape(unit.name),
                    reports=unit.reports,
                    reporters=unit.reporters,
                    active=unit.active,
                    rate=_rate(unit.rate),
                )
            )
        if len(summary.units) > MAX_UNITS_SHOWN:
            lines.append(_("… and {count} more unit(s)").format(count=len(summary.units) - MAX_UNITS_SHOWN))
    for question in summary.questions:
        note = _(" (several answers possible)") if question.multiple else ""
        lines += ["", f"<b>{escape(question.label)}</b>{note}"]
        lines += [_option_line(option) for option in question.options if option.count]
    if summary.excerpts:
        lines += ["", _("<b>Latest opinions</b>")]
        for excerpt in summary.excerpts:
            when = excerpt.submitted_at.astimezone(tz).strftime("%d/%m")
            lines.append(
                f"— <i>{escape(truncate(excerpt.text, EXCERPT_LENGTH))}</i> ({escape(excerpt.unit_name)}, {when})"
            )
    return fit("\n".join(lines))


def _option_line(option: OptionFigure) -> str:
    return f"{_bar(option.percent)} {_pct(option.percent)} · {escape(option.label)} ({option.count})"

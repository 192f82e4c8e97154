"""The /summary message: figures laid out to be read on a phone."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from babel.numbers import format_decimal

from bot.analytics.summary import Excerpt, OptionFigure, Picked, Summary, UnitFigure
from bot.ui import current_locale, escape, truncate

EXCERPT_LENGTH = 220


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
    """The whole summary, every unit included (a province has 120 communes): the caller sends
    it in as many messages as it takes."""
    month = f"{summary.period[5:7]}/{summary.period[:4]}"
    scope = summary.scope_name or _("the whole organisation")
    lines = [_("📊 <b>Public opinion summary {month}</b>").format(month=month), escape(scope), ""]
    if summary.reports == 0 and summary.quick == 0:
        lines.append(_("No reports were received in this period."))
        lines.append(_("Active collaborators: {active}.").format(active=summary.active))
        return "\n".join(lines)
    lines.append(_("Full reports received: <b>{reports}</b>").format(reports=summary.reports))
    lines.append(
        _("Response rate: <b>{rate}</b> ({reporters} of {active} collaborators sent a full report)").format(
            rate=_rate(summary.rate), reporters=summary.reporters, active=summary.active
        )
    )
    if summary.quick:
        lines.append(
            ngettext(
                "Quick opinions in groups: <b>{count}</b> (one line in reply to a topic; not counted in "
                "the reports or the rate)",
                "Quick opinions in groups: <b>{count}</b> (one line each in reply to a topic; not counted "
                "in the reports or the rate)",
                summary.quick,
            ).format(count=summary.quick)
        )
    if summary.urgency:
        lines += [
            "",
            _("<b>Urgency</b>") + " " + _("(of {count} full reports)").format(count=summary.reports),
        ]
        lines += [_option_line(option) for option in summary.urgency]
    if summary.urgent.count:
        lines += ["", _("🚨 <b>Reports marked urgent</b> ({count})").format(count=summary.urgent.count)]
        lines += _picked_lines(summary.urgent, tz, numbered=True)
    if summary.proposals.count:
        lines += [
            "",
            _("<b>Proposals to the Party committee</b> ({count})").format(count=summary.proposals.count),
        ]
        lines += _picked_lines(summary.proposals, tz, numbered=True)
    for question in summary.questions:
        note = _(" (several answers possible)") if question.multiple else ""
        lines += ["", f"<b>{escape(question.label)}</b>{note}"]
        lines += [_option_line(option) for option in question.options if option.count]
    if summary.excerpts:
        lines += ["", _("<b>Latest opinions</b>")]
        lines += [_excerpt_line(excerpt, tz) for excerpt in summary.excerpts]
    if summary.units:
        lines += ["", _("<b>By unit</b>")]
        lines += [_unit_line(unit) for unit in summary.units]
    return "\n".join(lines)


def _unit_line(unit: UnitFigure) -> str:
    reports = ngettext("{count} report", "{count} reports", unit.reports).format(count=unit.reports)
    if unit.quick:
        reports += ", " + ngettext("{count} quick opinion", "{count} quick opinions", unit.quick).format(
            count=unit.quick
        )
    return _("• {unit}: {reports}, {reporters}/{active} collaborators ({rate})").format(
        unit=escape(unit.name),
        reports=reports,
        reporters=unit.reporters,
        active=unit.active,
        rate=_rate(unit.rate),
    )


def _picked_lines(picked: Picked, tz: ZoneInfo, *, numbered: bool) -> list[str]:
    lines = [_excerpt_line(excerpt, tz, numbered=numbered) for excerpt in picked.latest]
    if picked.count > len(picked.latest):
        lines.append(_("… and {count} more.").format(count=picked.count - len(picked.latest)))
    return lines


def _excerpt_line(excerpt: Excerpt, tz: ZoneInfo, *, numbered: bool = False) -> str:
    when = excerpt.submitted_at.astimezone(tz).strftime("%d/%m")
    source = f"{escape(excerpt.unit_name)}, {when}"
    if numbered:
        source += ", " + _("report No. {number}").format(number=excerpt.report_id)
    if excerpt.late:
        source += ", " + _("sent late")
    return f"— <i>{escape(truncate(excerpt.text, EXCERPT_LENGTH))}</i> ({source})"


def _option_line(option: OptionFigure) -> str:
    return f"{_bar(option.percent)} {_pct(option.percent)} · {escape(option.label)} ({option.count})"

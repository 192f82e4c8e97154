"""The /summary chart: a PNG a leader reads on a phone, drawn by matplotlib in a thread.

Two panels: the response rate of each unit (the lowest first, at most CHART_UNITS of them,
since a province has 120 communes), and how urgent the month's reports are. Texts come in
the reader's language; DejaVu Sans (shipped with matplotlib) has every Vietnamese letter.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from matplotlib.figure import Figure  # the object API: no pyplot state, no display

from bot.analytics.summary import Summary

CHART_UNITS = 20
COLOURS = {"binh_thuong": "#4caf50", "can_quan_tam": "#ff9800", "khan_cap": "#e53935"}


@dataclass(frozen=True)
class ChartTexts:
    """The chart's words, translated by the caller (the thread has no locale)."""

    title: str
    rate_title: str
    lowest_title: str
    urgency_title: str
    reports_axis: str


def has_chart(summary: Summary) -> bool:
    """Whether there is anything to draw (a month without reports has no chart)."""
    return summary.reports > 0 and any(unit.active for unit in summary.units)


def render_chart(summary: Summary, texts: ChartTexts) -> bytes:
    """The chart as PNG bytes. Blocking (matplotlib): call it through asyncio.to_thread."""
    units = sorted(
        (unit for unit in summary.units if unit.active),
        key=lambda unit: (unit.rate or 0.0, unit.name),
    )
    shown = units[:CHART_UNITS]
    urgency = [option for option in summary.urgency if option.count] if summary.urgency else []
    rows = len(shown) + (len(urgency) + 2 if urgency else 0)
    figure = Figure(figsize=(8, max(3.0, 0.42 * rows + 1.6)), dpi=110, layout="constrained")
    figure.suptitle(texts.title, fontsize=13, fontweight="bold")
    ratios = [max(len(shown), 1)] + ([len(urgency) + 1] if urgency else [])
    axes = figure.subplots(len(ratios), 1, squeeze=False, gridspec_kw={"height_ratios": ratios})[:, 0]

    rate_axes = axes[0]
    rates = [(unit.rate or 0.0) * 100 for unit in shown]
    # by position, labelled after: two communes of one name would otherwise share a bar
    bars = rate_axes.barh(range(len(shown)), rates, color="#1e88e5")
    rate_axes.set_yticks(range(len(shown)), [unit.name for unit in shown])
    rate_axes.invert_yaxis()
    rate_axes.set_xlim(0, 105)
    rate_axes.set_title(texts.lowest_title if len(units) > len(shown) else texts.rate_title, fontsize=11)
    for bar, unit in zip(bars, shown, strict=True):
        rate_axes.text(
            bar.get_width() + 1,
            bar.get_y() + bar.get_height() / 2,
            f"{unit.reporters}/{unit.active}",
            va="center",
            fontsize=8,
        )
    rate_axes.tick_params(axis="y", labelsize=9)

    if urgency:
        urgency_axes = axes[1]
        labels = [option.label for option in urgency]
        counts = [option.count for option in urgency]
        colours = [COLOURS.get(option.value, "#757575") for option in urgency]
        urgency_axes.barh(labels, counts, color=colours)
        urgency_axes.invert_yaxis()
        urgency_axes.set_title(texts.urgency_title, fontsize=11)
        urgency_axes.set_xlabel(texts.reports_axis, fontsize=9)
        urgency_axes.xaxis.get_major_locator().set_params(integer=True)
        for index, count in enumerate(counts):
            urgency_axes.text(count, index, f" {count}", va="center", fontsize=8)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()

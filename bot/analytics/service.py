"""/summary for a leader: parse the argument, pick the scope, build and render."""

from __future__ import annotations

import asyncio

from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.access import Actor, Permission
from bot.analytics.chart import CHART_UNITS, ChartTexts, has_chart, render_chart
from bot.analytics.render import render_summary
from bot.analytics.summary import PeriodError, Summary, build_summary, parse_period
from bot.clock import period_of
from bot.conversation import FormCatalog, Outcome, Services
from bot.delivery.splitting import split_html
from bot.forms import FormDefinition
from bot.people import channels_line
from bot.ui import Screen, current_locale, escape, text_only
from storage import audit, people, reports
from storage.models import Unit

FORM_ORDER = ("monthly_opinion", "incident")


async def summary_for(
    services: Services, *, actor: Actor, argument: str | None, group_unit_id: int | None = None
) -> Outcome:
    """`group_unit_id`: typed in a group, whose unit's figures alone are shown there (never
    the whole province's in one commune's group)."""
    session = services.session
    if argument and argument.strip():
        try:
            period = parse_period(argument)
        except PeriodError:
            return Outcome(
                alert=_(
                    "“{value}” is not a month. Write it as month/year, for example /summary 11/2026."
                ).format(value=escape(argument.strip()))
            )
    else:
        period = period_of(services.clock.now(), services.tz)
    if group_unit_id is not None:
        scope = await people.get_unit(session=session, unit_id=group_unit_id)
        if scope is None or not actor.can_act_on(Permission.VIEW_SUMMARY, scope):
            return Outcome(
                alert=_("This group's unit is outside your scope; ask for the summary in a private chat.")
            )
    else:
        scope = await _scope_unit(services, actor)
    path = scope.path if scope else "/"
    forms = await summary_forms(services.forms, session, period=period, path=path)
    summary = await build_summary(
        session=session, period=period, scope=scope, forms=forms, locale=current_locale()
    )
    assert actor.person is not None
    await audit.record(
        session=session,
        action="summary.view",
        actor_id=actor.person.id,
        unit_id=scope.id if scope else None,
        details={"period": period},
    )
    text = render_summary(summary, services.tz)
    channels = await people.collaborators_by_channel(session=session, unit_paths=[path])
    if channels:
        text += "\n\n" + channels_line(channels)
    first, *rest = split_html(text)
    messages = [Screen(text=part) for part in rest]
    chart = await _chart(services, summary)
    if chart is not None:
        messages.append(chart)
    return Outcome(screen=Screen(text=first), messages=messages, finished=True)


async def _chart(services: Services, summary: Summary) -> Screen | None:
    """The chart under the figures, drawn in a thread. Zalo takes a photo only by its
    address: without PUBLIC_URL, a Zalo chat has the figures alone."""
    media = services.media
    if media is None or not has_chart(summary) or (text_only() and not media.public_url):
        return None
    month = f"{summary.period[5:7]}/{summary.period[:4]}"
    scope = summary.scope_name or _("the whole organisation")
    texts = ChartTexts(
        title=_("Public opinion {month} · {scope}").format(month=month, scope=scope),
        rate_title=_("Response rate by unit (%)"),
        lowest_title=_("The {count} units with the lowest response rate (%)").format(count=CHART_UNITS),
        urgency_title=_("How much attention the reports need"),
        reports_axis=_("Full reports"),
    )
    png = await asyncio.to_thread(render_chart, summary, texts)
    photo = await asyncio.to_thread(media.save, png)
    caption = _("📈 Chart of the summary {month} · {scope}").format(month=month, scope=escape(scope))
    return Screen(text=caption, photo=photo)


async def summary_forms(
    catalog: FormCatalog, session: AsyncSession, *, period: str, path: str
) -> list[FormDefinition]:
    """The forms whose questions the summary counts: the builtin ones, then any other used."""
    forms: list[FormDefinition] = [catalog.builtin[key] for key in FORM_ORDER if key in catalog.builtin]
    for form_id in await reports.forms_used(session=session, period=period, under_path=path):
        definition = await catalog.get(session, form_id)
        if all(definition.key != known.key for known in forms):
            forms.append(definition)
    return forms


async def _scope_unit(services: Services, actor: Actor) -> Unit | None:
    """The leader's subtree; an organisation with one root shows that root's name."""
    paths = actor.scope_paths(Permission.VIEW_SUMMARY)
    if paths and paths[0] != "/":
        unit_id = int(paths[0].strip("/").split("/")[-1])
        return await people.get_unit(session=services.session, unit_id=unit_id)
    roots = await people.root_units(session=services.session)
    return roots[0] if len(roots) == 1 else None

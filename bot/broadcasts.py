"""What staff do with deliveries: list them, stop one, see who was not reached."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.access import Actor, Permission, Role
from bot.clock import format_datetime
from bot.conversation import Outcome, Services
from bot.delivery.progress import Counts, broadcast_counts, progress_bar
from bot.delivery.splitting import split_html
from bot.ui import BroadcastButton, Choice, Screen, escape
from storage import outbox
from storage.models import Broadcast, BroadcastStatus, OutboxStatus


def can_manage(actor: Actor, broadcast: Broadcast) -> bool:
    """Whoever started a delivery manages it; admins manage all of them."""
    if not actor.allows(Permission.PUBLISH_TOPIC) or actor.person is None:
        return False
    return broadcast.created_by == actor.person.id or actor.has_role(Role.ADMIN)


def status_label(broadcast: Broadcast, counts: Counts) -> str:
    if broadcast.status == BroadcastStatus.CANCELLED:
        return _("stopped")
    if broadcast.status == BroadcastStatus.RUNNING and counts.pending:
        return _("sending")
    return _("finished")


async def list_broadcasts(services: Services, actor: Actor) -> Outcome:
    assert actor.person is not None
    created_by = None if actor.has_role(Role.ADMIN) else actor.person.id
    recent = await outbox.recent_broadcasts(session=services.session, created_by=created_by)
    if not recent:
        return Outcome(screen=Screen(text=_("No deliveries yet. Publishing a topic starts one.")))
    lines = [_("📤 <b>Recent deliveries</b>")]
    buttons: list[list[Choice]] = []
    for broadcast in recent:
        assert broadcast.id is not None
        counts = await broadcast_counts(services.session, broadcast.id)
        lines.append(
            _("\n<b>No. {number}</b> · {when} · {title} — {status}").format(
                number=broadcast.id,
                when=format_datetime(broadcast.created_at, services.tz),
                title=escape(broadcast.title),
                status=status_label(broadcast, counts),
            )
        )
        lines.append(progress_bar(counts.done, counts.total))
        lines.append(
            _("Sent: {sent} · Failed: {failed} · Unreachable: {unreachable} · Remaining: {pending}").format(
                sent=counts.sent, failed=counts.failed, unreachable=counts.unreachable, pending=counts.pending
            )
        )
        if broadcast.status == BroadcastStatus.RUNNING and counts.pending:
            buttons.append(
                [
                    Choice(
                        label=_("⛔ Stop No. {number}").format(number=broadcast.id),
                        data=BroadcastButton(broadcast=broadcast.id, action="x").pack(),
                    )
                ]
            )
        elif counts.failed + counts.unreachable:
            buttons.append(
                [
                    Choice(
                        label=_("👥 No. {number}: not reached ({count})").format(
                            number=broadcast.id, count=counts.failed + counts.unreachable
                        ),
                        data=BroadcastButton(broadcast=broadcast.id, action="u").pack(),
                    )
                ]
            )
    return Outcome(screen=Screen(text="\n".join(lines), choices=buttons))


async def _managed(services: Services, actor: Actor, broadcast_id: int) -> Broadcast | None:
    broadcast = await outbox.get_broadcast(session=services.session, broadcast_id=broadcast_id)
    if broadcast is None or not can_manage(actor, broadcast):
        return None
    return broadcast


async def cancel_broadcast(services: Services, actor: Actor, broadcast_id: int) -> Outcome:
    broadcast = await _managed(services, actor, broadcast_id)
    if broadcast is None:
        return Outcome(alert=_("This delivery is not yours to manage."))
    if broadcast.status != BroadcastStatus.RUNNING:
        return Outcome(alert=_("Delivery No. {number} has already ended.").format(number=broadcast_id))
    dropped = await services.delivery.cancel(services.session, broadcast)
    return Outcome(
        alert=ngettext(
            "Delivery No. {number} stopped: {count} message will not be sent.",
            "Delivery No. {number} stopped: {count} messages will not be sent.",
            dropped,
        ).format(number=broadcast_id, count=dropped)
    )


async def not_reached(services: Services, actor: Actor, broadcast_id: int) -> Outcome:
    """Who did not get the message, by unit, with the reason, for staff to follow up by phone."""
    broadcast = await _managed(services, actor, broadcast_id)
    if broadcast is None:
        return Outcome(alert=_("This delivery is not yours to manage."))
    missed = await outbox.undelivered(session=services.session, broadcast_id=broadcast_id)
    if not missed:
        return Outcome(alert=_("Everyone was reached."))
    lines = [
        _("👥 <b>Not reached by delivery No. {number}</b> ({count})").format(
            number=broadcast_id, count=len(missed)
        )
    ]
    for person in missed:
        reason = (
            _("has not opened the bot or blocked it")
            if person.status == OutboxStatus.UNREACHABLE
            else _("sending failed")
        )
        phone = f" ({escape(person.phone)})" if person.phone else ""
        lines.append(f"• {escape(person.name)}{phone} — {escape(person.unit)}: {reason}")
    parts = split_html("\n".join(lines))
    return Outcome(messages=[Screen(text=part) for part in parts])

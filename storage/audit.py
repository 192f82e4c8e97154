"""Append-only audit trail."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Audit


async def record(
    *,
    session: AsyncSession,
    action: str,
    actor_id: int | None,
    unit_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    session.add(Audit(action=action, actor_id=actor_id, unit_id=unit_id, details=details or {}))

"""All routers, in the order the Dispatcher tries them.

Order matters: commands before free input; the group router before /summary so that a
command in an unregistered group gets the one-line explanation; the private reporting
router last, because it ends with catch-alls for typed answers and stale buttons.
Routers are built fresh for each Dispatcher (aiogram attaches a router to one parent).
"""

from __future__ import annotations

from aiogram import Router

from handlers import delivery, group, reporting, start, summary, topics, urgent


def routers() -> list[Router]:
    return [
        start.create_router(),
        topics.create_router(),
        urgent.create_router(),
        delivery.create_router(),
        group.create_router(),
        summary.create_router(),
        reporting.create_router(),
    ]

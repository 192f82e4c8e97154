"""All routers, in the order the Dispatcher tries them.

Order matters: form buttons first (the most frequent update; their callback prefix is
theirs alone, so trying them first changes no outcome); commands before free input; the
group router before /summary so that a command in an unregistered group gets the one-line
explanation; the private reporting router last, because it ends with catch-alls for typed
answers and stale buttons.
Routers are built fresh for each Dispatcher (aiogram attaches a router to one parent).
"""

from __future__ import annotations

from aiogram import Router

from handlers import briefings, delivery, group, reporting, schedule, start, summary, topics, urgent


def routers() -> list[Router]:
    return [
        reporting.create_form_buttons_router(),
        start.create_router(),
        topics.create_router(),
        urgent.create_router(),
        delivery.create_router(),
        briefings.create_router(),
        schedule.create_router(),
        group.create_router(),
        summary.create_router(),
        reporting.create_router(),
    ]

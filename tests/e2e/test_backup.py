"""A backup taken while collaborators are reporting restores into a fresh database with
every report and every person in it (SQLite's online backup API; pg_dump on PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import select

from storage import backup as backups
from storage.db import create_engine, create_session_factory, upgrade_database
from storage.models import Person, Report, ReportAnswer
from tests.e2e.flows import publish_topic, topic_post_id
from tests.e2e.harness import Persona, World, drop_database, empty_database_url

REPLIES_EACH = 6


async def contents(url: str) -> tuple[dict[int, tuple[Any, ...]], dict[int, str], set[tuple[int, str, str]]]:
    """Reports (id → person, text, answers), people (id → name) and choice rows of a database."""
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as session:
            reports = {
                r.id or 0: (r.person_id, r.unit_id, r.text, r.answers)
                for r in (await session.exec(select(Report))).all()
            }
            people = {p.id or 0: p.full_name for p in (await session.exec(select(Person))).all()}
            answers = {
                (a.report_id, a.question_key, a.value)
                for a in (await session.exec(select(ReportAnswer))).all()
            }
    finally:
        await engine.dispose()
    return reports, people, answers


async def test_a_backup_during_traffic_restores_every_report_and_person(
    world: World, org: dict[str, Persona], tmp_path: Path
) -> None:
    await publish_topic(org["staff"])
    group = world.groups["CTV Huyện Bình Minh"]
    post = await topic_post_id(world, group)
    reporters = [org["ctv1"], org["ctv2"], org["ctv3"]]

    confirmed: list[Persona] = []
    under_way = asyncio.Event()

    async def report_in_group(persona: Persona) -> None:
        for number in range(REPLIES_EACH):
            reply = await persona.send(
                f"Ý kiến số {number} của {persona.first_name}", chat_id=group, reply_to=post
            )
            assert reply.reactions, "every reply in the group is confirmed (👍)"
            confirmed.append(persona)
            if len(confirmed) == len(reporters):
                under_way.set()

    traffic = asyncio.gather(*(report_in_group(persona) for persona in reporters))
    await asyncio.wait_for(under_way.wait(), 60)  # the backup starts with reports already stored…
    stored_before = {report.id for report in await world.reports()}
    written = await backups.backup(
        world.app.settings.database_url, tmp_path / "backups", now=datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
    )
    await traffic  # …and more are stored while it is written
    live_reports, live_people, live_answers = await contents(world.app.settings.database_url)
    assert len(live_reports) == len(reporters) * REPLIES_EACH

    restored_url = await empty_database_url(tmp_path / "restored")
    try:
        await backups.restore(restored_url, written.path)
        engine = create_engine(restored_url)
        await upgrade_database(engine)
        await engine.dispose()
        reports, people, answers = await contents(restored_url)
    finally:
        await drop_database(restored_url)
    assert stored_before <= set(reports), "every report stored before the backup began is in it"
    assert set(reports) <= set(live_reports)
    assert all(live_reports[report_id] == row for report_id, row in reports.items())
    assert people == live_people, "every person, with their name"
    assert answers == {answer for answer in live_answers if answer[0] in reports}

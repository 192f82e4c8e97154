"""The same migrations and queries on PostgreSQL (DESIGN: no SQLite-only SQL)."""

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from storage import inbox, people, reports
from storage.db import create_database, create_engine, create_session_factory, drop_database, upgrade_database
from storage.models import Draft, InboxStatus, Person, PersonStatus, Report, Role, utcnow

pytestmark = pytest.mark.postgres

URL = os.environ.get("TEST_POSTGRES_URL", "")


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    if not URL:
        pytest.skip("TEST_POSTGRES_URL is not set (make test starts PostgreSQL via .ci/postgres.sh)")
    url = await create_database(URL, f"dlxh_{uuid.uuid4().hex[:10]}")
    yield url
    await drop_database(url)


async def test_migrations_and_summary_queries_run_on_postgres(pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        await upgrade_database(engine)
        factory = create_session_factory(engine)
        async with factory() as session:
            province = await people.create_unit(session=session, code="TINH", name="Tỉnh")
            district = await people.create_unit(
                session=session, code="HUYEN_A", name="Huyện A", parent=province
            )
            person = Person(
                chat_id=5_000_000_001, full_name="A", status=PersonStatus.ACTIVE, unit_id=district.id
            )
            await people.add_person(session=session, person=person)
            await people.grant_role(
                session=session, person=person, role=Role.COLLABORATOR, unit_id=district.id
            )
            report = Report(
                person_id=person.id,
                unit_id=district.id,
                period="2026-11",
                source_update_id=2**40,
                text="ý kiến",
            )
            await reports.save_report(
                session=session, report=report, choice_values=[("tam_trang", "on_dinh")]
            )
            new = await inbox.store_updates(session=session, rows=[(2**40, 1, "{}")], now=utcnow())
            await session.commit()
        assert new == {2**40}
        async with factory() as session:
            assert await reports.report_totals(
                session=session, period="2026-11", under_path=province.path
            ) == reports.ReportTotals(full=1, quick=0)
            counts = await reports.option_counts(session=session, period="2026-11", under_path=province.path)
            assert [(c.question_key, c.value, c.reports) for c in counts] == [("tam_trang", "on_dinh", 1)]
            assert await reports.collaborator_reporters_by_unit(
                session=session, period="2026-11", under_path="/"
            ) == {district.id: 1}
            assert await people.count_active_collaborators(session=session, under_path=province.path) == 1
        async with factory() as session:
            actor, grants = await people.person_with_grants(session=session, address=5_000_000_001)
            assert actor is not None and grants == [("collaborator", district.id, district.path)]
            draft = await reports.save_draft(
                session=session,
                draft=Draft(person_id=actor.id or 0, slot="report:adhoc", state={"step": 0}),
            )
            await session.commit()
        async with factory() as session:
            found = await reports.get_draft_by_slot(
                session=session, person_id=actor.id or 0, slot="report:adhoc"
            )
            assert found is not None and found.id == draft.id
            found.state = {"step": 1}
            await reports.save_draft(session=session, draft=found)
            await inbox.mark_done(session=session, update_id=2**40, now=utcnow())
            await session.commit()
        async with factory() as session:
            latest = await reports.latest_draft(session=session, person_id=actor.id or 0)
            assert latest is not None and latest.state == {"step": 1}
            row = await inbox.get_row(session=session, update_id=2**40)
            assert row is not None and row.status == InboxStatus.DONE
    finally:
        await engine.dispose()


async def test_a_long_photo_url_fits_on_postgres(pg_url: str) -> None:
    """PostgreSQL enforces a VARCHAR's length where SQLite does not: an urgent matter's photo
    may be a long Zalo URL."""
    from datetime import timedelta

    from sqlmodel import select

    from bot.conversation import FormCatalog
    from storage.models import Topic, TopicKind

    engine = create_engine(pg_url)
    try:
        await upgrade_database(engine)
        factory = create_session_factory(engine)
        async with factory() as session:
            forms = FormCatalog()
            await forms.sync_builtin(session)
            url = "https://photo.zalo.example/" + "a" * 600
            session.add(
                Topic(
                    form_id=forms.form_id("monthly_opinion"),
                    kind=TopicKind.URGENT,
                    title="Đột xuất",
                    guidance="…",
                    period="2026-11",
                    due_at=utcnow() + timedelta(days=1),
                    photo_file_id=url,
                )
            )
            await session.commit()
        async with factory() as session:
            topic = (await session.exec(select(Topic))).one()
            assert topic.photo_file_id == url
    finally:
        await engine.dispose()


async def test_two_processes_queueing_the_same_message_neither_fails_and_it_is_queued_once(
    pg_url: str,
) -> None:
    """Two schedulers (two processes) queue the same reminder at the same moment: the second
    transaction waits for the first, then skips the row, instead of failing on the key."""
    import asyncio

    from storage import outbox
    from storage.models import Outbox

    engine = create_engine(pg_url)
    try:
        await upgrade_database(engine)
        factory = create_session_factory(engine)

        def row() -> Outbox:
            return Outbox(chat_id=42, dedupe_key="remind:1:202612200900:42:0", payload={"text": "⏰"})

        async with factory() as first, factory() as second:
            assert await outbox.add_rows(session=first, rows=[row()]) == 1
            waiting = asyncio.ensure_future(outbox.add_rows(session=second, rows=[row(), row()]))
            await asyncio.sleep(0.2)
            assert not waiting.done()  # held by the first transaction's row
            await first.commit()
            assert await waiting == 0
            await second.commit()
        async with factory() as session:
            assert len(await outbox.known_keys(session=session, keys=["remind:1:202612200900:42:0"])) == 1
    finally:
        await engine.dispose()

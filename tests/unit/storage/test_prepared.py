"""Prepared statements: straight on the inline SQLite driver, they read and write exactly
what SQLAlchemy reads and writes for the same statement."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Select, bindparam, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import select as select_orm

from storage import inbox, people, reports, topics
from storage.db import (
    CONNECTION_KEY,
    begin_write,
    commit,
    create_engine,
    create_session_factory,
)
from storage.models import (
    Draft,
    Inbox,
    InboxStatus,
    Person,
    PersonStatus,
    Report,
    Role,
    Topic,
    TopicStatus,
    Unit,
)
from storage.prepared import Prepared, loaded
from tests.unit.storage.databases import migrated_sqlite

WHEN = datetime(2026, 11, 24, 8, 30, 15, 123456, tzinfo=UTC)


def every_prepared_statement() -> dict[str, Prepared]:
    found: dict[str, Prepared] = {}
    for module in (people, reports, inbox, topics):
        for name, value in vars(module).items():
            if isinstance(value, Prepared):
                found[f"{module.__name__}.{name}"] = value
    return found


async def _seeded(path: Path) -> None:
    engine, factory = await migrated_sqlite(path)
    async with factory() as session:
        unit = await people.create_unit(session=session, code="TINH", name="Tỉnh")
        person = Person(
            telegram_id=42,
            full_name="Bình <b>&",
            status=PersonStatus.ACTIVE,
            unit_id=unit.id,
            created_at=WHEN,
        )
        session.add(person)
        await session.flush()
        await people.grant_role(session=session, person=person, role=Role.LEADER, unit_id=unit.id)
        draft = Draft(
            person_id=person.id or 0,
            slot="report:adhoc",
            state={"answers": {"noi_dung": "Ý kiến “trái chiều”"}, "step": 3},
            context={"topic": None},
            created_at=WHEN,
            updated_at=WHEN,
        )
        await reports.save_draft(session=session, draft=draft)
        await inbox.store_updates(session=session, rows=[(7, 42, '{"update_id": 7}')], now=WHEN)
        form = await topics.ensure_form(session=session, key="f", version=1, title="F", definition={"q": []})
        unit.created_at = form.created_at = WHEN  # both databases seeded alike, to the microsecond
        topic = Topic(
            title="Chủ đề <b>",
            guidance="…",
            form_id=form.id or 0,
            period="2026-11",
            due_at=WHEN,
            status=TopicStatus.PUBLISHED,
            created_at=WHEN,
        )
        await topics.add_topic(session=session, topic=topic, target_unit_ids=[unit.id or 0])
        report = Report(
            person_id=person.id or 0,
            unit_id=unit.id or 0,
            topic_id=topic.id,
            form_id=form.id,
            answers={"tam_trang": "on_dinh", "noi_dung": "Ý kiến “trái chiều”"},
            text="Ý kiến “trái chiều”",
            period="2026-11",
            source_update_id=7,
            submitted_at=WHEN,
            updated_at=WHEN,
        )
        await reports.save_report(session=session, report=report, choice_values=[("tam_trang", "on_dinh")])
        await session.commit()
    await engine.dispose()


REPORT_FIELDS: dict[str, Any] = {
    "new_person_id": 1,
    "new_unit_id": 1,
    "new_topic_id": None,
    "new_form_id": 1,
    "new_channel": "incident",
    "new_answers": {"su_viec": "Đường <b>ngập</b> & tắc", "muc_do": "khan_cap"},
    "new_text": "Đường <b>ngập</b> & tắc",
    "new_urgency": "khan_cap",
    "new_period": "2026-11",
    "new_status": "new",
    "new_revision": 2,
    "new_source_update_id": 2**40,
    "new_source_chat_id": -(10**12),
    "new_source_message_id": 5,
    "new_submitted_at": WHEN,
    "new_updated_at": WHEN,
}
# Parameters for each statement, for the person, draft, update, topic and report seeded above.
PARAMETERS: dict[str, dict[str, Any]] = {
    "storage.people._PERSON_WITH_GRANTS": {"telegram_id": 42},
    "storage.reports._DRAFT_BY_ID": {"draft_id": 1},
    "storage.reports._DRAFT_BY_SLOT": {"person_id": 1, "slot": "report:adhoc"},
    "storage.reports._LATEST_DRAFT": {"person_id": 1},
    "storage.reports._UPDATE_DRAFT": {
        "draft_id": 1,
        "new_form_id": None,
        "new_topic_id": None,
        "new_definition": {"questions": [{"key": "q", "kind": "text"}]},
        "new_state": {"answers": {"q": "Đà Nẵng"}, "step": 1},
        "new_context": {},
        "new_prompt_message_id": 2**40,
        "new_updated_at": WHEN,
    },
    "storage.inbox._MARK_DONE": {"done_update_id": 7, "done_at": WHEN},
    "storage.people._UNIT_BY_ID": {"unit_id": 1},
    "storage.topics._TOPIC_BY_ID": {"topic_id": 1},
    "storage.topics._TARGET_UNIT_IDS": {"topic_id": 1},
    "storage.reports._PRIVATE_REPORT": {"person_id": 1, "topic_id": 1},
    "storage.reports._INSERT_REPORT": REPORT_FIELDS,
    "storage.reports._UPDATE_REPORT": {"report_id": 1, **REPORT_FIELDS},
    "storage.reports._DELETE_REPORT_ANSWERS": {"report_id": 1},
    "storage.reports._INSERT_REPORT_ANSWER": {
        "answer_report_id": 1,
        "answer_question_key": "muc_do",
        "answer_value": "khan_cap",
    },
}
# The same statements again with None where a column allows it (JSON stores None as 'null').
NONE_PARAMETERS: dict[str, dict[str, Any]] = {
    "storage.reports._UPDATE_DRAFT": {
        **PARAMETERS["storage.reports._UPDATE_DRAFT"],
        "new_definition": None,
        "new_prompt_message_id": None,
    },
    "storage.inbox._MARK_DONE": {"done_update_id": 7, "done_at": None},
    "storage.reports._INSERT_REPORT": {
        **REPORT_FIELDS,
        "new_form_id": None,
        "new_answers": {},
        "new_text": None,
        "new_urgency": None,
        "new_source_chat_id": None,
        "new_source_message_id": None,
    },
}
CASES = [(name, params) for name, params in PARAMETERS.items()] + [
    (f"{name} with None", params) for name, params in NONE_PARAMETERS.items()
]


def _reads(statement: Prepared) -> bool:
    return isinstance(statement.statement, Select)


def test_every_prepared_statement_is_covered() -> None:
    assert set(every_prepared_statement()) == set(PARAMETERS)


def _table_contents(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as connection:
        rows: list[tuple[Any, ...]] = []
        for table in ("person", "draft", "inbox", "unit", "topic", "topic_target", "report", "report_answer"):
            rows += [(table, *row) for row in connection.execute(f"SELECT * FROM {table} ORDER BY 1")]
        return rows


@pytest.mark.parametrize(("case", "params"), CASES, ids=[case for case, _params in CASES])
async def test_inline_and_sqlalchemy_paths_agree(tmp_path: Path, case: str, params: dict[str, Any]) -> None:
    statement = every_prepared_statement()[case.removesuffix(" with None")]
    results = {}
    for path_kind in ("inline", "sqlalchemy"):
        path = tmp_path / f"{path_kind}.db"
        await _seeded(path)
        if path_kind == "inline":
            engine = create_engine(f"sqlite+aiosqlite:///{path}")
        else:  # plain aiosqlite: Prepared falls back to SQLAlchemy's execution
            engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        factory = create_session_factory(engine)
        async with factory() as session:
            if statement.keys and _reads(statement):
                outcome: Any = await statement.rows(session, params)
            else:
                await begin_write(session)
                if statement.keys:  # a write with RETURNING
                    outcome = await statement.rows(session, params)
                else:
                    outcome = await statement.execute(session, params)
                await session.commit()
        await engine.dispose()
        results[path_kind] = (outcome, _table_contents(path))
    assert results["inline"] == results["sqlalchemy"]
    outcome, _contents = results["inline"]
    if statement.keys:
        assert outcome, "the seeded row is found, or the row written returned"
        values = [value for row in outcome for value in row]
        assert [type(v) for v in values] == [type(v) for row in results["sqlalchemy"][0] for v in row]
        assert all(v.tzinfo is UTC for v in values if isinstance(v, datetime))
    else:
        assert outcome == 1


async def test_a_loaded_instance_behaves_as_an_orm_load(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    await _seeded(path)
    engine, factory = await migrated_sqlite(path)
    async with factory() as session:
        draft = await reports.get_draft(session=session, draft_id=1)
        orm = (await session.exec(select_orm(Draft).where(Draft.id == 1))).one()
        assert draft is not None and draft is not orm
        assert draft.model_dump() == orm.model_dump()
        assert draft.state["answers"]["noi_dung"] == "Ý kiến “trái chiều”"
        person = loaded(Person, {"id": 1, "telegram_id": 42, "full_name": "x", "status": "active"})
        assert person.id == 1 and person.full_name == "x"
    await engine.dispose()


async def test_the_remembered_connection_ends_with_its_transaction(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    await _seeded(path)
    engine, factory = await migrated_sqlite(path, pool_size=2)
    async with factory() as session:
        draft = await reports.get_draft(session=session, draft_id=1)
        assert draft is not None and CONNECTION_KEY in session.info
        draft.state = {"step": 9}
        await reports.save_draft(session=session, draft=draft)
        await begin_write(session)
        await inbox.mark_done(session=session, update_id=7, now=WHEN)
        await commit(session)
        assert CONNECTION_KEY not in session.info
        # The next transaction of the same session reads what the last one wrote.
        again = await reports.get_draft(session=session, draft_id=1)
        assert again is not None and again.state == {"step": 9}
        row = (await session.exec(select_orm(Inbox).where(Inbox.update_id == 7))).one()
        assert (row.status, row.processed_at) == (InboxStatus.DONE, WHEN)
        await session.rollback()
        assert CONNECTION_KEY not in session.info
    await engine.dispose()


def test_in_lists_are_refused() -> None:
    table = Draft.__table__  # type: ignore[attr-defined]
    statement = Prepared(select(table).where(table.c.id.in_(bindparam("ids", expanding=True))))
    with pytest.raises(ValueError, match="IN lists"):
        statement._compile(sqlite.dialect())


async def test_a_write_for_many_rows_agrees_on_both_paths(tmp_path: Path) -> None:
    rows = [
        {"answer_report_id": 1, "answer_question_key": "linh_vuc", "answer_value": value}
        for value in ("kinh_te", "y_te_giao_duc")
    ]
    results = {}
    for path_kind in ("inline", "sqlalchemy"):
        path = tmp_path / f"{path_kind}.db"
        await _seeded(path)
        engine = (
            create_engine(f"sqlite+aiosqlite:///{path}")
            if path_kind == "inline"
            else create_async_engine(f"sqlite+aiosqlite:///{path}")
        )
        async with create_session_factory(engine)() as session:
            await begin_write(session)
            assert await reports._INSERT_REPORT_ANSWER.execute_many(session, []) == 0
            outcome = await reports._INSERT_REPORT_ANSWER.execute_many(session, rows)
            await session.commit()
        await engine.dispose()
        results[path_kind] = (outcome, _table_contents(path))
    assert results["inline"] == results["sqlalchemy"]
    assert results["inline"][0] == 2
    answers = [row[1:] for row in results["inline"][1] if row[0] == "report_answer"]
    assert answers == [
        (1, "linh_vuc", "kinh_te"),
        (1, "linh_vuc", "y_te_giao_duc"),
        (1, "tam_trang", "on_dinh"),
    ]


async def test_an_adopted_row_is_the_sessions_own_object(tmp_path: Path) -> None:
    """get_topic and get_unit behave as session.get: one object per row in a session, and
    its changes are written at commit."""
    path = tmp_path / "a.db"
    await _seeded(path)
    engine, factory = await migrated_sqlite(path)
    async with factory() as session:
        first = await topics.get_topic(session=session, topic_id=1)
        assert first is not None and first is await topics.get_topic(session=session, topic_id=1)
        assert first is await session.get(Topic, 1)
        assert first.title == "Chủ đề <b>" and first.due_at == WHEN
        first.title = "Đổi tên"
        await begin_write(session)
        await session.commit()
        assert await topics.get_topic(session=session, topic_id=99) is None
    async with factory() as session:
        held = await session.get(Topic, 1)
        assert held is not None and held is await topics.get_topic(session=session, topic_id=1)
        assert held.title == "Đổi tên"
        unit = await people.get_unit(session=session, unit_id=1)
        assert unit is not None and unit.path == "/1/" and unit is await session.get(Unit, 1)
    await engine.dispose()

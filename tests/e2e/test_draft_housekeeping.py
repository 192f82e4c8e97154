"""Issue 20, housekeeping: an unfinished form untouched for DRAFT_REMINDER_DAYS gets one
reminder (the draft_reminders job, in the daytime), and one untouched for DRAFT_DISCARD_DAYS
is discarded by the housekeeping job; through the sandbox, on Telegram and Zalo, with the
injected clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.onboarding import create_invite
from bot.sandbox import SandboxClient, SandboxServer
from storage.models import Draft, JobRun, Person, Role
from tests.e2e.flows import publish_topic
from tests.e2e.harness import Persona, World, ZaloPersona, button_texts, drop_database, make_world

DRAFT_MARK = "📝 Đồng chí chưa hoàn thành"


def _vn(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A local time in Vietnam (UTC+7), as UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=7)


@pytest.fixture
async def early(
    sandbox: SandboxServer, sandbox_client: SandboxClient, tmp_path: Path
) -> AsyncIterator[World]:
    """A world that starts at 08:00 on 10/11 (Vietnam), registrations kept 60 days."""
    built = await make_world(
        sandbox_client, sandbox.base_url, tmp_path, now=_vn(10, 8), pending_retention_days=60
    )
    yield built
    await built.app.stop()
    await drop_database(built.app.settings.database_url)


async def _messages(persona: Persona | ZaloPersona) -> list[dict]:  # type: ignore[type-arg]
    if isinstance(persona, ZaloPersona):
        return await persona.bot_messages()
    return list(await persona.world.client.chat_messages(persona.user_id))


async def _reminders(persona: Persona | ZaloPersona) -> list[str]:
    return [str(m.get("text", "")) for m in await _messages(persona) if DRAFT_MARK in str(m.get("text", ""))]


async def _drafts(world: World, persona: Persona | ZaloPersona) -> list[Draft]:
    person = await world.person(persona)
    assert person is not None
    async with world.sessions() as session:
        return list((await session.exec(select(Draft).where(Draft.person_id == person.id))).all())


async def _stop_at_question_3(persona: Persona | ZaloPersona) -> None:
    """Open the report on topic 1 and answer the first two questions."""
    if isinstance(persona, ZaloPersona):
        await persona.send("báo cáo 1")
    else:
        await persona.send("/start r1")
    await persona.press("Kinh tế – đời sống")
    await persona.press("✅ Xong")
    reply = await persona.press("Có băn khoăn, lo lắng")
    assert "Câu 3/10" in reply.text, reply.text


async def _tick(world: World, at: datetime) -> list[str]:
    world.clock.current = at
    runner = world.app.job_runner
    assert runner is not None
    done = await runner.tick()
    await world.delivered()
    return done


async def test_a_half_filled_report_is_reminded_once_resumed_and_discarded_after_30_days(
    early: World,
) -> None:
    world = early
    staff = await world.member("telegram", "Cán Bộ", unit="TINH", role=Role.STAFF)
    telegram = await world.member("telegram", "An", unit="HUYEN_A", full_name="Trần Văn An")
    zalo = await world.member("zalo", "Lan", unit="HUYEN_A", full_name="Nguyễn Thị Lan")
    recent = await world.member("telegram", "Bình", unit="HUYEN_A", full_name="Lê Văn Bình")
    assert isinstance(staff, Persona) and isinstance(telegram, Persona) and isinstance(zalo, ZaloPersona)
    assert isinstance(recent, Persona)
    await publish_topic(staff, due="25/11/2026")
    for persona in (telegram, zalo, recent):
        await _stop_at_question_3(persona)

    # six days on, at the rule's time: nothing is old enough yet (a run with nothing to do is
    # not listed among the jobs that acted)
    assert "draft_reminders" not in await _tick(world, _vn(16, 9, 1))
    world.clock.current = _vn(16, 15)
    await recent.press("Đồng tình")  # Bình takes the form up again, and leaves it at question 4
    # seven days on, before 09:00: not yet (the reminder waits for the daytime rule)
    assert "draft_reminders" not in await _tick(world, _vn(17, 8, 59))
    assert await _reminders(telegram) == []

    assert "draft_reminders" in await _tick(world, _vn(17, 9, 1))
    [on_telegram] = await _reminders(telegram)
    assert (
        "📝 Đồng chí chưa hoàn thành báo cáo về chủ đề số 1 “Sáp nhập đơn vị hành chính cấp xã”: "
        "đang dừng ở câu 3/10. Nếu không hoàn thành, phần đã khai sẽ bị hủy sau ngày 10/12/2026."
    ) in on_telegram
    assert "Bấm nút bên dưới để làm tiếp từ chỗ đang dừng." in on_telegram
    [reminder] = [m for m in await _messages(telegram) if DRAFT_MARK in str(m.get("text", ""))]
    assert button_texts(reminder) == ["▶️ Làm tiếp: chủ đề số 1"]
    [on_zalo] = await _reminders(zalo)
    assert "đang dừng ở câu 3/10" in on_zalo and "sau ngày 10/12/2026" in on_zalo
    assert "báo cáo 1" in on_zalo and "Bấm nút" not in on_zalo  # the word to type, no button
    assert await _reminders(recent) == []  # touched yesterday: not reminded

    # the same morning again, the next day, two days on: nothing more for the same drafts
    assert "draft_reminders" not in await _tick(world, _vn(17, 9, 30))
    await _tick(world, _vn(18, 9, 1))
    await _tick(world, _vn(19, 9, 1))
    assert len(await _reminders(telegram)) == 1 and len(await _reminders(zalo)) == 1
    async with world.sessions() as session:
        claims = (await session.exec(select(JobRun).where(JobRun.subject == "draft"))).all()
    assert len(claims) == 2  # one per reminded draft (and the time it was last touched)
    # Bình's draft, touched on the 16th, gets its one reminder on the 24th (not on the 23rd)
    await _tick(world, _vn(23, 9, 1))
    assert await _reminders(recent) == []
    await _tick(world, _vn(24, 9, 1))
    [on_recent] = await _reminders(recent)
    assert "đang dừng ở câu 4/10" in on_recent and "sau ngày 16/12/2026" in on_recent

    # the button and the typed words take them back to question 3
    world.clock.current = _vn(24, 10)
    resumed = await telegram.press("▶️ Làm tiếp: chủ đề số 1")
    assert "Câu 3/10" in resumed.text and "Đồng chí còn báo cáo đang làm dở" in resumed.text
    resumed_on_zalo = await zalo.send("báo cáo 1")
    assert "Câu 3/10" in resumed_on_zalo.text
    [draft] = await _drafts(world, zalo)
    assert draft.updated_at == _vn(24, 10)  # resuming touches it: its count starts again

    # left again: after 30 days untouched, the housekeeping job discards it
    await _tick(world, _vn(24, 3, month=12))  # 30 days less a few hours: still kept
    assert len(await _drafts(world, telegram)) == 1
    done = await _tick(world, _vn(25, 3, 1, month=12))
    assert "housekeeping" in done
    assert await _drafts(world, telegram) == [] and await _drafts(world, zalo) == []
    assert await _drafts(world, recent) == []  # untouched since the 16th
    # opening the report again starts from the first question
    opened = await telegram.send("/start r1")
    assert "Câu 1/10" in opened.text and "khai dở" not in opened.text
    opened_on_zalo = await zalo.send("báo cáo 1")
    assert "Câu 1/10" in opened_on_zalo.text


async def test_touched_again_and_left_again_it_is_reminded_again_once(early: World) -> None:
    world = early
    staff = await world.member("telegram", "Cán Bộ", unit="TINH", role=Role.STAFF)
    telegram = await world.member("telegram", "An", unit="HUYEN_A")
    assert isinstance(staff, Persona) and isinstance(telegram, Persona)
    await publish_topic(staff, due="25/11/2026")
    await _stop_at_question_3(telegram)
    await _tick(world, _vn(17, 9, 1))
    assert len(await _reminders(telegram)) == 1
    world.clock.current = _vn(17, 12)
    await telegram.press("▶️ Làm tiếp: chủ đề số 1")  # resumed, and left again
    await _tick(world, _vn(24, 9, 1))  # 7 days less 3 hours: not yet
    assert len(await _reminders(telegram)) == 1
    await _tick(world, _vn(25, 9, 1))
    assert len(await _reminders(telegram)) == 2
    await _tick(world, _vn(26, 9, 1))
    assert len(await _reminders(telegram)) == 2


async def test_a_wizard_left_half_done_is_resumed_by_its_link_even_behind_another_draft(
    early: World,
) -> None:
    world = early
    staff = await world.member("telegram", "Cán Bộ", unit="TINH", role=Role.STAFF)
    zalo_staff = await world.member("zalo", "Hoa", unit="TINH", role=Role.STAFF)
    assert isinstance(staff, Persona) and isinstance(zalo_staff, ZaloPersona)
    await staff.send("/urgent")
    await staff.send("Tin đồn về việc thu hồi đất khu công nghiệp")  # stops at question 2
    await zalo_staff.send("/urgent")
    await _tick(world, _vn(17, 9, 1))
    [reminder] = [m for m in await _messages(staff) if DRAFT_MARK in str(m.get("text", ""))]
    assert "chưa hoàn thành “Vấn đề đột xuất mới”: đang dừng ở câu 2/" in reminder["text"]
    assert button_texts(reminder) == ["▶️ Làm tiếp: Vấn đề đột xuất mới"]
    [on_zalo] = await _reminders(zalo_staff)
    drafts = await _drafts(world, zalo_staff)
    assert f"/start d-{drafts[0].id}" in on_zalo  # what to type where there is no button

    world.clock.current = _vn(17, 10)
    await staff.send("/invite")  # another form opened since: the latest draft is that one
    resumed = await staff.press("▶️ Làm tiếp: Vấn đề đột xuất mới")
    assert "Câu 2/" in resumed.text and "Tiếp tục từ chỗ đồng chí đang dừng." in resumed.text
    typed_on_zalo = await zalo_staff.send(f"/start d-{drafts[0].id}")
    assert "Câu 1/" in typed_on_zalo.text

    # a link to a draft that is not one's own, or no longer kept: said, and nothing changes
    before = [(d.id, d.updated_at) for d in await _drafts(world, staff)]
    refused = await zalo_staff.send(f"/start d-{before[0][0]}")
    assert "Biểu mẫu khai dở này không còn được lưu" in refused.text and "sau 30 ngày" in refused.text
    gone = await staff.send("/start d-999999")
    assert "Biểu mẫu khai dở này không còn được lưu" in gone.text
    assert [(d.id, d.updated_at) for d in await _drafts(world, staff)] == before


async def test_the_inactive_the_unreachable_and_registrations_are_left_alone(early: World) -> None:
    """Nobody is reminded who is inactive or cannot be written to; a registration's draft is
    left to the unfinished-registration limit (PENDING_RETENTION_DAYS, here 60 days)."""
    world = early
    staff = await world.member("telegram", "Cán Bộ", unit="TINH", role=Role.STAFF)
    inactive = await world.member("telegram", "Cũ", unit="HUYEN_A")
    blocked = await world.member("telegram", "Chặn", unit="HUYEN_A")
    newcomer = await world.person_named("Mới")
    assert isinstance(staff, Persona) and isinstance(inactive, Persona) and isinstance(blocked, Persona)
    await publish_topic(staff, due="25/11/2026")
    await _stop_at_question_3(inactive)
    await _stop_at_question_3(blocked)
    async with world.sessions() as session:
        _invite, code = await create_invite(
            session=session,
            unit=world.units["HUYEN_A"],
            created_by=None,
            uses=1,
            days=7,
            now=world.clock.now(),
        )
        await session.commit()
    await newcomer.send(f"/start {code}")
    await newcomer.send("Nguyễn Văn Mới")  # stops at the phone number
    async with world.sessions() as session:
        for persona, field, value in ((inactive, "status", "inactive"), (blocked, "reachability", "blocked")):
            person = (await session.exec(select(Person).where(Person.chat_id == persona.user_id))).one()
            setattr(person, field, value)
            session.add(person)
        await session.commit()
    await _tick(world, _vn(17, 9, 1))
    assert (
        await _reminders(inactive) == []
        and await _reminders(blocked) == []
        and await _reminders(newcomer) == []
    )
    await _tick(world, _vn(11, 3, 1, month=12))  # 31 days on: housekeeping
    assert await _drafts(world, inactive) == [] and await _drafts(world, blocked) == []
    [registration] = await _drafts(world, newcomer)  # kept until PENDING_RETENTION_DAYS
    assert registration.slot == "registration"

"""/schedule in a private chat (issue 20): administrators on Telegram and on Zalo list the
scheduled jobs, change, pause and resume them, in their language; a paused job does not run at
the next tick; bad input gets the reason and changes nothing; everyone else is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col, select

from bot.scheduling import CATALOG
from storage.models import Audit, JobRun, Role, Schedule
from tests.e2e.harness import Persona, World, ZaloPersona

REFUSAL = "Xin lỗi, lệnh này chỉ dành cho quản trị viên."
UNCHANGED = "Không có gì thay đổi."


def _vn(day: int, hour: int, minute: int = 0, month: int = 11, year: int = 2026) -> datetime:
    """A local time in Vietnam (UTC+7), as UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=7)


async def _schedules(world: World) -> dict[str, tuple[Any, ...]]:
    async with world.sessions() as session:
        rows = (await session.exec(select(Schedule))).all()
    return {row.job: (row.rule, row.paused, row.since, row.updated_by) for row in rows}


async def _audits(world: World) -> list[tuple[str, int | None, dict[str, Any]]]:
    async with world.sessions() as session:
        rows = (
            await session.exec(
                select(Audit).where(col(Audit.action).startswith("schedule.")).order_by(Audit.id)
            )
        ).all()
    return [(row.action, row.actor_id, row.details) for row in rows]


async def _runs(world: World, job: str) -> list[str]:
    async with world.sessions() as session:
        return list((await session.exec(select(JobRun.subject).where(JobRun.job == job))).all())


async def _person_id(world: World, persona: Persona | ZaloPersona) -> int:
    person = await world.person(persona)
    assert person is not None and person.id is not None
    return person.id


def _job_lines(text: str, job: str) -> str:
    """The lines of one job in the list: its heading and the indented lines under it."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split(" — ")[0].endswith(f". {job}"))
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith("   "):
            break
        block.append(line.strip())
    return "\n".join(block)


def _number(job: str) -> int:
    return list(CATALOG).index(job) + 1


async def test_an_admin_on_telegram_lists_sets_pauses_and_resumes(world: World) -> None:
    admin = await world.member("telegram", "Quản Trị", unit="TINH", role=Role.ADMIN)
    admin_id = await _person_id(world, admin)
    assert "/schedule — Lịch các việc tự động" in (await admin.send("/help")).text

    # 10:00 on 10/11/2026 in Vietnam: every job, its rule in words, its next run
    listing = (await admin.send("/schedule")).text
    assert "Các việc tự động theo lịch (giờ theo múi Asia/Ho_Chi_Minh)" in listing
    for name in CATALOG:
        assert f"{_number(name)}. {name} — " in listing, name
    assert _job_lines(listing, "reminders").splitlines() == [
        f"{_number('reminders')}. reminders — Nhắc cộng tác viên chưa gửi báo cáo về chủ đề đang mở",
        "Lịch: vào ngày 20, 25 hằng tháng, lúc 09:00 (20,25 09:00)",
        "Lần chạy tới: 20/11/2026 09:00",
    ]
    assert "Lịch: hằng ngày lúc 03:00 (daily 03:00)\nLần chạy tới: 11/11/2026 03:00" in _job_lines(
        listing, "housekeeping"
    )
    assert "Lịch: theo thời hạn của từng chủ đề (không có lịch riêng)" in _job_lines(listing, "close_topics")
    assert "Lần chạy tới" not in _job_lines(listing, "close_topics")
    for how in (
        "/schedule đặt TÊN_VIỆC LỊCH",
        "/schedule tạm dừng TÊN_VIỆC",
        "/schedule tiếp tục TÊN_VIỆC",
        "20,25 09:00",
        "thứ hai đầu tiên 08:00",
        "cuối tháng 17:00",
    ):
        assert how in listing, how

    # set, in Vietnamese words: the first Monday of December is the 7th
    reply = await admin.send("/schedule đặt reminders thứ hai đầu tiên 08:00")
    assert reply.texts == [
        "✅ Đã đổi lịch reminders: chạy vào Thứ Hai đầu tiên hằng tháng, lúc 08:00.\n"
        "Lần chạy tới: 07/12/2026 08:00\nCác lần đã qua không chạy bù."
    ]
    assert (await _schedules(world))["reminders"] == ("1 mon 08:00", False, world.clock.now(), admin_id)
    assert await _audits(world) == [
        ("schedule.set", admin_id, {"job": "reminders", "rule": "1 mon 08:00", "before": "20,25 09:00"})
    ]

    # set in English, the job by its number: the 31st is the 30th in November
    reply = await admin.send(f"/schedule set {_number('housekeeping')} 31 04:00")
    assert "chạy vào ngày 31 hằng tháng, lúc 04:00 (tháng không có ngày đó thì chạy vào ngày cuối tháng)" in (
        reply.text
    )
    assert "Lần chạy tới: 30/11/2026 04:00" in reply.text
    assert (await _schedules(world))["housekeeping"][:2] == ("31 04:00", False)

    # pause: confirmed, stored, recorded; the 30th's 04:00 passes without it
    reply = await admin.send("/schedule tạm dừng housekeeping")
    assert reply.texts == [
        "⏸ Đã tạm dừng housekeeping: việc này không chạy cho đến khi gửi /schedule tiếp tục housekeeping."
    ]
    assert (await _schedules(world))["housekeeping"][:2] == ("31 04:00", True)
    assert (await _audits(world))[-1] == ("schedule.pause", admin_id, {"job": "housekeeping"})
    reply = await admin.send("/schedule pause housekeeping")  # said twice: nothing more
    assert reply.texts == ["housekeeping đã tạm dừng từ trước; không có gì thay đổi."]
    assert len(await _audits(world)) == 3
    listing = (await admin.send("/schedule")).text
    assert "⏸ Đang tạm dừng" in _job_lines(listing, "housekeeping")
    assert "Lần chạy tới" not in _job_lines(listing, "housekeeping")
    runner = world.app.job_runner
    assert runner is not None
    world.clock.current = _vn(30, 4, 1)
    assert "housekeeping" not in await runner.tick()
    assert await _runs(world, "housekeeping") == []

    # resume: what passed while paused is not caught up; the next time runs
    reply = await admin.send("/schedule tiếp tục housekeeping")
    assert reply.texts == [
        "▶️ housekeeping chạy lại.\nLần chạy tới: 31/12/2026 04:00\nCác lần bị bỏ qua khi tạm dừng không chạy bù."
    ]
    assert (await _schedules(world))["housekeeping"] == ("31 04:00", False, world.clock.now(), admin_id)
    assert (await _audits(world))[-1] == ("schedule.resume", admin_id, {"job": "housekeeping"})
    assert "housekeeping" not in await runner.tick()
    world.clock.current = _vn(31, 4, 1, month=12)
    assert "housekeeping" in await runner.tick()
    assert await _runs(world, "housekeeping") == [_vn(31, 4, month=12).isoformat()]


async def test_an_admin_on_zalo_lists_sets_pauses_and_resumes(world: World) -> None:
    admin = await world.member("zalo", "Quản Trị Zalo", unit="TINH", role=Role.ADMIN)
    admin_id = await _person_id(world, admin)
    assert "/schedule — Lịch các việc tự động" in (await admin.send("/help")).text
    listing = (await admin.send("/schedule")).text
    assert "Lịch: vào ngày 20, 25 hằng tháng, lúc 09:00 (20,25 09:00)" in listing
    assert "Lần chạy tới: 20/11/2026 09:00" in listing
    assert "<b>" not in listing and "/schedule đặt TÊN_VIỆC LỊCH" in listing  # plain text on Zalo

    reply = await admin.send("/schedule set reminders last 17:00")
    assert reply.text == (
        "✅ Đã đổi lịch reminders: chạy vào ngày cuối cùng của tháng, lúc 17:00.\n"
        "Lần chạy tới: 30/11/2026 17:00\nCác lần đã qua không chạy bù."
    )
    assert (await _schedules(world))["reminders"] == ("last 17:00", False, world.clock.now(), admin_id)

    reply = await admin.send("/schedule pause reminders")
    assert "Đã tạm dừng reminders" in reply.text
    assert (await _schedules(world))["reminders"][:2] == ("last 17:00", True)
    runner = world.app.job_runner
    assert runner is not None
    world.clock.current = _vn(30, 17, 1)
    assert "reminders" not in await runner.tick()
    assert await _runs(world, "reminders") == []

    # a job without a time of its own pauses and resumes too
    assert "Đã tạm dừng due_reminders" in (await admin.send("/schedule dừng due_reminders")).text
    assert (await _schedules(world))["due_reminders"][1] is True
    assert "due_reminders" not in await runner.tick()
    reply = await admin.send("/schedule resume due_reminders")
    assert reply.text == "▶️ due_reminders chạy lại, theo thời hạn của từng chủ đề."
    assert (await _schedules(world))["due_reminders"][1] is False

    reply = await admin.send("/schedule resume reminders")
    assert "Lần chạy tới: 31/12/2026 17:00" in reply.text
    assert [action for action, actor, _details in await _audits(world)] == [
        "schedule.set",
        "schedule.pause",
        "schedule.pause",
        "schedule.resume",
        "schedule.resume",
    ]
    assert {actor for _action, actor, _details in await _audits(world)} == {admin_id}


BAD_INPUT = {
    "/schedule đặt reminders 32 09:00": "Không tháng nào có ngày 32: xin ghi ngày từ 1 đến 31",
    "/schedule set reminders 20 25:00": "25:00 không phải là giờ trong ngày",
    "/schedule set reminders fifth monday 08:00": "Không phải tháng nào cũng có thứ đó lần thứ năm",
    "/schedule set reminders thứ hai thứ năm 08:00": "Không phải tháng nào cũng có thứ đó lần thứ năm",
    "/schedule set reminders 20,25": "Thiếu giờ chạy: xin ghi giờ dạng 09:00 hoặc 9h",
    "/schedule set reminders 09:00": "Thiếu ngày chạy",
    "/schedule set reminders mỗi tuần 9h": "Không đọc được lịch “mỗi tuần 9h”",
    "/schedule set reminders": "Xin ghi lịch chạy sau tên việc, ví dụ /schedule set reminders 20,25 09:00.",
    "/schedule set nhac_nho 20 09:00": "Không có việc “nhac_nho”. Các việc gồm: ",
    "/schedule tạm dừng 99": "Không có việc “99”.",
    "/schedule set close_topics 20 09:00": "close_topics không có lịch riêng",
    "/schedule set": "Xin ghi tên việc sau lệnh, ví dụ /schedule set reminders 20,25 09:00.",
    "/schedule tạm dừng": "Xin ghi tên việc sau lệnh, ví dụ /schedule tạm dừng reminders.",
    "/schedule xoá reminders": "Lệnh /schedule không có mục “xoá”.",
}


async def test_bad_input_says_what_is_wrong_and_changes_nothing(world: World) -> None:
    admin = await world.member("telegram", "Quản Trị", unit="TINH", role=Role.ADMIN)
    await admin.send("/schedule pause housekeeping")
    before, audits = await _schedules(world), await _audits(world)
    for typed, reason in BAD_INPUT.items():
        reply = await admin.send(typed)
        assert len(reply.texts) == 1, (typed, reply.texts)
        assert reply.text.startswith("⚠️ ") and reason in reply.text, (typed, reply.text)
        assert UNCHANGED in reply.text, typed
        assert await _schedules(world) == before, typed
        assert await _audits(world) == audits, typed
    # the jobs are named where a job was wrong; the way to write it where the command was
    named = (await admin.send("/schedule set nhac_nho 20 09:00")).text
    assert all(name in named for name in CATALOG)
    assert "/schedule đặt TÊN_VIỆC LỊCH" in (await admin.send("/schedule xoá reminders")).text

    # in the admin's own language
    async with world.sessions() as session:
        person = await world.person(admin)
        assert person is not None
        person.locale = "en"
        session.add(person)
        await session.commit()
    reply = await admin.send("/schedule set reminders 32 09:00")
    assert reply.texts == [
        "⚠️ A month has no day 32: write days from 1 to 31 (31 means the last day of a shorter month). "
        "Nothing was changed."
    ]
    reply = await admin.send("/schedule resume housekeeping")
    assert "▶️ housekeeping runs again.\nNext run: 11/11/2026 03:00" in reply.text
    assert await _schedules(world) != before


async def test_only_administrators_may_use_it_on_both_channels(world: World) -> None:
    refused: list[Persona | ZaloPersona] = []
    for channel in ("telegram", "zalo"):
        for role in (Role.STAFF, Role.LEADER, Role.COLLABORATOR):
            refused.append(await world.member(channel, f"{role.value} {channel}", unit="HUYEN_A", role=role))
    stranger = await world.zalo_person("Người Lạ")
    before, audits = await _schedules(world), await _audits(world)
    for persona in [*refused, stranger]:
        for typed in ("/schedule", "/schedule pause reminders", "/schedule set reminders 1 08:00"):
            reply = await persona.send(typed)
            assert reply.texts == [REFUSAL], (persona.first_name, typed, reply.texts)
        assert "/schedule" not in (await persona.send("/help")).text, persona.first_name
    assert await _schedules(world) == before
    assert await _audits(world) == audits

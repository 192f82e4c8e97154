"""Issue 20, the scheduler's foundation: jobs run once at their time, once after downtime,
never for times before they were set, and admins change them; the clock is injected, so a
month passes in seconds."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import select

from bot.sandbox import SandboxClient, SandboxServer
from storage.models import Inbox, InboxStatus, JobRun, Schedule, Topic, TopicStatus
from tests.e2e.flows import fill_monthly, publish_topic
from tests.e2e.harness import Persona, World, ZaloPersona, drop_database, make_world

NOV_30_NIGHT = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)  # 02:00 on 01/12 in Vietnam


async def _old_handled_update(world: World, update_id: int, days_ago: int) -> None:
    async with world.sessions() as session:
        session.add(
            Inbox(
                update_id=update_id,
                chat_key=1,
                payload="{}",
                status=InboxStatus.DONE,
                received_at=world.clock.now() - timedelta(days=days_ago),
                processed_at=world.clock.now() - timedelta(days=days_ago),
            )
        )
        await session.commit()


async def _updates(world: World) -> set[int]:
    async with world.sessions() as session:
        return {row.update_id for row in (await session.exec(select(Inbox))).all()}


async def test_housekeeping_runs_at_its_time_once_and_after_downtime_once(
    sandbox: SandboxServer, sandbox_client: SandboxClient, tmp_path: Path
) -> None:
    world = await make_world(sandbox_client, sandbox.base_url, tmp_path, now=NOV_30_NIGHT)
    try:
        runner = world.app.job_runner
        assert runner is not None
        await _old_handled_update(world, 9001, days_ago=31)
        media = world.app.settings.media_dir
        media.mkdir(parents=True, exist_ok=True)
        old_chart = media / ("a" * 24 + ".png")
        old_chart.write_bytes(b"png")
        stamp = (world.clock.now() - timedelta(days=8)).timestamp()
        os.utime(old_chart, (stamp, stamp))
        # a new install: the 03:00 of 30/11 had passed before the job existed, so nothing runs
        assert await runner.tick() == []
        assert 9001 in await _updates(world)
        world.clock.advance(timedelta(hours=1))  # 03:00 on 01/12
        assert await runner.tick() == ["housekeeping"]
        assert 9001 not in await _updates(world) and not old_chart.exists()
        assert await runner.tick() == []  # the same time again: nothing
        await _old_handled_update(world, 9002, days_ago=40)
        # down from 02/12 to 05/12: the 03:00s of the 2nd to the 5th passed; one run at start
        world.clock.advance(timedelta(days=4, hours=2))
        assert await runner.tick() == ["housekeeping"]
        assert await runner.tick() == []
        async with world.sessions() as session:
            runs = (await session.exec(select(JobRun).order_by(JobRun.id))).all()
        assert [run.subject for run in runs] == ["2026-11-30T20:00:00+00:00", "2026-12-04T20:00:00+00:00"]
        assert 9002 not in await _updates(world)
    finally:
        await world.app.stop()
        await drop_database(world.app.settings.database_url)


async def test_a_second_process_ticking_at_the_same_time_runs_nothing_twice(world: World) -> None:
    runner = world.app.job_runner
    assert runner is not None
    await runner.tick()  # creates the schedules, from now
    world.clock.advance(timedelta(days=1))
    import asyncio

    from bot.scheduling import JobRunner
    from schedules.jobs import RUNS

    other = JobRunner(context=runner.context, session_factory=world.app.session_factory, runs=RUNS)  # type: ignore[arg-type]
    done = await asyncio.gather(runner.tick(), other.tick(), runner.tick())
    assert sorted(name for names in done for name in names) == ["housekeeping"]


async def test_admins_change_pause_and_resume_a_job(world: World) -> None:
    runner = world.app.job_runner
    assert runner is not None
    state = await runner.set_rule("housekeeping", "ngày 1, 15 lúc 4h")
    assert state.rule.text == "1,15 04:00"
    assert state.next_run == datetime(2026, 11, 14, 21, 0, tzinfo=UTC)  # 04:00 on 15/11 in Vietnam
    paused = await runner.set_paused("housekeeping", True)
    assert paused.paused
    world.clock.advance(timedelta(days=6))
    assert await runner.tick() == []  # paused on the 15th
    await runner.set_paused("housekeeping", False)
    assert await runner.tick() == []  # what passed while paused is not caught up
    async with world.sessions() as session:
        row = (await session.exec(select(Schedule).where(Schedule.job == "housekeeping"))).one()
        assert (row.rule, row.paused) == ("1,15 04:00", False)


def _vn(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A local time in Vietnam (UTC+7), as UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=7)


async def _reminded(persona: Persona | ZaloPersona) -> list[str]:
    if isinstance(persona, ZaloPersona):
        messages = await persona.bot_messages()
    else:
        messages = await persona.world.client.chat_messages(persona.user_id)
    return [str(m.get("text", "")) for m in messages if str(m.get("text", "")).startswith("⏰")]


async def test_reminders_reach_exactly_the_silent_on_both_channels_once(
    world: World, org: dict[str, Persona]
) -> None:
    runner = world.app.job_runner
    assert runner is not None
    zalo = await world.member("zalo", "Lan", unit="HUYEN_A", full_name="Zalo Lan")
    await publish_topic(org["staff"], due="25/11/2026")
    group = world.groups["CTV Huyện Bình Minh"]
    await org["ctv1"].press("📝 Gửi báo cáo", chat_id=group)
    await fill_monthly(org["ctv1"], content="Người dân đồng tình với chủ trương sáp nhập xã.")
    await org["ctv1"].press("✅ Gửi báo cáo")
    await org["ctv2"].press("📝 Gửi báo cáo", chat_id=group)  # starts, and stops at question 3
    await org["ctv2"].press("Kinh tế – đời sống")
    await org["ctv2"].press("✅ Xong")
    await org["ctv2"].press("Có băn khoăn, lo lắng")
    world.clock.current = _vn(20, 9) - timedelta(minutes=1)
    assert await runner.tick() == ["housekeeping"]  # 03:00 that day; no reminder yet
    world.clock.current = _vn(20, 9) + timedelta(minutes=1)
    # (and ctv2's report, untouched for ten days, gets its own reminder: draft_reminders)
    assert await runner.tick() == ["reminders", "draft_reminders"]
    await world.delivered()
    assert await _reminded(org["ctv1"]) == []  # reported
    [first] = await _reminded(org["ctv3"])
    assert first.startswith("⏰ Nhắc việc: chủ đề số 1 “Sáp nhập đơn vị hành chính cấp xã”")
    assert "Hạn báo cáo: 23:59 25/11/2026 (còn 5 ngày)." in first
    assert "Đồng chí chưa gửi báo cáo: bấm nút để gửi." in first
    [stopped] = await _reminded(org["ctv2"])
    assert "Đồng chí đang khai dở báo cáo này, dừng ở câu 3/10: bấm nút để làm tiếp." in stopped
    assert len(await _reminded(org["ctv4"])) == 1  # Huyện Hòa Thuận is a target too
    [on_zalo] = await _reminded(zalo)
    assert "báo cáo 1" in on_zalo  # what to type, where there is no button
    assert await runner.tick() == []  # the same time again: nobody twice
    await world.delivered()
    assert len(await _reminded(org["ctv3"])) == 1

    world.clock.current = _vn(25, 9) + timedelta(minutes=1)
    # within a day of the due time: the due reminder, and not a second one from the 25th's
    done = await runner.tick()
    assert "due_reminders" in done and "reminders" not in done
    await world.delivered()
    assert len(await _reminded(org["ctv3"])) == 2  # the 20th's and this one
    assert "(còn 14 giờ)" in (await _reminded(org["ctv3"]))[-1]
    assert await _reminded(org["ctv1"]) == []


async def test_a_reminder_set_for_the_31st_goes_on_the_30th_of_november(
    world: World, org: dict[str, Persona]
) -> None:
    runner = world.app.job_runner
    assert runner is not None
    await runner.set_rule("reminders", "31 09:00")  # admins: the last day, whatever the month
    await publish_topic(org["staff"], due="05/12/2026")
    world.clock.current = _vn(30, 8, 59)
    assert "reminders" not in await runner.tick()
    world.clock.current = _vn(30, 9)
    assert "reminders" in await runner.tick()  # November has no 31st: its last day
    await world.delivered()
    [reminder] = await _reminded(org["ctv3"])
    assert "Hạn báo cáo: 23:59 05/12/2026 (còn 5 ngày)." in reminder


async def test_the_20th_reminder_is_sent_once_after_the_bot_was_down_from_the_19th_to_the_21st(
    world: World, org: dict[str, Persona]
) -> None:
    await publish_topic(org["staff"], due="25/11/2026")
    world.clock.current = _vn(19, 12)
    await world.app.stop()
    world.clock.current = _vn(21, 10)
    await world.app.start()  # the tick at start catches up the 20th, 09:00
    await world.delivered()
    assert len(await _reminded(org["ctv3"])) == 1
    await world.app.stop()
    await world.app.start()  # a second restart changes nothing
    await world.delivered()
    assert len(await _reminded(org["ctv3"])) == 1


async def test_the_day_before_the_due_time_the_silent_are_reminded_once(
    world: World, org: dict[str, Persona]
) -> None:
    runner = world.app.job_runner
    assert runner is not None
    await publish_topic(org["staff"], due="25/11/2026")  # due 23:59 on 25/11
    group = world.groups["CTV Huyện Bình Minh"]
    await org["ctv1"].press("📝 Gửi báo cáo", chat_id=group)
    await fill_monthly(org["ctv1"], content="Người dân đồng tình với chủ trương sáp nhập xã.")
    await org["ctv1"].press("✅ Gửi báo cáo")
    # 24 hours before is 23:59 on the 24th, at night: it goes at 17:00 that evening instead
    world.clock.current = _vn(24, 16, 59)
    assert "due_reminders" not in await runner.tick()
    world.clock.current = _vn(24, 17)
    assert "due_reminders" in await runner.tick()
    await world.delivered()
    [reminder] = await _reminded(org["ctv3"])
    assert "(còn 1 ngày)" in reminder
    assert await _reminded(org["ctv1"]) == []
    world.clock.current = _vn(25, 12)
    assert "due_reminders" not in await runner.tick()  # once per topic
    await world.delivered()
    assert len(await _reminded(org["ctv3"])) == 1


async def test_a_person_filling_in_a_form_gets_the_reminder_after_it_ends_or_half_an_hour_later(
    world: World, org: dict[str, Persona]
) -> None:
    runner = world.app.job_runner
    assert runner is not None
    await publish_topic(org["staff"], due="30/11/2026")
    world.clock.current = _vn(20, 8, 58)
    await org["ctv3"].send("/report")  # in the middle of an incident report
    await org["ctv3"].send("Tranh chấp đất đai kéo dài tại thôn 3, nhiều hộ kiến nghị")
    await org["ctv4"].send("/report")  # and this one never finishes it
    world.clock.current = _vn(20, 9) + timedelta(minutes=1)
    assert "reminders" in await runner.tick()
    await world.delivered()
    assert len(await _reminded(org["ctv2"])) == 1
    assert await _reminded(org["ctv3"]) == [] and await _reminded(org["ctv4"]) == []
    world.clock.current = _vn(20, 9) + timedelta(minutes=5)
    await org["ctv3"].send("/cancel")  # the form ends
    await runner.tick()
    await world.delivered()
    assert len(await _reminded(org["ctv3"])) == 1 and await _reminded(org["ctv4"]) == []
    world.clock.current = _vn(20, 9) + timedelta(minutes=31)  # half an hour on: no longer held
    await runner.tick()
    await world.delivered()
    assert len(await _reminded(org["ctv4"])) == 1
    for later in (32, 40, 60):
        world.clock.current = _vn(20, 9) + timedelta(minutes=later)
        await runner.tick()
    await world.delivered()
    assert [len(await _reminded(org[name])) for name in ("ctv2", "ctv3", "ctv4")] == [1, 1, 1]


async def test_a_topic_closes_at_its_due_time_its_readers_get_the_summary_and_late_reports_are_marked(
    world: World, org: dict[str, Persona]
) -> None:
    runner = world.app.job_runner
    assert runner is not None
    await org["leader"].send("/help")  # the leader has opened the bot, as leaders have
    await publish_topic(org["staff"], due="25/11/2026")
    group = world.groups["CTV Huyện Bình Minh"]
    await org["ctv1"].press("📝 Gửi báo cáo", chat_id=group)
    await fill_monthly(org["ctv1"], content="Người dân đồng tình với chủ trương sáp nhập xã.")
    await org["ctv1"].press("✅ Gửi báo cáo")
    world.clock.current = _vn(25, 23, 58)
    assert "close_topics" not in await runner.tick()
    world.clock.current = _vn(26, 0, 1)
    assert "close_topics" in await runner.tick()
    await world.delivered()
    async with world.sessions() as session:
        topic = (await session.exec(select(Topic))).one()
        assert topic.status == TopicStatus.CLOSED
    # closed at 23:59: the summaries wait for the morning, 07:00
    assert not any(
        "📕" in str(m.get("text", "")) for m in await world.client.chat_messages(org["leader"].user_id)
    )
    world.clock.current = _vn(26, 6, 59)
    assert "close_topics" not in await runner.tick()
    world.clock.current = _vn(26, 7)
    assert "close_topics" in await runner.tick()
    await world.delivered()
    for reader in ("staff", "leader"):  # both hold their role at the province, a target
        closed = await org[reader].wait_for_text("📕")
        assert closed["text"].startswith("📕 Chủ đề số 1 “Sáp nhập đơn vị hành chính cấp xã” đã đóng")
        assert "Số báo cáo đầy đủ nhận được: 1" in closed["text"]
    assert not any(
        "📕" in str(m.get("text", "")) for m in await world.client.chat_messages(org["ctv2"].user_id)
    )
    assert "close_topics" not in await runner.tick()  # once
    # a report sent after the due time is still taken, and marked late
    await org["ctv2"].press("📝 Gửi báo cáo", chat_id=group)
    await fill_monthly(
        org["ctv2"], content="Bà con mong sớm ổn định bộ máy sau sáp nhập.", urgency="Khẩn cấp"
    )
    reply = await org["ctv2"].press("✅ Gửi báo cáo")
    assert "sau hạn" in reply.text, reply.text
    late = [
        report for report in await world.reports() if report.person_id != (await world.person(org["ctv1"])).id
    ]  # type: ignore[union-attr]
    assert [report.status for report in late] == ["late"]
    # and the leader reading it one by one (an urgent report) sees it was late
    summary = await org["leader"].send("/summary 11/2026")
    assert "Bà con mong sớm ổn định bộ máy sau sáp nhập." in summary.text
    assert "gửi muộn" in summary.text


async def test_a_topic_long_past_due_closes_without_a_summary_storm(
    world: World, org: dict[str, Persona]
) -> None:
    """After long downtime (or on the first start of this version), old topics close quietly."""
    runner = world.app.job_runner
    assert runner is not None
    await org["leader"].send("/help")
    await publish_topic(org["staff"], due="25/11/2026")
    world.clock.current = _vn(28, 10)  # three days after the due time
    assert "close_topics" in await runner.tick()
    await world.delivered()
    async with world.sessions() as session:
        assert (await session.exec(select(Topic))).one().status == TopicStatus.CLOSED
    for reader in ("staff", "leader"):
        texts = [str(m.get("text", "")) for m in await world.client.chat_messages(org[reader].user_id)]
        assert not any(text.startswith("📕") for text in texts)

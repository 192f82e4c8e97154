"""Issue 20, the scheduler's foundation: jobs run once at their time, once after downtime,
never for times before they were set, and admins change them; the clock is injected, so a
month passes in seconds."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import select

from bot.sandbox import SandboxClient, SandboxServer
from storage.models import Inbox, InboxStatus, JobRun, Schedule
from tests.e2e.harness import World, drop_database, make_world

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
        row = (await session.exec(select(Schedule))).one()
        assert (row.rule, row.paused) == ("1,15 04:00", False)

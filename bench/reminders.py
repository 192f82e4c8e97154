"""Reminders: the 20th at 09:00 for 20,000 collaborators in 120 units, 30 % of them silent.

The organisation is seeded in SQLite with the storage helpers: a province and `--units`
units under it, `--collaborators` active collaborators spread over them (each reachable, on
Telegram), an open monthly topic published on the 15th for all units (the province, as the
wizard's "all units" stores it), due at the end of the month, and a report on it from all but
`--silent` of them. The sandbox enforces Telegram's limits (30 messages/s, 1/s per chat, 20/min
per group) × `--speedup`, and answers every Bot API call after `--latency-ms` (not scaled: a
round trip stays a round trip).

The bot offers no setting for its clock, so it runs as its own process through this file
(`--bot`): the real `Application` (sender, pacer, scheduler's `JobRunner`) with the system
clock shifted to the scheduled moment and moving in real time. It starts a minute before
09:00 on the 20th (org time zone) with its own scheduler off, then calls `JobRunner.tick()`
at 09:00 exactly, as APScheduler would.

Figures:
- `queue_seconds`: wall time from that tick to the commit of the `reminders` job's
  transaction (every reminder row in the outbox);
- `rate_ratio`: reminders delivered per second, first to last as the sandbox received them
  ((n − 1) / span), over the global limit (30 × speedup); with a few hundred people the
  window's first-second burst makes this read above 1, so it means something at full size;
- `sent_twice`: people who received more than one reminder (from the sandbox's messages),
  with `lost` (silent people who got none) and `wrongly_reminded` (reporters who got one);
- then the bot is stopped and started again five minutes later (its start-up tick, then the
  next tick): `second_run_queued` rows and `second_run_sent` messages more (both should be 0).

    python bench/reminders.py [--collaborators 20000] [--units 120] [--silent 0.3]
        [--speedup 10] [--latency-ms 100] [--at 2026-12-20T09:00] [--json PATH]

Targets: queued within 10 s, ≥ 0.95 of the limit, nobody reminded twice. With `BENCH_PYSPY=FILE`,
py-spy samples the first bot process from its start to the last reminder delivered (raw
stacks in FILE: the queueing is under `reminders (schedules/jobs.py)`, the sending under
`Sender`); `pip install py-spy`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

THIS_FILE = Path(__file__).resolve()
ROOT = THIS_FILE.parents[1]
sys.path.insert(0, str(ROOT))

from bench.broadcast import _deliveries  # noqa: E402
from bench.flood import _count  # noqa: E402
from bench.inbound import (  # noqa: E402
    TELEGRAM,
    _code_version,
    _our_env,
    _peak_rss_mb,
    _remove_database,
    _spawn,
    _start_sampler,
    _stop,
)
from bot.sandbox import SandboxClient, start_sandbox  # noqa: E402

ORG_TZ = ZoneInfo("Asia/Ho_Chi_Minh")  # the bot's default ORG_TIMEZONE
TITLE = "Chủ đề thử nhắc báo cáo"
GUIDANCE = "Nắm bắt dư luận về chủ đề thử nhắc; báo cáo trước hạn."
REMINDER_ROWS = "SELECT count(*) FROM outbox WHERE dedupe_key LIKE 'remind:%'"
PENDING_REMINDERS = "SELECT count(*) FROM outbox WHERE dedupe_key LIKE 'remind:%' AND status = 'pending'"
PROBE_EVERY = 3.0  # seconds between the /help of people using the bot during the run
RESTART_AFTER = timedelta(minutes=5)  # the second process starts at 09:05, ticks again at 09:06


@dataclass
class Options:
    collaborators: int = 20_000
    units: int = 120
    silent: float = 0.3
    speedup: float = 10.0
    latency_ms: float = 100.0
    at: datetime | None = None  # the scheduled moment (UTC); default: the next 20th, 09:00
    seed: int = 1
    workdir: Path = ROOT / "bench" / "results"


def next_20th(today: date) -> datetime:
    """09:00 on the next 20th (org time zone), as UTC: the first reminder of the month."""
    year, month = today.year, today.month
    if today.day >= 20:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return datetime(year, month, 20, 9, 0, tzinfo=ORG_TZ).astimezone(UTC)


# ---------------------------------------------------------------- the organisation


async def _seed(db_url: str, user_ids: list[int], units: int, silent: set[int], at: datetime) -> None:
    """A province with `units` units, the people spread over them as active collaborators,
    an open topic for all of them published on the 15th, and the reports of those not silent."""
    from bot.clock import end_of_day
    from bot.conversation import FormCatalog
    from storage import people, topics
    from storage.db import create_engine, create_session_factory, upgrade_database
    from storage.models import Person, PersonRole, PersonStatus, Report, Role, Topic, TopicStatus

    engine = create_engine(db_url)
    await upgrade_database(engine)
    factory = create_session_factory(engine)
    local = at.astimezone(ORG_TZ)
    published = datetime(local.year, local.month, 15, 8, 0, tzinfo=ORG_TZ).astimezone(UTC)
    next_month = (local.replace(day=1) + timedelta(days=32)).replace(day=1)
    async with factory() as session:
        forms = FormCatalog()
        await forms.sync_builtin(session)
        province = await people.create_unit(session=session, code="TINH", name="Tỉnh")
        leaves = [
            await people.create_unit(session=session, code=f"DV{n:03d}", name=f"Đơn vị {n}", parent=province)
            for n in range(1, units + 1)
        ]
        persons = [
            Person(
                chat_id=uid,
                full_name=f"CTV {i}",
                status=PersonStatus.ACTIVE,
                unit_id=leaves[i % units].id,
                registered_at=published - timedelta(days=30),
            )
            for i, uid in enumerate(user_ids)
        ]
        await people.add_people(session=session, persons=persons)
        session.add_all(
            [PersonRole(person_id=p.id or 0, role=Role.COLLABORATOR, unit_id=p.unit_id) for p in persons]
        )
        form_id = forms.form_id("monthly_opinion")
        topic = await topics.add_topic(
            session=session,
            topic=Topic(
                title=TITLE,
                guidance=GUIDANCE,
                form_id=form_id,
                period=local.strftime("%Y-%m"),
                due_at=end_of_day(next_month - timedelta(days=1), ORG_TZ),  # the month's last day
                status=TopicStatus.PUBLISHED,
                published_at=published,
                created_at=published,
            ),
            target_unit_ids=[province.id or 0],
        )
        session.add_all(
            [
                Report(
                    person_id=p.id or 0,
                    unit_id=p.unit_id or 0,
                    topic_id=topic.id,
                    form_id=form_id,
                    answers={},
                    period=topic.period,
                    source_update_id=n,
                    submitted_at=published + timedelta(days=2),
                )
                for n, p in enumerate(persons, start=1)
                if p.chat_id not in silent
            ]
        )
        await session.commit()
    await engine.dispose()


# ---------------------------------------------------------------- the bot's process


class ShiftedClock:
    """The system clock moved by `offset`: the bot sees the scheduled day while time runs."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def set(self, moment: datetime) -> None:
        self.offset = moment - datetime.now(UTC)


async def _bot(start_at: datetime, tick_at: datetime, out: Path) -> None:
    """`python -m bot` with a shifted clock: start at `start_at` (its own start-up tick), then
    one tick at `tick_at`; when it ran the `reminders` job, the moment its transaction
    committed. Written to `out` as JSON; then it sends until SIGTERM."""
    from sqlalchemy import event
    from sqlmodel.ext.asyncio.session import AsyncSession

    from bot.app import Application
    from bot.config import get_settings
    from bot.scheduling import JobContext

    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    clock = ShiftedClock(start_at - datetime.now(UTC))
    app = Application(settings=settings, clock=clock)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    try:
        await app.start()
        runner = app.job_runner
        assert runner is not None
        committed: list[float] = []
        job = runner.runs["reminders"]

        async def timed(context: JobContext, session: AsyncSession, occurrence: datetime) -> str:
            outcome = await job(context, session, occurrence)
            event.listen(
                session.sync_session, "after_commit", lambda _s: committed.append(time.time()), once=True
            )
            return outcome

        runner.runs["reminders"] = timed
        clock.set(tick_at)
        started = time.time()
        done = await runner.tick()
        ended = time.time()
        _write(out, {"tick_started": started, "tick_ended": ended, "committed": committed, "jobs": done})
        await stopped.wait()
    finally:
        await app.stop()


# ---------------------------------------------------------------- measuring


def _stamp_events(world: Any) -> None:
    """Each event of the sandbox's log gets the wall time it happened at (`at`)."""
    record = world.record

    def stamped(*args: Any, **kwargs: Any) -> None:
        record(*args, **kwargs)
        world.events[-1]["at"] = time.time()

    world.record = stamped


def _reminders(world: Any, bot_id: int) -> list[dict[str, Any]]:
    return [
        event
        for event in world.events
        if event.get("kind") == "send"
        and event.get("bot_id") == bot_id
        and TITLE in str(event.get("text", ""))
    ]


async def _tick_result(
    out: Path, process: subprocess.Popen[bytes], log: Path, limit: float
) -> dict[str, Any]:
    """What the bot process wrote after its tick (waiting for its start-up and tick)."""
    deadline = time.monotonic() + limit
    while (result := _read(out)) is None:
        if process.poll() is not None:
            raise RuntimeError(f"the bot stopped ({process.returncode}); see {log}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no tick in {limit:.0f} s; see {log}")
        await asyncio.sleep(0.05)
    return result


def _write(path: Path, figures: dict[str, Any]) -> None:
    """Whole or not at all: the benchmark reads the file as soon as it is there."""
    partial = path.with_suffix(".part")
    partial.write_text(json.dumps(figures))
    partial.replace(path)


def _read(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    result: dict[str, Any] = json.loads(path.read_text())
    return result


async def _delivered(world: Any, bot_id: int, db_url: str, expected: int, limit: float) -> None:
    """Until the sandbox has `expected` reminders and no reminder row is pending."""
    deadline = time.monotonic() + limit
    while True:
        # The database only at the end: its reads would share this process with the sandbox.
        if len(_reminders(world, bot_id)) >= expected and not await _count(db_url, PENDING_REMINDERS):
            return
        if time.monotonic() > deadline:
            got = len(_reminders(world, bot_id))
            raise TimeoutError(f"only {got} of {expected} reminders delivered in {limit:.0f} s")
        await asyncio.sleep(0.25)


async def _answer_ms(client: SandboxClient, token: str, user_id: int) -> float:
    """A person's /help and the bot's answer (what someone using the bot meanwhile feels)."""
    started = time.perf_counter()
    result = await client.send_message(token, user_id, "/help")
    await client.wait_events(user_id, result.seq, count=1, wait_seconds=300, kinds=["send"])
    return round((time.perf_counter() - started) * 1000, 1)


async def _probe_while(
    client: SandboxClient, token: str, people: list[int], running: asyncio.Task[None], every: float
) -> list[float]:
    """A /help from the next person every `every` seconds while `running` runs."""
    probes = []
    for user_id in people:
        if running.done():
            break
        probes.append(asyncio.create_task(_answer_ms(client, token, user_id)))
        await asyncio.wait([running], timeout=every)
    return list(await asyncio.gather(*probes))


def _per_second(times: list[float]) -> list[int]:
    """Reminders delivered in each second from the first (where the rate dipped)."""
    counts = [0] * (int(times[-1] - times[0]) + 1) if times else []
    for moment in times:
        counts[int(moment - times[0])] += 1
    return counts


def _bot_process(
    at: datetime, tick_at: datetime, out: Path, env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    out.unlink(missing_ok=True)
    return _spawn(
        [sys.executable, str(THIS_FILE), "--bot", at.isoformat(), tick_at.isoformat(), str(out)], env, log
    )


async def measure(options: Options) -> dict[str, Any]:
    at = options.at or next_20th(datetime.now(ORG_TZ).date())
    workdir = options.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    code = _code_version(ROOT)
    limits = {key: value * options.speedup for key, value in TELEGRAM.items()}
    limit = limits["global_per_second"]
    server = await start_sandbox()
    world = server.world
    client = SandboxClient(server.base_url)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        ours = world.create_bot(username="dlxh_reminders_bot")
        user_ids = [
            world.create_user(f"CTV {n}", started=[ours.token]).id for n in range(options.collaborators)
        ]
        rng = random.Random(options.seed)
        silent = set(rng.sample(user_ids, round(options.collaborators * options.silent)))
        reporters = [uid for uid in user_ids if uid not in silent]
        db_path = workdir / "reminders.db"
        _remove_database(db_path)
        db_url = f"sqlite+aiosqlite:///{db_path}"
        seeding = time.perf_counter()
        await _seed(db_url, user_ids, options.units, silent, at)
        seed_seconds = time.perf_counter() - seeding
        # The sandbox's twenty thousand people live as long as the run: out of the
        # collector's full passes, whose pauses would bunch requests up (as bench/broadcast.py).
        gc.collect()
        gc.freeze()
        world.configure(**limits, latency_ms=options.latency_ms)
        _stamp_events(world)
        env = _our_env(
            ours.token,
            server.base_url,
            db_url,
            GLOBAL_RATE_PER_SECOND=str(limits["global_per_second"]),
            PER_CHAT_RATE_PER_SECOND=str(limits["per_chat_per_second"]),
            PER_GROUP_RATE_PER_MINUTE=str(limits["per_group_per_minute"]),
            DELIVERY_RETRY_SECONDS=str(2.0 / options.speedup),
            SCHEDULER_INTERVAL_SECONDS="0",  # the ticks are this benchmark's
        )
        env["LOG_LEVEL"] = "INFO"  # the jobs say what they queued

        # The 20th, 09:00: the tick, the queueing, the sending.
        first_log = workdir / "reminders-bot.log"
        first_out = workdir / "reminders-tick.json"
        bot = _bot_process(at - timedelta(minutes=1), at, first_out, env, first_log)
        processes.append(bot)
        sampler = _start_sampler(bot.pid, workdir)
        tick = await _tick_result(first_out, bot, first_log, limit=300)
        if not tick["committed"]:
            raise RuntimeError(
                f"the reminders job did not run at {at} (jobs run: {tick['jobs']}); see {first_log}"
            )
        queue_seconds = tick["committed"][0] - tick["tick_started"]
        # While the reminders go out, a reporter asks the bot something every PROBE_EVERY s.
        delivering = asyncio.create_task(
            _delivered(world, ours.id, db_url, len(silent), limit=len(silent) / limit * 5 + 60)
        )
        busy_ms = await _probe_while(client, ours.token, reporters[:-3], delivering, PROBE_EVERY)
        await delivering
        if sampler is not None:
            sampler.send_signal(signal.SIGINT)
            sampler.wait(30)
        await asyncio.sleep(2.0)  # anything sent twice arrives now
        idle_ms = [await _answer_ms(client, ours.token, uid) for uid in reporters[-3:]]
        sent = _reminders(world, ours.id)
        times = sorted(event["at"] for event in sent)
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        rate = (len(times) - 1) / span if span else 0.0
        lost, sent_twice = _deliveries(world, ours.id, sorted(silent), TITLE)
        not_reminded, _ = _deliveries(world, ours.id, reporters, TITLE)
        rows = await _count(db_url, REMINDER_ROWS)
        http_429 = world.stats.http_429
        in_flight = world.stats.max_in_flight.get("sendMessage", 0)
        # When the 429s came, in seconds after the first reminder (the sandbox's clock is monotonic).
        to_wall = time.time() - world.clock()
        http_429_at = (
            [round(moment + to_wall - times[0], 2) for moment in world.stats.http_429_at] if times else []
        )
        http_429_by_scope = dict(world.stats.http_429_by_scope)
        peak_rss = _peak_rss_mb(bot.pid)
        _stop(bot)

        # A restart at 09:05: its start-up tick, and the next one at 09:06.
        second_log = workdir / "reminders-bot-restart.log"
        second_out = workdir / "reminders-tick-restart.json"
        again = _bot_process(
            at + RESTART_AFTER, at + RESTART_AFTER + timedelta(minutes=1), second_out, env, second_log
        )
        processes.append(again)
        second_tick = await _tick_result(second_out, again, second_log, limit=300)
        await asyncio.sleep(3.0)  # what it queued would be sent by now
        second_rows = await _count(db_url, REMINDER_ROWS) - rows
        second_sent = len(_reminders(world, ours.id)) - len(sent)
        _stop(again)
    finally:
        for process in processes:
            _stop(process)
        await client.close()
        await server.close()
    return {
        "code": code,
        "collaborators": options.collaborators,
        "units": options.units,
        "silent": len(silent),
        "channels": ["telegram"],
        "scheduled_at": at.astimezone(ORG_TZ).isoformat(),
        "speedup": options.speedup,
        "latency_ms": options.latency_ms,
        "limit_per_s": limit,
        "seed_seconds": round(seed_seconds, 1),
        "queue_seconds": round(queue_seconds, 3),
        "tick_seconds": round(tick["tick_ended"] - tick["tick_started"], 3),
        "first_delivered_after_tick_s": round(times[0] - tick["tick_started"], 3) if times else None,
        "last_delivered_after_tick_s": round(times[-1] - tick["tick_started"], 3) if times else None,
        "rows_queued": rows,
        "delivered": len(sent),
        "rate_per_s": round(rate, 1),
        "rate_ratio": round(rate / limit, 3),
        "sent_twice": sent_twice,
        "lost": lost,
        "wrongly_reminded": len(reporters) - not_reminded,
        "http_429": http_429,
        "http_429_by_scope": http_429_by_scope,
        "http_429_seconds_after_first": http_429_at,
        "delivered_each_second": _per_second(times),
        "max_sends_in_flight": in_flight,
        "answer_ms_while_reminding": busy_ms,
        "answer_ms_idle": idle_ms,
        "peak_rss_mb": peak_rss,
        "second_run_jobs": second_tick["jobs"],
        "second_run_queued": second_rows,
        "second_run_sent": second_sent,
    }


# ---------------------------------------------------------------- reporting


def targets(figures: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The issue's three targets, each with its figure and whether it is met."""
    return {
        "queue_seconds": {
            "value": figures["queue_seconds"],
            "limit": 10.0,
            "met": figures["queue_seconds"] <= 10.0,
        },
        "rate_ratio": {"value": figures["rate_ratio"], "limit": 0.95, "met": figures["rate_ratio"] >= 0.95},
        "sent_twice": {
            "value": figures["sent_twice"],
            "limit": 0,
            "met": figures["sent_twice"] == 0
            and figures["second_run_queued"] == 0
            and figures["second_run_sent"] == 0,
        },
    }


def summary(figures: dict[str, Any]) -> str:
    judged = targets(figures)

    def verdict(name: str) -> str:
        return "MET" if judged[name]["met"] else "MISSED"

    return "\n".join(
        [
            f"code: {figures['code']}; {figures['collaborators']} collaborators in {figures['units']} units,"
            f" {figures['silent']} silent; the tick at {figures['scheduled_at']}",
            f"queued: {figures['rows_queued']} reminder rows committed {figures['queue_seconds']} s after the"
            f" tick (target ≤ 10 s: {verdict('queue_seconds')}); first delivered after"
            f" {figures['first_delivered_after_tick_s']} s, last after {figures['last_delivered_after_tick_s']} s",
            f"delivered: {figures['delivered']} at {figures['rate_per_s']}/s = {figures['rate_ratio']} of the limit"
            f" {figures['limit_per_s']:g}/s (speedup {figures['speedup']:g}, latency {figures['latency_ms']:g} ms;"
            f" target ≥ 0.95: {verdict('rate_ratio')}); {figures['http_429']} × 429",
            f"a /help answered in {figures['answer_ms_while_reminding']} ms while reminding,"
            f" {figures['answer_ms_idle']} ms after; at most {figures['max_sends_in_flight']} sends in flight",
            f"sent twice: {figures['sent_twice']}, lost: {figures['lost']}, reporters reminded:"
            f" {figures['wrongly_reminded']}; after a restart: {figures['second_run_queued']} rows queued,"
            f" {figures['second_run_sent']} sent (target: nobody twice: {verdict('sent_twice')})",
        ]
    )


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1; got {text!r}")
    return value


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number, 1 or more; got {text!r}")
    return value


def _moment(text: str) -> datetime:
    """A local time in the org time zone (or with its own offset), as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"expected a date and time like 2026-12-20T09:00; got {text!r}"
        ) from error
    return (moment if moment.tzinfo else moment.replace(tzinfo=ORG_TZ)).astimezone(UTC)


def main(
    argv: list[str] | None = None, runner: Callable[[Options], Coroutine[Any, Any, dict[str, Any]]] = measure
) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--collaborators", type=_at_least_one, default=20_000)
    parser.add_argument("--units", type=_at_least_one, default=120)
    parser.add_argument("--silent", type=_share, default=0.3, help="share who have not reported (0.3)")
    parser.add_argument("--speedup", type=float, default=10.0, help="multiply every Telegram limit by K")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="Bot API latency (default 100 ms)")
    parser.add_argument(
        "--at", type=_moment, default=None, help="the reminders' time (default: the next 20th 09:00)"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    options = Options(
        collaborators=args.collaborators,
        units=args.units,
        silent=args.silent,
        speedup=args.speedup,
        latency_ms=args.latency_ms,
        at=args.at,
        workdir=args.workdir,
    )
    figures = asyncio.run(runner(options))
    figures["targets"] = targets(figures)
    print(json.dumps(figures, ensure_ascii=False, indent=2))
    print(f"\n{summary(figures)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=2))
    return figures


if __name__ == "__main__":
    if sys.argv[1:2] == ["--bot"]:
        asyncio.run(
            _bot(datetime.fromisoformat(sys.argv[2]), datetime.fromisoformat(sys.argv[3]), Path(sys.argv[4]))
        )
    else:
        main()

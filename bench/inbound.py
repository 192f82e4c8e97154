"""Inbound: what collaborators feel at a busy province's rate, and what the bot can carry.

The sandbox and the simulated people run in this process; every bot runs as its own
process (ours as `python -m bot`, as in production). Three parts, one run:

1. Offered rate (Telegram's limits on in the sandbox — 30 messages/s, 1 per chat per
   second, 20 per group per minute — and `--latency-ms` on every Bot API call): N
   collaborators fill `monthly_opinion` (15 updates each). Open loop: a scheduler starts
   one action every 1/rate seconds, evenly spaced, whatever the bot is doing. Each action
   comes from a person picked at random (seeded) among those whose previous action has
   been answered and who have had `--think-ms` (1 s) to read it (a person never has two
   actions outstanding); when nobody is ready the tick is skipped and counted. Random, not
   round-robin: round-robin keeps everyone on the same question, so for a whole round
   every action would be the typed answer. Latency is from the person's action (the
   control call that creates the update; control calls have no latency) to the bot's
   answer appearing in that chat: p50 and p99 (and each step's, with every sample in
   offered-latencies-*.csv in the workdir).
2. Burst (same settings): 20 fresh collaborators send /report at the same moment;
   the time from the first send to the last person's first question. Repeated, median.
3. Capacity (limits off, no latency, the bot's own pacing lifted): every person at once,
   closed loop, for our bot, the bare aiogram echo bot (bench/echo_bot.py) and the usual
   aiogram + SQLAlchemy template with a session per update (bench/template_bot.py):
   updates/s and each bot process's CPU per update (/proc/<pid>/stat).

    python bench/inbound.py [--users 500] [--rate 25] [--latency-ms 100] [--think-ms 1000]
        [--bursts 5] [--updates-limit N] [--database sqlite|postgres] [--postgres-url URL]
        [--bot-root PATH] [--runs 1] [--json PATH]

Targets: p99 ≤ 3 × latency + 100 ms at the offered rate; burst ≤ 3 × latency; our CPU per
update at most 2 × the template bot's.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

THIS_FILE = Path(__file__).resolve()
ROOT = THIS_FILE.parents[1]
# The code that seeds a database must be the code of the bot that will open it (an older
# checkout has older migrations): `--bot-root` runs the seeding here with this variable set.
CODE_ROOT = Path(os.environ.get("BENCH_CODE_ROOT") or ROOT).resolve()
sys.path.insert(0, str(ROOT))
if CODE_ROOT != ROOT:
    sys.path.insert(0, str(CODE_ROOT))

from bot.sandbox import SandboxClient, start_sandbox  # noqa: E402
from bot.sandbox.client import ActionResult  # noqa: E402

CONTENT = "Người dân đồng tình với chủ trương, mong sớm có hướng dẫn thủ tục cụ thể."
# (action, argument, event kinds that answer it): the monthly_opinion form, 15 updates.
SCRIPT: list[tuple[str, str, list[str]]] = [
    ("text", "/start report_1", ["send"]),
    ("press", "Kinh tế – đời sống", ["edit"]),
    ("press", "✅ Xong", ["edit"]),
    ("press", "Ổn định, phấn khởi", ["edit"]),
    ("press", "Đồng tình", ["edit"]),
    ("text", CONTENT, ["send"]),
    ("press", "Nông dân", ["edit"]),
    ("press", "✅ Xong", ["edit"]),
    ("press", "Xã, phường, đặc khu", ["edit"]),
    ("press", "Trao đổi trực tiếp", ["edit"]),
    ("press", "✅ Xong", ["edit"]),
    ("press", "Bình thường", ["edit"]),
    ("press", "⏭ Bỏ qua", ["edit"]),
    ("press", "⏭ Bỏ qua", ["edit"]),
    ("press", "✅ Gửi báo cáo", ["edit"]),
]
# What the template and echo bots get: texts, as many per person as the form has updates.
TEXTS: list[tuple[str, str, list[str]]] = [("text", f"tin nhắn {n}", ["send"]) for n in range(len(SCRIPT))]
# Telegram's limits, set in the sandbox and in our bot for the offered-rate and burst runs.
TELEGRAM = {"global_per_second": 30.0, "per_chat_per_second": 1.0, "per_group_per_minute": 20.0}
NO_LIMITS: dict[str, float | None] = {key: None for key in TELEGRAM}
BURST_SIZE = 20
Step = tuple[str, str, list[str]]


@dataclass
class Options:
    users: int = 500
    rate: float = 25.0
    latency_ms: float = 100.0
    think_ms: float = 1000.0
    bursts: int = 5
    updates_limit: int | None = None
    database: str = "sqlite"
    postgres_url: str | None = None
    bot_root: Path = ROOT
    workdir: Path = ROOT / "bench" / "results"


@dataclass
class Run:
    latencies_ms: list[float] = field(default_factory=list)
    updates: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # Open loop only: actions started, ticks with nobody ready, the span of the starts.
    started: int = 0
    skipped_ticks: int = 0
    start_span: float = 0.0
    completed_forms: int = 0
    # (seconds from the start, step index, ms) of each answered action: written as CSV.
    samples: list[tuple[float, int, float]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.updates / self.seconds if self.seconds else 0.0

    @property
    def offered_rate(self) -> float:
        return (self.started - 1) / self.start_span if self.started > 1 and self.start_span else 0.0


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


# ---------------------------------------------------------------- databases


async def _seed(db_url: str, user_ids: list[int]) -> None:
    """A province, the people as active collaborators in it, a published monthly topic."""
    from bot.conversation import FormCatalog
    from storage import people
    from storage.db import create_engine, create_session_factory, upgrade_database
    from storage.models import Person, PersonRole, PersonStatus, Role, Topic, TopicStatus, TopicTarget

    engine = create_engine(db_url)
    await upgrade_database(engine)
    factory = create_session_factory(engine)
    async with factory() as session:
        forms = FormCatalog()
        await forms.sync_builtin(session)
        province = await people.create_unit(session=session, code="TINH", name="Tỉnh")
        now = datetime.now(UTC)
        persons = [
            Person(chat_id=uid, full_name=f"CTV {i}", status=PersonStatus.ACTIVE, unit_id=province.id)
            for i, uid in enumerate(user_ids)
        ]
        await people.add_people(session=session, persons=persons)
        session.add_all(
            [PersonRole(person_id=p.id or 0, role=Role.COLLABORATOR, unit_id=province.id) for p in persons]
        )
        topic = Topic(
            title="Chủ đề thử tải",
            guidance="Nắm bắt dư luận về chủ đề thử tải.",
            form_id=forms.form_id("monthly_opinion"),
            period=now.strftime("%Y-%m"),
            due_at=now + timedelta(days=7),
            status=TopicStatus.PUBLISHED,
            published_at=now,
        )
        session.add(topic)
        await session.flush()
        session.add(TopicTarget(topic_id=topic.id or 0, unit_id=province.id or 0))
        await session.commit()
    await engine.dispose()


async def _seed_with(bot_root: Path, db_url: str, user_ids: list[int], log: Path) -> None:
    """Seed with the code under `bot_root` (its migrations, its models), in a subprocess."""
    env = _clean_env()
    env["BENCH_CODE_ROOT"] = str(bot_root)
    ids = log.with_suffix(".ids")
    ids.write_text(",".join(str(uid) for uid in user_ids))
    with log.open("wb") as handle:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(THIS_FILE),
            "--seed",
            db_url,
            str(ids),
            cwd=bot_root,
            env=env,
            stdout=handle,
            stderr=handle,
        )
        code = await process.wait()
    if code != 0:
        raise RuntimeError(f"seeding {db_url} failed ({code}); see {log}")


class Databases:
    """A fresh database per bot: a SQLite file in the workdir, or a new PostgreSQL database
    (created with AUTOCOMMIT, dropped at the end)."""

    def __init__(self, options: Options) -> None:
        self.kind = options.database
        self.admin_url = options.postgres_url
        self.workdir = options.workdir
        self.tag = uuid.uuid4().hex[:8]
        self.created: list[str] = []

    async def fresh(self, label: str) -> str:
        if self.kind == "sqlite":
            path = self.workdir / f"bench-{label}.db"
            _remove_database(path)
            return f"sqlite+aiosqlite:///{path}"
        from storage.db import create_database

        assert self.admin_url, "PostgreSQL needs an admin URL"
        url = await create_database(self.admin_url, f"dlxh_bench_{self.tag}_{label}")
        self.created.append(url)
        return url

    async def drop_all(self) -> None:
        from storage.db import drop_database

        for url in self.created:
            try:
                await drop_database(url)
            except Exception as error:  # the figures matter more than the cleanup
                print(f"could not drop {url}: {error}", file=sys.stderr)
        self.created.clear()


async def _count_reports(db_url: str) -> int:
    """Plain SQL, so an older checkout's database is counted the same way."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text("SELECT count(*) FROM report"))).scalar_one())
    finally:
        await engine.dispose()


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


# ---------------------------------------------------------------- processes


def _clean_env() -> dict[str, str]:
    """This environment without what would point a bot elsewhere (or at other code)."""
    prefixes = ("BOT_", "DATABASE_", "TELEGRAM_", "GLOBAL_RATE", "PER_CHAT_RATE", "PER_GROUP_RATE")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes) and k != "PYTHONPATH"}


def _spawn(args: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(args, cwd=cwd, env=env, stdout=handle, stderr=handle)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _cpu_seconds(pid: int, *, system_only: bool = False) -> float:
    """User + system CPU of a process (Linux): steadier than rates on a shared machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[12]) if system_only else int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _start_sampler(pid: int, workdir: Path) -> subprocess.Popen[bytes] | None:
    """With BENCH_PYSPY=FILE, py-spy samples our bot (GIL holder only, without pausing it)
    during the capacity run and writes its raw stacks to FILE (`pip install py-spy`)."""
    output = os.environ.get("BENCH_PYSPY")
    if not output:
        return None
    command = ["py-spy", "record", "--pid", str(pid), "--rate", "100", "--gil", "--nonblocking"]
    return _spawn([*command, "--format", "raw", "--output", output], dict(os.environ), workdir / "py-spy.log")


def _our_env(token: str, api_url: str, db_url: str, **settings: str) -> dict[str, str]:
    """Our bot's environment: `[sys.executable, "-m", "bot"]` runs with it."""
    env = _clean_env()
    env.update(
        BOT_TOKEN=token,
        TELEGRAM_API_URL=api_url,
        DATABASE_URL=db_url,
        LOG_LEVEL="WARNING",
        POLLING_TIMEOUT="10",
        **settings,
    )
    return env


# ---------------------------------------------------------------- people


async def _act(
    client: SandboxClient, token: str, user_id: int, message_id: int, step: Step
) -> tuple[float, int]:
    """One action and its answer: (milliseconds, the message the answer is in)."""
    kind, argument, answer_kinds = step
    started = time.perf_counter()
    if kind == "text":
        result: ActionResult = await client.send_message(token, user_id, argument)
    else:
        result = await client.press_button(token, user_id, user_id, message_id, argument)
    after = result.seq
    while True:
        [event] = await client.wait_events(user_id, after, count=1, wait_seconds=60, kinds=answer_kinds)
        if not event.get("buttons_only"):  # an earlier question's buttons taken away: not the answer
            return (time.perf_counter() - started) * 1000, int(event["message_id"])
        after = int(event["seq"])


async def _person(client: SandboxClient, token: str, user_id: int, steps: list[Step], run: Run) -> None:
    message_id = 0
    for step in steps:
        try:
            elapsed, message_id = await _act(client, token, user_id, message_id, step)
        except (TimeoutError, aiohttp.ClientError, RuntimeError) as error:
            run.errors.append(f"user {user_id} at {step[1]!r}: {error}")
            return
        run.latencies_ms.append(elapsed)
        run.updates += 1


async def _closed_loop(client: SandboxClient, token: str, user_ids: list[int], steps: list[Step]) -> Run:
    """Everyone at once, each person's next action as soon as the last is answered."""
    run = Run()
    started = time.perf_counter()
    await asyncio.gather(*[_person(client, token, uid, steps, run) for uid in user_ids])
    run.seconds = time.perf_counter() - started
    return run


async def _open_loop(
    client: SandboxClient,
    token: str,
    user_ids: list[int],
    steps: list[Step],
    rate: float,
    limit: int | None,
    think_seconds: float = 1.0,
    seed: int = 1,
) -> Run:
    """One action every 1/rate seconds (evenly spaced, on an absolute schedule: a late tick
    fires at once and the next keeps its own time), from a person picked at random among
    the ready ones — answered, and `think_seconds` spent reading the answer; a tick with
    nobody ready is skipped and counted."""
    run = Run()
    total = len(user_ids) * len(steps)
    if limit is not None:
        total = min(total, limit)
    rng = random.Random(seed)
    ready: list[tuple[int, int, int]] = [(uid, 0, 0) for uid in user_ids]  # (person, step, message)
    reading: list[tuple[float, int, int, int]] = []  # heap: (ready at, person, step, message)
    outstanding: set[asyncio.Task[None]] = set()

    async def action(user_id: int, index: int, message_id: int) -> None:
        at = loop.time() - began
        try:
            elapsed, message_id = await _act(client, token, user_id, message_id, steps[index])
        except (TimeoutError, aiohttp.ClientError, RuntimeError) as error:
            run.errors.append(f"user {user_id} at {steps[index][1]!r}: {error}")
            return  # this person stops, as one would whose answer never came
        run.latencies_ms.append(elapsed)
        run.samples.append((round(at, 3), index, round(elapsed, 1)))
        run.updates += 1
        if index + 1 < len(steps):
            heapq.heappush(reading, (loop.time() + think_seconds, user_id, index + 1, message_id))
        else:
            run.completed_forms += 1

    loop = asyncio.get_running_loop()
    interval = 1.0 / rate
    began = loop.time()
    first = last = began
    tick = 0
    while run.started < total:
        delay = began + tick * interval - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tick += 1
        now = loop.time()
        while reading and reading[0][0] <= now:
            ready.append(heapq.heappop(reading)[1:])
        if not ready:
            if not outstanding and not reading:
                break  # everyone left has failed
            run.skipped_ticks += 1
            continue
        pick = rng.randrange(len(ready))
        ready[pick], ready[-1] = ready[-1], ready[pick]
        user_id, index, message_id = ready.pop()
        last = loop.time()
        if run.started == 0:
            first = last
        run.started += 1
        task = asyncio.create_task(action(user_id, index, message_id))
        outstanding.add(task)
        task.add_done_callback(outstanding.discard)
    await asyncio.gather(*outstanding)
    run.start_span = last - first
    run.seconds = loop.time() - began
    return run


async def _burst(client: SandboxClient, token: str, user_ids: list[int], answers: list[str]) -> float:
    """Everyone sends /report at once: ms from the first send to the last first question
    (each person's first message from the bot; its text goes to `answers`)."""

    async def one(user_id: int) -> float:
        result = await client.send_message(token, user_id, "/report")
        events = await client.wait_events(user_id, result.seq, count=1, wait_seconds=60, kinds=["send"])
        answered = time.perf_counter()
        answers.append(str(events[0].get("text") or ""))
        return answered

    started = time.perf_counter()
    answered = await asyncio.gather(*(one(uid) for uid in user_ids))
    return (max(answered) - started) * 1000


async def _wait_quiet(client: SandboxClient, *, quiet_seconds: float, limit: float = 120.0) -> None:
    """Until the bots have made no Bot API call (but polling) for `quiet_seconds`."""

    def calls(stats: dict[str, Any]) -> int:
        return sum(count for method, count in stats["calls"].items() if method.lower() != "getupdates")

    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    last, since = calls(await client.stats()), loop.time()
    while loop.time() - since < quiet_seconds and loop.time() < deadline:
        await asyncio.sleep(0.1)
        now_calls = calls(await client.stats())
        if now_calls != last:
            last, since = now_calls, loop.time()


async def _wait_ready(client: SandboxClient, token: str, user_id: int, text: str) -> None:
    """Wait until a bot process answers (it is starting up: imports, migrations)."""
    result = await client.send_message(token, user_id, text)
    await client.wait_events(user_id, result.seq, count=1, wait_seconds=120, kinds=["send"])


async def _users(client: SandboxClient, prefix: str, count: int) -> list[int]:
    return [(await client.create_user(first_name=f"{prefix}{i}")).id for i in range(count)]


# ---------------------------------------------------------------- the three parts


async def _offered_and_bursts(
    client: SandboxClient, api_url: str, databases: Databases, options: Options
) -> dict[str, Any]:
    info = await client.create_bot(username="bench_offered_bot")
    people = await _users(client, "U", options.users)
    spare = (await client.create_user(first_name="Ready")).id
    bursters = [await _users(client, f"B{n}-", BURST_SIZE) for n in range(options.bursts)]
    db_url = await databases.fresh("offered")
    await _seed_with(
        options.bot_root,
        db_url,
        [*people, spare, *(uid for group in bursters for uid in group)],
        options.workdir / "seed-offered.log",
    )
    await client.configure(**TELEGRAM, latency_ms=options.latency_ms)
    env = _our_env(
        info.token,
        api_url,
        db_url,
        GLOBAL_RATE_PER_SECOND=str(TELEGRAM["global_per_second"]),
        PER_CHAT_RATE_PER_SECOND=str(TELEGRAM["per_chat_per_second"]),
        PER_GROUP_RATE_PER_MINUTE=str(TELEGRAM["per_group_per_minute"]),
    )
    process = _spawn(
        [sys.executable, "-m", "bot"], env, options.workdir / "bot-offered.log", options.bot_root
    )
    try:
        await _wait_ready(client, info.token, spare, "/help")
        await asyncio.sleep(1.5)  # the readiness answer leaves the rate windows
        await client.reset_stats()
        cpu_before = _cpu_seconds(process.pid)
        run = await _open_loop(
            client, info.token, people, SCRIPT, options.rate, options.updates_limit, options.think_ms / 1000
        )
        bot_cpu = _cpu_seconds(process.pid) - cpu_before
        stats = await client.stats()
        lines = ["seconds,step,ms", *(f"{at},{index},{ms}" for at, index, ms in run.samples)]
        other_root = "" if options.bot_root == ROOT else f"-{options.bot_root.name}"
        csv = options.workdir / f"offered-latencies-{options.database}{other_root}.csv"
        csv.write_text("\n".join(lines) + "\n")
        await client.reset_stats()
        bursts_ms: list[float] = []
        burst_errors: list[str] = []
        answers: list[str] = []
        for group in bursters:
            # Every window empty again, so each burst starts alike: the bot has made no call
            # for 1.5 s (after the offered run it still takes answered questions' buttons
            # away, at the pace the limits leave).
            await _wait_quiet(client, quiet_seconds=1.5)
            try:
                bursts_ms.append(round(await _burst(client, info.token, group, answers), 1))
            except (TimeoutError, aiohttp.ClientError, RuntimeError) as error:
                burst_errors.append(f"burst: {error}")
        burst_stats = await client.stats()
    finally:
        _stop(process)
        await client.configure(**NO_LIMITS, latency_ms=0)
    reports = await _count_reports(db_url)
    return {
        "offered_rate_per_s": round(run.offered_rate, 2),
        "offered_actions": run.started,
        "updates": run.updates,
        "offered_seconds": round(run.seconds, 1),
        "skipped_ticks": run.skipped_ticks,
        "p50_ms": _median(run.latencies_ms),
        "p90_ms": round(_percentile(run.latencies_ms, 0.90), 1),
        "p99_ms": round(_percentile(run.latencies_ms, 0.99), 1),
        "max_ms": round(max(run.latencies_ms), 1) if run.latencies_ms else None,
        "latency_by_step_ms": _by_step(run, SCRIPT),
        "errors": len(run.errors),
        "error_samples": run.errors[:5] + burst_errors[:5],
        "http_429": stats["http_429"],
        "http_429_by_scope": stats["http_429_by_scope"],
        "bot_api_calls": stats["calls"],
        "burst_http_429": burst_stats["http_429"],
        "offered_cpu_ms_per_update": round(bot_cpu * 1000 / run.updates, 2) if run.updates else None,
        "offered_bot_cpu_share": round(bot_cpu / run.seconds, 3) if run.seconds else None,
        "reports_stored": reports,
        "forms_completed": run.completed_forms,
        "burst_20_report_ms": _median(bursts_ms),
        "burst_20_report_runs_ms": bursts_ms,
        "burst_max_in_flight_send": burst_stats["max_in_flight"].get("sendMessage", 0),
        # What the first answers said (the first question, as expected?), by opening words.
        "burst_first_answers": dict(Counter(text.split(".")[0][:40] for text in answers)),
    }


def _by_step(run: Run, steps: list[Step]) -> dict[str, list[float | None]]:
    """[p50, p99] of each step of the form, keyed "index argument" (which answers are slow)."""
    latencies: dict[int, list[float]] = {}
    for _at, index, ms in run.samples:
        latencies.setdefault(index, []).append(ms)
    return {
        f"{index} {steps[index][1][:24]}": [_median(values), round(_percentile(values, 0.99), 1)]
        for index, values in sorted(latencies.items())
    }


async def _capacity(
    client: SandboxClient, process: subprocess.Popen[bytes], token: str, people: list[int], steps: list[Step]
) -> tuple[Run, dict[str, float]]:
    pid = process.pid
    cpu_before, system_before = _cpu_seconds(pid), _cpu_seconds(pid, system_only=True)
    driver_before = time.process_time()
    run = await _closed_loop(client, token, people, steps)
    cpu = _cpu_seconds(pid) - cpu_before
    system = _cpu_seconds(pid, system_only=True) - system_before
    driver = time.process_time() - driver_before
    per = 1000 / run.updates if run.updates else 0.0
    return run, {
        "updates_per_s": round(run.rate, 1),
        "cpu_ms_per_update": round(cpu * per, 3),
        "system_cpu_ms_per_update": round(system * per, 3),
        # This process (sandbox and people): near 1.0 it, not the bot, caps the rate.
        "driver_cpu_share": round(driver / run.seconds, 2) if run.seconds else 0.0,
        "peak_rss_mb": _peak_rss_mb(pid),
    }


async def _capacity_runs(
    client: SandboxClient, api_url: str, databases: Databases, options: Options
) -> dict[str, Any]:
    workdir = options.workdir
    errors: list[str] = []

    # Ours.
    info = await client.create_bot(username="bench_capacity_bot")
    people = await _users(client, "C", options.users)
    spare = (await client.create_user(first_name="Ready")).id
    db_url = await databases.fresh("capacity")
    await _seed_with(options.bot_root, db_url, [*people, spare], workdir / "seed-capacity.log")
    # No limits in the sandbox: the bot's own pacing is lifted too, so the figure is its
    # processing capacity (bench/broadcast.py measures pacing).
    env = _our_env(info.token, api_url, db_url, GLOBAL_RATE_PER_SECOND="100000")
    profile = ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]] if os.environ.get("BENCH_PROFILE") else []
    process = _spawn(
        [sys.executable, *profile, "-m", "bot"], env, workdir / "bot-capacity.log", options.bot_root
    )
    try:
        await _wait_ready(client, info.token, spare, "/help")
        sampler = _start_sampler(process.pid, workdir)
        ours_run, ours = await _capacity(client, process, info.token, people, SCRIPT)
        if sampler is not None:
            sampler.send_signal(signal.SIGINT)
            sampler.wait(30)
    finally:
        _stop(process)
    errors += ours_run.errors[:5]
    reports = await _count_reports(db_url)

    # The usual template: a session per update, one row written, one answer.
    template = await client.create_bot(username="template_bot")
    template_people = await _users(client, "T", options.users + 1)
    template_db = await databases.fresh("template")
    process = _spawn(
        [sys.executable, str(ROOT / "bench" / "template_bot.py"), template.token, api_url, template_db],
        _clean_env(),
        workdir / "template.log",
    )
    try:
        await _wait_ready(client, template.token, template_people[-1], "ping")
        template_run, template_figures = await _capacity(
            client, process, template.token, template_people[:-1], TEXTS
        )
    finally:
        _stop(process)
    errors += template_run.errors[:5]

    # The floor: aiogram alone, no database.
    echo = await client.create_bot(username="echo_bot")
    echo_people = await _users(client, "E", options.users + 1)
    process = _spawn(
        [sys.executable, str(ROOT / "bench" / "echo_bot.py"), echo.token, api_url],
        _clean_env(),
        workdir / "echo.log",
    )
    try:
        await _wait_ready(client, echo.token, echo_people[-1], "ping")
        echo_run, echo_figures = await _capacity(client, process, echo.token, echo_people[:-1], TEXTS)
    finally:
        _stop(process)
    errors += echo_run.errors[:5]

    def ratio(a: float, b: float) -> float | None:
        return round(a / b, 3) if a and b else None

    return {
        "capacity_updates_per_s": ours["updates_per_s"],
        "capacity_updates": ours_run.updates,
        "cpu_ms_per_update": ours["cpu_ms_per_update"],
        "system_cpu_ms_per_update": ours["system_cpu_ms_per_update"],
        "peak_rss_mb": ours["peak_rss_mb"],
        "driver_cpu_share": ours["driver_cpu_share"],
        "capacity_reports_stored": reports,
        "template_updates_per_s": template_figures["updates_per_s"],
        "template_cpu_ms_per_update": template_figures["cpu_ms_per_update"],
        "template_driver_cpu_share": template_figures["driver_cpu_share"],
        "echo_updates_per_s": echo_figures["updates_per_s"],
        "echo_cpu_ms_per_update": echo_figures["cpu_ms_per_update"],
        "echo_driver_cpu_share": echo_figures["driver_cpu_share"],
        "cpu_ratio_to_template": ratio(ours["cpu_ms_per_update"], template_figures["cpu_ms_per_update"]),
        "cpu_ratio_to_echo": ratio(ours["cpu_ms_per_update"], echo_figures["cpu_ms_per_update"]),
        "capacity_errors": len(ours_run.errors) + len(template_run.errors) + len(echo_run.errors),
        "capacity_error_samples": errors[:10],
    }


def _code_version(root: Path) -> str:
    """The commit of a checkout, marked "+changes" when its code differs from it (the code
    can change under a long run: the figures are of what was there)."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "bot", "storage", "handlers"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+changes" if changed else "")


async def measure(options: Options) -> dict[str, Any]:
    options.workdir.mkdir(parents=True, exist_ok=True)
    code_at_start = _code_version(options.bot_root)
    sandbox_code = _code_version(ROOT)  # this process's sandbox, imported just before
    server = await start_sandbox()
    connector = aiohttp.TCPConnector(limit=0)
    session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=180))
    client = SandboxClient(server.base_url, session=session)
    databases = Databases(options)
    try:
        offered = await _offered_and_bursts(client, server.base_url, databases, options)
        capacity = await _capacity_runs(client, server.base_url, databases, options)
    finally:
        await client.close()
        await session.close()
        await server.close()
        await databases.drop_all()
    return {
        "database": options.database,
        "bot_root": str(options.bot_root),
        "code": code_at_start
        if code_at_start == (now := _code_version(options.bot_root))
        else f"{code_at_start} → {now}",
        "sandbox_code": sandbox_code,
        "users": options.users,
        "rate": options.rate,
        "arrivals": "evenly spaced; a random ready person",
        "latency_ms": options.latency_ms,
        "think_ms": options.think_ms,
        **offered,
        **capacity,
    }


# ---------------------------------------------------------------- reporting

MEDIAN_KEYS = (
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "offered_rate_per_s",
    "offered_cpu_ms_per_update",
    "burst_20_report_ms",
    "capacity_updates_per_s",
    "cpu_ms_per_update",
    "system_cpu_ms_per_update",
    "template_updates_per_s",
    "template_cpu_ms_per_update",
    "echo_updates_per_s",
    "echo_cpu_ms_per_update",
    "cpu_ratio_to_template",
    "cpu_ratio_to_echo",
)
SUM_KEYS = ("skipped_ticks", "errors", "http_429", "capacity_errors")


def targets(figures: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target: its limit, the figure and whether it is met (None: not measured)."""
    latency = float(figures["latency_ms"])

    def check(value: float | None, limit: float) -> dict[str, Any]:
        return {"value": value, "limit": limit, "met": None if value is None else value <= limit}

    return {
        "p99_ms": check(figures.get("p99_ms"), 3 * latency + 100),
        "burst_20_report_ms": check(figures.get("burst_20_report_ms"), 3 * latency),
        "cpu_ratio_to_template": check(figures.get("cpu_ratio_to_template"), 2.0),
    }


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs in a row: the last run's figures, the median of each latency, rate and
    ratio (each ratio taken within its own run), the sums of the counts, and every run
    under `runs`."""
    if len(runs) == 1:
        return dict(runs[0])
    combined = {**runs[-1], "runs": runs}
    for key in MEDIAN_KEYS:
        values = [run[key] for run in runs if run.get(key) is not None]
        combined[key] = round(statistics.median(values), 3) if values else None
    for key in SUM_KEYS:
        combined[key] = sum(run.get(key) or 0 for run in runs)
    for key in ("reports_stored", "forms_completed", "capacity_reports_stored"):
        combined[key] = min(run[key] for run in runs)  # the worst run
    combined["error_samples"] = [error for run in runs for error in run.get("error_samples", [])][:10]
    return combined


def _slowest(by_step: dict[str, list[float | None]]) -> str:
    if not by_step:
        return "—"
    step, (p50, p99) = max(by_step.items(), key=lambda item: item[1][0] or 0.0)
    return f"{step!r}: p50 {p50} ms, p99 {p99} ms"


def _verdict(target: dict[str, Any]) -> str:
    if target["met"] is None:
        return "not measured"
    return "MET" if target["met"] else "MISSED"


def summary(figures: dict[str, Any]) -> str:
    judged = targets(figures)
    latency = figures["latency_ms"]
    p99, burst, cpu = judged["p99_ms"], judged["burst_20_report_ms"], judged["cpu_ratio_to_template"]
    return "\n".join(
        [
            f"code: {figures.get('code')} ({figures.get('bot_root')})",
            f"offered rate ({figures['database']}; Telegram's limits on, Bot API latency {latency} ms;"
            f" {figures['users']} people, one action every 1/{figures['rate']} s, evenly spaced, from a random"
            f" person who has read their last answer for {figures.get('think_ms')} ms):",
            f"  achieved {figures['offered_rate_per_s']} actions/s, {figures['updates']} answered,"
            f" {figures['skipped_ticks']} ticks skipped, {figures['errors']} errors,"
            f" {figures['http_429']} × 429 {figures.get('http_429_by_scope') or ''}",
            f"  action → answer: p50 {figures['p50_ms']} ms, p90 {figures.get('p90_ms')} ms,"
            f" p99 {figures['p99_ms']} ms — target ≤ {p99['limit']:g} ms: {_verdict(p99)}",
            f"  slowest step: {_slowest(figures.get('latency_by_step_ms') or {})}",
            f"  reports stored: {figures['reports_stored']} of {figures['forms_completed']} forms completed;"
            f" bot CPU {figures['offered_cpu_ms_per_update']} ms per update",
            f"burst: {BURST_SIZE} simultaneous /report → last first question: median {figures['burst_20_report_ms']} ms"
            f" {figures.get('burst_20_report_runs_ms', '')} — target ≤ {burst['limit']:g} ms: {_verdict(burst)}",
            "capacity (limits off, no latency, everyone at once):",
            f"  ours:     {figures['capacity_updates_per_s']} updates/s, CPU {figures['cpu_ms_per_update']} ms"
            f" per update (kernel {figures['system_cpu_ms_per_update']}), peak RSS {figures['peak_rss_mb']} MB,"
            f" reports {figures['capacity_reports_stored']} of {figures['users']}",
            f"  template: {figures['template_updates_per_s']} updates/s, CPU {figures['template_cpu_ms_per_update']} ms",
            f"  echo:     {figures['echo_updates_per_s']} updates/s, CPU {figures['echo_cpu_ms_per_update']} ms",
            f"  CPU per update ÷ template's: {figures['cpu_ratio_to_template']} — target ≤ {cpu['limit']:g}:"
            f" {_verdict(cpu)} (÷ echo's: {figures['cpu_ratio_to_echo']})",
            f"  sandbox+people process busy: {figures['driver_cpu_share']} (ours),"
            f" {figures['template_driver_cpu_share']} (template), {figures['echo_driver_cpu_share']} (echo);"
            f" capacity errors {figures['capacity_errors']}",
        ]
    )


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number, 1 or more; got {text!r}")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0; got {text!r}")
    return value


def _postgres_admin_url(given: str | None) -> str:
    """--postgres-url, else TEST_POSTGRES_URL, else a throwaway server from .ci/postgres.sh."""
    url = given or os.environ.get("TEST_POSTGRES_URL")
    if url:
        return url
    print("starting PostgreSQL with .ci/postgres.sh …", file=sys.stderr, flush=True)
    done = subprocess.run([str(ROOT / ".ci" / "postgres.sh")], capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def main(
    argv: list[str] | None = None, runner: Callable[[Options], Awaitable[dict[str, Any]]] = measure
) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=_at_least_one, default=500, help="collaborators (default 500)")
    parser.add_argument(
        "--rate", type=_positive, default=25.0, help="offered actions per second (default 25)"
    )
    parser.add_argument("--latency-ms", type=float, default=100.0, help="Bot API latency (default 100 ms)")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=1000.0,
        help="a person reads an answer this long before acting (1000)",
    )
    parser.add_argument(
        "--updates-limit", type=_at_least_one, default=None, help="stop the offered run after N actions"
    )
    parser.add_argument(
        "--bursts", type=_at_least_one, default=5, help=f"{BURST_SIZE}-person /report bursts (default 5)"
    )
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--postgres-url", default=None, help="admin URL (default: TEST_POSTGRES_URL or .ci/postgres.sh)"
    )
    parser.add_argument(
        "--bot-root", type=Path, default=ROOT, help="run our bot (and seed its database) from this checkout"
    )
    parser.add_argument(
        "--runs", type=_at_least_one, default=1, help="repeat the whole measurement; medians are reported"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    bot_root = args.bot_root.resolve()
    if not (bot_root / "bot" / "__main__.py").is_file():
        parser.error(f"--bot-root {args.bot_root}: no bot/__main__.py there")
    uncompiled = [
        po for po in bot_root.glob("bot/locales/*/LC_MESSAGES/*.po") if not po.with_suffix(".mo").exists()
    ]
    if uncompiled:  # the bot would speak its msgids and no button of the script would match
        parser.error(
            f"{uncompiled[0]} is not compiled: run `pybabel compile --domain messages"
            f" --directory bot/locales` in {bot_root}"
        )
    options = Options(
        users=args.users,
        rate=args.rate,
        latency_ms=args.latency_ms,
        think_ms=args.think_ms,
        bursts=args.bursts,
        updates_limit=args.updates_limit,
        database=args.database,
        postgres_url=_postgres_admin_url(args.postgres_url) if args.database == "postgres" else None,
        bot_root=bot_root,
        workdir=args.workdir,
    )
    args.workdir.mkdir(parents=True, exist_ok=True)
    runs = []
    for number in range(1, args.runs + 1):
        figures = asyncio.run(runner(options))
        runs.append(figures)
        if args.runs > 1:
            print(f"\nrun {number} of {args.runs}:\n{summary(figures)}", flush=True)
    figures = combine(runs)
    figures["targets"] = targets(figures)
    print(json.dumps(figures, ensure_ascii=False, indent=2))
    heading = f"median of {args.runs} runs" if args.runs > 1 else "result"
    print(f"\n{heading}:\n{summary(figures)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=2, default=str))
    return figures


def _seed_main(db_url: str, ids_file: str) -> None:
    user_ids = [int(part) for part in Path(ids_file).read_text().split(",") if part]
    asyncio.run(_seed(db_url, user_ids))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--seed"]:
        _seed_main(sys.argv[2], sys.argv[3])
    else:
        main()

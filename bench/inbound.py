"""Inbound throughput: N collaborators complete monthly_opinion at once through the sandbox.

The sandbox and the simulated people run in this process; the bot runs as `python -m bot`
in its own process (as in production), against a fresh SQLite file. In the same run a bare
aiogram echo bot (aiogram's own polling, no database) gets the same number of updates from
the same number of people: the floor of this stack on this machine.

    python bench/inbound.py [--users 500] [--runs 1] [--json PATH]

Latency is measured from a person's action (the control call that creates the update) to
the bot's answer appearing in that chat.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.conversation import FormCatalog  # noqa: E402
from bot.sandbox import SandboxClient, start_sandbox  # noqa: E402
from bot.sandbox.client import ActionResult  # noqa: E402
from storage import people  # noqa: E402
from storage.db import create_engine, create_session_factory, upgrade_database  # noqa: E402
from storage.models import Person, PersonRole, PersonStatus, Role, Topic, TopicStatus, TopicTarget  # noqa: E402

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
    ("press", "Xã, phường", ["edit"]),
    ("press", "Trao đổi trực tiếp", ["edit"]),
    ("press", "✅ Xong", ["edit"]),
    ("press", "Bình thường", ["edit"]),
    ("press", "⏭ Bỏ qua", ["edit"]),
    ("press", "⏭ Bỏ qua", ["edit"]),
    ("press", "✅ Gửi báo cáo", ["edit"]),
]


@dataclass
class Run:
    latencies_ms: list[float] = field(default_factory=list)
    updates: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.updates / self.seconds if self.seconds else 0.0


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _seed(db_url: str, user_ids: list[int]) -> None:
    engine = create_engine(db_url)
    await upgrade_database(engine)
    factory = create_session_factory(engine)
    async with factory() as session:
        forms = FormCatalog()
        await forms.sync_builtin(session)
        province = await people.create_unit(session=session, code="TINH", name="Tỉnh")
        now = datetime.now(UTC)
        persons = [
            Person(telegram_id=uid, full_name=f"CTV {i}", status=PersonStatus.ACTIVE, unit_id=province.id)
            for i, uid in enumerate(user_ids)
        ]
        session.add_all(persons)
        await session.flush()
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


async def _person(
    client: SandboxClient, token: str, user_id: int, steps: list[tuple[str, str, list[str]]], run: Run
) -> None:
    message_id = 0
    for kind, argument, answer_kinds in steps:
        started = time.perf_counter()
        try:
            if kind == "text":
                result: ActionResult = await client.send_message(token, user_id, argument)
            else:
                result = await client.press_button(token, user_id, user_id, message_id, argument)
            events = await client.wait_events(
                user_id, result.seq, count=1, wait_seconds=60, kinds=answer_kinds
            )
        except (TimeoutError, aiohttp.ClientError, RuntimeError) as error:
            run.errors.append(f"user {user_id} at {argument!r}: {error}")
            return
        run.latencies_ms.append((time.perf_counter() - started) * 1000)
        run.updates += 1
        message_id = int(events[0]["message_id"])


async def _drive(
    client: SandboxClient, token: str, user_ids: list[int], steps: list[tuple[str, str, list[str]]]
) -> Run:
    run = Run()
    started = time.perf_counter()
    await asyncio.gather(*[_person(client, token, uid, steps, run) for uid in user_ids])
    run.seconds = time.perf_counter() - started
    return run


async def _wait_ready(client: SandboxClient, token: str, user_id: int, text: str) -> None:
    """Wait until the bot process answers (it is starting up: imports, migrations)."""
    result = await client.send_message(token, user_id, text)
    await client.wait_events(user_id, result.seq, count=1, wait_seconds=120, kinds=["send"])


def _cpu_seconds(pid: int, *, system_only: bool = False) -> float:
    """User + system CPU of a process (Linux): steadier than rates on a shared machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[12]) if system_only else int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _start_sampler(pid: int, workdir: Path) -> subprocess.Popen[bytes] | None:
    """With BENCH_PYSPY=FILE, py-spy samples the bot (GIL holder only, without pausing it)
    while the people drive it, and writes its raw stacks to FILE (`pip install py-spy`)."""
    output = os.environ.get("BENCH_PYSPY")
    if not output:
        return None
    command = ["py-spy", "record", "--pid", str(pid), "--rate", "100", "--gil", "--nonblocking"]
    return _spawn([*command, "--format", "raw", "--output", output], dict(os.environ), workdir / "py-spy.log")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=handle, stderr=handle)


async def measure(users: int, workdir: Path) -> dict[str, Any]:
    server = await start_sandbox()
    connector = aiohttp.TCPConnector(limit=0)
    session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=180))
    client = SandboxClient(server.base_url, session=session)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        # Our bot.
        info = await client.create_bot(username="bench_bot")
        user_ids = [(await client.create_user(first_name=f"U{i}")).id for i in range(users + 1)]
        db_path = workdir / "bench.db"
        _remove_database(db_path)
        db_url = f"sqlite+aiosqlite:///{db_path}"
        await _seed(db_url, user_ids)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE_", "TELEGRAM_"))}
        env.update(
            BOT_TOKEN=info.token,
            TELEGRAM_API_URL=server.base_url,
            DATABASE_URL=db_url,
            LOG_LEVEL="WARNING",
            POLLING_TIMEOUT="10",
            # This sandbox enforces no Telegram limits: the bot's own pacing is lifted too, so
            # the figure is the bot's processing capacity (bench/broadcast.py measures pacing).
            GLOBAL_RATE_PER_SECOND="100000",
        )
        profile = (
            ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]] if os.environ.get("BENCH_PROFILE") else []
        )
        processes.append(_spawn([sys.executable, *profile, "-m", "bot"], env, workdir / "bot.log"))
        await _wait_ready(client, info.token, user_ids[-1], "/help")
        sampler = _start_sampler(processes[-1].pid, workdir)
        cpu_before = _cpu_seconds(processes[-1].pid)
        system_before = _cpu_seconds(processes[-1].pid, system_only=True)
        driver_before = time.process_time()
        ours = await _drive(client, info.token, user_ids[:users], SCRIPT)
        bot_cpu = _cpu_seconds(processes[-1].pid) - cpu_before
        bot_system = _cpu_seconds(processes[-1].pid, system_only=True) - system_before
        driver_cpu = time.process_time() - driver_before
        bot_peak_rss_mb = _peak_rss_mb(processes[-1].pid)
        if sampler is not None:
            sampler.send_signal(signal.SIGINT)
            sampler.wait(30)
        processes[-1].terminate()

        # The echo floor: the same number of people and updates.
        echo = await client.create_bot(username="echo_bot")
        echo_ids = [(await client.create_user(first_name=f"E{i}")).id for i in range(users + 1)]
        processes.append(
            _spawn(
                [sys.executable, str(ROOT / "bench" / "echo_bot.py"), echo.token, server.base_url],
                env,
                workdir / "echo.log",
            )
        )
        await _wait_ready(client, echo.token, echo_ids[-1], "ping")
        echo_steps = [("text", f"tin nhắn {n}", ["send"]) for n in range(len(SCRIPT))]
        driver_before = time.process_time()
        echo_cpu_before = _cpu_seconds(processes[-1].pid)
        floor = await _drive(client, echo.token, echo_ids[:users], echo_steps)
        echo_cpu = _cpu_seconds(processes[-1].pid) - echo_cpu_before
        echo_driver_cpu = time.process_time() - driver_before
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
        await client.close()
        await session.close()
        await server.close()

    reports = await _count_reports(db_url)
    return {
        "users": users,
        "updates": ours.updates,
        "seconds": round(ours.seconds, 2),
        "updates_per_s": round(ours.rate, 1),
        "p50_ms": round(statistics.median(ours.latencies_ms), 1) if ours.latencies_ms else None,
        "p99_ms": round(_percentile(ours.latencies_ms, 0.99), 1),
        "echo_updates_per_s": round(floor.rate, 1),
        "echo_p50_ms": round(statistics.median(floor.latencies_ms), 1) if floor.latencies_ms else None,
        "echo_p99_ms": round(_percentile(floor.latencies_ms, 0.99), 1),
        "ratio": round(ours.rate / floor.rate, 3) if floor.rate else None,
        "bot_cpu_ms_per_update": round(bot_cpu * 1000 / ours.updates, 2) if ours.updates else None,
        # The kernel's part of it (sockets, file writes, locks).
        "bot_system_cpu_ms_per_update": round(bot_system * 1000 / ours.updates, 2) if ours.updates else None,
        "echo_cpu_ms_per_update": round(echo_cpu * 1000 / floor.updates, 2) if floor.updates else None,
        # CPU per update against the echo bot's, measured minutes apart on the same machine:
        # steadier than either figure alone when the machine's speed drifts.
        "cpu_vs_echo": round(bot_cpu / ours.updates / (echo_cpu / floor.updates), 2)
        if ours.updates and floor.updates and echo_cpu
        else None,
        "bot_peak_rss_mb": bot_peak_rss_mb,
        # This process (sandbox and people): when it nears 100 % of a core it caps the rate.
        "driver_cpu_share": round(driver_cpu / ours.seconds, 2) if ours.seconds else None,
        "echo_driver_cpu_share": round(echo_driver_cpu / floor.seconds, 2) if floor.seconds else None,
        "reports_stored": reports,
        "errors": ours.errors[:5] + floor.errors[:5],
    }


async def _count_reports(db_url: str) -> int:
    from sqlalchemy import func
    from sqlmodel import select

    from storage.models import Report

    engine = create_engine(db_url)
    async with create_session_factory(engine)() as session:
        count = (await session.exec(select(func.count()).select_from(Report))).one()
    await engine.dispose()
    return int(count)


MEDIAN_KEYS = (
    "updates_per_s",
    "p50_ms",
    "p99_ms",
    "echo_updates_per_s",
    "ratio",
    "bot_cpu_ms_per_update",
    "echo_cpu_ms_per_update",
    "cpu_vs_echo",
)


def _summary(figures: dict[str, Any], users: int) -> str:
    return (
        f"ours: {figures['updates_per_s']} updates/s, p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms"
        f"\necho: {figures['echo_updates_per_s']} updates/s  → ratio {figures['ratio']}"
        f"\nbot CPU per update: {figures['bot_cpu_ms_per_update']} ms (echo bot: {figures['echo_cpu_ms_per_update']} ms,"
        f" {figures['cpu_vs_echo']}x), of which kernel {figures['bot_system_cpu_ms_per_update']} ms,"
        f" peak RSS {figures['bot_peak_rss_mb']} MB"
        f"\nsandbox+people process busy: {figures['driver_cpu_share']} (ours), {figures['echo_driver_cpu_share']} (echo)"
        f"\nreports stored: {figures['reports_stored']} of {users}"
    )


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs in a row: the last run's figures, the median of each rate and ratio
    (each ratio taken within its own run), and every run under `runs`."""
    if len(runs) == 1:
        return runs[0]
    combined = {**runs[-1], "runs": runs}
    for key in MEDIAN_KEYS:
        values = [run[key] for run in runs if run.get(key) is not None]
        combined[key] = round(statistics.median(values), 3) if values else None
    combined["reports_stored"] = min(run["reports_stored"] for run in runs)
    combined["errors"] = [error for run in runs for error in run["errors"]][:10]
    return combined


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of runs, 1 or more; got {text!r}")
    return value


def main(
    argv: list[str] | None = None, runner: Callable[..., Awaitable[dict[str, Any]]] = measure
) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument(
        "--runs", type=_at_least_one, default=1, help="repeat the whole measurement; medians are reported"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    runs = []
    for number in range(1, args.runs + 1):
        figures = asyncio.run(runner(args.users, args.workdir))
        runs.append(figures)
        if args.runs > 1:
            print(f"\nrun {number} of {args.runs}:\n{_summary(figures, args.users)}", flush=True)
    figures = combine(runs)
    print(json.dumps(figures, ensure_ascii=False, indent=2))
    heading = f"median of {args.runs} runs" if args.runs > 1 else "result"
    print(f"\n{heading}:\n{_summary(figures, args.users)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=2))
    return figures


if __name__ == "__main__":
    main()

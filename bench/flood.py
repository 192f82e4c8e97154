"""Flood: one person sending 50 messages a second must not slow the 100 others (issue 18).

Telegram's limits on in the sandbox (30 messages/s, 1 per chat per second, 20 per group per
minute) and `--latency-ms` on every Bot API call; our bot as its own process (`python -m
bot`), a fresh database each run. 100 collaborators fill the monthly form, open loop (one
action every 1/`--rate` s from a random person who has read their last answer for a second,
as bench/inbound.py does). Three runs, one after another, same seed:

1. baseline: the 100 alone;
2. flood: the same, while one more collaborator sends `--flood-rate` messages a second for
   `--flood-seconds` seconds (fired on an absolute schedule, not waiting for answers);
3. unguarded: the flood again with flood control lifted (FLOOD_PERSON_BURST huge): what the
   guard is worth.

Figures: the others' p50/p99 in each run, `p99_ratio` = flood p99 / baseline p99 (target ≤ 2),
and `flooder_rows`: the flooder's updates stored in the inbox (target: bounded, about the
burst plus the notice, whatever the flood's length), with the same for the unguarded run.

    python bench/flood.py [--users 100] [--rate 20] [--actions 400] [--latency-ms 100]
        [--flood-rate 50] [--flood-seconds 20] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.inbound import (  # noqa: E402
    SCRIPT,
    TELEGRAM,
    Databases,
    Options,
    _code_version,
    _open_loop,
    _our_env,
    _percentile,
    _seed_with,
    _spawn,
    _stop,
    _users,
    _wait_quiet,
    _wait_ready,
)
from bot.sandbox import SandboxClient, start_sandbox  # noqa: E402

UNGUARDED = "1000000000"


@dataclass
class FloodOptions:
    users: int = 100
    rate: float = 20.0
    actions: int = 400
    latency_ms: float = 100.0
    think_ms: float = 1000.0
    flood_rate: float = 50.0
    flood_seconds: float = 20.0
    workdir: Path = ROOT / "bench" / "results"


async def _flood(client: SandboxClient, token: str, user_id: int, rate: float, seconds: float) -> int:
    """`rate` messages a second for `seconds`, each fired on its own tick."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    total = int(rate * seconds)
    tasks = []
    for index in range(total):
        delay = began + index / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(client.send_message(token, user_id, f"tin nhắn số {index}")))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    return sum(not isinstance(result, BaseException) for result in results)


async def _count(db_url: str, sql: str, **params: Any) -> int:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text(sql), params)).scalar_one())
    finally:
        await engine.dispose()


async def _one_run(
    client: SandboxClient,
    api_url: str,
    databases: Databases,
    options: FloodOptions,
    label: str,
    *,
    flood: bool,
) -> dict[str, Any]:
    info = await client.create_bot(username=f"bench_flood_{label}_bot")
    people = await _users(client, f"{label}-", options.users)
    flooder = (await client.create_user(first_name=f"{label}-flooder")).id
    spare = (await client.create_user(first_name=f"{label}-ready")).id
    db_url = await databases.fresh(f"flood-{label}")
    await _seed_with(ROOT, db_url, [*people, flooder, spare], options.workdir / f"seed-flood-{label}.log")
    await client.configure(**TELEGRAM, latency_ms=options.latency_ms)
    settings = {
        "GLOBAL_RATE_PER_SECOND": str(TELEGRAM["global_per_second"]),
        "PER_CHAT_RATE_PER_SECOND": str(TELEGRAM["per_chat_per_second"]),
        "PER_GROUP_RATE_PER_MINUTE": str(TELEGRAM["per_group_per_minute"]),
    }
    if label == "unguarded":
        settings["FLOOD_PERSON_BURST"] = UNGUARDED
    env = _our_env(info.token, api_url, db_url, **settings)
    process = _spawn([sys.executable, "-m", "bot"], env, options.workdir / f"bot-flood-{label}.log")
    try:
        await _wait_ready(client, info.token, spare, "/help")
        await asyncio.sleep(1.5)
        await client.reset_stats()
        flood_task = (
            asyncio.create_task(
                _flood(client, info.token, flooder, options.flood_rate, options.flood_seconds)
            )
            if flood
            else None
        )
        started = time.perf_counter()
        run = await _open_loop(
            client, info.token, people, SCRIPT, options.rate, options.actions, options.think_ms / 1000
        )
        seconds = time.perf_counter() - started
        flood_sent = await flood_task if flood_task is not None else 0
        stats = await client.stats()
        await _wait_quiet(client, quiet_seconds=1.0, limit=30.0)
    finally:
        _stop(process)
    flooder_rows = await _count(db_url, "SELECT count(*) FROM inbox WHERE chat_key = :chat", chat=flooder)
    return {
        "p50_ms": round(_percentile(run.latencies_ms, 0.50), 1),
        "p99_ms": round(_percentile(run.latencies_ms, 0.99), 1),
        "actions": run.updates,
        "seconds": round(seconds, 1),
        "errors": len(run.errors),
        "error_samples": run.errors[:3],
        "http_429": int(stats.get("http_429", 0)),
        "flood_sent": flood_sent,
        "flooder_rows": flooder_rows if flood else 0,
    }


async def measure(options: FloodOptions) -> dict[str, Any]:
    options.workdir.mkdir(parents=True, exist_ok=True)
    code = _code_version(ROOT)
    server = await start_sandbox()
    connector = aiohttp.TCPConnector(limit=0)
    session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=180))
    client = SandboxClient(server.base_url, session=session)
    databases = Databases(Options(workdir=options.workdir))
    try:
        baseline = await _one_run(client, server.base_url, databases, options, "baseline", flood=False)
        flooded = await _one_run(client, server.base_url, databases, options, "flood", flood=True)
        unguarded = await _one_run(client, server.base_url, databases, options, "unguarded", flood=True)
    finally:
        await client.close()
        await session.close()
        await server.close()
        await databases.drop_all()

    def ratio(run: dict[str, Any]) -> float | None:
        return round(run["p99_ms"] / baseline["p99_ms"], 2) if baseline["p99_ms"] else None

    return {
        "code": code,
        "users": options.users,
        "rate": options.rate,
        "actions": options.actions,
        "latency_ms": options.latency_ms,
        "flood_rate": options.flood_rate,
        "flood_seconds": options.flood_seconds,
        "p99_ratio": ratio(flooded),
        "flooder_rows": flooded["flooder_rows"],
        "unguarded_p99_ratio": ratio(unguarded),
        "unguarded_flooder_rows": unguarded["flooder_rows"],
        "baseline": baseline,
        "flood": flooded,
        "unguarded": unguarded,
    }


def summary(figures: dict[str, Any]) -> str:
    baseline, flooded, unguarded = figures["baseline"], figures["flood"], figures["unguarded"]
    ratio = figures["p99_ratio"]
    met = "MET" if ratio is not None and ratio <= 2 else "MISSED"
    return "\n".join(
        [
            f"code: {figures['code']}",
            f"{figures['users']} collaborators filling the monthly form, one action every 1/{figures['rate']} s"
            f" ({figures['actions']} actions); Telegram's limits on, Bot API latency {figures['latency_ms']} ms;"
            f" one flooder at {figures['flood_rate']}/s for {figures['flood_seconds']} s",
            f"  baseline:  others p50 {baseline['p50_ms']} ms, p99 {baseline['p99_ms']} ms"
            f" ({baseline['actions']} actions, {baseline['errors']} errors)",
            f"  flood:     others p50 {flooded['p50_ms']} ms, p99 {flooded['p99_ms']} ms;"
            f" flooder sent {flooded['flood_sent']}, rows stored {flooded['flooder_rows']}",
            f"  unguarded: others p50 {unguarded['p50_ms']} ms, p99 {unguarded['p99_ms']} ms;"
            f" flooder sent {unguarded['flood_sent']}, rows stored {unguarded['flooder_rows']}",
            f"p99_ratio {ratio} (target ≤ 2: {met}); without flood control {figures['unguarded_p99_ratio']}",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--actions", type=int, default=400)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--flood-rate", type=float, default=50.0)
    parser.add_argument("--flood-seconds", type=float, default=20.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    options = FloodOptions(
        users=args.users,
        rate=args.rate,
        actions=args.actions,
        latency_ms=args.latency_ms,
        flood_rate=args.flood_rate,
        flood_seconds=args.flood_seconds,
    )
    figures = asyncio.run(measure(options))
    print(summary(figures))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()

"""Broadcast: 10,000 recipients through a sandbox that enforces Telegram's limits.

Ours: a staff member publishes a topic through the bot (`python -m bot`, SQLite), which
sends a DM to every collaborator through the outbox. The peer: aiogram-broadcaster from
PyPI (a benchmark-only extra: `make bench-deps`) sends the same text to the same
people from another bot in the same sandbox. `--speedup K` multiplies every limit (the
sandbox's and the bot's) by K so a run fits in a minute; rates are reported relative to the
configured limit. `--faults R` injects 5xx answers and timeouts into R of the sends.

`--channels telegram,zalo` puts part of the recipients on Zalo (the sandbox enforcing the
bot's Zalo limits there, each channel paced at its own): they are split in proportion to the
two limits, so that both channels would finish together, and the rate is reported against
the sum of the limits, with lost, duplicated and 429s per channel. There is no Zalo peer to
compare with; the peer runs only for Telegram alone.

    python bench/broadcast.py [--recipients 10000] [--speedup 10] [--faults 0.05]
                              [--channels telegram,zalo] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.inbound import _remove_database, _spawn, _stop  # noqa: E402
from bot.conversation import FormCatalog  # noqa: E402
from bot.sandbox import SandboxClient, start_sandbox  # noqa: E402
from storage import addresses, people  # noqa: E402
from storage.addresses import channel_of  # noqa: E402
from storage.db import create_engine, create_session_factory, upgrade_database  # noqa: E402
from storage.models import Outbox, OutboxStatus, Person, PersonRole, PersonStatus, Role  # noqa: E402

TELEGRAM = {"global_per_second": 30.0, "per_chat_per_second": 1.0, "per_group_per_minute": 20.0}
# The bot's default Zalo limits (Settings.zalo_*): Zalo publishes none.
ZALO = {"global_per_second": 10.0, "per_chat_per_second": 1.0}
TITLE = "Chủ đề thử gửi hàng loạt"
GUIDANCE = "Nắm bắt dư luận về việc điều chỉnh giá điện sinh hoạt; báo cáo trước hạn."


async def _seed(db_url: str, staff_id: int, user_ids: list[int], zalo_ids: list[str]) -> dict[int, str]:
    """The organisation; returns the Zalo collaborators' addresses → their Zalo ids."""
    engine = create_engine(db_url)
    await upgrade_database(engine)
    factory = create_session_factory(engine)
    async with factory() as session:
        await FormCatalog().sync_builtin(session)
        province = await people.create_unit(session=session, code="TINH", name="Tỉnh")
        staff = Person(chat_id=staff_id, full_name="Cán bộ", status=PersonStatus.ACTIVE, unit_id=province.id)
        zalo_addresses = {
            await addresses.zalo_address_for(session=session, external_id=zalo_id, group=False): zalo_id
            for zalo_id in zalo_ids
        }
        persons = [
            Person(chat_id=uid, full_name=f"CTV {i}", status=PersonStatus.ACTIVE, unit_id=province.id)
            for i, uid in enumerate([*user_ids, *zalo_addresses])
        ]
        await people.add_people(session=session, persons=[staff, *persons])
        session.add(PersonRole(person_id=staff.id or 0, role=Role.STAFF, unit_id=province.id))
        session.add_all(
            [PersonRole(person_id=p.id or 0, role=Role.COLLABORATOR, unit_id=province.id) for p in persons]
        )
        await session.commit()
    await engine.dispose()
    return zalo_addresses


async def _button(client: SandboxClient, chat_id: int, text: str) -> int:
    """The message carrying this button (waiting for it: answers may come in two steps)."""
    for _ in range(300):
        for message in reversed(await client.chat_messages(chat_id)):
            rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
            if any(button["text"] == text for row in rows for button in row):
                return int(message["message_id"])
        await asyncio.sleep(0.1)
    raise LookupError(f"no button {text!r}")


async def _answered(client: SandboxClient, chat_id: int, result: Any) -> None:
    await client.wait_events(chat_id, result.seq, count=1, wait_seconds=60, kinds=["send", "edit"])


async def _publish(client: SandboxClient, token: str, staff_id: int) -> None:
    """The staff member's /topic wizard, as typed and pressed in Telegram."""
    due = (datetime.now(UTC) + timedelta(days=20)).strftime("%d/%m/%Y")
    for kind, value in [
        ("text", "/topic"),
        ("text", TITLE),
        ("text", GUIDANCE),
        ("press", "Báo cáo tình hình dư luận xã hội định kỳ"),
        ("press", f"{datetime.now(ZoneInfo('Asia/Ho_Chi_Minh')):%m/%Y} (tháng này)"),  # the month it is for
        ("text", due),
        ("press", "📢 Ngay bây giờ"),
        ("press", "📢 Đăng"),
    ]:
        if kind == "text":
            result = await client.send_message(token, staff_id, value)
        else:
            message_id = await _button(client, staff_id, value)
            result = await client.press_button(token, staff_id, staff_id, message_id, value)
        await _answered(client, staff_id, result)


async def _outbox_done(db_url: str, total: int, limit: float) -> dict[str, tuple[float, int]]:
    """Wait until every row is settled; per channel (and "all"): (seconds between its first
    and last send, rows sent)."""
    engine = create_engine(db_url)
    factory = create_session_factory(engine)
    from sqlalchemy import func
    from sqlmodel import col, select

    deadline = time.monotonic() + limit
    try:
        while True:
            async with factory() as session:
                settled = (
                    await session.exec(
                        select(func.count()).where(
                            Outbox.status != OutboxStatus.PENDING, col(Outbox.broadcast_id).is_not(None)
                        )
                    )
                ).one()
                if settled >= total:
                    # The broadcast's rows only: the answers of the publishing conversation
                    # are outbox rows too, sent seconds before the broadcast starts.
                    rows = (
                        await session.exec(
                            select(Outbox.chat_id, Outbox.sent_at).where(
                                Outbox.status == OutboxStatus.SENT, col(Outbox.broadcast_id).is_not(None)
                            )
                        )
                    ).all()
                    spans: dict[str, list[datetime]] = {"all": []}
                    for chat_id, sent_at in rows:
                        assert sent_at is not None
                        spans["all"].append(sent_at)
                        spans.setdefault(channel_of(chat_id).value, []).append(sent_at)
                    return {
                        name: ((max(times) - min(times)).total_seconds() if times else 0.0, len(times))
                        for name, times in spans.items()
                    }
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {settled} of {total} settled")
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


def _rate(span: tuple[float, int]) -> float:
    seconds, sent = span
    return (sent - 1) / seconds if seconds else 0.0


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _deliveries(world: Any, bot_id: int | str, user_ids: list[Any], marker: str) -> tuple[int, int]:
    """(lost, duplicated) recipients, from what the sandbox delivered."""
    received: Counter[Any] = Counter()
    wanted = set(user_ids)
    for event in world.events:
        mine = (
            event.get("kind") == "send" and event.get("bot_id") == bot_id and event.get("chat_id") in wanted
        )
        if mine and marker in str(event.get("text", "")):
            received[event["chat_id"]] += 1
    lost = sum(1 for uid in user_ids if received[uid] == 0)
    duplicated = sum(1 for uid in user_ids if received[uid] > 1)
    return lost, duplicated


async def measure(
    recipients: int, speedup: float, faults: float, workdir: Path, channels: tuple[str, ...] = ("telegram",)
) -> dict[str, Any]:
    limits = {key: value * speedup for key, value in TELEGRAM.items()}
    zalo_limits = {key: value * speedup for key, value in ZALO.items()}
    with_zalo = "zalo" in channels
    telegram_limit = limits["global_per_second"]
    limit = telegram_limit + (zalo_limits["global_per_second"] if with_zalo else 0.0)
    on_zalo = round(recipients * zalo_limits["global_per_second"] / limit) if with_zalo else 0
    server = await start_sandbox()
    world = server.world
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=180))
    client = SandboxClient(server.base_url, session=session)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        ours_bot = await client.create_bot(username="dlxh_bench_bot")
        peer_bot = await client.create_bot(username="peer_bench_bot")
        staff = world.create_user("Cán bộ", started=[ours_bot.token])
        user_ids = [
            world.create_user(f"CTV {n}", started=[ours_bot.token, peer_bot.token]).id
            for n in range(recipients - on_zalo)
        ]
        zalo_bot = world.zalo.create_bot("DLXH Bench")
        zalo_ids = []
        for n in range(on_zalo):
            zalo_user = world.zalo.create_user(f"CTV Zalo {n}")
            zalo_user.talked_to.add(zalo_bot.id)  # they have written to the bot before
            zalo_ids.append(zalo_user.id)
        db_path = workdir / "broadcast.db"
        _remove_database(db_path)
        db_url = f"sqlite+aiosqlite:///{db_path}"
        await _seed(db_url, staff.id, user_ids, zalo_ids)
        # The sandbox's ten thousand people live as long as the run: keep them out of the
        # collector's full passes, whose pauses would bunch requests up at the sandbox.
        gc.collect()
        gc.freeze()
        # A timing-out request hangs 2 s at Telegram's speed, scaled like the limits.
        world.configure(
            **limits, error_rate=faults, error_kinds=("500", "502", "timeout"), timeout_seconds=2.0 / speedup
        )
        world.zalo.configure(**zalo_limits)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE_", "TELEGRAM_"))}
        env.update(
            BOT_TOKEN=ours_bot.token,
            TELEGRAM_API_URL=server.base_url,
            DATABASE_URL=db_url,
            LOG_LEVEL="WARNING",
            GLOBAL_RATE_PER_SECOND=str(limits["global_per_second"]),
            PER_CHAT_RATE_PER_SECOND=str(limits["per_chat_per_second"]),
            PER_GROUP_RATE_PER_MINUTE=str(limits["per_group_per_minute"]),
            DELIVERY_RETRY_SECONDS=str(2.0 / speedup),
        )
        if with_zalo:
            env.update(
                ZALO_BOT_TOKEN=zalo_bot.token,
                ZALO_API_URL=f"{server.base_url}/zalo",
                ZALO_GLOBAL_RATE_PER_SECOND=str(zalo_limits["global_per_second"]),
                ZALO_PER_CHAT_RATE_PER_SECOND=str(zalo_limits["per_chat_per_second"]),
            )
        bot = _spawn([sys.executable, "-m", "bot"], env, workdir / "broadcast-bot.log")
        processes.append(bot)
        result = await client.send_message(ours_bot.token, staff.id, "/help")
        await client.wait_events(staff.id, result.seq, count=1, wait_seconds=120, kinds=["send"])

        world.stats.http_429 = 0
        world.stats.http_429_by_scope.clear()
        world.stats.http_429_at.clear()
        published = world.clock()
        await _publish(client, ours_bot.token, staff.id)
        spans = await _outbox_done(db_url, recipients, limit=recipients / limit * 5 + 60)
        ours_429 = world.stats.http_429
        ours_429_scopes = dict(world.stats.http_429_by_scope)
        # When the 429s came, in seconds after the publish button (sending takes ~35 s).
        ours_429_at = [round(moment - published, 2) for moment in world.stats.http_429_at]
        ours_rate = _rate(spans["all"])
        lost, duplicated = _deliveries(world, ours_bot.id, user_ids, TITLE)
        zalo_lost, zalo_duplicated = _deliveries(world, zalo_bot.id, zalo_ids, TITLE)
        ours_rss = _peak_rss_mb(bot.pid)
        bot.terminate()
        per_channel: dict[str, Any] = {
            "telegram": {
                "recipients": len(user_ids),
                "limit_per_s": telegram_limit,
                "rate_per_s": round(_rate(spans.get("telegram", (0.0, 0))), 1),
                "lost": lost,
                "duplicated": duplicated,
                "http_429": sum(v for k, v in ours_429_scopes.items() if not k.startswith("zalo")),
            }
        }
        if with_zalo:
            per_channel["zalo"] = {
                "recipients": len(zalo_ids),
                "limit_per_s": zalo_limits["global_per_second"],
                "rate_per_s": round(_rate(spans.get("zalo", (0.0, 0))), 1),
                "lost": zalo_lost,
                "duplicated": zalo_duplicated,
                "http_429": sum(v for k, v in ours_429_scopes.items() if k.startswith("zalo")),
            }
        if with_zalo:  # no Zalo peer to compare with
            return {
                "recipients": recipients,
                "channels": list(channels),
                "speedup": speedup,
                "faults": faults,
                "limit_per_s": limit,
                "rate_per_s": round(ours_rate, 1),
                "rate_ratio": round(ours_rate / limit, 3),
                "http_429": ours_429,
                "http_429_by_scope": ours_429_scopes,
                "lost": lost + zalo_lost,
                "duplicated": duplicated + zalo_duplicated,
                "peak_rss_mb": round(ours_rss, 1),
                "per_channel": per_channel,
            }

        # The peer, same people, same limits, same faults.
        chats_file = workdir / "broadcast-chats.txt"
        chats_file.write_text("\n".join(str(uid) for uid in user_ids))
        world.stats.http_429 = 0
        peer_text = f"{TITLE} (peer)"
        peer = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "bench" / "peer_broadcaster.py"),
            peer_bot.token,
            server.base_url,
            str(chats_file),
            str(limit),
            peer_text,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        out, _err = await peer.communicate()
        peer_figures = json.loads(out.decode().strip().splitlines()[-1])
        peer_429 = world.stats.http_429
        peer_lost, peer_duplicated = _deliveries(world, peer_bot.id, user_ids, peer_text)
        peer_rate = (recipients - peer_lost) / peer_figures["seconds"]
    finally:
        for process in processes:
            _stop(process)
        await client.close()
        await session.close()
        await server.close()
    return {
        "recipients": recipients,
        "speedup": speedup,
        "faults": faults,
        "limit_per_s": limit,
        "rate_per_s": round(ours_rate, 1),
        "rate_ratio": round(ours_rate / limit, 3),
        "http_429": ours_429,
        "http_429_by_scope": ours_429_scopes,
        "http_429_seconds_after_publish": ours_429_at,
        "lost": lost,
        "duplicated": duplicated,
        "peak_rss_mb": round(ours_rss, 1),
        "peer_rate_per_s": round(peer_rate, 1),
        "peer_rate_ratio": round(peer_rate / limit, 3),
        "peer_http_429": peer_429,
        "peer_lost": peer_lost,
        "peer_duplicated": peer_duplicated,
        "peer_peak_rss_mb": round(peer_figures["peak_rss_mb"], 1),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--speedup", type=float, default=10.0, help="multiply every Telegram limit by K")
    parser.add_argument("--faults", type=float, default=0.0, help="share of sends answered 5xx or timing out")
    parser.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    parser.add_argument(
        "--channels",
        default="telegram",
        help="telegram, or telegram,zalo to split the recipients across both",
    )
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    channels = tuple(name.strip() for name in args.channels.split(",") if name.strip())
    if not set(channels) <= {"telegram", "zalo"} or "telegram" not in channels:
        parser.error("--channels is telegram or telegram,zalo")
    figures = asyncio.run(measure(args.recipients, args.speedup, args.faults, args.workdir, channels))
    print(json.dumps(figures, ensure_ascii=False, indent=2))
    if "per_channel" in figures:
        print(
            f"\nboth channels: {figures['rate_per_s']}/s = {figures['rate_ratio']} of the sum of the limits"
        )
        for name, channel in figures["per_channel"].items():
            print(
                f"{name}: {channel['recipients']} recipients, {channel['rate_per_s']}/s of {channel['limit_per_s']}, "
                f"{channel['http_429']} × 429, lost {channel['lost']}, duplicated {channel['duplicated']}"
            )
    else:
        _print_with_peer(figures)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=2))
    return figures


def _print_with_peer(figures: dict[str, Any]) -> None:
    print(
        f"\nours: {figures['rate_per_s']}/s = {figures['rate_ratio']} of the limit, "
        f"{figures['http_429']} × 429, lost {figures['lost']}, duplicated {figures['duplicated']}, "
        f"peak RSS {figures['peak_rss_mb']} MB"
        f"\npeer: {figures['peer_rate_per_s']}/s = {figures['peer_rate_ratio']} of the limit, "
        f"{figures['peer_http_429']} × 429, lost {figures['peer_lost']}, duplicated {figures['peer_duplicated']}, "
        f"peak RSS {figures['peer_peak_rss_mb']} MB"
    )


if __name__ == "__main__":
    main()

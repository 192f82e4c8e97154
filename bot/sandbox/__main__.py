"""`python -m bot.sandbox`: a standalone sandbox Bot API with one ready-made bot."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from bot.sandbox.server import start_sandbox


async def serve(host: str, port: int) -> None:
    server = await start_sandbox(host, port)
    bot = server.world.create_bot()
    print(f"sandbox Bot API at {server.base_url}")
    print(f"TELEGRAM_API_URL={server.base_url} BOT_TOKEN={bot.token}  (@{bot.username})")
    try:
        await asyncio.Event().wait()
    finally:
        await server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Telegram Bot API sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()

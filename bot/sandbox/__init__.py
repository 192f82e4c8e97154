"""Local Telegram Bot API sandbox: run the bot, tests and benchmarks without Telegram."""

from bot.sandbox.client import ActionResult, BotInfo, SandboxChat, SandboxClient, SandboxError, SandboxUser
from bot.sandbox.server import SandboxServer, create_sandbox_app, start_sandbox
from bot.sandbox.world import ApiError, World

__all__ = [
    "ActionResult",
    "ApiError",
    "BotInfo",
    "SandboxChat",
    "SandboxClient",
    "SandboxError",
    "SandboxServer",
    "SandboxUser",
    "World",
    "create_sandbox_app",
    "start_sandbox",
]

"""Command filters as people type commands: in any case (/START, /Summary), and only when
addressed to this bot (a group may hold several: /summary@OtherBot is not ours)."""

from __future__ import annotations

import re
from typing import Any

from aiogram.filters import Command, CommandStart
from aiogram.types import Message

MENTION = re.compile(r"^/[A-Za-z0-9_]+@([A-Za-z0-9_]+)")


def command(*names: str) -> Command:
    return Command(*names, ignore_case=True)


def start_command(**kwargs: Any) -> CommandStart:
    return CommandStart(ignore_case=True, **kwargs)


def for_another_bot(message: Message, bot_username: str) -> bool:
    """A command that names another bot: left to that bot, and unanswered by this one."""
    match = MENTION.match(message.text or message.caption or "")
    return match is not None and match.group(1).casefold() != bot_username.casefold()

"""Zalo's side of a screen: plain text within 2000 characters, and choices as numbers.

Zalo's Bot API has no buttons, no edits and no formatting. A message's choices become
numbered lines, remembered for the chat (`Menu`), so that a typed number does what pressing
the button does on Telegram; forms number their own options and take words for their
controls (bot/ui.py, bot/forms/words.py). Messages that arrive unasked (a topic, an urgent
matter) name what to type instead of numbering, so a number always answers the conversation
the person is in.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from aiogram.utils.i18n import gettext as _

from bot.delivery import payloads
from bot.delivery.media import PREFIX as MEDIA_PREFIX
from bot.tags import read_report_payload
from bot.ui import AckButton, BroadcastButton, Choice

MAX_TEXT = 2000
_TAG = re.compile(r"<(/?)([a-zA-Z]+)([^>]*)>")
_HREF = re.compile(r'href="([^"]*)"')
START_PAYLOAD = re.compile(r"[?&]start=([A-Za-z0-9_-]+)")


def plain(text: str) -> str:
    """Our HTML (b, i, u, s, code, pre, a) as plain text: tags dropped, a link's address
    kept after its text, entities decoded."""

    def tag(match: re.Match[str]) -> str:
        closing, name, attributes = match.groups()
        if name.lower() == "a" and not closing:
            href = _HREF.search(attributes)
            return f"\x00{href.group(1)}\x00" if href else ""
        if name.lower() == "a":
            return "\x01"
        return ""

    text = _TAG.sub(tag, text)
    # <a href="u">label</a> → "label (u)", unless the label is the address itself
    text = re.sub(
        r"\x00([^\x00]*)\x00([^\x01]*)\x01",
        lambda m: m.group(2) if m.group(2) == m.group(1) else f"{m.group(2)} ({m.group(1)})",
        text,
    )
    return html.unescape(text.replace("\x00", "").replace("\x01", ""))


def split(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Parts of at most `limit` characters, cut at a blank line, a line, or a space."""
    text = text.strip()
    parts: list[str] = []
    while len(text) > limit:
        window = text[:limit]
        cut = max(window.rfind("\n\n"), 0)
        if cut < limit // 2:
            cut = window.rfind("\n")
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut < limit // 2:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts or ["…"]


@dataclass
class Menu:
    """The numbered choices last shown in a chat: what each number does (callback data, or
    `/command` text), and the message to show again when the answer was not one of them."""

    options: list[str] = field(default_factory=list)
    text: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"options": self.options, "text": self.text}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Menu:
        return cls(
            options=[str(item) for item in value.get("options") or []], text=str(value.get("text") or "")
        )


def option_action(choice: Choice) -> str | None:
    """What typing this choice's number does: its callback data, or for a link that opens the
    bot, the `/start` command the link carries. None: it cannot be typed (a web link)."""
    if choice.data is not None:
        return choice.data
    if choice.url is not None:
        start = START_PAYLOAD.search(choice.url)
        if start is not None:
            return f"/start {start.group(1)}"
    return None


def render(
    payload: dict[str, Any], *, asked: bool, group: bool = False
) -> tuple[list[dict[str, Any]], Menu | None]:
    """A message payload as Zalo payloads (plain, split), and the menu its numbers make.

    `asked`: an answer to what the person just did, whose choices are numbered; otherwise
    (a push) each choice is named by the words to type. In a `group`, where only messages
    beginning with a tag or a command reach the bot, a number is typed as /1, /2….
    """
    choices = [choice for row in payloads.choices_from(payload) for choice in row]
    text = plain(payload.get("text") or "")
    menu: Menu | None = None
    lines: list[str] = []
    if asked:
        options: list[str] = []
        for choice in choices:
            action = option_action(choice)
            if action is None:
                if choice.url:
                    lines.append(f"• {choice.label}: {choice.url}")
                continue
            options.append(action)
            lines.append(f"{len(options)}. {choice.label}")
        if options:
            lines.append(
                _("Answer /1, /2… (with the slash).") if group else _("Answer with a number, for example 1.")
            )
            menu = Menu(options=options)
    else:
        for choice in choices:
            line = push_instruction(choice, group=group)
            if line and line not in lines:
                lines.append(line)
    if lines:
        text = f"{text}\n\n" + "\n".join(lines) if text else "\n".join(lines)
    parts = split(text)
    if menu is not None:
        menu.text = text
    result: list[dict[str, Any]] = []
    photo = payload.get("photo")
    for index, part in enumerate(parts):
        item: dict[str, Any] = {"text": part, "plain": True}
        if index == 0 and isinstance(photo, str) and photo.startswith(("http://", "https://", MEDIA_PREFIX)):
            item["photo"] = photo
        result.append(item)
    return result, menu


def push_instruction(choice: Choice, *, group: bool = False) -> str | None:
    """A pushed message's button, as what to type instead (a group post says it itself)."""
    if choice.data is not None and choice.data.startswith(AckButton.__prefix__ + ":"):
        return None if group else _("To confirm you received it, answer “đã nhận” (or 1).")
    if choice.data is not None and choice.data.startswith(BroadcastButton.__prefix__ + ":"):
        return _("To stop a delivery or see who was not reached, send /broadcasts.")
    if choice.url is not None:
        start = START_PAYLOAD.search(choice.url)
        if start is None:
            return f"• {choice.label}: {choice.url}"
        report = read_report_payload(start.group(1))
        if report is not None and report.tag is not None:
            return _("To send a report, write to the bot: báo cáo {tag}").format(tag=report.tag)
        return _("To open it, write to the bot: /start {payload}").format(payload=start.group(1))
    return None

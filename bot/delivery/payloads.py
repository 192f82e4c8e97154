"""What an outbox row asks a channel to do, as plain JSON (channel-neutral).

The payload of a row is one of:

- a message: `{"text", "choices"?, "keyboard"?, "photo"?, "pin"?, "reply_to"?}`, where
  `choices` are rows of `Choice.to_json()`, `keyboard` is "inline" (default), "reply"
  (answers typed back) or "remove" (take a reply keyboard away), `photo` a file id;
- `{"op": "edit", "target"…, "text", "choices"?}`: show a screen in place of an earlier
  message; a message that can no longer be edited gets the screen as a new message;
- `{"op": "clear", "target"…}`: take the buttons away from an earlier message;
- `{"op": "react", "message_id", "emoji", "fallback"}`: a quiet acknowledgement, or the
  fallback text as a reply where reactions are refused;
- `{"op": "menu", "commands"}`: the chat's command menu (None: the default one).

A target is `"message_id"` when the message is known, or `"ref"`, the id of the outbox row
that sends it (rows of a chat are done in order, so it has gone out first, or failed, in
which case an edit is sent as a new message and a clear has nothing to do).
"""

from __future__ import annotations

from typing import Any

from bot.ui import Choice, Screen

EDIT = "edit"
CLEAR = "clear"
REACT = "react"
MENU = "menu"


def choices_json(choices: list[list[Choice]]) -> list[list[dict[str, Any]]]:
    return [[choice.to_json() for choice in row] for row in choices]


def choices_from(payload: dict[str, Any]) -> list[list[Choice]]:
    return [[Choice.from_json(item) for item in row] for row in payload.get("choices") or []]


def message(
    text: str,
    choices: list[list[Choice]] | None = None,
    *,
    keyboard: str = "inline",
    photo: str | None = None,
    pin: bool = False,
    reply_to: int | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {"text": text}
    if choices:
        payload["choices"] = choices_json(choices)
    if keyboard != "inline":
        payload["keyboard"] = keyboard
    if photo:
        payload["photo"] = photo
    if pin:
        payload["pin"] = True
    if reply_to is not None:
        payload["reply_to"] = reply_to
    return payload


def screen_message(
    screen: Screen, *, keyboard: str | None = None, reply_to: int | None = None
) -> dict[str, Any]:
    return message(
        screen.full_text(),
        screen.choices,
        keyboard=keyboard or screen.keyboard,
        photo=screen.photo,
        reply_to=reply_to,
    )


def target(*, message_id: int | None = None, ref: int | None = None) -> dict[str, Any]:
    if message_id is not None:
        return {"message_id": message_id}
    if ref is not None:
        return {"ref": ref}
    raise ValueError("a target needs a message id or an outbox row")


def edit(screen: Screen, *, message_id: int | None = None, ref: int | None = None) -> dict[str, Any]:
    payload = {"op": EDIT, **target(message_id=message_id, ref=ref), "text": screen.full_text()}
    if screen.has_buttons:
        payload["choices"] = choices_json(screen.choices)
    return payload


def clear(*, message_id: int | None = None, ref: int | None = None) -> dict[str, Any]:
    return {"op": CLEAR, **target(message_id=message_id, ref=ref)}


def react(message_id: int, emoji: str, fallback: str) -> dict[str, Any]:
    return {"op": REACT, "message_id": message_id, "emoji": emoji, "fallback": fallback}


def menu(commands: list[tuple[str, str]] | None) -> dict[str, Any]:
    return {"op": MENU, "commands": [list(pair) for pair in commands] if commands is not None else None}


def is_message(payload: dict[str, Any]) -> bool:
    """Whether the row sends something Telegram counts against its message limits."""
    return payload.get("op") in (None, EDIT, CLEAR)

"""What a handled update keeps in the inbox: no invite or link code, no phone number.

The inbox holds each update as it came, so that one can be replayed until it is handled. Once
it is handled, the parts that are secrets or personal data are not needed any more: the code
of `/start CODE`, `/link CODE` or a code typed alone (only its hash is meant to be kept), and
a shared contact's phone number (kept, normalised, in the person's row). They are replaced in
the row committed with the update's done-mark; updates without them are left as they are.
"""

from __future__ import annotations

import re
from typing import Any

from aiogram.types import Update

from storage import jsoncodec

SECRET_COMMAND = re.compile(r"^(/(?:start|link)(?:@\w+)?)\s+\S.*$", re.DOTALL)
CODE_ALONE = re.compile(r"^\s*[0-9A-Za-z]{5}-?[0-9A-Za-z]{5}\s*$")
HIDDEN = "[…]"


def _hidden_text(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    command = SECRET_COMMAND.match(text)
    if command is not None:
        return f"{command.group(1)} {HIDDEN}"
    return HIDDEN if CODE_ALONE.match(text) else text


def redacted_payload(update: Update) -> str | None:
    """The update's JSON without its secrets, or None when it has none (the common case)."""
    message = update.message
    if message is None:
        return None
    sensitive = message.contact is not None or (
        message.text is not None and _hidden_text(message.text) != message.text
    )
    if not sensitive:
        return None
    data = update.model_dump(mode="json", exclude_none=True, by_alias=True)
    body = data.get("message") or {}
    body["text"] = _hidden_text(body.get("text"))
    if "contact" in body:
        body["contact"] = {key: value for key, value in body["contact"].items() if key != "phone_number"}
    zalo_message = (data.get("zalo") or {}).get("message")
    if isinstance(zalo_message, dict):
        zalo_message["text"] = _hidden_text(zalo_message.get("text"))
    return jsoncodec.dumps(data)

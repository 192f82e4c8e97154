"""What a person types on a channel without buttons, read as the press it stands for.

Numbers choose ("2"; "1 3" or "1,3" for several), and a few words do what the buttons under
a question do on Telegram: quay lại, bỏ qua, hủy, xong, gửi, sửa 3 — with or without
diacritics, in any case, with a leading slash, and in English. Pure: no Telegram, no
database, so the rules are tested on their own.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

Control = Literal["back", "skip", "cancel", "done", "submit"]

CONTROL_WORDS: dict[str, Control] = {
    "quay lai": "back",
    "tro lai": "back",
    "lai": "back",
    "back": "back",
    "bo qua": "skip",
    "skip": "skip",
    "huy": "cancel",
    "huy bo": "cancel",
    "cancel": "cancel",
    "xong": "done",
    "done": "done",
    "gui": "submit",
    "gui di": "submit",
    "dang": "submit",
    "xac nhan": "submit",
    "send": "submit",
    "submit": "submit",
}
ACKNOWLEDGE_WORDS = frozenset({"da nhan", "nhan", "da nhan duoc", "received", "ok da nhan"})
EDIT = re.compile(r"^(?:sua|edit)\s*(?:cau\s*|so\s*)?(\d{1,3})$")
REPORT = re.compile(r"^(?:bao cao|report)\s*#?\s*(\d{1,12})$")
NUMBERS = re.compile(r"^\d{1,3}(?:\s*[,;.\s]\s*\d{1,3})*$")


def fold(text: str) -> str:
    """Lower case, no diacritics (đ → d), single spaces, no leading slash or trailing dot."""
    text = unicodedata.normalize("NFD", text.strip().lower()).replace("đ", "d")
    text = "".join(char for char in text if not unicodedata.combining(char))
    text = " ".join(text.split())
    return text.lstrip("/").rstrip(".!").strip()


@dataclass(frozen=True)
class Typed:
    """What a typed message means: a control, an edit of question N, numbers, or text."""

    control: Control | None = None
    edit: int | None = None
    numbers: tuple[int, ...] = ()

    @property
    def is_text(self) -> bool:
        return self.control is None and self.edit is None and not self.numbers


def read(text: str) -> Typed:
    folded = fold(text)
    control = CONTROL_WORDS.get(folded)
    if control is not None:
        return Typed(control=control)
    edit = EDIT.match(folded)
    if edit is not None:
        return Typed(edit=int(edit.group(1)))
    if NUMBERS.match(folded):
        return Typed(numbers=tuple(int(part) for part in re.split(r"[,;.\s]+", folded) if part))
    return Typed()


def is_acknowledgement(text: str) -> bool:
    return fold(text) in ACKNOWLEDGE_WORDS


def report_request(text: str) -> int | None:
    """`báo cáo 12`: the topic someone wants to report on."""
    match = REPORT.match(fold(text))
    return int(match.group(1)) if match else None

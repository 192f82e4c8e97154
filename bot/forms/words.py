"""What a person types on a channel without buttons, read as the press it stands for.

Numbers choose ("2"; "1 3" or "1,3" for several), and a few words do what the buttons under
a question do on Telegram: quay lại, bỏ qua, hủy, xong, gửi, sửa 3, and for a long list
tiếp, trang trước, trang 3, tất cả — with or without
diacritics, in any case, with a leading slash, and in English. Pure: no Telegram, no
database, so the rules are tested on their own.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

Control = Literal["back", "skip", "cancel", "done", "submit", "next_page", "previous_page", "all_options"]

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
    # a long list shown a page at a time
    "tiep": "next_page",
    "xem tiep": "next_page",
    "trang tiep": "next_page",
    "trang sau": "next_page",
    "next": "next_page",
    "more": "next_page",
    "trang truoc": "previous_page",
    "previous": "previous_page",
    "tat ca": "all_options",
    "xem tat ca": "all_options",
    "all": "all_options",
}
ACKNOWLEDGE_WORDS = frozenset({"da nhan", "nhan", "da nhan duoc", "received", "ok da nhan"})
PAGE = re.compile(r"^(?:trang|page)\s*(\d{1,3})$")
EDIT = re.compile(r"^(?:sua|edit)\s*(?:cau\s*|so\s*)?(\d{1,3})$")
REPORT = re.compile(r"^(?:bao cao|report)\s*#?\s*(k?\s*[0-9]{1,9})$")
REMIND = re.compile(r"^(?:nhac ngay|nhac|remind)\s*#?\s*([0-9]{1,9})$")
NUMBERS = re.compile(r"^\d{1,3}(?:\s*[,;.\s]\s*\d{1,3})*$")


def fold(text: str) -> str:
    """Lower case, no diacritics (đ → d), single spaces, no leading slash or trailing dot."""
    text = unicodedata.normalize("NFD", text.strip().lower()).replace("đ", "d")
    text = "".join(char for char in text if not unicodedata.combining(char))
    text = " ".join(text.split())
    return text.lstrip("/").rstrip(".!").strip()


@dataclass(frozen=True)
class Typed:
    """What a typed message means: a control, an edit of question N, page N of a long list,
    numbers, or text."""

    control: Control | None = None
    edit: int | None = None
    page: int | None = None
    numbers: tuple[int, ...] = ()

    @property
    def is_text(self) -> bool:
        return self.control is None and self.edit is None and self.page is None and not self.numbers


def read(text: str) -> Typed:
    folded = fold(text)
    control = CONTROL_WORDS.get(folded)
    if control is not None:
        return Typed(control=control)
    edit = EDIT.match(folded)
    if edit is not None:
        return Typed(edit=int(edit.group(1)))
    page = PAGE.match(folded)
    if page is not None:
        return Typed(page=int(page.group(1)))
    if NUMBERS.match(folded):
        return Typed(numbers=tuple(int(part) for part in re.split(r"[,;.\s]+", folded) if part))
    return Typed()


def is_acknowledgement(text: str) -> bool:
    return fold(text) in ACKNOWLEDGE_WORDS


def report_request(text: str) -> str | None:
    """`báo cáo 12` (or `báo cáo K2`, an urgent matter): the tag of what someone wants to
    report on (bot/tags.py reads it)."""
    match = REPORT.match(fold(text))
    return match.group(1).replace(" ", "").upper() if match else None


def remind_request(text: str) -> int | None:
    """`nhắc 3` (staff, on Zalo): remind the silent collaborators of topic 3 now, as the
    roll-call's button does on Telegram."""
    match = REMIND.match(fold(text))
    return int(match.group(1)) if match else None

"""Parsing what people type: dates, Vietnamese phone numbers, numbers, text length."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

DATE_PATTERN = re.compile(r"^\s*(\d{1,2})\s*([/\-.])\s*(\d{1,2})\s*\2\s*(\d{4})\s*$")
SHORT_DATE_PATTERN = re.compile(r"^\s*(\d{1,2})\s*([/\-.])\s*(\d{1,2})\s*$")
MOBILE_PREFIXES = ("03", "05", "07", "08", "09")
THOUSANDS = re.compile(r"^-?\d{1,3}(\.\d{3})+$")
NUMBER = re.compile(r"^-?\d+([.,]\d+)?$")


# Invisible formatting characters: zero-width spaces and joiners' relatives, bidi overrides
# and isolates, the BOM. They make look-alike names and reorder what others read, and carry
# nothing a report needs. The zero-width joiner stays (emoji sequences use it in free text).
INVISIBLE = re.compile(
    "[\u00ad\u061c\u180e\u200b\u200c\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)


def normalize_text(text: str) -> str:
    """NFC, invisible formatting removed, stripped: 'ệ' typed as one or as three code points
    counts the same, and a text cannot hide characters from the people who read it."""
    return INVISIBLE.sub("", unicodedata.normalize("NFC", text)).strip()


def text_length(text: str) -> int:
    """Code points of the normalised text: what the database columns count (Vietnamese in
    NFC is one code point per letter, so this is what a person counts too)."""
    return len(normalize_text(text))


def parse_date(
    text: str, today: date | None = None, *, past: bool = False, either: bool = False
) -> date | None:
    """dd/mm/yyyy (also d/m/yyyy, dd-mm-yyyy, dd.mm.yyyy); two-digit years are refused.
    Without a year ("31/12"), given `today`: where both sides are allowed (`either`), this
    year's such day; else the nearest one on the side the question allows (`past`: the last
    one; else the next one)."""
    match = DATE_PATTERN.match(text)
    if match:
        day, month, year = int(match.group(1)), int(match.group(3)), int(match.group(4))
    elif today is not None and (short := SHORT_DATE_PATTERN.match(text)):
        day, month, year = int(short.group(1)), int(short.group(3)), today.year
    else:
        return None
    if match or today is None:
        try:
            return date(year, month, day)
        except ValueError:
            return None
    if either:
        try:
            return date(year, month, day)
        except ValueError:
            pass  # 29/02 in a year without one: the nearest below
    candidates = []
    for near in range(year - 8, year + 9):  # 29/02 without a year: the nearest leap year's (2100 is none)
        try:
            candidates.append(date(near, month, day))
        except ValueError:
            continue
    if past:
        return max((c for c in candidates if c <= today), default=None)
    return min((c for c in candidates if c >= today), default=None)


def normalize_vn_phone(text: str) -> str | None:
    """A Vietnamese number as 0xxxxxxxxx: mobiles have 10 digits, 02x landlines 11. Digits of
    any script (full-width ones from a phone keyboard, say) are stored as ASCII digits."""
    text = "".join(
        str(unicodedata.decimal(char)) if unicodedata.decimal(char, None) is not None else char
        for char in text
    )
    cleaned = re.sub(r"[\s.\-()]", "", unicodedata.normalize("NFKC", text).strip())
    if cleaned.startswith("+"):
        cleaned = cleaned[1:]
        if not cleaned.startswith("84"):
            return None
    if not cleaned.isdigit():
        return None
    if cleaned.startswith("84") and len(cleaned) in (11, 12):
        cleaned = "0" + cleaned[2:]
    if len(cleaned) == 10 and cleaned.startswith(MOBILE_PREFIXES):
        return cleaned
    if len(cleaned) == 11 and cleaned.startswith("02"):
        return cleaned
    return None


def parse_number(text: str) -> int | float | None:
    """'12', '-3', '1,5' (decimal comma), '1.5'; dot groups of three ('10.000') are thousands."""
    value = text.strip().replace(" ", "")
    if THOUSANDS.match(value):
        return int(value.replace(".", ""))
    if not NUMBER.match(value):
        return None
    value = value.replace(",", ".")
    if "." in value:
        number = float(value)
        return int(number) if number.is_integer() else number
    return int(value)

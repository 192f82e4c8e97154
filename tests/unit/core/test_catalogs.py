"""Every user text has a Vietnamese translation with the same placeholders and markup."""

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[3]
KEYWORDS = {"_": None, "__": None, "N_": None, "localized": (2,), "ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
TAG = re.compile(r"</?[a-z]+>")


def _catalog(locale: str):  # type: ignore[no-untyped-def]
    with (ROOT / "bot" / "locales" / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=locale)


def _texts_in_code() -> set[str]:
    found: set[str] = set()
    for folder in ("bot", "handlers"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def _forms(value: str | tuple[str, ...]) -> tuple[str, ...]:
    """A message's text, or each of its plural forms."""
    return (value,) if isinstance(value, str) else tuple(value)


def test_every_text_in_the_code_is_in_the_vietnamese_catalog() -> None:
    catalog = _catalog("vi")
    missing = sorted(
        text
        for text in _texts_in_code()
        if not catalog.get(text) or not all(_forms(catalog.get(text).string))
    )
    assert missing == [], "run `make extract-messages` and translate these in bot/locales/vi"


def test_plural_texts_are_found_in_the_code() -> None:
    assert "(all {count} unit in the scope)" in _texts_in_code()


def test_translations_keep_placeholders_and_markup() -> None:
    for message in _catalog("vi"):
        if not message.id:
            continue
        source = _forms(message.id)[-1]  # the plural form names every placeholder
        for translated in _forms(message.string):
            assert sorted(PLACEHOLDER.findall(source)) == sorted(PLACEHOLDER.findall(translated)), message.id
            assert sorted(TAG.findall(source)) == sorted(TAG.findall(translated)), message.id


def test_vietnamese_uses_its_diacritics() -> None:
    catalog = _catalog("vi")
    assert catalog.get("⬅️ Back").string == "⬅️ Quay lại"
    assert catalog.get("📝 Send report").string == "📝 Gửi báo cáo"


def test_officials_are_addressed_as_dong_chi() -> None:
    """The bot speaks to officials as "đồng chí", never "bạn" (issue 19)."""
    plain = re.compile(r"\bbạn\b", re.IGNORECASE)
    offending = [
        message.string
        for message in _catalog("vi")
        if message.id and any(plain.search(form) for form in _forms(message.string))
    ]
    assert offending == []

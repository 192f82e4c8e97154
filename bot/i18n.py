"""Gettext catalogs (Babel): Vietnamese by default, English second.

Message ids are English; `bot/locales/vi` translates every one of them. `make` compiles
the catalogs, and `create_i18n` compiles any that are missing or stale, so `python -m bot`
from a fresh checkout works too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from html import escape
from pathlib import Path

from aiogram.utils.i18n import I18n
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.config import DEFAULT_BOARD_NAME

log = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"
LOCALES = ("vi", "en")


# The board's name as the texts of this update say it (BOARD_NAME), set with its locale by
# bot/middlewares.py, as aiogram's I18n keeps the locale.
_board_name: ContextVar[str] = ContextVar("board_name", default=DEFAULT_BOARD_NAME)


def board() -> str:
    """The board's name, ready for an HTML text."""
    return escape(_board_name.get(), quote=False)


@contextmanager
def use_board_name(name: str) -> Iterator[None]:
    token = _board_name.set(name)
    try:
        yield
    finally:
        _board_name.reset(token)


def compile_catalogs(path: Path = LOCALES_DIR) -> list[Path]:
    """Compile every .po whose .mo is missing or older; returns the files written."""
    written: list[Path] = []
    for po_path in sorted(path.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=po_path.parent.parent.name)
        try:
            with mo_path.open("wb") as mo_file:
                write_mo(mo_file, catalog)
        except OSError as error:  # a read-only install (systemd's ProtectSystem): run with what is there
            log.warning("could not compile %s (%s); `make locales` at install time does it", po_path, error)
            continue
        written.append(mo_path)
    return written


def create_i18n(default_locale: str = "vi") -> I18n:
    compile_catalogs()
    return I18n(path=LOCALES_DIR, default_locale=default_locale, domain=DOMAIN)


def normalize_locale(value: str | None, default: str = "vi") -> str:
    return value if value in LOCALES else default


def client_locale(language_code: str | None) -> str | None:
    """The language of a person's Telegram app ("en-GB" → "en"), if the bot speaks it: what
    they read until they choose one with /lang (Zalo says nothing of it)."""
    primary = (language_code or "").split("-")[0].lower()
    return primary if primary in LOCALES else None


def localized(i18n: I18n, message: str) -> dict[str, str]:
    """The same catalog text in every locale: wizard questions are form definitions."""
    return {locale: i18n.gettext(message, locale=locale) for locale in LOCALES}


def N_(message: str) -> str:
    """Marks a text for extraction where it is translated later (`localized`, `gettext`)."""
    return message


# Monday first, as `date.weekday()` counts (translated where shown).
WEEKDAY_NAMES = (
    N_("Monday"),
    N_("Tuesday"),
    N_("Wednesday"),
    N_("Thursday"),
    N_("Friday"),
    N_("Saturday"),
    N_("Sunday"),
)


@contextmanager
def in_locale(i18n: I18n, locale: str) -> Iterator[None]:
    """Render in another person's language, also outside an update (schedules, start-up)."""
    with i18n.context(), i18n.use_locale(normalize_locale(locale)):
        yield

"""Screens, channel-neutral: a text plus choices, and the callback data behind them.

A `Screen` says what a person sees, not how a channel shows it: the Telegram renderer turns
choices into inline buttons (or a reply keyboard when a choice asks for the person's
contact); a channel without buttons lists them as numbered lines. Everything a user typed
is escaped here before it is shown back (the texts are HTML). Texts come in the current
locale (aiogram's i18n context); code that writes to someone else wraps the call in
`i18n.use_locale(...)`.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from aiogram.filters.callback_data import CallbackData
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n.context import get_i18n

from bot.forms import FormDefinition, FormError, FormState, Question, text_for
from bot.forms.deadlines import format_deadline
from bot.forms.engine import is_paged, option_page, progress, visible_questions
from storage.models import Channel

REVIEW_ANSWER_LIMIT = 300
MAX_MESSAGE = 4096
# A review on Zalo is read in parts of 2000 characters; it is kept to a few of them.
MAX_TEXT_ONLY = 6000


class FormButton(CallbackData, prefix="f"):
    """A button of a form screen. `step` ties it to one state of the draft: older is stale."""

    draft: int
    step: int
    # c choose · t toggle · d done · s skip · b back · x cancel · e edit · u submit
    # p page (of a long list) · a all options again (after a search)
    action: str
    arg: int = -1

    @classmethod
    def data(cls, draft: int, step: int, action: str, arg: int = -1) -> str:
        """The same string as `FormButton(...).pack()`, without building and dumping a model:
        a form screen packs a dozen of these for every button press."""
        return f"{cls.__prefix__}:{draft}:{step}:{action}:{arg}"


class SetupButton(CallbackData, prefix="su"):
    """/setup's menu: bind the group to `unit`, or (unit 0) show page `page` of the units."""

    unit: int
    page: int = -1


class LangButton(CallbackData, prefix="lg"):
    code: str


class ReplaceButton(CallbackData, prefix="rp"):
    topic: int
    replace: bool


class BroadcastButton(CallbackData, prefix="bc"):
    broadcast: int
    action: str  # x cancel · u who was not reached · s urgent matter status


class TopicButton(CallbackData, prefix="tp"):
    """Staff acting on a monthly topic: `action` new (the wizard; topic 0), time, cancel
    (a scheduled topic), reopen (a closed one), remind (the silent ones, from a roll-call)."""

    topic: int
    action: str


class ForgetButton(CallbackData, prefix="fg"):
    """/forget's confirmation: remove my personal details (or keep them)."""

    confirm: bool


class ReportButton(CallbackData, prefix="rv"):
    """📄 under an urgent report's alert to staff: the whole report."""

    report: int


class AckButton(CallbackData, prefix="ak"):
    """✅ under an urgent matter: the collaborator confirms they received it."""

    topic: int


@dataclass(frozen=True)
class Choice:
    """One thing a person can pick: a button press (`data`), a link (`url`), or, on a reply
    keyboard, sharing their phone number (`contact`) or a label typed back as text."""

    label: str
    data: str | None = None
    url: str | None = None
    contact: bool = False

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {"label": self.label}
        if self.data is not None:
            value["data"] = self.data
        if self.url is not None:
            value["url"] = self.url
        if self.contact:
            value["contact"] = True
        return value

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Choice:
        return cls(
            label=str(value["label"]),
            data=value.get("data"),
            url=value.get("url"),
            contact=bool(value.get("contact")),
        )


Keyboard = Literal["inline", "reply"]


@dataclass
class Screen:
    """What a person sees: text, rows of choices, notes shown above the text.

    `keyboard` "reply" means the choices are answers typed back (a contact button, back,
    cancel) rather than buttons under the message.
    """

    text: str
    choices: list[list[Choice]] = field(default_factory=list)
    keyboard: Keyboard = "inline"
    notes: list[str] = field(default_factory=list)
    photo: str | None = None  # a photo above the text (its caption): bot/delivery/media.py

    @property
    def uses_reply_keyboard(self) -> bool:
        return self.keyboard == "reply" and bool(self.choices)

    @property
    def has_buttons(self) -> bool:
        return self.keyboard == "inline" and bool(self.choices)

    def full_text(self) -> str:
        return "\n\n".join([*self.notes, self.text]) if self.notes else self.text


def current_locale() -> str:
    return get_i18n().current_locale


_channel: ContextVar[Channel] = ContextVar("dlxh_channel", default=Channel.TELEGRAM)


@contextlib.contextmanager
def use_channel(channel: Channel) -> Iterator[None]:
    """Screens made inside are for this channel (set per update, and per recipient of a
    delivery): without buttons, choices are numbered and controls are words."""
    token = _channel.set(channel)
    try:
        yield
    finally:
        _channel.reset(token)


def text_only() -> bool:
    """Whether the screen being made has no buttons (Zalo)."""
    return _channel.get() is Channel.ZALO


def escape(value: object) -> str:
    return html.escape(str(value), quote=False)


def truncate(text: str, limit: int) -> str:
    """Cut at a word boundary and mark the cut, so excerpts never end mid-word."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rfind(" ")]
    if cut.rfind("&") > cut.rfind(";"):  # never half an HTML entity (&am…) in an escaped text
        cut = cut[: cut.rfind("&")]
    return cut.rstrip(" ,.;:") + "…"


def deep_link(bot_username: str, payload: str) -> str:
    return f"https://t.me/{bot_username}?start={payload}"


def format_day(value: date) -> str:
    return value.strftime("%d/%m/%Y")


def format_answer(question: Question, value: object) -> str:
    """A stored answer as a person reads it (already escaped)."""
    locale = current_locale()
    labels = {option.value: text_for(option.label, locale) for option in question.choices()}
    if question.type in ("choice", "yes_no"):
        return escape(labels.get(str(value), str(value)))
    if question.type == "multi_choice" and isinstance(value, list):
        return escape(", ".join(labels.get(str(item), str(item)) for item in value))
    if question.type == "date" and isinstance(value, str):
        return escape(format_day(date.fromisoformat(value)))
    if question.type == "deadline" and isinstance(value, str):
        return escape(format_deadline(datetime.fromisoformat(value)))
    if question.type == "attachment" and isinstance(value, dict):
        if value.get("kind") == "photo":
            return _("📎 photo")
        return _("📎 file {name}").format(name=escape(value.get("file_name") or ""))
    if question.type == "number" and isinstance(value, float):
        return escape(f"{value:g}".replace(".", ","))
    return escape(value)


def error_text(error: FormError, hint: str | None = None) -> str:
    """The reason an answer was refused, in the person's language (a question's own hint wins)."""
    if hint:
        return "⚠️ " + escape(hint)
    params = error.params
    messages = {
        "required": _("This question needs an answer."),
        "too_short": _("Too short: at least {min} characters are needed (you wrote {length})."),
        "too_long": _("Too long: at most {max} characters are allowed (you wrote {length})."),
        "pattern": _("That does not look right, please check and type it again."),
        "invalid_phone": _(
            "That is not a valid Vietnamese phone number. Type 10 digits, for example 0912345678, "
            "or press the button to share your number."
        ),
        "not_a_number": _("Please type a number, for example 12."),
        "not_integer": _("Please type a whole number."),
        "below_min": _("The number must be at least {min}."),
        "above_max": _("The number must be at most {max}."),
        "bad_date": _("Please type the date as day/month/year, for example 25/11/2026."),
        "date_too_old": _("{value} is more than {years} years ago: please check the date."),
        "date_in_future": _("The date cannot be in the future."),
        "date_in_past": _("The date cannot be in the past."),
        "date_today_not_allowed": _("The date must be after today."),
        "deadline_in_past": _("The deadline {value} has already passed. Give a time in the future."),
        "deadline_too_far": _("The deadline is too far away (at most {days} days ahead)."),
        "deadline_invalid_date": _("“{value}” is not a valid date."),
        "deadline_invalid_time": _("“{value}” is not a valid time."),
        "deadline_empty_duration": _("The time from now must be more than zero."),
        "deadline_unrecognised": _(
            "Write the deadline as an hour (18h or 18:00: today, or tomorrow if it has passed), an "
            "hour and a day (18h 25/11), a day (25/11/2026), or a time from now (2 giờ, 2 tiếng, "
            "trong 2h)."
        ),
        "expected_text": _("Please type your answer as text."),
        "expected_attachment": _("Please send a photo or a file, or press ⏭ Skip."),
        "attachment_kind": _("This kind of file is not accepted here."),
        "expected_choice": _("Please choose one of the buttons above."),
        "unknown_option": _("That choice is not available."),
        "too_many": _("You can choose at most {max} options."),
        "not_optional": _("This question is required and cannot be skipped."),
        "no_previous": _("This is the first question."),
        "wrong_state": _("This button has expired."),
        "incomplete": _("Some required questions are not answered yet."),
        "no_match": _("No name contains “{text}”. Type another part of the name."),
        "no_page": _("There is no page {page}: the pages are 1 to {pages}."),
    }
    messages["number_out_of_range"] = _(
        "There is no choice {number}: answer with a number from 1 to {count}."
    )
    if text_only():
        messages.update(
            {
                "expected_choice": _("Please answer with the number of one of the choices above."),
                "expected_attachment": _("Please send a photo, or answer “bỏ qua” to skip."),
                "invalid_phone": _(
                    "That is not a valid Vietnamese phone number. Type 10 digits, for example 0912345678."
                ),
                "wrong_state": _("That is not one of the answers here."),
            }
        )
    template = messages.get(error.code, _("That answer was not accepted."))
    try:
        return "⚠️ " + template.format(**{key: escape(value) for key, value in params.items()})
    except (KeyError, IndexError):
        return "⚠️ " + template


def expired_text() -> str:
    return _("This button has expired. Send /start to continue where you left off.")


def _nav_row(draft_id: int, state: FormState, question: Question | None) -> list[Choice]:
    row = []
    if state.history:
        row.append(_button(_("⬅️ Back"), draft_id, state.step, "b"))
    if question is not None and not question.required:
        row.append(_button(_("⏭ Skip"), draft_id, state.step, "s"))
    row.append(_button(_("❌ Cancel"), draft_id, state.step, "x"))
    return row


def _button(text: str, draft_id: int, step: int, action: str, arg: int = -1) -> Choice:
    return Choice(label=text, data=FormButton.data(draft_id, step, action, arg))


def contact_choices() -> list[list[Choice]]:
    return [
        [Choice(label=_("📱 Share my phone number"), contact=True)],
        [Choice(label=_("⬅️ Back")), Choice(label=_("❌ Cancel"))],
    ]


def nav_texts() -> dict[str, str]:
    """Reply-keyboard labels that mean an action rather than an answer."""
    return {_("⬅️ Back"): "b", _("❌ Cancel"): "x", _("⏭ Skip"): "s"}


def render_question(
    form: FormDefinition, state: FormState, draft_id: int, *, intro: str | None = None
) -> Screen:
    locale = current_locale()
    assert state.current is not None
    question = form.question(state.current)
    position, total = progress(form, state)
    lines = []
    if intro:
        lines += [intro, ""]
    lines.append(
        _("<b>Question {position}/{total}.</b> {label}").format(
            position=position, total=total, label=escape(text_for(question.label, locale))
        )
    )
    if question.help:
        lines.append(f"<i>{escape(text_for(question.help, locale))}</i>")
    if text_only():
        lines += _numbered_options(question, state)
    lines += _browsing_lines(question, state)
    lines.append(_hint(question))
    previous = state.answers.get(question.key)
    if previous is not None and question.type not in ("choice", "multi_choice", "yes_no"):
        lines.append(
            _("Current answer: {answer}").format(answer=truncate(format_answer(question, previous), 200))
        )
    if text_only():
        lines.append(_controls_line(state, question))
        return Screen(text="\n".join(lines))
    text = "\n".join(lines)

    if question.input_hint == "contact":
        return Screen(text=text, choices=contact_choices(), keyboard="reply")
    rows: list[list[Choice]] = []
    shown = option_page(question, state)
    if question.type in ("choice", "yes_no"):
        chosen = state.answers.get(question.key)
        for number, option in shown.options:
            mark = "● " if option.value == chosen else ""
            label = mark + text_for(option.label, locale)
            rows.append([_button(label, draft_id, state.step, "c", number - 1)])
    elif question.type == "multi_choice":
        for number, option in shown.options:
            mark = "✓ " if option.value in state.selection else ""
            label = mark + text_for(option.label, locale)
            rows.append([_button(label, draft_id, state.step, "t", number - 1)])
    if is_paged(question):
        rows += _page_rows(draft_id, state, shown.page, shown.pages)
    if question.type == "multi_choice":
        done = _("✅ Done") if not is_paged(question) else _("✅ Done ({count} chosen)")
        rows.append([_button(done.format(count=len(state.selection)), draft_id, state.step, "d")])
    rows.append(_nav_row(draft_id, state, question))
    return Screen(text=text, choices=rows)


def _page_rows(draft_id: int, state: FormState, page: int, pages: int) -> list[list[Choice]]:
    row = []
    if page > 0:
        row.append(_button(_("◀ Page {page}").format(page=page), draft_id, state.step, "p", page - 1))
    if page < pages - 1:
        row.append(_button(_("Page {page} ▶").format(page=page + 2), draft_id, state.step, "p", page + 1))
    rows = [row] if row else []
    if state.query:
        rows.append([_button(_("🔎 Show all"), draft_id, state.step, "a")])
    return rows


def _browsing_lines(question: Question, state: FormState) -> list[str]:
    """Where a long list is: the page, what was searched, and (for several choices) what is
    chosen on every page."""
    if not is_paged(question):
        return []
    shown = option_page(question, state)
    lines = []
    if state.query:
        lines.append(
            _("Names containing “{text}”: {count}.").format(text=escape(state.query), count=shown.matches)
        )
    if shown.pages > 1:
        lines.append(_("Page {page}/{pages}.").format(page=shown.page + 1, pages=shown.pages))
    if question.type == "multi_choice" and state.selection:
        labels = {option.value: text_for(option.label, current_locale()) for option in question.choices()}
        chosen = ", ".join(labels.get(value, value) for value in state.selection)
        lines.append(
            _("Chosen ({count}): {names}").format(
                count=len(state.selection), names=escape(truncate(chosen, 600))
            )
        )
    if text_only():
        moves = []
        if shown.page < shown.pages - 1:
            moves.append(_("“tiếp” for the next page"))
        if shown.page > 0:
            moves.append(_("“trang trước” for the previous one"))
        if state.query:
            moves.append(_("“tất cả” to list every name again"))
        lines.append(
            "<i>"
            + _("Type part of a name to search.")
            + ("" if not moves else " " + _("Answer {words}.").format(words=", ".join(moves)))
            + "</i>"
        )
    else:
        lines.append("<i>" + _("Type part of a name to search.") + "</i>")
    return lines


def _numbered_options(question: Question, state: FormState) -> list[str]:
    """A choice question's options as numbered lines (for a channel without buttons), a page
    at a time for a long list (each keeps its number); the current answer is marked."""
    if question.type not in ("choice", "yes_no", "multi_choice"):
        return []
    locale = current_locale()
    chosen = state.answers.get(question.key)
    lines = []
    for number, option in option_page(question, state).options:
        if question.type == "multi_choice":
            mark = " ✓" if option.value in state.selection else ""
        else:
            mark = " ●" if option.value == chosen else ""
        lines.append(f"{number}. {escape(text_for(option.label, locale))}{mark}")
    return lines


def _controls_line(state: FormState, question: Question | None) -> str:
    """The words that stand for the buttons under a question or the review."""
    words = []
    if state.history:
        words.append(_("“quay lại” to go back"))
    if question is not None and not question.required:
        words.append(_("“bỏ qua” to skip"))
    words.append(_("“hủy” to cancel"))
    return "<i>" + _("Or answer {words}.").format(words=", ".join(words)) + "</i>"


def _hint(question: Question) -> str:
    """How to answer. Where there are no buttons (Zalo), choices are answered by number and
    the controls are words (`_controls_line` lists them)."""
    typed = text_only()
    if question.type == "multi_choice":
        hint = (
            _("Answer with the numbers of your choices, for example: 1 3.")
            if typed
            else _("Choose one or more, then press ✅ Done.")
        )
    elif question.type in ("choice", "yes_no"):
        hint = _("Answer with the number of your choice.") if typed else _("Choose one.")
    elif question.type == "date":
        hint = _("Type the date as day/month/year, for example 25/12/2026 (the year may be left out).")
    elif question.type == "deadline":
        hint = _(
            "For example: 18h (today, or tomorrow if it has passed), 18h 25/11, 25/11/2026, or a "
            "time from now: 2 giờ, 2 tiếng, trong 2h."
        )
    elif question.type == "number":
        hint = _("Type a number.")
    elif question.type == "attachment":
        hint = _("Send a photo.") if typed else _("Send a photo or a file.")
    elif question.input_hint == "contact":
        hint = (
            _("Type your phone number, for example 0912345678.")
            if typed
            else _("Press the button below to share your number, or type it.")
        )
    else:
        hint = _("Type your answer.")
        if question.max_length:
            hint += " " + _("({min}–{max} characters)").format(
                min=question.min_length or 1, max=question.max_length
            )
    if not question.required and not typed:
        hint += " " + _("Optional: you may press ⏭ Skip.")
    return f"<i>{hint}</i>"


def answer_lines(
    form: FormDefinition, answers: dict[str, Any], *, limit: int | None = REVIEW_ANSWER_LIMIT
) -> list[str]:
    """A stored report's answers, one line each with its question's label (not its wording);
    `limit=None` shows each answer whole (📄 opens the report)."""
    locale = current_locale()
    lines = []
    for question in visible_questions(form, answers):
        value = answers.get(question.key)
        if value is None:
            continue
        answer = format_answer(question, value)
        shown = answer if limit is None else truncate(answer, limit)
        lines.append(f"<b>{escape(text_for(question.review_label, locale))}</b>: {shown}")
    return lines


def render_review(
    form: FormDefinition,
    state: FormState,
    draft_id: int,
    *,
    heading: str,
    submit_label: str,
    preamble: str | None = None,
) -> Screen:
    """The review screen: every answer, an edit button per question, submit and cancel."""
    lines = [f"<b>{heading}</b>"]
    if preamble:
        lines += [preamble]
    lines.append("")
    questions = visible_questions(form, state.answers)
    locale = current_locale()
    edit_buttons = []
    for number, question in enumerate(questions, start=1):
        value = state.answers.get(question.key)
        shown = truncate(format_answer(question, value), REVIEW_ANSWER_LIMIT) if value is not None else "—"
        lines.append(f"{number}. <b>{escape(text_for(question.review_label, locale))}</b>: {shown}")
        index = form.questions.index(question)
        edit_buttons.append(_button(f"✏️ {number}", draft_id, state.step, "e", index))
    if text_only():
        lines += [
            "",
            "<i>"
            + _(
                "Answer “gửi” ({action}), “sửa” and a number to change an answer (for example: sửa 2), "
                "or “hủy” to cancel."
            ).format(action=escape(submit_label))
            + ("" if not state.history else " " + _("“quay lại” goes back to the last question."))
            + "</i>",
        ]
        return Screen(text=fit("\n".join(lines), MAX_TEXT_ONLY))
    lines += ["", _("Press ✏️ and a number to change an answer.")]
    rows = [edit_buttons[i : i + 5] for i in range(0, len(edit_buttons), 5)]
    rows.append([_button(submit_label, draft_id, state.step, "u")])
    rows.append(_nav_row(draft_id, state, None))
    return Screen(text=fit("\n".join(lines)), choices=rows)


def fit(text: str, limit: int = MAX_MESSAGE) -> str:
    """Keep a rendered message under Telegram's limit, cutting at a line boundary."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 2]
    return cut[: cut.rfind("\n")] + "\n…"


def link_choices(text: str, url: str) -> list[list[Choice]]:
    return [[Choice(label=text, url=url)]]


def language_choices() -> list[list[Choice]]:
    return [
        [
            Choice(label="🇻🇳 Tiếng Việt", data=LangButton(code="vi").pack()),
            Choice(label="🇬🇧 English", data=LangButton(code="en").pack()),
        ]
    ]

"""Conversations: a draft, its questionnaire and the engine, shared by every flow.

Reports, registration, the topic wizard and the invite wizard are all questionnaires run by
the pure form engine and kept as drafts, so each one gets back / skip / cancel / review /
edit and survives a restart the same way. What differs is a `Purpose`: where the
definition comes from, how the review screen is titled, and what submitting does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.access import Actor
from bot.clock import Clock, local_today
from bot.config import Settings
from bot.delivery.media import MediaStore
from bot.delivery.replies import ReplyQueue
from bot.delivery.service import Delivery
from bot.forms import FormDefinition, FormState, load_builtin_forms, text_for, words
from bot.forms import engine as form_engine
from bot.forms.engine import (
    Answer,
    Attachment,
    Back,
    Cancel,
    Choose,
    Done,
    Edit,
    Event,
    Page,
    Search,
    Skip,
    Submit,
    Toggle,
    is_paged,
    option_page,
    visible_questions,
)
from bot.ui import (
    FormButton,
    Screen,
    current_locale,
    error_text,
    expired_text,
    render_question,
    render_review,
    text_only,
)
from storage import reports, topics
from storage.models import Draft, Form


class FormCatalog:
    """Parsed form definitions by form id; rows are immutable, so the cache never goes stale."""

    def __init__(self) -> None:
        self.builtin: dict[str, FormDefinition] = load_builtin_forms()
        self._by_id: dict[int, FormDefinition] = {}
        self._ids: dict[str, int] = {}

    async def sync_builtin(self, session: AsyncSession) -> None:
        """Store each builtin form version once, at start."""
        for key, definition in self.builtin.items():
            row = await topics.ensure_form(
                session=session,
                key=key,
                version=definition.version,
                title=definition.title["vi"],
                definition=definition.model_dump(mode="json"),
            )
            assert row.id is not None
            self._by_id[row.id] = definition
            self._ids[key] = row.id

    def form_id(self, key: str) -> int:
        return self._ids[key]

    async def get(self, session: AsyncSession, form_id: int) -> FormDefinition:
        definition = self._by_id.get(form_id)
        if definition is None:
            row = await topics.get_form(session=session, form_id=form_id)
            if row is None:
                raise LookupError(f"form {form_id} does not exist")
            definition = FormDefinition.model_validate(row.definition)
            self._by_id[form_id] = definition
        return definition

    async def row(self, session: AsyncSession, form_id: int) -> Form | None:
        return await topics.get_form(session=session, form_id=form_id)


@dataclass
class Services:
    """What flows need besides the update: built per update from the dispatcher's data."""

    session: AsyncSession
    replies: ReplyQueue
    settings: Settings
    clock: Clock
    forms: FormCatalog
    i18n: I18n
    bot_username: str
    delivery: Delivery
    media: MediaStore | None = None
    update_id: int = 0

    @property
    def tz(self) -> Any:
        return self.settings.tz


@dataclass
class Outcome:
    """What a step produced, for the channel to render.

    `screen` replaces the prompt (edited in place for a button, sent anew for typed input);
    `alert` is a short refusal (a callback alert, or a reply); `messages` go out after.
    `draft` is the conversation the screen belongs to; `ended` the one this step ended
    (submitted or cancelled), whose last question may still show buttons or a keyboard.
    """

    screen: Screen | None = None
    alert: str | None = None
    messages: list[Screen] = field(default_factory=list)
    finished: bool = False
    draft: Draft | None = None
    ended: Draft | None = None


class Purpose(Protocol):
    """What a kind of conversation does; see the module docstring."""

    name: str

    async def definition(self, services: Services, draft: Draft) -> FormDefinition: ...

    def review(self, services: Services, draft: Draft, form: FormDefinition) -> tuple[str, str, str | None]:
        """(heading, submit label, preamble) of the review screen."""
        ...

    def intro(self, services: Services, draft: Draft, form: FormDefinition) -> str | None: ...

    async def complete(
        self, services: Services, actor: Actor, draft: Draft, answers: dict[str, Any]
    ) -> Outcome: ...


class WizardPurpose:
    """Wizards build their questionnaire at run time (units in scope, the person's language)
    and keep that snapshot in the draft, so a resumed wizard asks exactly what it asked."""

    async def definition(self, services: Services, draft: Draft) -> FormDefinition:
        assert draft.definition is not None
        return FormDefinition.model_validate(draft.definition)


def purpose_name(draft: Draft) -> str:
    return draft.slot.split(":", 1)[0]


class Conversations:
    """Runs drafts through the engine; the registry of purposes is fixed at start."""

    def __init__(self, purposes: Mapping[str, Purpose]) -> None:
        self.purposes = dict(purposes)

    def purpose(self, draft: Draft) -> Purpose:
        return self.purposes[purpose_name(draft)]

    async def start(
        self,
        services: Services,
        *,
        person_id: int,
        slot: str,
        form_id: int | None = None,
        topic_id: int | None = None,
        definition: FormDefinition | None = None,
        context: dict[str, Any] | None = None,
    ) -> Outcome:
        """Open a draft (replacing an older one in the same slot) and show its first question."""
        old = await reports.get_draft_by_slot(session=services.session, person_id=person_id, slot=slot)
        if old is not None:
            await reports.delete_draft(session=services.session, draft=old)
        draft = Draft(
            person_id=person_id,
            slot=slot,
            form_id=form_id,
            topic_id=topic_id,
            definition=definition.model_dump(mode="json") if definition is not None else None,
            state={},
            context=context or {},
        )
        form = definition or await self.purpose(draft).definition(services, draft)
        state = form_engine.start(form)
        draft.state = state.to_json()
        draft.updated_at = services.clock.now()
        await reports.save_draft(session=services.session, draft=draft)
        return Outcome(screen=self.screen(services, draft, form, state, with_intro=True), draft=draft)

    async def load(self, services: Services, draft: Draft) -> tuple[FormDefinition, FormState]:
        form = await self.purpose(draft).definition(services, draft)
        return form, FormState.from_json(draft.state)

    def screen(
        self,
        services: Services,
        draft: Draft,
        form: FormDefinition,
        state: FormState,
        *,
        with_intro: bool = False,
    ) -> Screen:
        assert draft.id is not None
        purpose = self.purpose(draft)
        if state.status == "review":
            heading, submit_label, preamble = purpose.review(services, draft, form)
            return render_review(
                form, state, draft.id, heading=heading, submit_label=submit_label, preamble=preamble
            )
        intro = purpose.intro(services, draft, form) if with_intro else None
        return render_question(form, state, draft.id, intro=intro)

    async def resume_screen(self, services: Services, draft: Draft) -> Screen:
        form, state = await self.load(services, draft)
        return self.screen(services, draft, form, state, with_intro=True)

    async def press(self, services: Services, actor: Actor, button: FormButton) -> Outcome:
        """A form button: checked against the draft's owner and current step, then applied."""
        draft = await reports.get_draft(session=services.session, draft_id=button.draft)
        if draft is None or actor.person is None or draft.person_id != actor.person.id:
            return Outcome(alert=expired_text())
        form, state = await self.load(services, draft)
        if button.step != state.step:
            return Outcome(alert=expired_text())
        event = _button_event(form, state, button)
        if event is None:
            return Outcome(alert=expired_text())
        return await self._apply(services, actor, draft, form, state, event)

    async def answer(
        self, services: Services, actor: Actor, draft: Draft, value: str | Attachment
    ) -> Outcome:
        """Typed text or an upload for the draft's current question. Where there are no
        buttons (Zalo), words stand for them (bot/forms/words.py)."""
        form, state = await self.load(services, draft)
        if text_only() and isinstance(value, str):
            event = _typed_event(form, state, value)
            if event is not None:
                return await self._apply(services, actor, draft, form, state, event)
        if state.status == "review":
            if text_only():
                return self._refused(services, draft, form, state, _("Please answer one of the words below."))
            return Outcome(alert=_("Please use the buttons to change an answer or to send."))
        return await self._apply(services, actor, draft, form, state, Answer(value))

    def _refused(
        self, services: Services, draft: Draft, form: FormDefinition, state: FormState, alert: str
    ) -> Outcome:
        """A refusal; where there are no buttons to press again, with the question again."""
        screen = self.screen(services, draft, form, state) if text_only() else None
        return Outcome(alert=alert, screen=screen, draft=draft)

    async def navigate(self, services: Services, actor: Actor, draft: Draft, action: str) -> Outcome:
        """Back / skip / cancel typed from a reply keyboard."""
        form, state = await self.load(services, draft)
        events: dict[str, Event] = {"b": Back(), "s": Skip(), "x": Cancel()}
        return await self._apply(services, actor, draft, form, state, events[action])

    async def _apply(
        self,
        services: Services,
        actor: Actor,
        draft: Draft,
        form: FormDefinition,
        state: FormState,
        event: Event,
    ) -> Outcome:
        today = local_today(services.clock, services.settings.tz)
        now = services.clock.now().astimezone(services.settings.tz)
        result = form_engine.apply(form, state, event, today=today, now=now)
        if result.error is not None:
            alert = error_text(result.error, _hint_for(form, state, result.error.code))
            return self._refused(services, draft, form, state, alert)
        new_state = result.state
        if new_state.status == "cancelled":
            await reports.delete_draft(session=services.session, draft=draft)
            return Outcome(screen=Screen(text=_("Cancelled. Nothing was saved.")), finished=True, ended=draft)
        if new_state.status == "submitted":
            outcome = await self.purpose(draft).complete(services, actor, draft, dict(new_state.answers))
            if outcome.finished:
                await reports.delete_draft(session=services.session, draft=draft)
                outcome.ended = draft
            return outcome
        draft.state = new_state.to_json()
        draft.updated_at = services.clock.now()
        await reports.save_draft(session=services.session, draft=draft)
        return Outcome(screen=self.screen(services, draft, form, new_state), draft=draft)


def _hint_for(form: FormDefinition, state: FormState, code: str) -> str | None:
    """A question's own explanation of its pattern says more than the generic message."""
    if code != "pattern" or state.current is None:
        return None
    hint = form.question(state.current).pattern_hint
    return text_for(hint, current_locale()) if hint else None


def _typed_event(form: FormDefinition, state: FormState, text: str) -> Event | None:
    """A typed word that stands for a button: back, skip, cancel, done; in review also send
    and "sửa N" (N as numbered on the review). None: an answer to the question."""
    typed = words.read(text)
    browsing = _browse_event(form, state, typed)
    if browsing is not None:
        return browsing
    if typed.control is not None:
        if typed.control == "submit":
            return Submit() if state.status == "review" else None
        if typed.control == "done":
            return Done() if state.status == "asking" else None
        controls: dict[str, Event] = {"back": Back(), "skip": Skip(), "cancel": Cancel()}
        return controls.get(typed.control)
    if typed.edit is not None and state.status == "review":
        visible = visible_questions(form, state.answers)
        if 1 <= typed.edit <= len(visible):
            return Edit(visible[typed.edit - 1].key)
        return Edit(f"#{typed.edit}")  # refused by the engine as an unknown question
    return None


def _browse_event(form: FormDefinition, state: FormState, typed: words.Typed) -> Event | None:
    """tiếp, trang trước, trang 3, tất cả: moves through a long list of options."""
    if state.status != "asking" or state.current is None:
        return None
    question = form.question(state.current)
    if not is_paged(question):
        return None
    if typed.control == "all_options":
        return Search("")
    page = option_page(question, state).page
    if typed.control == "next_page":
        return Page(page + 1)
    if typed.control == "previous_page":
        return Page(page - 1)
    if typed.page is not None:
        return Page(typed.page - 1)
    return None


def _button_event(form: FormDefinition, state: FormState, button: FormButton) -> Event | None:
    """Translate button data into an engine event; None for data that cannot be ours."""
    action, arg = button.action, button.arg
    if action in ("c", "t"):
        if state.current is None:
            return None
        options = form.question(state.current).choices()
        if not 0 <= arg < len(options):
            return None
        value = options[arg].value
        return Choose(value) if action == "c" else Toggle(value)
    if action == "e":
        if not 0 <= arg < len(form.questions):
            return None
        return Edit(form.questions[arg].key)
    if action == "p":
        return Page(arg)
    simple: dict[str, Event] = {
        "d": Done(),
        "s": Skip(),
        "b": Back(),
        "x": Cancel(),
        "u": Submit(),
        "a": Search(""),
    }
    return simple.get(action)

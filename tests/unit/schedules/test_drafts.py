"""The draft reminder's pure parts: its link, its claim, its text (bot/drafts.py)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from bot.drafts import (
    DRAFT_PAYLOAD,
    Unfinished,
    can_still_be_sent,
    claim_target,
    draft_payload,
    kept_until,
    reminder_text,
)
from bot.forms import FormState, load_builtin_forms
from bot.i18n import create_i18n
from bot.onboarding import looks_like_invite_code, new_token
from bot.reminders import where_stopped
from bot.ui import use_channel
from storage.models import Channel, Draft, Topic, TopicKind

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
TOUCHED = datetime(2026, 11, 10, 1, 0, tzinfo=UTC)  # 08:00 on 10/11 in Vietnam
FORMS = load_builtin_forms()


def _topic(kind: str = TopicKind.MONTHLY, number: int = 3) -> Topic:
    return Topic(
        id=7,
        kind=kind,
        number=number,
        title="Sáp nhập <xã>",
        guidance="",
        form_id=1,
        period="2026-11",
        due_at=datetime(2026, 11, 25, 16, 59, tzinfo=UTC),
    )


@given(st.integers(min_value=1, max_value=10**12 - 1))
def test_a_resume_link_reads_back_and_is_never_an_invite_code(draft_id: int) -> None:
    payload = draft_payload(draft_id)
    match = DRAFT_PAYLOAD.match(payload)
    assert match is not None and int(match.group(1)) == draft_id
    assert not looks_like_invite_code(payload)


def test_invite_codes_and_report_links_are_not_resume_links() -> None:
    for _ in range(200):
        assert DRAFT_PAYLOAD.match(new_token()) is None
    for other in ("r3", "rK2", "d12", "d-", "d-x1", "D-12", "d-1234567890123"):
        assert DRAFT_PAYLOAD.match(other) is None


def test_a_draft_is_claimed_once_per_time_it_was_last_touched() -> None:
    draft = Draft(id=123456789012, person_id=1, slot="topic", state={}, updated_at=TOUCHED)
    first = claim_target(draft)
    assert claim_target(draft) == first and len(first) <= 64  # job_run.target
    draft.updated_at = TOUCHED + timedelta(days=8)
    assert claim_target(draft) != first
    assert kept_until(draft, 30) == TOUCHED + timedelta(days=38)


def test_where_a_form_stopped_and_on_its_review_the_last_question() -> None:
    form = FORMS["incident"]
    asking = FormState(status="asking", current="thoi_gian", answers={"su_viec": "x" * 10, "dia_ban": "Xã"})
    total = len(form.questions)
    assert where_stopped(form, asking) == (3, total)
    assert where_stopped(form, FormState(status="review", current=None)) == (total, total)


def test_a_replacement_whose_deadline_passed_is_not_reminded_but_a_late_report_is() -> None:
    topic = _topic()
    late = topic.due_at + timedelta(days=1)
    draft = Draft(id=1, person_id=1, slot="report:topic:7", topic_id=7, state={}, context={})
    assert can_still_be_sent(draft, {7: topic}, late)  # taken late, marked late
    draft.context = {"replace_report_id": 4}
    assert can_still_be_sent(draft, {7: topic}, topic.due_at - timedelta(days=1))
    assert not can_still_be_sent(draft, {7: topic}, late)


def _items() -> list[Unfinished]:
    return [
        Unfinished(
            draft_id=5,
            form=FORMS["monthly_opinion"],
            topic=_topic(),
            stopped_at=(3, 10),
            kept_until=TOUCHED + timedelta(days=30),
        ),
        Unfinished(
            draft_id=6,
            form=FORMS["incident"],
            topic=None,
            stopped_at=(2, 7),
            kept_until=TOUCHED + timedelta(days=31),
        ),
    ]


def test_the_reminder_names_each_form_where_it_stopped_and_when_it_goes() -> None:
    i18n = create_i18n("vi")
    with i18n.context(), i18n.use_locale("vi"), use_channel(Channel.TELEGRAM):
        text = reminder_text(_items(), tz=TZ)
    assert text.split("\n\n") == [
        "📝 Đồng chí chưa hoàn thành báo cáo về chủ đề số 3 “Sáp nhập &lt;xã&gt;”: đang dừng ở câu 3/10. "
        "Nếu không hoàn thành, phần đã khai sẽ bị hủy sau ngày 10/12/2026.",
        "📝 Đồng chí chưa hoàn thành “Báo cáo đột xuất”: đang dừng ở câu 2/7. "
        "Nếu không hoàn thành, phần đã khai sẽ bị hủy sau ngày 11/12/2026.",
        "Bấm nút bên dưới để làm tiếp từ chỗ đang dừng.",
    ]
    with i18n.context(), i18n.use_locale("en"), use_channel(Channel.ZALO):
        text = reminder_text(_items()[1:], tz=TZ)
    assert text == (
        "📝 You have not finished “Incident report”: it stopped at question 2 of 7. "
        "Unless you finish it, it is discarded after 11/12/2026."
    )  # on Zalo, what to type follows instead of a button


def test_an_urgent_matter_is_named_as_one() -> None:
    i18n = create_i18n("vi")
    item = Unfinished(
        draft_id=5,
        form=FORMS["incident"],
        topic=_topic(TopicKind.URGENT, 2),
        stopped_at=(1, 7),
        kept_until=TOUCHED,
    )
    with i18n.context(), i18n.use_locale("vi"), use_channel(Channel.ZALO):
        assert "báo cáo về vấn đề đột xuất số K2 “Sáp nhập &lt;xã&gt;”" in reminder_text([item], tz=TZ)


def test_settings_refuse_a_reminder_not_before_the_discard_and_a_night_rule_unread() -> None:
    import pytest
    from pydantic import ValidationError

    from bot.config import Settings

    assert Settings(_env_file=None).schedule_draft_reminders == "daily 09:00"  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="DRAFT_REMINDER_DAYS must be fewer"):
        Settings(_env_file=None, draft_reminder_days=30, draft_discard_days=30)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="is not a schedule"):
        Settings(_env_file=None, schedule_draft_reminders="daily 25:00")  # type: ignore[call-arg]
    assert Settings(_env_file=None, schedule_draft_reminders="hằng ngày 10h").schedule_draft_reminders == (  # type: ignore[call-arg]
        "daily 10:00"
    )

"""Flood control's buckets (bot/intake/flood.py) on a clock the test moves."""

from aiogram.types import Update
from hypothesis import given
from hypothesis import strategies as st

from bot.intake.flood import ADMIT, DROP, Admission, FloodGuard, FloodScope, Limit
from bot.intake.poller import _addressed_to_the_bot


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def guard(clock: Clock, *, burst: int = 3, per_minute: float = 6, chat_burst: int = 5) -> FloodGuard:
    return FloodGuard(
        person=Limit(burst=burst, per_minute=per_minute),
        chat=Limit(burst=chat_burst, per_minute=60),
        mute_seconds=30,
        clock=clock,
    )


def test_a_burst_then_one_notice_then_silence_until_the_pause_ends() -> None:
    clock = Clock()
    flood = guard(clock)
    verdicts = [flood.admit(sender=1, group=None) for _ in range(6)]
    assert verdicts == [ADMIT, ADMIT, ADMIT, Admission(admit=True, notice=FloodScope.PERSON), DROP, DROP]
    clock.now += 29
    assert flood.admit(sender=1, group=None) == DROP
    clock.now += 1
    assert [flood.admit(sender=1, group=None) for _ in range(3)] == [ADMIT] * 3  # a clean slate


def test_one_person_flooding_leaves_everyone_else_alone() -> None:
    clock = Clock()
    flood = guard(clock)
    for _ in range(50):
        flood.admit(sender=1, group=None)
    assert flood.admit(sender=2, group=None) == ADMIT
    assert flood.dropped == 50 - 4


def test_the_bucket_refills_at_the_sustained_rate() -> None:
    clock = Clock()
    flood = guard(clock, burst=2, per_minute=6)  # one every 10 s
    assert [flood.admit(sender=1, group=None) for _ in range(2)] == [ADMIT, ADMIT]
    clock.now += 10
    assert flood.admit(sender=1, group=None) == ADMIT
    clock.now += 5
    assert flood.admit(sender=1, group=None).notice is FloodScope.PERSON


def test_a_group_has_its_own_limit_over_all_its_members() -> None:
    clock = Clock()
    flood = guard(clock, chat_burst=5)
    verdicts = [flood.admit(sender=member, group=-100) for member in range(1, 8)]
    assert verdicts[:5] == [ADMIT] * 5
    assert verdicts[5] == Admission(admit=True, notice=FloodScope.CHAT)
    assert verdicts[6] == DROP
    # the members are not muted in their private chats, nor is another group
    assert flood.admit(sender=1, group=None) == ADMIT
    assert flood.admit(sender=9, group=-200) == ADMIT


def test_an_update_without_a_sender_outside_groups_is_always_taken() -> None:
    flood = guard(Clock())
    assert all(flood.admit(sender=None, group=None) == ADMIT for _ in range(100))


@given(gaps=st.lists(st.floats(min_value=0, max_value=20), min_size=1, max_size=300))
def test_what_is_taken_from_one_sender_is_bounded_by_burst_and_rate(gaps: list[float]) -> None:
    """Whatever the timing: within any run, taken ≤ (burst + rate × time + 1 notice) per
    pause, and a notice is given once per pause."""
    clock = Clock()
    flood = guard(clock, burst=3, per_minute=6)
    start = clock.now
    taken = notices = 0
    for gap in gaps:
        clock.now += gap
        verdict = flood.admit(sender=7, group=None)
        taken += verdict.admit
        notices += verdict.notice is not None
    elapsed = clock.now - start
    pauses = notices
    assert notices <= 1 + elapsed / 30
    assert taken <= (pauses + 1) * (3 + 1) + elapsed * 6 / 60 + 1e-9


def test_an_update_seen_again_gets_the_same_verdict_without_drawing() -> None:
    """Its batch could not be stored and came back: nobody is muted by a database outage."""
    clock = Clock()
    flood = guard(clock, burst=2)
    first = [flood.admit(sender=1, group=None, update_id=n) for n in range(3)]
    again = [flood.admit(sender=1, group=None, update_id=n) for n in range(3)]
    assert first == again == [ADMIT, ADMIT, Admission(admit=True, notice=FloodScope.PERSON)]
    assert flood.dropped == 0


def _update(update_id: int, **event: object) -> Update:
    return Update.model_validate({"update_id": update_id, **event})


def _message(chat: dict[str, object], text: str | None = None, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "message_id": 1,
        "date": 0,
        "chat": chat,
        "from": {"id": 7, "is_bot": False, "first_name": "A"},
        **extra,
    }
    if text is not None:
        body["text"] = text
    return body


def test_only_what_asks_the_bot_for_something_is_counted() -> None:
    private = {"id": 7, "type": "private"}
    group = {"id": -100, "type": "supergroup", "title": "G"}
    bot_post = {
        "message_id": 5,
        "date": 0,
        "chat": group,
        "from": {"id": 1, "is_bot": True, "first_name": "B"},
    }
    assert _addressed_to_the_bot(_update(1, message=_message(private, "chào"))) == (7, None)
    assert _addressed_to_the_bot(_update(2, message=_message(group, "/summary"))) == (7, -100)
    assert _addressed_to_the_bot(_update(3, message=_message(group, "#2 ý kiến"))) == (7, -100)
    assert _addressed_to_the_bot(
        _update(4, message=_message(group, "ý kiến", reply_to_message=bot_post))
    ) == (
        7,
        -100,
    )
    # members talking among themselves, and what the bot must record whatever the pace
    assert _addressed_to_the_bot(_update(5, message=_message(group, "chào cả nhà"))) is None
    assert _addressed_to_the_bot(_update(6, message=_message(group, migrate_to_chat_id=-1001))) is None
    member = {"status": "member", "user": {"id": 1, "is_bot": True, "first_name": "B"}}
    kicked = {"status": "kicked", "user": {"id": 1, "is_bot": True, "first_name": "B"}, "until_date": 0}
    change = {
        "chat": private,
        "from": {"id": 7, "is_bot": False, "first_name": "A"},
        "date": 0,
        "old_chat_member": member,
        "new_chat_member": kicked,
    }
    assert _addressed_to_the_bot(_update(7, my_chat_member=change)) is None
    press = {
        "id": "q",
        "from": {"id": 7, "is_bot": False, "first_name": "A"},
        "chat_instance": "c",
        "data": "x",
    }
    assert _addressed_to_the_bot(_update(8, callback_query={**press, "message": bot_post})) == (7, -100)

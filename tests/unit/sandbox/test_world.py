"""The sandbox world without HTTP: Telegram's rules, limits and faults."""

import pytest

from bot.sandbox.world import ApiError, World, parse_html


@pytest.mark.parametrize(
    ("html", "plain"),
    [
        ("<b>Đậm</b> &amp; <i>nghiêng</i>", "Đậm & nghiêng"),
        ("a &lt;b&gt;", "a <b>"),
        ('<a href="https://x">x</a>', "x"),
    ],
)
def test_valid_html_becomes_plain_text(html: str, plain: str) -> None:
    assert parse_html(html) == plain


@pytest.mark.parametrize("html", ["a & b", "<b>open", "<b><i>x</b></i>", "<script>x</script>", "<a>x</a>"])
def test_invalid_html_is_refused_like_telegram(html: str) -> None:
    with pytest.raises(ApiError) as error:
        parse_html(html)
    assert error.value.code == 400 and "can't parse entities" in error.value.description


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _world() -> tuple[World, Clock, object, int]:
    clock = Clock()
    world = World(clock=clock)
    bot = world.create_bot()
    user = world.create_user("An")
    world.user_sends(bot.token, user.id, {"text": "/start"})
    return world, clock, bot, user.id


def test_per_chat_limit_allows_a_short_burst_then_answers_429_with_retry_after() -> None:
    """One a second in a private chat, with a burst of three (Telegram allows short bursts)."""
    world, clock, bot, user_id = _world()
    world.configure(per_chat_per_second=1)
    for text in ("một", "hai", "ba"):
        world.call(bot, "sendMessage", {"chat_id": user_id, "text": text})  # type: ignore[arg-type]
    with pytest.raises(ApiError) as error:
        world.call(bot, "sendMessage", {"chat_id": user_id, "text": "bốn"})  # type: ignore[arg-type]
    assert error.value.code == 429 and error.value.parameters == {"retry_after": 3}
    clock.now += 3.01
    world.call(bot, "sendMessage", {"chat_id": user_id, "text": "năm"})  # type: ignore[arg-type]
    assert world.stats.http_429 == 1


def test_edits_in_a_private_chat_count_towards_the_bot_limit_only() -> None:
    """Editing the bot's own messages (answers to presses) sends nothing new to the chat."""
    world, _clock, bot, user_id = _world()
    world.configure(per_chat_per_second=1, global_per_second=6)
    sent = world.call(bot, "sendMessage", {"chat_id": user_id, "text": "câu 1"})  # type: ignore[arg-type]
    for n in range(5):
        world.call(  # type: ignore[arg-type]
            bot,
            "editMessageText",
            {"chat_id": user_id, "message_id": sent["message_id"], "text": f"câu {n + 2}"},
        )
    with pytest.raises(ApiError) as error:  # the bot's 6 a second are used up
        world.call(
            bot, "editMessageText", {"chat_id": user_id, "message_id": sent["message_id"], "text": "x"}
        )  # type: ignore[arg-type]
    assert error.value.code == 429 and world.stats.http_429_by_scope == {"global": 1}


def test_global_and_group_limits() -> None:
    world, clock, bot, user_id = _world()
    users = [world.create_user(f"U{i}") for i in range(5)]
    for user in users:
        world.user_sends(bot.token, user.id, {"text": "hi"})
    world.configure(global_per_second=3)
    for user in users[:3]:
        world.call(bot, "sendMessage", {"chat_id": user.id, "text": "x"})  # type: ignore[arg-type]
    with pytest.raises(ApiError):
        world.call(bot, "sendMessage", {"chat_id": users[3].id, "text": "x"})  # type: ignore[arg-type]
    world.configure(global_per_second=None, per_group_per_minute=2)
    group = world.create_group("Nhóm", [user_id])
    world.add_bot_to_group(group.id, bot.token, user_id)  # type: ignore[attr-defined]
    for _ in range(2):
        world.call(bot, "sendMessage", {"chat_id": group.id, "text": "x"})  # type: ignore[arg-type]
        clock.now += 2
    with pytest.raises(ApiError) as error:
        world.call(bot, "sendMessage", {"chat_id": group.id, "text": "x"})  # type: ignore[arg-type]
    assert error.value.code == 429 and error.value.parameters["retry_after"] == 56  # type: ignore[index]


def test_faults_are_deterministic_with_a_seed() -> None:
    def draw() -> list[str | None]:
        world, _clock, _bot, _user = _world()
        world.configure(error_rate=0.3, seed=42)
        return [world.fault_for("sendMessage") for _ in range(200)]

    first, second = draw(), draw()
    assert first == second
    assert 40 <= sum(kind is not None for kind in first) <= 80
    world, *_ = _world()
    world.configure(error_rate=1.0, seed=1)
    assert world.fault_for("getMe") is None  # only sending methods fail by default


def test_unknown_options_are_refused() -> None:
    world, *_ = _world()
    with pytest.raises(ApiError):
        world.configure(errors=0.5)


def test_a_bot_is_found_by_token_id_or_username() -> None:
    """The control API by hand (README) names the demo bot by its @username."""
    world = World()
    bot = world.create_bot(username="dlxh_demo_bot", first_name="DLXH")
    assert (
        world.bot(bot.token) is world.bot(bot.id) is world.bot("@DLXH_demo_bot") is world.bot("dlxh_demo_bot")
    )
    with pytest.raises(ApiError):
        world.bot("nobody_bot")

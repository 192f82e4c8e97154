"""The hand-packed form button must stay byte-for-byte what aiogram packs and unpacks."""

from hypothesis import given
from hypothesis import strategies as st

from bot.ui import FormButton

ACTIONS = st.sampled_from(list("ctdsbxeu"))
IDS = st.integers(min_value=0, max_value=10**12)


@given(draft=IDS, step=st.integers(min_value=0, max_value=10**6), action=ACTIONS, arg=st.integers(-1, 500))
def test_fast_pack_matches_aiogram(draft: int, step: int, action: str, arg: int) -> None:
    packed = FormButton.data(draft, step, action, arg)
    assert packed == FormButton(draft=draft, step=step, action=action, arg=arg).pack()
    assert FormButton.unpack(packed) == FormButton(draft=draft, step=step, action=action, arg=arg)


def test_default_argument_matches() -> None:
    assert FormButton.data(3, 4, "x") == FormButton(draft=3, step=4, action="x").pack() == "f:3:4:x:-1"

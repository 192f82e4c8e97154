"""The JSON codec reads back what the standard library would, and takes what orjson refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage import jsoncodec

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_what_it_writes_reads_back_the_same_in_both_libraries(value: Any) -> None:
    written = jsoncodec.dumps(value)
    assert json.loads(written) == value
    assert jsoncodec.loads(written) == value
    assert jsoncodec.loads(jsoncodec.dumps_bytes(value)) == value
    assert jsoncodec.loads(json.dumps(value, ensure_ascii=False)) == value


def test_vietnamese_is_written_as_is_and_integer_keys_as_strings() -> None:
    assert jsoncodec.dumps({"tên": "Nguyễn Văn Ánh", 7: [1, 2]}) == '{"tên":"Nguyễn Văn Ánh","7":[1,2]}'


def test_a_lone_surrogate_is_written_escaped_and_read_back() -> None:
    value = {"text": "nửa \ud83d"}
    written = jsoncodec.dumps(value)
    assert written.isascii() and jsoncodec.loads(written) == value
    assert jsoncodec.loads(jsoncodec.dumps_bytes(value)) == value
    assert jsoncodec.loads('{"text": "nửa \\ud83d"}') == value


def test_text_that_is_not_json_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        jsoncodec.loads("{not json")
    with pytest.raises(TypeError):
        jsoncodec.dumps({"when": object()})
